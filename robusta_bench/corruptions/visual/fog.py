"""Fog: one plasma-fractal layer per video, static over time (Yi et al. 2021)."""

from __future__ import annotations

import numpy as np

from ..base import CORRUPTIONS, Corruption
from . import functional as F


@CORRUPTIONS.register("fog", rank=4)
class Fog(Corruption):
    """``(x + fog_strength * fractal) * max / (max + fog_strength)`` on the 0..1 scale.

    The diamond-square fractal (roughness ``wibble_decay``) is drawn ONCE per
    video from the item seed, at the next power of two >= max(H, W), and its
    top-left H x W corner is added to every frame; ``max`` is each frame's
    maximum, as in the reference (which takes it before its 224 crop).
    """

    modality = "visual"
    version = 1
    description = "static diamond-square fog layer per video, sized to the frame"
    levels = tuple(
        {"fog_strength": c, "wibble_decay": d}
        for c, d in ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
    )

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Fog ``(T, H, W, 3)`` uint8 frames; the layer depends on ``seed`` and the frame size only."""
        p = self.params(severity)
        frames = F.check_frames(data, self.name)
        _, h, w, _ = frames.shape
        layer = F.fog_layer(h, w, float(p["fog_strength"]), float(p["wibble_decay"]), int(seed))
        return F.fog(frames, layer, float(p["fog_strength"]))
