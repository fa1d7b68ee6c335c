"""Render the frames of a synthetic video plan (RGB uint8, vectorised numpy + OpenCV drawing).

Calm content (every video): a seeded smooth textured background seen through a
slowly drifting window, and a few soft shapes gliding along smooth paths.

Inside anomalous segments (envelope ``e`` ramps up/down over 3 frames, scaled by
the segment's ``visual_strength``):

- chaos: the shapes jump around randomly every frame, and 2-5 extra "actors"
  rush across the picture at high speed;
- camera shake and a colour cast / contrast boost (by category);
- per hit: a full-frame flash (shot, bang, boom, crash), an expanding fireball
  (boom), a muzzle spot (shot), and debris particles flying out of the impact
  point under gravity.
"""

from __future__ import annotations

import colorsys
from typing import Iterator

import numpy as np

from .synth_plan import VideoPlan

MARGIN = 24  # pixels of background around the visible window (drift + shake room)
RAMP = 3  # frames of fade in/out of the event envelope

#: Flash strength (fraction of full-frame blend) and debris count per hit kind.
FLASH = {"shot": 0.55, "bang": 0.4, "boom": 0.85, "crash": 0.6, "punch": 0.15, "scream": 0.0}
DEBRIS = {"shot": 8, "bang": 18, "boom": 45, "crash": 35, "punch": 10, "scream": 0}
DEBRIS_LIFE_S = 0.7
FIREBALL_S = 0.6


def _cv2():
    import cv2

    cv2.setNumThreads(1)
    return cv2


