"""Decoding with PyAV: video frames in bounded-memory chunks, audio tracks whole.

Both readers conceal decode errors the way players do: a packet that fails to
decode is skipped (and counted), the rest of the stream is still returned. That
matters for bit-error corrupted streams, which must stay decodable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger(__name__)


class MediaError(RuntimeError):
    """A media file cannot be used (unreadable, no such stream ...). Names the file."""


class NoAudioStream(MediaError):
    """The file has no audio stream."""


@dataclass
class DecodeStats:
    """Counters filled while decoding (e.g. packets that failed and were skipped)."""

    frames: int = 0
    decode_errors: int = 0
    messages: list[str] = field(default_factory=list)


def _open(path: str | Path):
    import av

    try:
        return av.open(str(path))
    except Exception as exc:  # av raises many error classes
        raise MediaError(f"{Path(path).name}: cannot open ({type(exc).__name__}: {exc})") from exc


def _decode_packets(container, stream, stats: DecodeStats) -> Iterator:
    """Frames of ``stream``, skipping packets that fail to decode."""
    import av

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as exc:
            stats.decode_errors += 1
            if len(stats.messages) < 5:
                stats.messages.append(str(exc))
            continue
        yield from frames


def iter_frames(
    path: str | Path,
    *,
    chunk_size: int = 64,
    fps: float | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[np.ndarray]:
    """Yield the video's frames as ``(t, H, W, 3)`` uint8 RGB chunks (``t <= chunk_size``).

    With ``fps`` set, frames are resampled to that rate by timestamp: output frame
    ``k`` is the decoded frame whose presentation time is nearest to ``k / fps``
    (frames are repeated or dropped; nothing is interpolated). When the source
    already runs at ``fps`` every frame is kept as is. Raises :class:`MediaError`
    if the file cannot be opened or has no video stream.
    """
    stats = stats if stats is not None else DecodeStats()
    container = _open(path)
    try:
        if not container.streams.video:
            raise MediaError(f"{Path(path).name}: no video stream")
        stream = container.streams.video[0]
        # No frame threading: with it, FFmpeg's error concealment of damaged
        # streams (bit error) depends on thread timing, i.e. is not reproducible.
        # Decoding is a few % of extraction time, so this costs little.
        src_rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        resample = fps is not None and (src_rate is None or abs(src_rate - fps) > 1e-3)
        frames = _decode_packets(container, stream, stats)
        source = _resampled(frames, fps, src_rate) if resample else ((f.to_ndarray(format="rgb24")) for f in frames)
        yield from chunked(source, chunk_size, stats)
    finally:
        container.close()


def chunked(arrays: Iterator[np.ndarray], chunk_size: int, stats: DecodeStats) -> Iterator[np.ndarray]:
    """Stack ``(H, W, 3)`` frames into ``(n <= chunk_size, H, W, 3)`` chunks, counting them in ``stats.frames``."""
    buf: list[np.ndarray] = []
    for arr in arrays:
        buf.append(arr)
        stats.frames += 1
        if len(buf) >= chunk_size:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def _resampled(frames: Iterator, fps: float, src_rate: float | None) -> Iterator[np.ndarray]:
    """Nearest-timestamp resampling of decoded frames to ``fps``.

    The last source frame lasts ``1 / src_rate`` seconds (or the last frame
    interval when the rate is unknown); output frames cover ``[0, end)``.
    """
    t0 = None
    prev_arr = prev_t = None
    k = 0
    for frame in frames:
        t = float(frame.time) if frame.time is not None else (prev_t + 1.0 / fps if prev_t is not None else 0.0)
        if t0 is None:
            t0 = t
        t -= t0
        arr = frame.to_ndarray(format="rgb24")
        if prev_arr is None:
            prev_arr, prev_t = arr, t
            continue
        # emit output frames whose target time is nearer to prev than to this
        # frame; an exact tie goes to the later frame (FFmpeg's fps filter rounds half up)
        while k / fps < (prev_t + t) / 2 - 1e-9:
            yield prev_arr
            k += 1
        prev_arr, prev_t = arr, t
    if prev_arr is not None:
        end = prev_t + (1.0 / src_rate if src_rate else 1.0 / fps)
        while k / fps < end - 1e-9:
            yield prev_arr
            k += 1


def read_frames(path: str | Path, *, fps: float | None = None, max_frames: int | None = None) -> np.ndarray:
    """All (or the first ``max_frames``) frames as one ``(T, H, W, 3)`` uint8 array."""
    out: list[np.ndarray] = []
    n = 0
    for chunk in iter_frames(path, fps=fps):
        out.append(chunk)
        n += len(chunk)
        if max_frames is not None and n >= max_frames:
            break
    if not out:
        raise MediaError(f"{Path(path).name}: no decodable video frames")
    arr = np.concatenate(out)
    return arr[:max_frames] if max_frames is not None else arr


def read_audio(
    path: str | Path,
    *,
    rate: int | None = None,
    mono: bool = False,
    stats: DecodeStats | None = None,
) -> tuple[np.ndarray, int]:
    """Decode the first audio stream to ``(C, N)`` float32 and its sample rate.

    ``mono=True`` averages the channels (C = 1). ``rate`` resamples with a
    polyphase filter (scipy ``resample_poly``). Raises :class:`NoAudioStream`
    when there is no audio stream and :class:`MediaError` when nothing decodes.
    """
    import av

    stats = stats if stats is not None else DecodeStats()
    container = _open(path)
    try:
        if not container.streams.audio:
            raise NoAudioStream(f"{Path(path).name}: no audio stream")
        stream = container.streams.audio[0]
        # Packed float, not planar: PyAV's planar frames expose one plane too many from 8 channels on
        # (FFmpeg keeps 8 data pointers) and reading it crashed the process on 7.1 tracks. A packed frame is
        # one plane for any channel count; it is de-interleaved here.
        resampler = av.AudioResampler(format="flt")
        parts: list[np.ndarray] = []
        src_rate = stream.rate or stream.codec_context.sample_rate
        for frame in _decode_packets(container, stream, stats):
            src_rate = frame.sample_rate
            for out in resampler.resample(frame):
                parts.append(_deinterleave(out))
        for out in resampler.resample(None):
            parts.append(_deinterleave(out))
    finally:
        container.close()
    if not parts:
        raise MediaError(f"{Path(path).name}: audio stream has no decodable samples")
    channels = max(p.shape[0] for p in parts)
    parts = [p if p.shape[0] == channels else np.broadcast_to(p[:1], (channels, p.shape[1])) for p in parts]
    samples = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)
    if mono:
        samples = samples.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    if rate is not None and int(rate) != int(src_rate):
        samples = resample_audio(samples, int(src_rate), int(rate))
        src_rate = int(rate)
    return samples, int(src_rate)


def _deinterleave(frame) -> np.ndarray:
    """A packed-float audio frame as ``(channels, samples)`` float32."""
    channels = len(frame.layout.channels)
    flat = frame.to_ndarray().reshape(-1)
    return flat[: frame.samples * channels].reshape(frame.samples, channels).T


def resample_audio(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample ``(C, N)`` audio with scipy's polyphase filter; float32 out."""
    from math import gcd

    from scipy.signal import resample_poly

    if src_rate == dst_rate:
        return samples.astype(np.float32, copy=False)
    g = gcd(int(src_rate), int(dst_rate))
    out = resample_poly(samples.astype(np.float64), dst_rate // g, src_rate // g, axis=-1)
    return out.astype(np.float32)
