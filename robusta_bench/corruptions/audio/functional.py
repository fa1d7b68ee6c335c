"""Pure array operations shared by the audio corruptions: checks, SNR mixing, filters, measuring.

Conventions (see docs/corruptions-audio.md):

- audio is ``(C, N)``: C channels (mono .. 7.1), N samples at ``rate`` Hz;
- signal power is the mean square over **all** channels and samples, so an SNR
  is ``10 log10(sum(x**2) / sum(noise**2))`` over the whole multichannel track;
- corruptions compute in float64 and return float32 clipped to [-1, 1].
"""

from __future__ import annotations

import math

import numpy as np

MIN_SAMPLES = 2


def check_audio(data: np.ndarray, rate: int | None, name: str) -> tuple[np.ndarray, int]:
    """Validate ``(C, N)`` audio and its rate; return a float64 copy and the rate as int.

    Raises :class:`ValueError` naming the corruption and the problem: not 2-D,
    no channels, fewer than :data:`MIN_SAMPLES` samples (empty or 1-sample
    tracks cannot be corrupted meaningfully), non-finite values or a missing rate.
    """
    if rate is None or not np.isfinite(rate) or int(rate) <= 0:
        raise ValueError(f"{name}: audio corruptions need the sample rate (rate=...), got {rate!r}")
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"{name}: audio must be a (channels, samples) array, got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name}: audio has no channels (shape {arr.shape})")
    if arr.shape[1] < MIN_SAMPLES:
        raise ValueError(
            f"{name}: audio has {arr.shape[1]} sample(s); at least {MIN_SAMPLES} are needed "
            "(empty or 1-sample tracks cannot be corrupted)"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name}: audio must be floating point in [-1, 1], got dtype {arr.dtype}")
    x = arr.astype(np.float64, copy=True)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: audio contains NaN or infinite samples")
    return x, int(rate)


def finish(y: np.ndarray) -> np.ndarray:
    """Back to the contract's layout: C-contiguous float32 clipped to [-1, 1]."""
    return np.ascontiguousarray(np.clip(y, -1.0, 1.0), dtype=np.float32)


def power(x: np.ndarray) -> float:
    """Mean square over all channels and samples."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(np.square(x))) if x.size else 0.0


def scale_to_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` rescaled (one factor for all channels) so that ``signal``-to-noise power is ``snr_db``.

    The scale is computed from the realised noise, so the SNR is exact (up to
    float rounding) rather than exact only in expectation. A silent ``signal``
    gives silent noise (an SNR relative to nothing is undefined; the track stays
    silent). Raises :class:`ValueError` if ``noise`` is silent but ``signal`` is not.
    """
    p_sig = power(signal)
    if p_sig == 0.0:
        return np.zeros_like(noise, dtype=np.float64)
    p_noise = power(noise)
    if p_noise == 0.0:
        raise ValueError("noise source is silent; cannot reach a finite SNR")
    target = p_sig / (10.0 ** (snr_db / 10.0))
    return np.asarray(noise, dtype=np.float64) * math.sqrt(target / p_noise)


def equal_channel_power(noise: np.ndarray) -> np.ndarray:
    """Scale each channel of ``noise`` (C, N) to the same power (the mean over channels); silent channels stay silent."""
    noise = np.asarray(noise, dtype=np.float64)
    p = np.mean(np.square(noise), axis=-1, keepdims=True)
    target = float(np.mean(p))
    gain = np.sqrt(np.divide(target, p, out=np.zeros_like(p), where=p > 0))
    return noise * gain


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + noise`` with the noise scaled to ``snr_db`` over the whole track (float64, unclipped)."""
    return np.asarray(signal, dtype=np.float64) + scale_to_snr(signal, noise, snr_db)


def measure_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR in dB of ``noisy`` against ``clean``: ``10 log10(P(clean) / P(noisy - clean))``."""
    clean = np.asarray(clean, dtype=np.float64)
    diff = np.asarray(noisy, dtype=np.float64) - clean
    p_noise = power(diff)
    if p_noise == 0.0:
        return math.inf
    return 10.0 * math.log10(power(clean) / p_noise)


