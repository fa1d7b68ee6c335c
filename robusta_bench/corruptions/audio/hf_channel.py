"""HF channel: the noise of a high-frequency (short-wave) radio channel overlaid at an exact SNR.

The paper's ``hfchannel`` is the NOISEX-92 recording "noise in an HF radio
channel after demodulation", overlaid on the track. That recording cannot be
shipped, so by default the noise is generated (:func:`hf_channel_noise`) to
imitate it; ``--noise-dir`` with a ``hfchannel.wav`` uses the real recording
instead (:mod:`.overlay`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption
from .overlay import OverlayNoise

#: the demodulated audio band of an SSB voice channel (Hz)
BAND_HZ = (300.0, 3000.0)
BAND_ORDER = 6
#: fading: Rayleigh envelope with this Doppler spread (Hz), never below FADE_FLOOR of the mean
FADING_HZ = 1.0
FADE_FLOOR = 0.2
#: atmospheric static: impulsive crackles per second, their decay (s) and share of the noise power
CRACKLES_PER_S = 8.0
CRACKLE_DECAY_S = 0.003
CRACKLE_SHARE = 0.3


def _band(rate: int) -> tuple[float, float]:
    hi = min(BAND_HZ[1], 0.45 * rate)
    return min(BAND_HZ[0], hi / 4.0), hi


def _fading(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A slow Rayleigh-fading gain (mean square ~1) with Doppler spread :data:`FADING_HZ`, floored."""
    ctrl = 50.0  # envelope control rate (Hz)
    m = int(np.ceil(n / rate * ctrl)) + 16
    sigma = ctrl / (2.0 * np.pi * FADING_HZ)  # Gaussian Doppler spectrum of width FADING_HZ
    k = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    kernel = np.exp(-0.5 * (k / sigma) ** 2)
    iq = rng.standard_normal((2, m + len(k)))
    iq = np.stack([np.convolve(row, kernel, mode="valid")[:m] for row in iq])
    env = np.hypot(iq[0], iq[1])
    env /= np.sqrt(np.mean(env**2)) + 1e-12
    env = FADE_FLOOR + (1.0 - FADE_FLOOR) * env
    return np.interp(np.arange(n) / rate * ctrl, np.arange(m), env)


def _crackle(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Atmospheric static: Poisson-timed impulses with log-normal strength, each a short decaying burst."""
    out = np.zeros(n)
    count = rng.poisson(CRACKLES_PER_S * n / rate)
    if count == 0:
        return out
    at = rng.integers(0, n, size=count)
    np.add.at(out, at, rng.lognormal(0.0, 0.7, size=count) * rng.choice((-1.0, 1.0), size=count))
    length = max(int(5 * CRACKLE_DECAY_S * rate), 2)
    burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (CRACKLE_DECAY_S * rate))
    from scipy.signal import oaconvolve

    return oaconvolve(out, burst, mode="full")[:n]


def hf_channel_noise(channels: int, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``(channels, n)`` generated HF-radio noise, independent per channel (unit power before the SNR scaling).

    Per channel: Gaussian hiss plus atmospheric static (:data:`CRACKLE_SHARE`
    of the power), band-limited to the SSB voice band (:data:`BAND_HZ`,
    order-6 Butterworth band-pass), then multiplied by a slow Rayleigh fading
    envelope (:data:`FADING_HZ`, floored at :data:`FADE_FLOOR`).
    """
    from scipy.signal import butter, sosfilt

    sos = butter(BAND_ORDER, _band(rate), btype="bandpass", fs=rate, output="sos")
    rows = []
    for _ in range(channels):
        hiss = rng.standard_normal(n)
        crackle = _crackle(n, rate, rng)
        p_c = F.power(crackle)
        if p_c > 0:
            crackle *= np.sqrt(CRACKLE_SHARE / (1.0 - CRACKLE_SHARE) * F.power(hiss) / p_c)
        banded = sosfilt(sos, hiss + crackle)
        rows.append(banded * _fading(n, rate, rng))
    return np.stack(rows)


@CORRUPTIONS.register("hf_channel", rank=3)
class HFChannel(OverlayNoise, AudioCorruption):
    """HF-radio-channel noise overlaid at ``snr_db`` over the whole track (NOISEX-92 ``hfchannel``).

    Generated noise by default (:func:`hf_channel_noise`: band-limited hiss
    with fading and static, see docs/corruptions-audio.md), or the
    ``hfchannel.*`` recording of ``noise_dir``; each channel is scaled to the
    same noise power, and the track-to-noise power ratio over all channels is
    exactly ``snr_db``. Version 2: up to version 1 this was a low-pass filter.
    """

    version = 2
    description = "HF radio channel noise (generated band-limited hiss, fading, static; or --noise-dir hfchannel) at an SNR"
    levels = tuple({"snr_db": s} for s in (20.0, 15.0, 10.0, 5.0, 0.0))

    def __init__(self, noise_dir: str | Path | None = None) -> None:
        self._init_noise(noise_dir)

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Add HF-channel noise at ``params['snr_db']``."""
        recorded = self.recorded_overlay(x, rate, params, seed)
        if recorded is not None:
            return recorded
        noise = hf_channel_noise(x.shape[0], x.shape[1], rate, np.random.default_rng(seed))
        return F.mix_at_snr(x, F.equal_channel_power(noise), float(params["snr_db"]))
