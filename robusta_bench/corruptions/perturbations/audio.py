"""Audio self-made perturbations (not benchmark corruptions): band limits, clipping, brown noise, mains hum, tremolo."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...seeding import rng_for
from ..audio import functional as F
from ..audio.common import AudioCorruption
from ..base import CORRUPTIONS


class AudioPerturbation(AudioCorruption):
    """An audio perturbation for reliability training (see the package docstring)."""

    perturbation = True


def _cutoff(hz: float, rate: int) -> float:
    return min(float(hz), 0.45 * rate)


@CORRUPTIONS.register("perturb_lowpass")
class LowPass(AudioPerturbation):
    """Everything above ``cutoff_hz`` removed (linear-phase FIR): muffled sound."""

    description = "low-pass FIR at cutoff_hz"
    levels = tuple({"cutoff_hz": c} for c in (4000.0, 2000.0, 1000.0, 500.0, 250.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        return F.fir_same(x, F.lowpass_fir(_cutoff(params["cutoff_hz"], rate), rate))


@CORRUPTIONS.register("perturb_highpass")
class HighPass(AudioPerturbation):
    """Everything below ``cutoff_hz`` removed (the input minus its linear-phase low-pass): tinny sound."""

    description = "high-pass (input minus low-pass FIR) at cutoff_hz"
    levels = tuple({"cutoff_hz": c} for c in (300.0, 600.0, 1200.0, 2400.0, 4000.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        return x - F.fir_same(x, F.lowpass_fir(_cutoff(params["cutoff_hz"], rate), rate))


@CORRUPTIONS.register("perturb_clipping")
class Clipping(AudioPerturbation):
    """Hard clipping at ``level`` times the track's peak, then the peak restored (distortion)."""

    description = "hard clipping at a fraction of the peak, peak restored"
    levels = tuple({"level": c} for c in (0.5, 0.3, 0.15, 0.07, 0.03))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        peak = float(np.abs(x).max())
        if peak == 0.0:
            return x.copy()
        t = params["level"] * peak
        return np.clip(x, -t, t) * (peak / t)


@CORRUPTIONS.register("perturb_brown_noise")
class BrownNoise(AudioPerturbation):
    """Brown (1/f^2, integrated white) noise at ``snr_db`` over the whole track."""

    description = "additive brown noise (integrated white noise) at snr_db"
    levels = tuple({"snr_db": s} for s in (30.0, 20.0, 10.0, 5.0, 0.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        w = rng_for(seed, "perturb_brown").standard_normal(x.shape)
        b = np.cumsum(w, axis=1)
        b -= np.linspace(0.0, 1.0, x.shape[1])[None, :] * b[:, -1:]  # no drift
        b -= b.mean(axis=1, keepdims=True)
        return F.mix_at_snr(x, F.equal_channel_power(b), params["snr_db"])


@CORRUPTIONS.register("perturb_hum")
class Hum(AudioPerturbation):
    """Mains hum: 50 Hz and its first 5 harmonics (falling 6 dB each) at ``snr_db``, seeded phase."""

    description = "50 Hz mains hum with harmonics at snr_db"
    levels = tuple({"snr_db": s} for s in (30.0, 20.0, 10.0, 5.0, 0.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        t = np.arange(x.shape[1]) / rate
        phases = rng_for(seed, "perturb_hum").uniform(0, 2 * np.pi, 6)
        hum = sum(0.5**k * np.sin(2 * np.pi * 50.0 * (k + 1) * t + phases[k]) for k in range(6) if 50.0 * (k + 1) < rate / 2)
        return F.mix_at_snr(x, np.broadcast_to(hum, x.shape).copy(), params["snr_db"])


@CORRUPTIONS.register("perturb_tremolo")
class Tremolo(AudioPerturbation):
    """Amplitude modulation ``1 - depth * (1 + sin(2 pi 6 Hz t)) / 2`` (a fading, pumping signal)."""

    description = "6 Hz amplitude modulation of a given depth"
    levels = tuple({"depth": d} for d in (0.3, 0.5, 0.7, 0.85, 1.0))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        t = np.arange(x.shape[1]) / rate
        phase = float(rng_for(seed, "perturb_tremolo").uniform(0, 2 * np.pi))
        gain = 1.0 - params["depth"] * (1.0 + np.sin(2 * np.pi * 6.0 * t + phase)) / 2.0
        return x * gain[None, :]
