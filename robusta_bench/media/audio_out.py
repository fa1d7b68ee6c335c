"""Writing a video with a replaced audio track: video packets copied bit-exactly, audio stored losslessly.

The corrupted audio is encoded as **FLAC, 24-bit** (lossless; 8 channels max)
inside the destination container, chosen by the destination suffix (.mp4 and
.mkv take FLAC; .mov/.m4v, whose muxer refuses FLAC, get ALAC, equally
lossless; containers that take neither, e.g. .avi, raise a clear error).
Why FLAC: a lossy codec (AAC even at a high bitrate) would add its own
coding artefacts on top of the corruption under study and blur the
corruption's definition (e.g. MP3 artefacts of the ``bitrate`` corruption,
exact SNRs, the silence of ``random_dropout``); FLAC decodes sample-exactly to
the 24-bit quantised input, has no encoder delay or priming (the decoded length
equals the input length), is muxed in MP4 by FFmpeg without
``-strict experimental`` and decodes everywhere FFmpeg/PyAV runs. ALAC would
work too but FLAC is the more widely supported of the two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_path
from .decode import MediaError

AUDIO_CODEC = "flac"
# containers whose muxer takes no FLAC: ALAC (also lossless, 24-bit) instead
AUDIO_CODEC_BY_SUFFIX = {".mov": "alac", ".m4v": "alac"}
_SAMPLE_FORMAT = {"flac": "s32", "alac": "s32p"}
FRAME_SAMPLES = 4096
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_FULL_SCALE_24 = float(1 << 23)


def write_with_audio(src_path: str | Path, dst_path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write ``dst_path``: the first video stream of ``src_path`` remuxed packet by packet, plus ``samples`` as FLAC.

    ``samples`` is ``(C, N)`` float audio in [-1, 1] (clipped) at ``rate`` Hz,
    1 <= C <= 8. The video packets (bytes, timestamps, key-frame flags) are
    copied unchanged; the audio keeps its channel count (with the source's
    channel layout when the count matches), rate and exact length, and starts at
    the source audio stream's start time. Other streams (subtitles, data, further
    audio) are not copied. The file is written atomically (temporary name, then
    renamed). Raises :class:`~robusta_bench.media.decode.MediaError` naming the
    file when the source cannot be opened or has no video stream, or writing fails;
    :class:`ValueError` for a bad ``samples`` array.
    """
    import av

    src_path, dst_path = Path(src_path), Path(dst_path)
    audio = _to_int24(samples, src_path.name)
    rate = int(rate)
    if rate <= 0:
        raise ValueError(f"{src_path.name}: audio sample rate must be positive, got {rate}")
    try:
        src = av.open(str(src_path))
    except Exception as exc:
        raise MediaError(f"{src_path.name}: cannot open ({type(exc).__name__}: {exc})") from exc
    try:
        if not src.streams.video:
            raise MediaError(f"{src_path.name}: no video stream; cannot write a video with corrupted audio")
        vin = src.streams.video[0]
        layout = _layout_for(src, audio.shape[0])
        start = _audio_start(src, rate)
        try:
            with atomic_path(dst_path) as tmp:
                with av.open(str(tmp), "w") as dst:
                    vout = dst.add_stream_from_template(vin)
                    codec = AUDIO_CODEC_BY_SUFFIX.get(dst_path.suffix.lower(), AUDIO_CODEC)
                    aout = dst.add_stream(codec, rate=rate, layout=layout, options={"bits_per_raw_sample": "24"})
                    aout.format = _SAMPLE_FORMAT[codec]
                    _mux(src, vin, vout, dst, aout, audio, rate, layout, start)
        except MediaError:
            raise
        except Exception as exc:
            raise MediaError(
                f"{src_path.name}: cannot write {dst_path.name} ({type(exc).__name__}: {exc})"
            ) from exc
    finally:
        src.close()


def _to_int24(samples: np.ndarray, name: str) -> np.ndarray:
    """(C, N) float -> (C, N) int32 holding 24-bit values in the top bits (FLAC's s32 input)."""
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name}: audio must be a non-empty (channels, samples) array, got shape {arr.shape}")
    if arr.shape[0] > 8:
        raise ValueError(f"{name}: FLAC stores at most 8 channels, got {arr.shape[0]}")
    x = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    q = np.clip(np.round(x * _FULL_SCALE_24), -_FULL_SCALE_24, _FULL_SCALE_24 - 1).astype(np.int32)
    return q << 8


def _layout_for(src, channels: int) -> str:
    """The source audio's layout name when its channel count matches, else FFmpeg's usual default."""
    if src.streams.audio:
        layout = src.streams.audio[0].codec_context.layout
        if layout is not None and len(layout.channels) == channels:
            return layout.name
    return _DEFAULT_LAYOUTS[channels]


def _audio_start(src, rate: int) -> int:
    """First audio sample's position (in samples) from the source audio stream's start time; 0 without one."""
    if not src.streams.audio:
        return 0
    stream = src.streams.audio[0]
    if stream.start_time is None or stream.time_base is None:
        return 0
    return max(0, int(round(float(stream.start_time * stream.time_base) * rate)))


def _audio_frames(audio: np.ndarray, rate: int, layout: str, start: int, fmt: str):
    """Yield ``(time_s, frame)`` for consecutive FRAME_SAMPLES-sample s32 (packed) or s32p (planar) frames."""
    import av
    from fractions import Fraction

    channels, n = audio.shape
    for i in range(0, n, FRAME_SAMPLES):
        block = np.ascontiguousarray(audio[:, i : i + FRAME_SAMPLES])
        if fmt == "s32":  # packed: one row of interleaved samples
            block = np.ascontiguousarray(block.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format=fmt, layout=layout)
        frame.sample_rate = rate
        frame.pts = start + i
        frame.time_base = Fraction(1, rate)
        yield (start + i) / rate, frame


def _mux(src, vin, vout, dst, aout, audio, rate, layout, start) -> None:
    """Interleave copied video packets and encoded audio by time."""
    frames = _audio_frames(audio, rate, layout, start, aout.format.name)
    pending = next(frames, None)

    def encode_until(t: float | None) -> None:
        nonlocal pending
        while pending is not None and (t is None or pending[0] <= t):
            for packet in aout.encode(pending[1]):
                dst.mux(packet)
            pending = next(frames, None)

    t = 0.0
    for packet in src.demux(vin):
        if packet.size == 0:  # demuxer flush packet
            continue
        stamp = packet.dts if packet.dts is not None else packet.pts  # MKV leaves the first dts unset
        if stamp is not None:
            t = float(stamp * packet.time_base)
        encode_until(t)
        packet.stream = vout
        dst.mux(packet)
    encode_until(None)
    for packet in aout.encode(None):
        dst.mux(packet)
