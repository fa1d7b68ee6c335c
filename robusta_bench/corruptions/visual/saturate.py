"""Saturate: HSV saturation * a + b, clipped (Yi et al. 2021), deterministic per frame."""

from __future__ import annotations

import numpy as np

from ..base import CORRUPTIONS, Corruption
from . import functional as F


@CORRUPTIONS.register("saturate", rank=7)
class Saturate(Corruption):
    """``S' = clip(S * saturation_scale + saturation_shift, 0, 1)``; hue and value kept.

    Levels 1-2 desaturate, 3-5 oversaturate. As in skimage, grey pixels have hue
    0, so the shift of levels 4-5 tints them red (the reference does the same).
    """

    modality = "visual"
    version = 1
    description = "HSV saturation * a + b, clipped (skimage HSV); deterministic"
    levels = tuple(
        {"saturation_scale": a, "saturation_shift": b}
        for a, b in ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))
    )

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Change the saturation of ``(T, H, W, 3)`` uint8 frames; ``seed``/``start`` unused."""
        p = self.params(severity)
        return F.saturate(F.check_frames(data, self.name), p["saturation_scale"], p["saturation_shift"])
