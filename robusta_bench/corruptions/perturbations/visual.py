"""Visual self-made perturbations (not benchmark corruptions): blur, pixelation, JPEG, impulse noise, occlusion, posterize.

Sizes are fractions of the frame's short side, so a 160x120 and a 640x360
clip are degraded alike. All are pure functions of the frames and the seed.
"""

from __future__ import annotations

import numpy as np

from ...seeding import rng_for
from ..base import CORRUPTIONS, Corruption
from ..visual import functional as F


class VisualPerturbation(Corruption):
    """A frame-wise visual perturbation for reliability training (see the package docstring)."""

    modality = "visual"
    perturbation = True

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Perturb ``(T, H, W, 3)`` uint8 frames; frame ``i`` has video index ``start + i``."""
        frames = F.check_frames(data, self.name)
        p = self.params(severity)
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            out[i] = self.frame(frame, p, seed, start + i)
        return out

    def frame(self, frame: np.ndarray, p: dict, seed: int, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _short(frame: np.ndarray) -> int:
    return int(min(frame.shape[0], frame.shape[1]))


@CORRUPTIONS.register("perturb_gaussian_blur")
class GaussianBlur(VisualPerturbation):
    """Isotropic Gaussian blur, sigma a fraction of the short side (OpenCV)."""

    description = "isotropic Gaussian blur (sigma = fraction of the short side)"
    levels = tuple({"sigma_fraction": s} for s in (0.004, 0.008, 0.014, 0.022, 0.035))

    def frame(self, frame, p, seed, index):
        import cv2

        sigma = max(p["sigma_fraction"] * _short(frame), 0.3)
        return cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


@CORRUPTIONS.register("perturb_pixelate")
class Pixelate(VisualPerturbation):
    """Downscale by ``scale`` (area), upscale back with nearest neighbour: blocky frames."""

    description = "downscale (area) and upscale (nearest): pixelation"
    levels = tuple({"scale": s} for s in (0.6, 0.45, 0.3, 0.2, 0.12))

    def frame(self, frame, p, seed, index):
        import cv2

        h, w = frame.shape[:2]
        small = cv2.resize(frame, (max(1, round(w * p["scale"])), max(1, round(h * p["scale"]))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


@CORRUPTIONS.register("perturb_jpeg")
class Jpeg(VisualPerturbation):
    """Every frame JPEG-encoded at ``quality`` and decoded (OpenCV): blocking and ringing."""

    description = "per-frame JPEG round trip at a low quality"
    levels = tuple({"quality": q} for q in (30, 18, 12, 8, 5))

    def frame(self, frame, p, seed, index):
        import cv2

        ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(p["quality"])])
        if not ok:  # pragma: no cover - OpenCV failure
            raise RuntimeError("JPEG encode failed")
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


@CORRUPTIONS.register("perturb_impulse_noise")
class ImpulseNoise(VisualPerturbation):
    """Salt-and-pepper noise: a fraction ``amount`` of pixels set to black or white, fresh per frame."""

    description = "salt-and-pepper noise, fresh per frame"
    levels = tuple({"amount": a} for a in (0.01, 0.03, 0.06, 0.1, 0.17))

    def frame(self, frame, p, seed, index):
        rng = rng_for(seed, "perturb_impulse-frame", index)
        u = rng.random(frame.shape[:2])
        out = frame.copy()
        out[u < p["amount"] / 2] = 0
        out[(u >= p["amount"] / 2) & (u < p["amount"])] = 255
        return out


@CORRUPTIONS.register("perturb_occlusion")
class Occlusion(VisualPerturbation):
    """A grey rectangle of ``area`` of the frame at a seeded place, fixed for the whole video (a lens obstruction)."""

    description = "a grey rectangle over a fraction of the frame, fixed per video"
    levels = tuple({"area": a} for a in (0.08, 0.15, 0.25, 0.35, 0.5))

    def frame(self, frame, p, seed, index):
        h, w = frame.shape[:2]
        rng = rng_for(seed, "perturb_occlusion")
        aspect = float(rng.uniform(0.5, 2.0))
        bh = min(h, max(1, round(np.sqrt(p["area"] * h * w / aspect))))
        bw = min(w, max(1, round(p["area"] * h * w / bh)))
        y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        out = frame.copy()
        out[y : y + bh, x : x + bw] = 128
        return out


@CORRUPTIONS.register("perturb_posterize")
class Posterize(VisualPerturbation):
    """Keep only the ``bits`` most significant bits of every channel (banding)."""

    description = "colour quantisation to a few bits per channel"
    levels = tuple({"bits": b} for b in (5, 4, 3, 2, 1))

    def frame(self, frame, p, seed, index):
        shift = 8 - int(p["bits"])
        q = (frame >> shift) << shift
        return (q + (1 << shift) // 2 if shift else q).astype(np.uint8)
