"""Bitrate: a real MP3 encode/decode round trip (LAME through PyAV) at low bitrates."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption

FRAME_CHUNK = 1152 * 16


@CORRUPTIONS.register("bitrate", rank=2)
class Bitrate(AudioCorruption):
    """Every channel is MP3-coded as its own mono stream at ``bitrate_kbps`` and decoded back.

    MP3 carries at most two channels, so each channel of a multichannel track is
    coded separately (per-channel quality equals a mono MP3 at that bitrate).
    The track is first resampled to ``codec_rate_hz`` (MPEG-1 rates for 64/32
    kbps, MPEG-2/2.5 rates below 32 kbps, where LAME needs <= 24 kHz); LAME
    then applies its own bitrate-dependent low-pass. The decoded audio is
    resampled back to the track's rate. Encoder delay and padding are removed
    by FFmpeg's gapless (LAME/Xing header) handling, so the output is
    sample-aligned; it is cut or zero-padded to exactly N samples.
    """

    version = 1
    description = "MP3 (LAME) encode/decode per channel at low bitrates, back at the original rate"
    levels = (
        {"bitrate_kbps": 64, "codec_rate_hz": 48000},
        {"bitrate_kbps": 32, "codec_rate_hz": 32000},
        {"bitrate_kbps": 24, "codec_rate_hz": 24000},
        {"bitrate_kbps": 16, "codec_rate_hz": 16000},
        {"bitrate_kbps": 8, "codec_rate_hz": 8000},
    )

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """MP3 round trip at ``params['bitrate_kbps']`` (deterministic; ``seed`` unused)."""
        from ...media.decode import resample_audio

        codec_rate = int(params["codec_rate_hz"])
        kbps = int(params["bitrate_kbps"])
        n = x.shape[1]
        y = resample_audio(x, rate, codec_rate) if codec_rate != rate else x.astype(np.float32)
        coded = np.stack([mp3_round_trip(ch, codec_rate, kbps) for ch in y])
        back = resample_audio(coded, codec_rate, rate) if codec_rate != rate else coded
        return _fit_length(np.asarray(back, dtype=np.float64), n)


def mp3_round_trip(mono: np.ndarray, rate: int, kbps: int) -> np.ndarray:
    """Encode 1-D float audio to an in-memory MP3 (libmp3lame, CBR) and decode it back (float32).

    The decoded signal has the input's length and alignment (FFmpeg trims the
    encoder delay and padding recorded in the LAME header).
    """
    import av

    samples = np.ascontiguousarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)[None, :]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = int(kbps) * 1000
        for i in range(0, samples.shape[1], FRAME_CHUNK):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, i : i + FRAME_CHUNK]), format="fltp", layout="mono"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    parts = []
    with av.open(buf, "r", format="mp3") as inp:
        for frame in inp.decode(audio=0):
            parts.append(frame.to_ndarray().reshape(-1))
    if not parts:
        return np.zeros(samples.shape[1], dtype=np.float32)
    return _fit_length(np.concatenate(parts)[None, :], samples.shape[1])[0].astype(np.float32)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad the last axis of ``y`` to ``n`` samples."""
    if y.shape[-1] >= n:
        return y[..., :n]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])]
    return np.pad(y, pad)
