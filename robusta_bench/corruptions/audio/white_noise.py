"""White noise: additive Gaussian noise at an exact SNR ladder (audiomentations AddGaussianSNR)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption
from .overlay import OverlayNoise


@CORRUPTIONS.register("white_noise", rank=8)
class WhiteNoise(OverlayNoise, AudioCorruption):
    """Independent white Gaussian noise on every channel at ``snr_db`` over the whole track.

    The noise is drawn by audiomentations ``AddGaussianSNR`` (p=1, min = max
    SNR) with the global RNGs isolated and seeded per item, then rescaled from
    its realised power (each channel to the same power) so the SNR is exact, not only exact in expectation.
    """

    version = 1
    description = "additive white Gaussian noise, SNR over all channels (AddGaussianSNR, exact rescale)"
    levels = tuple({"snr_db": s} for s in (40.0, 30.0, 20.0, 10.0, 0.0))

    def __init__(self, noise_dir: str | Path | None = None) -> None:
        """``noise_dir``: a folder whose ``white.*`` recording (NOISEX-92 name) replaces the generated noise."""
        self._init_noise(noise_dir)

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Add white noise at ``params['snr_db']``."""
        recorded = self.recorded_overlay(x, rate, params, seed)
        if recorded is not None:
            return recorded
        from audiomentations import AddGaussianSNR

        snr = float(params["snr_db"])
        t = AddGaussianSNR(min_snr_db=snr, max_snr_db=snr, p=1.0)
        noise = F.augment(t, x, rate, seed) - x.astype(np.float32).astype(np.float64)
        return F.mix_at_snr(x, F.equal_channel_power(noise), snr)
