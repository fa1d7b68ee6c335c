"""The plan of one synthetic video: its anomalous segments and the events inside them.

A plan is drawn from a seeded generator and holds everything both renderers
(:mod:`.synth_video`, :mod:`.synth_audio`) need, so picture and sound are built
from the same timeline: a gunshot is a flash on screen and a crack in the sound
track at the same instant. Plans are pure data; rendering them is deterministic.

Design (see docs/dataset.md, "Synthetic data"):

- Violent videos have 1 or 2 anomalous segments covering 25-60 % of the frames;
  normal videos have none.
- Inside a segment: continuous chaos (fast jittering shapes, fast "actors",
  camera shake, a colour cast) plus discrete *hits* whose kind depends on the
  video's categories (shot, punch, boom, crash, bang, scream).
- ``visual_strength`` (0.65-1) is always high; ``audio_strength`` is drawn so that
  about a third of the segments are only moderately audible (0.2-0.45), the rest
  0.55-1. Half of the normal videos get audio-only *distractors* (a door slam,
  a horn, clatter), and about a third get a visual distractor with no sound: a
  large object *passing* smoothly and fast across the picture (motion, but not
  chaos). So each modality alone carries the signal, the visual one more
  reliably, and neither "loud" nor "moving" alone means violent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Hit kinds used for each violent category (the first is the most frequent).
CATEGORY_HITS: dict[str, tuple[str, ...]] = {
    "B1": ("punch", "punch", "scream"),
    "B2": ("shot", "shot", "shot", "scream"),
    "B4": ("bang", "punch", "shot"),
    "B5": ("punch", "scream", "scream"),
    "B6": ("crash", "bang"),
    "G": ("boom", "bang"),
}

#: Mean hits per second of each kind inside a segment.
HIT_RATE: dict[str, float] = {"shot": 4.0, "punch": 3.5, "bang": 3.0, "scream": 1.2, "crash": 1.0, "boom": 0.8}

#: Colour cast (RGB multipliers at full strength) by category.
CATEGORY_TINT: dict[str, tuple[float, float, float]] = {
    "B1": (1.35, 0.85, 0.8),
    "B2": (1.25, 1.15, 0.7),
    "B4": (0.8, 0.8, 0.75),
    "B5": (1.4, 0.75, 0.75),
    "B6": (1.2, 1.2, 1.3),
    "G": (1.5, 1.05, 0.55),
}

DISTRACTOR_KINDS = ("slam", "horn", "clatter")


@dataclass(frozen=True)
class Hit:
    """One discrete event: time in seconds, kind, and a random strength factor in [0.6, 1]."""

    t: float
    kind: str
    gain: float
    seed: int


@dataclass(frozen=True)
class Segment:
    """An anomalous interval ``[start, end)`` in frames with its strengths and hits."""

    start: int
    end: int
    visual_strength: float
    audio_strength: float
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class VideoPlan:
    """Everything needed to render one synthetic video."""

    name: str
    label: int
    categories: tuple[str, ...]
    n_frames: int
    fps: int
    width: int
    height: int
    seed: int
    segments: tuple[Segment, ...] = ()
    distractors: tuple[Hit, ...] = ()
    passers: tuple[Hit, ...] = ()
    scene: dict = field(default_factory=dict)

    @property
    def frame_segments(self) -> list[tuple[int, int]]:
        """The anomalous ``(start, end)`` frame intervals (end exclusive)."""
        return [(s.start, s.end) for s in self.segments]


def place_segments(rng: np.random.Generator, n_frames: int, fps: int) -> list[tuple[int, int]]:
    """1 or 2 non-overlapping intervals covering 25-60 % of ``n_frames`` (each >= 16 frames)."""
    min_len = 16
    coverage = rng.uniform(0.25, 0.6)
    total = max(min_len, int(round(coverage * n_frames)))
    two = rng.random() < 0.5 and total >= 2 * min_len and n_frames - total >= fps
    if two:
        first = int(rng.integers(min_len, total - min_len + 1))
        lengths = [first, total - first]
        gap_min = min(fps, (n_frames - total) // 2)
        free = n_frames - total - gap_min
        cuts = np.sort(rng.integers(0, free + 1, size=2))
        s1 = int(cuts[0])
        s2 = s1 + lengths[0] + gap_min + int(cuts[1] - cuts[0])
        return [(s1, s1 + lengths[0]), (s2, s2 + lengths[1])]
    total = min(total, n_frames)
    s = int(rng.integers(0, n_frames - total + 1))
    return [(s, s + total)]


def _hits(rng: np.random.Generator, categories: tuple[str, ...], t0: float, t1: float, fps: int) -> tuple[Hit, ...]:
    kinds = [k for c in categories for k in CATEGORY_HITS[c]]
    out: list[Hit] = []
    # the first hit lands in the first few frames, so the segment starts with an event
    t = t0 + rng.uniform(0.0, 3.0 / fps)
    while t < t1 - 1.0 / fps:
        kind = str(kinds[int(rng.integers(len(kinds)))])
        out.append(Hit(t=float(t), kind=kind, gain=float(rng.uniform(0.6, 1.0)), seed=int(rng.integers(2**31))))
        t += rng.exponential(1.0 / HIT_RATE[kind]) + 1.5 / fps
    return tuple(out)


def draw_video_plan(
    rng: np.random.Generator,
    *,
    name: str,
    label: int,
    categories: tuple[str, ...],
    n_frames: int,
    fps: int,
    width: int,
    height: int,
) -> VideoPlan:
    """Draw the plan of one video (segments, hits, distractors, scene parameters) from ``rng``."""
    seconds = n_frames / fps
    segments: list[Segment] = []
    distractors: list[Hit] = []
    if label == 1:
        for s, e in place_segments(rng, n_frames, fps):
            weak_audio = rng.random() < 0.35
            segments.append(
                Segment(
                    start=s,
                    end=e,
                    visual_strength=float(rng.uniform(0.65, 1.0)),
                    audio_strength=float(rng.uniform(0.2, 0.45) if weak_audio else rng.uniform(0.55, 1.0)),
                    hits=_hits(rng, categories, s / fps, e / fps, fps),
                )
            )
    passers: list[Hit] = []
    if label == 0 and rng.random() < 0.35:
        for _ in range(int(rng.integers(1, 3))):
            passers.append(
                Hit(
                    t=float(rng.uniform(0.0, max(0.0, seconds - 2.0))),
                    kind="passer",
                    gain=float(rng.uniform(1.0, 2.5)),  # duration of the crossing in seconds
                    seed=int(rng.integers(2**31)),
                )
            )
    if label == 0 and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            distractors.append(
                Hit(
                    t=float(rng.uniform(0.0, max(0.0, seconds - 1.0))),
                    kind=str(DISTRACTOR_KINDS[int(rng.integers(len(DISTRACTOR_KINDS)))]),
                    gain=float(rng.uniform(0.25, 0.6)),
                    seed=int(rng.integers(2**31)),
                )
            )
    scene = {
        "background_seed": int(rng.integers(2**31)),
        "hue": float(rng.uniform(0, 1)),
        "n_shapes": int(rng.integers(2, 7)),
        "n_actors": int(rng.integers(2, 6)),
        "shape_seed": int(rng.integers(2**31)),
        "event_seed": int(rng.integers(2**31)),
        "tint": CATEGORY_TINT[categories[0]] if label == 1 else (1.0, 1.0, 1.0),
        "ambience_seed": int(rng.integers(2**31)),
    }
    return VideoPlan(
        name=name,
        label=label,
        categories=categories,
        n_frames=n_frames,
        fps=fps,
        width=width,
        height=height,
        seed=int(rng.integers(2**31)),
        segments=tuple(segments),
        distractors=tuple(distractors),
        passers=tuple(passers),
        scene=scene,
    )
