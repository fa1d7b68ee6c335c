"""Encoding of the synthetic datasets: one rendered plan to a deterministic MP4 file.

Shared by both stand-ins, the XD-Violence-style one (:mod:`.synthetic`) and the
UCF-Crime-style one (:mod:`.synth_ucf`): the fixed x264 options that make the
bytes depend on content only, the AAC bit rates, the generator's version
recorded in ``synth.json``, and the small file helpers of a generation run.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..files import atomic_path
from .synth_audio import render_audio
from .synth_plan import VideoPlan
from .synth_video import render_frames

#: x264 options: fixed preset/CRF/GOP (2 s, no scene-cut keyframes), one thread (the thread
#: count changes the bitstream), and macroblock-tree rate control OFF: with mbtree on, this
#: x264 build (core 165) gives different bytes for identical input frames from run to run
#: (7 distinct outputs in 8 encodes at 96x64, occasionally at 320x240); with it off, every
#: size tried is byte-stable.
X264_OPTIONS = {"preset": "veryfast", "crf": "20", "g": "48", "keyint_min": "48", "sc_threshold": "0", "x264-params": "mbtree=0"}
AUDIO_RATES = (16000, 22050, 32000, 44100, 48000)
AUDIO_BITRATE = {16000: 64000, 22050: 64000, 32000: 96000, 44100: 128000, 48000: 128000}
SYNTH_VERSION = 1


def write_video(plan: VideoPlan, path: str | os.PathLike, audio_rate: int | None = 16000) -> Path:
    """Render ``plan`` and encode it to ``path`` (H.264 yuv420p + AAC mono MP4; no audio track when
    ``audio_rate`` is None), atomically."""
    import av

    path = Path(path)
    samples = render_audio(plan, audio_rate) if audio_rate is not None else np.zeros(0, dtype=np.float32)
    with atomic_path(path) as tmp:
        # no creation_time metadata is set, so the muxer writes none: bytes depend on content only
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            out.metadata.clear()
            vs = out.add_stream("libx264", rate=Fraction(plan.fps))
            vs.width, vs.height, vs.pix_fmt = plan.width, plan.height, "yuv420p"
            vs.codec_context.thread_count = 1
            vs.codec_context.thread_type = "NONE"
            vs.codec_context.time_base = Fraction(1, plan.fps)
            vs.options = dict(X264_OPTIONS)
            aus = None
            if audio_rate is not None:
                aus = out.add_stream("aac", rate=audio_rate)
                aus.layout = "mono"
                aus.bit_rate = AUDIO_BITRATE.get(audio_rate, 96000)
            for i, rgb in enumerate(render_frames(plan)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", threads=1)
                frame.pts = i
                out.mux(vs.encode(frame))
            out.mux(vs.encode(None))
            if aus is None:
                return path
            hop = 1024
            for k in range(0, samples.size, hop):
                chunk = samples[k : k + hop][None, :]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                af.sample_rate = audio_rate
                af.pts = k
                af.time_base = Fraction(1, audio_rate)
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return path


def make_readable(paths: list[Path]) -> None:
    """Give the files the usual mode (0666 minus umask); atomic writes create them 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        if p.exists():
            os.chmod(p, 0o666 & ~umask)


def synth_progress(total: int, enabled: bool):
    """A progress bar over ``total`` generated videos, or None when ``enabled`` is false."""
    if not enabled:
        return None
    from ..progress import progress_bar

    return progress_bar(total=total, unit="video", desc="synth", dynamic_ncols=True)
