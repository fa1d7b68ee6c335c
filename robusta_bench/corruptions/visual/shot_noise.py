"""Shot noise: Poisson photon noise, fresh per frame (Yi et al. 2021 / ImageNet-C)."""

from __future__ import annotations

import numpy as np

from ...seeding import rng_for
from ..base import CORRUPTIONS, Corruption
from . import functional as F


@CORRUPTIONS.register("shot_noise", rank=8)
class ShotNoise(Corruption):
    """``poisson(x / 255 * photons_at_white) / photons_at_white`` per pixel and channel.

    Each frame draws from its own generator, seeded by (item seed, frame index),
    so any chunking or processing order gives the same frames.
    """

    modality = "visual"
    version = 2  # 2: exact inverse-CDF sampler (same distribution, other random stream)
    description = "Poisson noise with c photons at full white; fresh draws per frame"
    levels = tuple({"photons_at_white": c} for c in (60, 25, 12, 5, 3))

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Add shot noise to ``(T, H, W, 3)`` uint8 frames; frame ``i`` has video index ``start + i``."""
        p = self.params(severity)
        frames = F.check_frames(data, self.name)
        rngs = [rng_for(seed, "shot_noise-frame", start + i) for i in range(len(frames))]
        return F.shot_noise(frames, float(p["photons_at_white"]), rngs)
