"""Log-mel front ends of YAMNet and VGGish (numpy, pure functions).

Both models use the same analysis, from Google's AudioSet code:

- 16 kHz mono waveform in [-1, 1];
- frames of 400 samples (25 ms) every 160 samples (10 ms), no centring
  padding: ``n_frames = 1 + (n_samples - 400) // 160``;
- a periodic Hann window ``0.5 - 0.5 cos(2 pi n / 400)``;
- the magnitude of a 512-point real FFT (257 bins);
- 64 triangular mel bands, HTK mel scale ``1127 ln(1 + f / 700)``, edges
  equally spaced in mel between 125 and 7500 Hz, the DC bin always weighted 0;
- ``log(mel + offset)`` with offset 0.001 (YAMNet) or 0.01 (VGGish).

They differ in how a waveform becomes 96-frame patches:

- YAMNet (:func:`yamnet_patches`) pads the waveform with zeros at the end so
  that 0.96 s patches with a 0.48 s hop cover all of it (at least 15600
  samples = one patch, then whole hops of 7680 samples), frames the log-mel
  with window 96 and hop 48. 3 s gives 336 frames / 6 patches, 5 s 528 / 10.
- VGGish (:func:`vggish_examples`) does not pad: non-overlapping 96-frame
  examples, a trailing partial example is dropped.

One pipeline window is exactly 0.96 s (15360 samples), which is 94 STFT
frames, not 96: a 96-frame patch needs 15600 samples (0.975 s).
:func:`window_patches` pads each window with 240 zeros at the end, which is
exactly what YAMNet itself does to a 0.96 s input, so the patch the extractor
sees for a window is the patch the official model computes for that window
alone. VGGish uses the same rule (its official code would return no example
at all for a 0.96 s input).

Precision: the computation runs in float64 by default (``dtype``) and returns
float32. Against TensorFlow's float32 front end the difference is confined to
near-silent bins (max 1.3e-3 on the YAMNet sine fixture, below 1e-4 where the
log-mel is above -5).
"""

from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 64
FMIN = 125.0
FMAX = 7500.0
PATCH_FRAMES = 96  # 0.96 s of frames
PATCH_HOP_FRAMES = 48  # YAMNet's 0.48 s patch hop
YAMNET_LOG_OFFSET = 0.001
VGGISH_LOG_OFFSET = 0.01
WINDOW_SAMPLES = 15360  # one pipeline window (0.96 s)
PATCH_SAMPLES = WINDOW + (PATCH_FRAMES - 1) * HOP  # 15600: samples behind 96 frames
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * HOP  # 7680

__all__ = [
    "SAMPLE_RATE",
    "PATCH_FRAMES",
    "PATCH_SAMPLES",
    "WINDOW_SAMPLES",
    "YAMNET_LOG_OFFSET",
    "VGGISH_LOG_OFFSET",
    "hertz_to_mel",
    "periodic_hann",
    "mel_matrix",
    "frame_signal",
    "stft_magnitude",
    "log_mel",
    "yamnet_pad",
    "yamnet_patches",
    "vggish_examples",
    "window_patches",
]


