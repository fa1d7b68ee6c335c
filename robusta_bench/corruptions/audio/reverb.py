"""Reverb: convolution with a seeded synthetic room impulse response per level."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption

LN_1000 = float(np.log(1000.0))  # amplitude falls by 60 dB (x1000) over RT60


@CORRUPTIONS.register("reverb", rank=7)
class Reverb(AudioCorruption):
    """Convolve with a synthetic room impulse response (RIR): direct path, early reflections, late tail.

    The RIR (see :func:`synthetic_rir`) has a direct impulse at t = 0, 8
    early reflections between 2 ms and 40 ms, and an exponentially decaying
    Gaussian tail starting at ``predelay`` with an energy decay of 60 dB in
    ``rt60_s``; its reverberant part carries ``drr_db`` less energy than the
    direct path (direct-to-reverberant ratio). Early reflections are shared by
    all channels, late tails are independent per channel (decorrelated, as in a
    real room). The wet track is cut to the input length (the tail beyond the
    end is dropped) and scaled back to the input's RMS so loudness is unchanged.
    audiomentations' RoomSimulator needs pyroomacoustics and
    ApplyImpulseResponse needs IR files, hence own code.
    """

    version = 1
    description = "synthetic room impulse response (RT60 0.3-2.5 s, DRR +6..-6 dB), loudness kept"
    levels = (
        {"rt60_s": 0.3, "drr_db": 6.0},
        {"rt60_s": 0.6, "drr_db": 3.0},
        {"rt60_s": 1.0, "drr_db": 0.0},
        {"rt60_s": 1.5, "drr_db": -3.0},
        {"rt60_s": 2.5, "drr_db": -6.0},
    )

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Reverberate with the level's RIR drawn from ``seed``."""
        rng = np.random.default_rng(seed)
        h = synthetic_rir(x.shape[0], rate, float(params["rt60_s"]), float(params["drr_db"]), rng)
        h = h[:, : x.shape[1]]  # nothing past the end of the track can reach it
        y = F.fft_convolve_truncated(x, h)
        p_in, p_out = F.power(x), F.power(y)
        return y * np.sqrt(p_in / p_out) if p_out > 0 else y


def synthetic_rir(channels: int, rate: int, rt60_s: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``(channels, L)`` room impulse responses, L = RT60 (the tail is at -60 dB there)."""
    length = max(2, int(round(rt60_s * rate)))
    t = np.arange(length) / rate
    decay = np.exp(-LN_1000 * t / rt60_s)  # amplitude envelope, -60 dB at rt60
    predelay = int(round(rng.uniform(0.005, 0.015) * rate))
    onset = np.clip((t - predelay / rate) / 0.02, 0.0, 1.0)  # tail builds up over 20 ms
    late = rng.standard_normal((channels, length)) * (decay * onset)[None, :]
    early = np.zeros(length)
    n_early = 8
    pos = np.minimum(length - 1, (rng.uniform(0.002, 0.040, n_early) * rate).astype(np.int64))
    amp = rng.uniform(0.3, 0.8, n_early) * rng.choice([-1.0, 1.0], n_early) * np.exp(-LN_1000 * pos / rate / rt60_s)
    np.add.at(early, pos, amp)
    # early reflections carry as much energy as ~20 ms of tail; the sum is set to the DRR
    early *= np.sqrt(np.sum(late[0, : int(0.02 * rate)] ** 2 + 1e-30) / max(np.sum(early**2), 1e-30))
    reverb = late + early[None, :]
    energy = np.sum(reverb**2, axis=1, keepdims=True)
    reverb *= np.sqrt(10.0 ** (-drr_db / 10.0) / np.maximum(energy, 1e-30))
    reverb[:, 0] += 1.0  # direct path
    return reverb