def envelope(plan: VideoPlan) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame event envelope in [0, 1] (0 outside segments) and the segment index (-1 outside)."""
    env = np.zeros(plan.n_frames, dtype=np.float64)
    seg_of = np.full(plan.n_frames, -1, dtype=np.int64)
    for j, seg in enumerate(plan.segments):
        n = seg.end - seg.start
        k = np.arange(n)
        ramp = np.minimum(1.0, np.minimum(k + 1, n - k) / RAMP)
        env[seg.start : seg.end] = ramp * seg.visual_strength
        seg_of[seg.start : seg.end] = j
    return env, seg_of


def _background(plan: VideoPlan) -> np.ndarray:
    cv2 = _cv2()
    rng = np.random.default_rng(plan.scene["background_seed"])
    h, w = plan.height + 2 * MARGIN, plan.width + 2 * MARGIN
    hue = plan.scene["hue"]
    # a few base colours around the video's hue, smoothly interpolated over a coarse grid
    gh, gw = int(rng.integers(3, 7)), int(rng.integers(4, 9))
    palette = np.array(
        [colorsys.hsv_to_rgb((hue + rng.normal(0, 0.08)) % 1.0, rng.uniform(0.25, 0.7), rng.uniform(0.3, 0.7)) for _ in range(gh * gw)]
    )
    coarse = (palette.reshape(gh, gw, 3) * 255).astype(np.float32)
    base = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    # fine texture: band-limited noise plus oriented stripes, so motion is visible
    fine = rng.normal(0, 1, (h // 6 + 1, w // 6 + 1)).astype(np.float32)
    fine = cv2.resize(fine, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    period = rng.uniform(12, 40)
    stripes = np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * (2 * np.pi / period))
    tex = 14.0 * fine + 8.0 * stripes
    img = base + tex[..., None]
    return np.clip(img, 20, 215).astype(np.uint8)


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold positions into [lo, hi] by bouncing off the ends."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def _shapes(plan: VideoPlan) -> dict[str, np.ndarray]:
    """Calm shapes: per-frame positions (N, k, 2), sizes, colours, kinds."""
    rng = np.random.default_rng(plan.scene["shape_seed"])
    k = plan.scene["n_shapes"]
    n, fps = plan.n_frames, plan.fps
    t = np.arange(n)[:, None] / fps
    w, h = plan.width, plan.height
    p0 = rng.uniform([0, 0], [w, h], size=(k, 2))
    speed = rng.uniform(4, 16, size=(k, 1))
    ang = rng.uniform(0, 2 * np.pi, size=(k, 1))
    vel = np.concatenate([np.cos(ang), np.sin(ang)], axis=1) * speed
    bob_a = rng.uniform(2, 8, size=(k, 2))
    bob_f = rng.uniform(0.05, 0.3, size=(k, 2))
    bob_p = rng.uniform(0, 2 * np.pi, size=(k, 2))
    pos = p0[None] + vel[None] * t[..., None] + bob_a[None] * np.sin(2 * np.pi * bob_f[None] * t[..., None] + bob_p[None])
    pos[..., 0] = _reflect(pos[..., 0], 0, w)
    pos[..., 1] = _reflect(pos[..., 1], 0, h)
    hue = plan.scene["hue"]
    colours = np.array(
        [colorsys.hsv_to_rgb((hue + 0.5 + rng.normal(0, 0.15)) % 1.0, rng.uniform(0.3, 0.8), rng.uniform(0.45, 0.9)) for _ in range(k)]
    ) * 255
    return {
        "pos": pos,
        "size": rng.uniform(0.04, 0.12, size=k) * min(w, h) + 4,
        "colour": colours,
        "kind": rng.integers(0, 3, size=k),
    }


def _draw_shape(cv2, img: np.ndarray, kind: int, x: float, y: float, size: float, colour) -> None:
    col = tuple(float(c) for c in colour)
    cx, cy, r = int(round(x)), int(round(y)), max(2, int(round(size)))
    if kind == 0:
        cv2.circle(img, (cx, cy), r, col, -1, cv2.LINE_AA)
    elif kind == 1:
        cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r // 2), col, -1, cv2.LINE_AA)
    else:
        cv2.ellipse(img, (cx, cy), (r, max(2, r // 2)), 30.0, 0, 360, col, -1, cv2.LINE_AA)


def _debris_events(plan: VideoPlan) -> list[dict]:
    """Particles of every hit: origin, velocities, start time, colour."""
    out = []
    w, h = plan.width, plan.height
    for seg in plan.segments:
        for hit in seg.hits:
            n = int(round(DEBRIS[hit.kind] * hit.gain))
            if n == 0 and FLASH[hit.kind] == 0:
                continue
            rng = np.random.default_rng(hit.seed)
            origin = rng.uniform([0.15 * w, 0.2 * h], [0.85 * w, 0.85 * h])
            ang = rng.uniform(0, 2 * np.pi, n)
            speed = rng.uniform(0.4, 1.6, n) * max(w, h) * (1.3 if hit.kind in ("boom", "crash") else 0.9)
            out.append(
                {
                    "t": hit.t,
                    "kind": hit.kind,
                    "gain": hit.gain * seg.visual_strength,
                    "origin": origin,
                    "vel": np.stack([np.cos(ang), np.sin(ang)], axis=1) * speed[:, None],
                    "size": rng.integers(1, 4, n),
                    "colour": rng.choice([[255, 230, 120], [255, 140, 40], [90, 80, 70], [240, 240, 240]], size=n),
                    "flash_colour": (255.0, 250.0, 220.0) if hit.kind != "boom" else (255.0, 190.0, 80.0),
                }
            )
    return out


def _actors(plan: VideoPlan) -> dict[str, np.ndarray]:
    """Fast movers that exist only during events: per-frame positions (N, a, 2)."""
    rng = np.random.default_rng(plan.scene["event_seed"])
    a = plan.scene["n_actors"]
    t = np.arange(plan.n_frames)[:, None] / plan.fps
    w, h = plan.width, plan.height
    p0 = rng.uniform([0, 0], [w, h], size=(a, 2))
    speed = rng.uniform(0.8, 2.0, size=(a, 1)) * max(w, h)
    ang = rng.uniform(0, 2 * np.pi, size=(a, 1))
    vel = np.concatenate([np.cos(ang), np.sin(ang)], axis=1) * speed
    pos = p0[None] + vel[None] * t[..., None]
    pos[..., 0] = _reflect(pos[..., 0], 0, w)
    pos[..., 1] = _reflect(pos[..., 1], 0, h)
    colours = rng.choice([[200, 40, 30], [30, 30, 30], [230, 200, 60], [240, 240, 240]], size=a)
    return {"pos": pos, "size": rng.uniform(0.05, 0.1, size=a) * min(w, h) + 3, "colour": colours}


def _passers(plan: VideoPlan) -> list[dict]:
    """Visual distractors of normal videos: a big object crossing the frame smoothly."""
    out = []
    w, h = plan.width, plan.height
    for hit in plan.passers:
        rng = np.random.default_rng(hit.seed)
        y = rng.uniform(0.2, 0.8) * h
        size = rng.uniform(0.12, 0.25) * h
        left_to_right = rng.random() < 0.5
        x0, x1 = (-size * 2, w + size * 2) if left_to_right else (w + size * 2, -size * 2)
        colour = tuple(float(c) for c in rng.uniform(30, 230, 3))
        out.append({"t": hit.t, "dur": hit.gain, "y": y, "size": size, "x0": x0, "x1": x1, "colour": colour})
    return out


def render_frames(plan: VideoPlan) -> Iterator[np.ndarray]:
    """Yield the plan's frames one at a time as ``(H, W, 3)`` uint8 RGB arrays."""
    cv2 = _cv2()
    n, fps, w, h = plan.n_frames, plan.fps, plan.width, plan.height
    bg = _background(plan)
    shapes = _shapes(plan)
    actors = _actors(plan)
    debris = _debris_events(plan)
    passers = _passers(plan)
    env, _ = envelope(plan)
    rng = np.random.default_rng(plan.seed)

    t = np.arange(n) / fps
    rng_drift = np.random.default_rng(plan.scene["background_seed"] + 1)
    amp = rng_drift.uniform(3, MARGIN / 2, 2)
    per = rng_drift.uniform(6, 20, 2)
    phase = rng_drift.uniform(0, 2 * np.pi, 2)
    drift = amp[None] * np.sin(2 * np.pi * t[:, None] / per[None] + phase[None])
    shake = rng.normal(0, 1, (n, 2)) * 9.0 * env[:, None]
    offset = np.clip(np.round(MARGIN + drift + shake), 0, 2 * MARGIN).astype(int)
    jitter = rng.normal(0, 1, (n,) + shapes["pos"].shape[1:]) * (0.12 * min(w, h)) * env[:, None, None]
    tint = np.asarray(plan.scene["tint"], dtype=np.float64)
    levels = np.arange(256, dtype=np.float64)

    for f in range(n):
        ox, oy = offset[f]
        img = np.ascontiguousarray(bg[oy : oy + h, ox : ox + w])
        e = env[f]
        pos = shapes["pos"][f] + jitter[f]
        for i in range(len(pos)):
            _draw_shape(cv2, img, int(shapes["kind"][i]), pos[i, 0], pos[i, 1], shapes["size"][i], shapes["colour"][i])
        if e > 0:
            for i in range(actors["pos"].shape[1]):
                x, y = actors["pos"][f, i]
                r = actors["size"][i]
                tail = actors["pos"][max(0, f - 1), i]
                cv2.line(img, (int(tail[0]), int(tail[1])), (int(x), int(y)), tuple(float(c) for c in actors["colour"][i]), max(2, int(r)), cv2.LINE_AA)
            # colour cast and contrast boost in one lookup table per channel
            gain = 1.0 + (tint - 1.0) * e
            contrast = 1.0 + 0.5 * e
            lut = np.clip((levels[:, None] - 110.0) * contrast * gain[None] + 110.0 * gain[None], 0, 255)
            img = cv2.LUT(img, lut.astype(np.uint8).reshape(256, 1, 3))
        tf = f / fps
        for p in passers:
            u = (tf - p["t"]) / p["dur"]
            if 0.0 <= u <= 1.0:
                x = p["x0"] + (p["x1"] - p["x0"]) * u
                r = p["size"]
                cv2.rectangle(img, (int(x - 2 * r), int(p["y"] - r / 2)), (int(x + 2 * r), int(p["y"] + r / 2)), p["colour"], -1, cv2.LINE_AA)
        flash = 0.0
        flash_col = (255.0, 255.0, 255.0)
        for d in debris:
            age = tf - d["t"]
            if age < 0 or age > DEBRIS_LIFE_S:
                continue
            g = d["gain"]
            if age < 2.0 / fps and FLASH[d["kind"]] * g > flash:
                flash = FLASH[d["kind"]] * g * (1.0 - 0.4 * age * fps)
                flash_col = d["flash_colour"]
            if d["kind"] == "boom" and age < FIREBALL_S:
                rad = int((0.1 + 0.5 * age / FIREBALL_S) * min(w, h) * g)
                ox_, oy_ = d["origin"].astype(int)
                cv2.circle(img, (int(ox_), int(oy_)), rad, (255.0, 160.0 - 100 * age, 40.0), -1, cv2.LINE_AA)
                cv2.circle(img, (int(ox_), int(oy_)), max(1, rad // 2), (255.0, 240.0, 180.0), -1, cv2.LINE_AA)
            if d["kind"] == "shot" and age < 1.5 / fps:
                ox_, oy_ = d["origin"].astype(int)
                cv2.circle(img, (int(ox_), int(oy_)), int(10 * g) + 3, (255.0, 245.0, 190.0), -1, cv2.LINE_AA)
            pts = d["origin"][None] + d["vel"] * age + np.array([0.0, 0.5 * 400.0 * age * age])[None]
            for p, s, c in zip(pts, d["size"], d["colour"]):
                if 0 <= p[0] < w and 0 <= p[1] < h:
                    cv2.circle(img, (int(p[0]), int(p[1])), int(s) + 1, tuple(float(x) for x in c), -1)
        if flash > 0:
            overlay = np.empty_like(img)
            overlay[:] = np.asarray(flash_col, dtype=np.uint8)
            img = cv2.addWeighted(img, 1.0 - min(flash, 0.95), overlay, min(flash, 0.95), 0.0)
        yield img