def hertz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``1127 * ln(1 + hz / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def periodic_hann(n: int = WINDOW) -> np.ndarray:
    """Periodic Hann window of length ``n`` (float64)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi / n * np.arange(n))


@functools.lru_cache(maxsize=8)
def _mel_matrix_cached(n_mels: int, n_bins: int, sample_rate: float, fmin: float, fmax: float) -> np.ndarray:
    bins_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, n_bins))
    edges = np.linspace(hertz_to_mel(fmin), hertz_to_mel(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (bins_mel[:, None] - lower) / (center - lower)
    down = (upper - bins_mel[:, None]) / (upper - center)
    w = np.maximum(0.0, np.minimum(up, down))
    w[0, :] = 0.0  # HTK: the DC bin never contributes
    w.setflags(write=False)
    return w


def mel_matrix(
    n_mels: int = N_MELS,
    n_bins: int = N_FFT // 2 + 1,
    sample_rate: float = SAMPLE_RATE,
    fmin: float = FMIN,
    fmax: float = FMAX,
) -> np.ndarray:
    """``(n_bins, n_mels)`` float64 triangular HTK mel weights (read-only, cached).

    Bin ``k`` sits at ``k * sample_rate / (2 * (n_bins - 1))`` Hz; band ``m``
    rises linearly in mel from edge ``m`` to its centre (edge ``m+1``) and falls
    to edge ``m+2``; the edges are ``n_mels + 2`` points equally spaced in mel
    between ``fmin`` and ``fmax``.
    """
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got {fmin}, {fmax}, {sample_rate}")
    return _mel_matrix_cached(int(n_mels), int(n_bins), float(sample_rate), float(fmin), float(fmax))


def frame_signal(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Frames along the last axis: ``(..., n) -> (..., 1 + (n - length) // hop, length)``.

    No padding; a signal shorter than one frame gives zero frames. Returns a
    read-only strided view.
    """
    x = np.asarray(x)
    n = x.shape[-1]
    n_frames = max(0, 1 + (n - length) // hop)
    if n_frames == 0:
        return np.zeros(x.shape[:-1] + (0, length), dtype=x.dtype)
    win = np.lib.stride_tricks.sliding_window_view(x, length, axis=-1)
    return win[..., ::hop, :][..., :n_frames, :]


def stft_magnitude(
    x: np.ndarray, window: int = WINDOW, hop: int = HOP, n_fft: int = N_FFT, dtype: type = np.float64
) -> np.ndarray:
    """``|rfft(frame * hann, n_fft)|`` of every frame: ``(..., n) -> (..., frames, n_fft//2+1)``."""
    frames = frame_signal(np.asarray(x, dtype=dtype), window, hop)
    windowed = frames * periodic_hann(window).astype(dtype)
    return np.abs(np.fft.rfft(windowed, n=n_fft, axis=-1))


def log_mel(x: np.ndarray, log_offset: float, dtype: type = np.float64) -> np.ndarray:
    """Log-mel spectrogram ``(..., n_samples) -> (..., n_frames, 64)`` float32.

    ``log(|STFT| @ mel_matrix() + log_offset)`` with the constants of the
    module docstring; computed in ``dtype`` (float64 default, or float32).
    """
    spec = stft_magnitude(x, dtype=dtype)
    mel = spec @ mel_matrix().astype(dtype)
    return np.log(mel + dtype(log_offset)).astype(np.float32)


def yamnet_pad(waveform: np.ndarray) -> np.ndarray:
    """Zero-pad a 1-D waveform at the end the way YAMNet does.

    At least :data:`PATCH_SAMPLES` (15600) samples, then a whole number of
    patch hops (7680 samples) beyond the first patch.
    """
    w = np.asarray(waveform)
    if w.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {w.shape}")
    n = max(w.shape[0], PATCH_SAMPLES)
    extra = n - PATCH_SAMPLES
    hops = -(-extra // PATCH_HOP_SAMPLES)
    target = PATCH_SAMPLES + hops * PATCH_HOP_SAMPLES
    return np.pad(w, (0, target - w.shape[0]))


def yamnet_patches(waveform: np.ndarray, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """YAMNet's front end for a whole 1-D 16 kHz waveform.

    Returns ``(log_mel, patches)``: ``(F, 64)`` float32 log-mel of the padded
    waveform (offset 0.001) and its ``(P, 96, 64)`` patches (hop 48 frames),
    like TF-Hub ``yamnet/1``'s third output and its internal patches.
    """
    lm = log_mel(yamnet_pad(waveform), YAMNET_LOG_OFFSET, dtype)
    patches = frame_signal(lm.T, PATCH_FRAMES, PATCH_HOP_FRAMES)  # (64, P, 96)
    return lm, np.ascontiguousarray(patches.transpose(1, 2, 0))


def vggish_examples(waveform: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """VGGish's official framing of a whole 1-D 16 kHz waveform: ``(N, 96, 64)`` float32.

    Log-mel with offset 0.01, non-overlapping 96-frame examples, no padding (a
    trailing partial example is dropped; under 0.975 s gives none).
    """
    w = np.asarray(waveform)
    if w.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {w.shape}")
    lm = log_mel(w, VGGISH_LOG_OFFSET, dtype)
    ex = frame_signal(lm.T, PATCH_FRAMES, PATCH_FRAMES)  # (64, N, 96)
    return np.ascontiguousarray(ex.transpose(1, 2, 0))


def window_patches(batch: np.ndarray, log_offset: float, dtype: type = np.float64) -> np.ndarray:
    """One 96-frame patch per 0.96 s window: ``(B, 15360) -> (B, 96, 64)`` float32.

    Each window is zero-padded at the end to 15600 samples (what YAMNet does to
    a 0.96 s input), giving exactly 96 frames. Windows longer than 15360 are
    accepted up to 15600 (padded likewise); longer ones are an error.
    """
    x = np.asarray(batch)
    if x.ndim != 2:
        raise ValueError(f"expected a (B, {WINDOW_SAMPLES}) batch of windows, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"audio windows must be floating point in [-1, 1], got {x.dtype}")
    n = x.shape[1]
    if n > PATCH_SAMPLES or n < WINDOW_SAMPLES:
        raise ValueError(
            f"audio windows must have {WINDOW_SAMPLES} samples (0.96 s at 16 kHz); got {n}"
        )
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"audio windows {bad[:5].tolist()} contain NaN or infinite samples")
    x = np.pad(x, ((0, 0), (0, PATCH_SAMPLES - n)))
    return log_mel(x, log_offset, dtype)
