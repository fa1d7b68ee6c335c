"""Rain: random near-vertical grey streaks per frame, blurred, then darkened (Yi et al. 2021)."""

from __future__ import annotations

import numpy as np

from ...seeding import rng_for
from ..base import CORRUPTIONS, Corruption
from . import functional as F

#: grey level of the streaks (the reference's drop colour (220, 220, 220))
DROP_GREY = 220.0


@CORRUPTIONS.register("rain", rank=5)
class Rain(Corruption):
    """Per frame: ``H * W // px_per_drop`` streaks of ``drop_length_px`` pixels, then contrast x ``darken_scale``.

    Streak positions and slant are drawn per frame from a generator seeded by
    (item seed, frame index); see :func:`functional.rain_mask` and
    :func:`functional.rain_frame` for the exact steps.
    """

    modality = "visual"
    version = 1
    description = "1-px grey (220) streaks, 3x3 blur blend, then contrast 'darken'; fresh per frame"
    levels = (
        {"px_per_drop": 770, "drop_length_px": 10, "darken_scale": 0.8},
        {"px_per_drop": 770, "drop_length_px": 30, "darken_scale": 0.8},
        {"px_per_drop": 770, "drop_length_px": 60, "darken_scale": 0.7},
        {"px_per_drop": 500, "drop_length_px": 60, "darken_scale": 0.6},
        {"px_per_drop": 400, "drop_length_px": 80, "darken_scale": 0.5},
    )

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Rain on ``(T, H, W, 3)`` uint8 frames; frame ``i`` has video index ``start + i``."""
        p = self.params(severity)
        frames = F.check_frames(data, self.name)
        _, h, w, _ = frames.shape
        n_drops = (h * w) // p["px_per_drop"]
        out = np.empty_like(frames)
        for i in range(len(frames)):
            rng = rng_for(seed, "rain-frame", start + i)
            mask = F.rain_mask(h, w, n_drops, p["drop_length_px"], rng)
            out[i] = F.rain_frame(frames[i], mask, p["darken_scale"], DROP_GREY)
        return out
