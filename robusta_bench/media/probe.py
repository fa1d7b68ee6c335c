"""Probe a media file with PyAV: frame count, rate, size, audio layout, and whether it is usable.

:func:`probe` never raises for a bad file; it returns the same dictionary with
``error`` set to a message that names the problem (unreadable container, no video
stream, truncated data ...). The caller decides what a bad file means.

How the frame count is obtained (``frames_source`` in the result):

``header``
    The container's own count (``stream.frames``, the MP4/MOV sample table), used
    when it is positive and agrees with ``duration * fps`` to within one frame
    per second of video (edit lists and VFR streams can differ a little). Every
    clip shipped with XD-Violence falls in this case and the header count equals
    the number of decoded frames.
``demux``
    Otherwise (Matroska/WebM/AVI often store no count, or the count disagrees)
    every video packet is read (not decoded) and counted; for the codecs used here
    one packet carries one frame.

With a header count the end of the file is checked: the demuxer seeks about two
seconds before the end and reads the remaining packets of every stream. A file
cut short with its index up front (a partial download of a "faststart" MP4)
still claims every frame; the tail check reports it as truncated when a packet
is cut short (FFmpeg flags the short read as corrupt) or when the last video
packet ends more than :data:`TRUNCATION_SLACK_S` + 1 frame before the advertised
duration. This costs one seek and a couple of seconds of packets, not a full
decode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Keys of a probe result, in the order the manifest uses them.
PROBE_KEYS = (
    "frames",
    "fps",
    "width",
    "height",
    "duration_s",
    "audio_rate",
    "audio_channels",
    "video_codec",
    "pix_fmt",
    "audio_codec",
    "frames_source",
    "size_bytes",
    "error",
)

#: A file whose last packet ends more than this many seconds (plus one frame)
#: before its advertised video duration is reported as truncated.
TRUNCATION_SLACK_S = 0.1


def empty_probe() -> dict[str, Any]:
    """The result of a probe that learned nothing: zeros, empty strings, ``error`` None."""
    return {
        "frames": 0,
        "fps": 0.0,
        "width": 0,
        "height": 0,
        "duration_s": 0.0,
        "audio_rate": 0,
        "audio_channels": 0,
        "video_codec": "",
        "pix_fmt": "",
        "audio_codec": "",
        "frames_source": "",
        "size_bytes": 0,
        "error": None,
    }


def probe(path: str | os.PathLike) -> dict[str, Any]:
    """Describe the media file at ``path``; see the module docstring for the frame count.

    Returns a dict with :data:`PROBE_KEYS`: ``frames`` (int), ``fps`` (float),
    ``width``/``height`` (int), ``duration_s`` (float, of the video stream),
    ``audio_rate`` and ``audio_channels`` (0 when there is no audio stream, which
    is not an error), codec names, ``pix_fmt``, ``frames_source``, ``size_bytes``
    and ``error`` (None when the file is usable, else a one-line message). Never
    raises for a bad file.
    """
    path = Path(path)
    info = empty_probe()
    try:
        info["size_bytes"] = path.stat().st_size
    except OSError as exc:
        info["error"] = f"cannot stat file ({exc.strerror or exc})"
        return info
    if info["size_bytes"] == 0:
        info["error"] = "empty file (0 bytes)"
        return info
    try:
        _probe_into(path, info)
    except Exception as exc:  # PyAV raises many error classes; a probe must not
        info["error"] = _one_line(exc)
    return info


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _probe_into(path: Path, info: dict[str, Any]) -> None:
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        info["error"] = f"cannot open as media ({_one_line(exc)})"
        return
    with container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            info["audio_rate"] = int(audio.codec_context.sample_rate or audio.rate or 0)
            info["audio_channels"] = int(audio.codec_context.channels or 0)
            info["audio_codec"] = audio.codec_context.name or ""
        if not container.streams.video:
            info["error"] = "no video stream"
            return
        video = container.streams.video[0]
        ctx = video.codec_context
        info["video_codec"] = ctx.name or ""
        info["pix_fmt"] = ctx.format.name if ctx.format is not None else (ctx.pix_fmt or "")
        info["width"] = int(ctx.width or 0)
        info["height"] = int(ctx.height or 0)
        rate = video.average_rate or video.guessed_rate or video.base_rate
        fps = float(rate) if rate else 0.0
        info["fps"] = fps
        if info["width"] <= 0 or info["height"] <= 0:
            info["error"] = "video stream has no frame size (undecodable stream)"
            return
        if fps <= 0:
            info["error"] = "video stream has no frame rate"
            return

        duration = _stream_duration(video, container)
        header = int(video.frames or 0)
        if header > 0 and duration > 0 and abs(header - duration * fps) <= max(1.0, duration):
            info["frames"] = header
            info["frames_source"] = "header"
        else:
            info["frames"] = _count_packets(container, video)
            info["frames_source"] = "demux"
            if duration <= 0:
                duration = info["frames"] / fps
        info["duration_s"] = round(duration, 6) if duration > 0 else info["frames"] / fps
        if info["frames"] <= 0:
            info["error"] = "video stream has no frames"
            return
        if info["frames_source"] == "header":
            end = _last_packet_end(container, video, info["duration_s"])
            if end is None:
                info["error"] = "truncated or unreadable: no video packet found near the end"
                return
            if end < 0:
                info["error"] = f"truncated: the file ends inside a packet ({info['size_bytes']} bytes on disk)"
                return
            if end < info["duration_s"] - TRUNCATION_SLACK_S - 1.0 / fps:
                info["error"] = (
                    f"truncated: video data ends at {end:.2f} s of {info['duration_s']:.2f} s "
                    f"({info['size_bytes']} bytes on disk)"
                )


def _stream_duration(video, container) -> float:
    """The video stream's duration in seconds (0 when unknown)."""
    if video.duration is not None and video.time_base is not None and video.duration > 0:
        return float(video.duration * video.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return 0.0


def _count_packets(container, video) -> int:
    """Number of video packets carrying data (one frame each for common codecs)."""
    count = 0
    for packet in container.demux(video):
        if packet.size:
            count += 1
    container.seek(0)
    return count


def _last_packet_end(container, video, duration: float) -> float | None:
    """End time (s) of the last complete video packet, reading only the tail of the file.

    Returns None when no packet is found, and -1.0 when a packet in the tail is
    cut short (FFmpeg marks a short read as corrupt): the file ends mid-sample.
    """
    tb = video.time_base
    start = video.start_time or 0
    target = start + int(max(0.0, duration - 2.0) / tb) if tb else 0
    try:
        container.seek(target, backward=True, any_frame=False, stream=video)
    except Exception:
        container.seek(0)
    last: float | None = None
    frame_s = 1.0 / float(video.average_rate or video.guessed_rate or 24)
    try:
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.is_corrupt:
                return -1.0
            if packet.stream.index != video.index or packet.pts is None:
                continue
            pkt_dur = float(packet.duration * tb) if packet.duration else frame_s
            end = float((packet.pts - start) * tb) + pkt_dur
            last = end if last is None else max(last, end)
    except Exception:
        pass  # a demux error at the end is what a truncated file looks like
    return last
