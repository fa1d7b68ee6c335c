"""HF channel: high frequencies lost, as through a narrow-band channel (steep linear-phase low-pass)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption

STOPBAND_ATTEN_DB = 66.0
TRANSITION = 0.2


@CORRUPTIONS.register("hf_channel", rank=3)
class HFChannel(AudioCorruption):
    """Low-pass every channel so nothing above ``cutoff_hz`` survives.

    A Kaiser-window linear-phase FIR, applied without delay (FFT overlap-add):
    pass band flat up to ``0.8 * cutoff_hz``, transition to ``cutoff_hz``, and
    at least 66 dB attenuation everywhere above ``cutoff_hz`` (designed; the
    documented guarantee is >= 60 dB of energy removed above the cut-off).
    audiomentations' ``LowPassFilter`` (Butterworth, <= a few tens of dB per
    octave) leaves too much energy just above the cut-off for such a guarantee.
    A level whose cut-off is at or above the track's Nyquist frequency is a
    no-op (the track already has nothing above it).
    """

    version = 1
    description = "steep linear-phase low-pass (FIR, >= 60 dB above the cut-off)"
    levels = tuple({"cutoff_hz": f} for f in (8000.0, 6000.0, 4000.0, 2000.0, 1000.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Low-pass at ``params['cutoff_hz']`` (deterministic; ``seed`` unused)."""
        cutoff = float(params["cutoff_hz"])
        if cutoff >= rate / 2.0:
            return x
        return F.fir_same(x, _taps(cutoff, rate))


@lru_cache(maxsize=32)
def _taps(cutoff: float, rate: int) -> np.ndarray:
    taps = F.lowpass_fir(cutoff, rate, transition=TRANSITION, atten_db=STOPBAND_ATTEN_DB)
    taps.setflags(write=False)
    return taps
