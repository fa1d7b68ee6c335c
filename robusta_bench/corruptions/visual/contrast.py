"""Contrast: per frame and channel, (x - mean) * c + mean (Yi et al. 2021)."""

from __future__ import annotations

import numpy as np

from ..base import CORRUPTIONS, Corruption
from . import functional as F


@CORRUPTIONS.register("contrast", rank=3)
class Contrast(Corruption):
    """Scales each channel's deviation from its frame mean by ``contrast_scale``.

    Levels follow Yi et al. (0.5 .. 0.1); ImageNet-C used 0.4 .. 0.05.
    """

    modality = "visual"
    version = 1
    description = "per-frame, per-channel (x - mean) * c + mean; deterministic"
    levels = tuple({"contrast_scale": c} for c in (0.5, 0.4, 0.3, 0.2, 0.1))

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Lower the contrast of ``(T, H, W, 3)`` uint8 frames; ``seed``/``start`` unused."""
        p = self.params(severity)
        return F.contrast(F.check_frames(data, self.name), p["contrast_scale"])
