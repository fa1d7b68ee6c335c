"""Re-encoding corrupted frames: size, rate, frame count, bit-exact audio, odd sources."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from robusta_bench.files import sha256_file
from robusta_bench.media.decode import MediaError, iter_frames, read_frames
from robusta_bench.media.video_out import encode_with_audio, remux


def write_video(path: Path, frames: np.ndarray, *, codec="libx264", pix_fmt="yuv420p", rate=24, audio_rate=None):
    """A small real video made with PyAV (optionally with a 440 Hz AAC track)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        a = None
        if audio_rate:
            a = c.add_stream("aac", rate=audio_rate)
            a.layout = "stereo"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            n = int(audio_rate * len(frames) / rate)
            t = np.arange(n) / audio_rate
            x = np.stack([0.2 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
            af = av.AudioFrame.from_ndarray(x, format="fltp", layout="stereo")
            af.sample_rate = audio_rate
            af.pts = 0
            for p in a.encode(af):
                c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def gradient(n: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([np.stack([(x * 4 + t * 3) % 256, (y * 4) % 256, np.full_like(x, 60 + t)], -1) for t in range(n)]).astype(np.uint8)


def test_reencode_real_clip_keeps_size_rate_count_and_audio(tmp_path):
    from conftest import CLIPS, need

    src = need(CLIPS / "fighting2.mp4")  # 640x268, 48 kHz 6-channel AAC
    dst = tmp_path / "out.mp4"
    clean = read_frames(src, max_frames=40)  # the first 40 frames keep the test fast
    stats = encode_with_audio(src, dst, [clean[:25], clean[25:]])
    out = read_frames(dst)
    assert out.shape == clean.shape and stats.video_frames == len(clean)
    assert np.abs(out.astype(int) - clean).mean() < 2.0  # high quality (CRF 17)
    assert audio_packets(src) == audio_packets(dst)
    with av.open(str(dst)) as c:
        v = c.streams.video[0]
        assert Fraction(v.average_rate) == 24 and v.codec_context.name == "h264"
        assert (v.width, v.height, v.codec_context.pix_fmt) == (640, 268, "yuv420p")
        assert c.streams.audio[0].channels == 6 and c.streams.audio[0].rate == 48000
    # deterministic bytes
    encode_with_audio(src, tmp_path / "again.mp4", [clean[i : i + 7] for i in range(0, 40, 7)])
    assert sha256_file(dst) == sha256_file(tmp_path / "again.mp4")


@pytest.mark.parametrize(
    "kind", ["one_frame", "odd_size", "grey_ffv1", "ten_bit", "with_audio"]
)
def test_odd_sources(tmp_path, kind):
    if kind == "one_frame":
        src = write_video(tmp_path / "a.mp4", gradient(1, 48, 64))
    elif kind == "odd_size":
        src = write_video(tmp_path / "a.mp4", gradient(6, 47, 65), pix_fmt="yuv444p")
    elif kind == "grey_ffv1":
        src = tmp_path / "a.mkv"
        with av.open(str(src), "w") as c:
            s = c.add_stream("ffv1", rate=24)
            s.width, s.height, s.pix_fmt = 33, 21, "gray"
            for i in range(4):
                f = av.VideoFrame.from_ndarray(np.full((21, 33), 40 * i, np.uint8), format="gray")
                f.pts = i
                for p in s.encode(f):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
    elif kind == "ten_bit":
        src = write_video(tmp_path / "a.mp4", gradient(5, 48, 64), pix_fmt="yuv420p10le")
    else:
        src = write_video(tmp_path / "a.mp4", gradient(12, 48, 64), audio_rate=16000)
    clean = read_frames(src)
    dst = tmp_path / "out.mp4"
    encode_with_audio(src, dst, iter_frames(src))
    out = read_frames(dst)
    assert out.shape == clean.shape
    assert np.abs(out.astype(int) - clean).mean() < 4.0
    with av.open(str(dst)) as c:
        fmt = c.streams.video[0].codec_context.pix_fmt
    assert fmt == ("yuv444p" if kind == "odd_size" or kind == "grey_ffv1" else "yuv420p")
    if kind == "with_audio":
        assert audio_packets(src) == audio_packets(dst)


def test_errors_name_the_file_and_leave_nothing(tmp_path):
    src = write_video(tmp_path / "a.mp4", gradient(3, 16, 16))
    dst = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="a.mp4"):
        encode_with_audio(src, dst, iter([]))
    assert not dst.exists() and not list(tmp_path.glob(".out.mp4*"))

    def broken():
        yield gradient(2, 16, 16)
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError, match="decoder died"):
        encode_with_audio(src, dst, broken())
    assert not dst.exists() and not list(tmp_path.glob(".out.mp4*"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="bad.mp4"):
        remux(bad, dst)


def test_remux_copies_every_packet(tmp_path):
    src = write_video(tmp_path / "a.mp4", gradient(10, 32, 32), audio_rate=16000)
    stats = remux(src, tmp_path / "b.mp4")
    assert stats.video_packets == 10 and stats.audio_packets > 0
    with av.open(str(src)) as c1, av.open(str(tmp_path / "b.mp4")) as c2:
        assert [bytes(p) for p in c1.demux(c1.streams.video[0]) if p.size] == [
            bytes(p) for p in c2.demux(c2.streams.video[0]) if p.size
        ]
    assert audio_packets(src) == audio_packets(tmp_path / "b.mp4")


def test_same_frames_give_the_same_bytes_in_one_process(tmp_path):
    """Regression: x264's mb-tree made repeated in-process encodes of 160x120 noise differ."""
    from conftest import CLIPS, need

    from robusta_bench.corruptions import get_corruption

    src = need(CLIPS / "n3.mp4")  # 160x120
    frames = get_corruption("rain").apply(read_frames(src, max_frames=60), 2, 77)
    shas = set()
    for k in range(3):
        encode_with_audio(src, tmp_path / f"{k}.mp4", [frames])
        shas.add(sha256_file(tmp_path / f"{k}.mp4"))
        _ = [np.random.default_rng(k * 10 + i).integers(0, 256, 1 << 18, dtype=np.uint8) for i in range(10)]
    assert len(shas) == 1
