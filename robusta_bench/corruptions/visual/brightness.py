"""Brightness: HSV value + c (Yi et al. 2021 / ImageNet-C), deterministic per frame."""

from __future__ import annotations

import numpy as np

from ..base import CORRUPTIONS, Corruption
from . import functional as F


@CORRUPTIONS.register("brightness", rank=2)
class Brightness(Corruption):
    """Adds ``hsv_value_delta`` to every pixel's HSV value (clipped to 1); hue and saturation kept."""

    modality = "visual"
    version = 1
    description = "HSV value + c, clipped (skimage HSV); deterministic, per frame"
    levels = tuple({"hsv_value_delta": c} for c in (0.1, 0.2, 0.3, 0.4, 0.5))

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Brighten ``(T, H, W, 3)`` uint8 frames; ``seed`` and ``start`` are unused (deterministic)."""
        p = self.params(severity)
        return F.brightness(F.check_frames(data, self.name), p["hsv_value_delta"])
