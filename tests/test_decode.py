"""media.decode on real clips and generated media (fps resampling, no audio, broken files)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from robusta_bench.media import MediaError, NoAudioStream, iter_frames, read_audio, read_frames


def _write_video(path, n, fps, w=64, h=48, audio=False):
    """Frame k has all pixels equal to k (grey ramp), so decoded frames are identifiable."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "0", "preset": "ultrafast"}
        if audio:
            ast = out.add_stream("aac", rate=16000, layout="mono")
        for k in range(n):
            img = np.full((h, w, 3), (k * 7) % 256, np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if audio:
            t = np.arange(16000, dtype=np.float32) / 16000
            fr = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32), format="fltp", layout="mono")
            fr.sample_rate = 16000
            for p in ast.encode(fr):
                out.mux(p)
            for p in ast.encode():
                out.mux(p)


def test_real_clips_decode(clips_dir):
    frames = read_frames(clips_dir / "fighting2.mp4")
    assert frames.shape == (280, 268, 640, 3) and frames.dtype == np.uint8
    audio, rate = read_audio(clips_dir / "fighting2.mp4")
    assert audio.shape[0] == 6 and rate == 48000
    assert abs(audio.shape[1] / rate - 280 / 24) < 0.2
    mono, r16 = read_audio(clips_dir / "fighting2.mp4", rate=16000, mono=True)
    assert mono.shape[0] == 1 and r16 == 16000
    assert abs(mono.shape[1] - audio.shape[1] / 3) <= 2


def test_chunks_concatenate_to_whole(clips_dir):
    whole = read_frames(clips_dir / "car2.mp4")
    chunks = list(iter_frames(clips_dir / "car2.mp4", chunk_size=50))
    assert [len(c) for c in chunks[:-1]] == [50] * (len(chunks) - 1)
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_fps_resampling_nearest(tmp_path):
    p = tmp_path / "v30.mp4"
    _write_video(p, 60, 30)  # 2 s at 30 fps
    frames = read_frames(p, fps=24)
    assert len(frames) == 48
    levels = frames[:, 0, 0, 0].astype(int)
    # output frame k shows the source frame nearest to k/24 s -> round(k * 30 / 24)
    expected = [(round(k * 30 / 24 + 1e-9) * 7) % 256 for k in range(48)]
    assert np.abs(levels - np.array(expected)).max() <= 2
    same = read_frames(p, fps=30)
    assert len(same) == 60


def test_no_audio_and_broken_files(tmp_path):
    p = tmp_path / "silent.mp4"
    _write_video(p, 5, 24)
    with pytest.raises(NoAudioStream, match="silent.mp4"):
        read_audio(p)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.mp4"):
        read_frames(empty)
    text = tmp_path / "text.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(MediaError):
        read_frames(text)


def test_audio_with_video(tmp_path):
    p = tmp_path / "av.mp4"
    _write_video(p, 24, 24, audio=True)
    a, r = read_audio(p)
    assert r == 16000 and a.shape[0] == 1
    spec = np.abs(np.fft.rfft(a[0, 2000:14000]))
    assert abs(np.argmax(spec) * 16000 / 12000 - 440) < 3


def test_damaged_stream_is_concealed_not_fatal(tmp_path, clips_dir):
    """Garbage in the middle of every video packet: decoding goes on, errors are counted."""
    from robusta_bench.media import DecodeStats

    src = clips_dir / "riot1.mp4"
    dst = tmp_path / "damaged.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ivs = inp.streams.video[0]
        ovs = out.add_stream_from_template(ivs)
        for i, packet in enumerate(inp.demux(ivs)):
            if packet.size == 0:
                continue
            data = bytearray(bytes(packet))
            if i % 3 == 1 and len(data) > 40:
                data[20:] = rng.integers(0, 256, len(data) - 20, dtype=np.uint8).tobytes()
            newp = av.Packet(bytes(data))
            newp.pts, newp.dts, newp.time_base = packet.pts, packet.dts, packet.time_base
            newp.is_keyframe = packet.is_keyframe
            newp.stream = ovs
            out.mux(newp)
    stats = DecodeStats()
    n = sum(len(c) for c in iter_frames(dst, stats=stats))
    assert n > 0
    assert stats.frames == n
