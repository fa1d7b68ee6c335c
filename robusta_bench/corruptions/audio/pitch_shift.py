"""Pitch shift: the whole track transposed by a semitone ladder, duration kept (audiomentations PitchShift)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption


@CORRUPTIONS.register("pitch_shift", rank=5)
class PitchShift(AudioCorruption):
    """Transpose by ``semitones``, up or down (the direction is drawn from the item's seed).

    audiomentations ``PitchShift`` with the Signalsmith Stretch method (p=1,
    min = max): high quality, duration and sample count preserved, all channels
    processed together. A random direction per item keeps the corrupted set
    balanced instead of biasing every voice upwards or downwards.
    """

    version = 1
    description = "pitch shift by a fixed number of semitones, seeded direction, duration kept"
    levels = tuple({"semitones": s} for s in (1.0, 2.0, 4.0, 6.0, 8.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Shift by ``+-params['semitones']``."""
        shift = self.shift_for(params, seed)
        from audiomentations import PitchShift as AMPitchShift

        t = AMPitchShift(min_semitones=shift, max_semitones=shift, method="signalsmith_stretch", p=1.0)
        y = F.augment(t, x, rate, seed)
        if y.shape != x.shape:
            n = x.shape[1]
            y = y[:, :n] if y.shape[1] >= n else np.pad(y, ((0, 0), (0, n - y.shape[1])))
        return y

    @staticmethod
    def shift_for(params: dict[str, Any], seed: int) -> float:
        """The signed shift in semitones for this item: ``+-semitones`` with the sign drawn from ``seed``."""
        sign = 1.0 if np.random.default_rng(seed).random() < 0.5 else -1.0
        return sign * float(params["semitones"])
