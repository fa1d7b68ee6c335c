"""Pink noise: additive 1/f noise (-3.01 dB/octave) at an exact SNR ladder (audiomentations AddColorNoise)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption
from .overlay import OverlayNoise

PINK_DECAY_DB_PER_OCTAVE = -3.01


@CORRUPTIONS.register("pink_noise", rank=4)
class PinkNoise(OverlayNoise, AudioCorruption):
    """Independent pink noise on every channel at ``snr_db`` over the whole track.

    The noise comes from audiomentations ``AddColorNoise`` with f_decay = -3.01
    dB/octave (p=1, min = max, no A-weighting, ``n_fft`` = 2048 so the 1/f
    shape holds down to ~50 Hz at 48 kHz), with isolated seeded global RNGs,
    then rescaled from its realised power (each channel to the same power) so
    the SNR is exact.
    """

    version = 1
    description = "additive pink (1/f, -3.01 dB/octave) noise, SNR over all channels (AddColorNoise, exact rescale)"
    levels = tuple({"snr_db": s} for s in (40.0, 30.0, 20.0, 10.0, 0.0))
    n_fft = 2048

    def __init__(self, noise_dir: str | Path | None = None) -> None:
        """``noise_dir``: a folder whose ``pink.*`` recording (NOISEX-92 name) replaces the generated noise."""
        self._init_noise(noise_dir)

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Add pink noise at ``params['snr_db']``."""
        recorded = self.recorded_overlay(x, rate, params, seed)
        if recorded is not None:
            return recorded
        from audiomentations import AddColorNoise

        snr = float(params["snr_db"])
        t = AddColorNoise(
            min_snr_db=snr,
            max_snr_db=snr,
            min_f_decay=PINK_DECAY_DB_PER_OCTAVE,
            max_f_decay=PINK_DECAY_DB_PER_OCTAVE,
            p_apply_a_weighting=0.0,
            n_fft=self.n_fft,
            p=1.0,
        )
        noise = F.augment(t, x, rate, seed) - x.astype(np.float32).astype(np.float64)
        return F.mix_at_snr(x, F.equal_channel_power(noise), snr)