def lowpass_fir(cutoff_hz: float, rate: int, *, transition: float = 0.2, atten_db: float = 66.0) -> np.ndarray:
    """Linear-phase Kaiser-window low-pass FIR (odd length) with its stop band starting at ``cutoff_hz``.

    The pass band ends at ``(1 - transition) * cutoff_hz``; everything above
    ``cutoff_hz`` is attenuated by at least ``atten_db`` (Kaiser design).
    """
    from scipy.signal import firwin, kaiserord

    nyq = rate / 2.0
    if not 0 < cutoff_hz < nyq:
        raise ValueError(f"cut-off {cutoff_hz} Hz must lie in (0, {nyq}) Hz at {rate} Hz")
    width = transition * cutoff_hz
    numtaps, beta = kaiserord(atten_db, width / nyq)
    numtaps |= 1  # odd length: integer group delay, symmetric 'same' alignment
    centre = cutoff_hz - width / 2.0
    return firwin(numtaps, centre, window=("kaiser", beta), fs=rate)


def fir_same(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Zero-delay filtering of every channel with an odd-length linear-phase FIR (FFT overlap-add)."""
    from scipy.signal import oaconvolve

    if len(taps) % 2 != 1:
        raise ValueError("fir_same needs an odd number of taps")
    return oaconvolve(x, taps[None, :], mode="same", axes=-1)


def fft_convolve_truncated(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Causal convolution of each channel of ``x`` (C, N) with its own ``h`` (C, L), cut to N samples."""
    from scipy.signal import oaconvolve

    n = x.shape[-1]
    return oaconvolve(x, h, mode="full", axes=-1)[:, :n]


def power_spectrum(x: np.ndarray, rate: int, nperseg: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density summed over channels (Blackman-Harris window): ``(freqs, psd)``."""
    from scipy.signal import welch

    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    seg = min(nperseg, x.shape[-1])
    f, p = welch(x, fs=rate, window="blackmanharris", nperseg=seg, axis=-1)
    return f, p.sum(axis=0)


def band_energy_db(x: np.ndarray, rate: int, lo_hz: float, hi_hz: float, nperseg: int = 4096) -> float:
    """Energy (dB, arbitrary reference) of ``x`` between ``lo_hz`` and ``hi_hz`` from the Welch spectrum."""
    f, p = power_spectrum(x, rate, nperseg)
    band = (f >= lo_hz) & (f <= hi_hz)
    total = float(p[band].sum())
    return 10.0 * math.log10(total) if total > 0 else -math.inf


def rolloff_hz(x: np.ndarray, rate: int, fraction: float = 0.99, nperseg: int = 4096) -> float:
    """Frequency below which ``fraction`` of the energy lies (spectral roll-off, a bandwidth measure)."""
    f, p = power_spectrum(x, rate, nperseg)
    c = np.cumsum(p)
    if c[-1] <= 0:
        return 0.0
    return float(f[np.searchsorted(c, fraction * c[-1])])


def decay_time_s(response: np.ndarray, rate: int, lo_db: float = -5.0, hi_db: float = -25.0) -> float:
    """Reverberation time (s to -60 dB) from a measured impulse response by Schroeder backward integration.

    The energy decay curve of the channel-summed squared response is fitted by
    a line between ``lo_db`` and ``hi_db`` (T20 by default) and extrapolated to -60 dB.
    """
    e = np.square(np.atleast_2d(np.asarray(response, dtype=np.float64))).sum(axis=0)
    edc = np.cumsum(e[::-1])[::-1]
    if edc[0] <= 0:
        return 0.0
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-300))
    sel = (edc_db <= lo_db) & (edc_db >= hi_db)
    if sel.sum() < 2:
        return 0.0
    t = np.flatnonzero(sel) / rate
    slope, _ = np.polyfit(t, edc_db[sel], 1)
    return float(-60.0 / slope) if slope < 0 else math.inf


def dominant_frequency_hz(x: np.ndarray, rate: int) -> float:
    """Frequency of the strongest spectral peak of the channel mean (Hann window, parabolic interpolation)."""
    m = np.atleast_2d(np.asarray(x, dtype=np.float64)).mean(axis=0)
    w = np.hanning(len(m))
    mag = np.abs(np.fft.rfft(m * w))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1] + 1e-300), np.log(mag[k] + 1e-300), np.log(mag[k + 1] + 1e-300)
    denom = a - 2 * b + c
    delta = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return float((k + delta) * rate / len(m))


def augment(transform, x: np.ndarray, rate: int, seed: int) -> np.ndarray:
    """Run an audiomentations transform on ``(C, N)`` audio, reproducibly and without side effects.

    audiomentations draws from Python's ``random`` and ``numpy.random``; both
    are seeded from ``seed`` for the call and restored afterwards
    (:func:`robusta_bench.seeding.isolated_global_rng`). Returns float64.
    """
    from ...seeding import isolated_global_rng

    samples = np.ascontiguousarray(x, dtype=np.float32)
    with isolated_global_rng(seed):
        out = transform(samples=samples, sample_rate=int(rate))
    return np.asarray(out, dtype=np.float64)
