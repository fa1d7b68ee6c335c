"""write_with_audio: video packets copied bit-exactly, corrupted audio stored losslessly."""

from __future__ import annotations

import av
import numpy as np
import pytest

from robusta_bench.corruptions import get_corruption
from robusta_bench.media.audio_out import write_with_audio
from robusta_bench.media.decode import MediaError, NoAudioStream, read_audio


def video_packets(path, *, timestamps: bool = True):
    """Every video packet's bytes and key-frame flag (and pts, dts, duration in seconds)."""
    def sec(v, tb):
        return None if v is None else round(float(v * tb), 6)

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        out = []
        for p in c.demux(s):
            if p.size == 0:
                continue
            row = (bytes(p), p.is_keyframe)
            if timestamps:
                row += (sec(p.pts, p.time_base), sec(p.dts, p.time_base), sec(p.duration, p.time_base))
            out.append(row)
        return out


def audio_stream_info(path):
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return a.codec_context.name, a.codec_context.channels, a.rate


def test_round_trip_on_a_real_six_channel_clip(clips_dir, tmp_path):
    src = clips_dir / "fighting2.mp4"
    x, rate = read_audio(src)
    y = get_corruption("white_noise").apply(x, 3, 1, rate=rate)
    dst = tmp_path / "out" / "fighting2.mp4"
    write_with_audio(src, dst, y, rate)
    assert video_packets(dst) == video_packets(src)
    codec, channels, out_rate = audio_stream_info(dst)
    assert (codec, channels, out_rate) == ("flac", 6, 48000)
    z, zr = read_audio(dst)
    assert zr == rate and z.shape == y.shape  # FLAC: exact length, no priming
    assert np.max(np.abs(z - y)) <= 2.0**-23  # 24-bit lossless
    # the audio starts where the source audio started (A/V sync kept)
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        ta = float(a.streams.audio[0].start_time * a.streams.audio[0].time_base)
        tb = float(b.streams.audio[0].start_time * b.streams.audio[0].time_base)
    assert abs(ta - tb) < 1e-3
    assert not list(tmp_path.joinpath("out").glob(".*part*"))  # no temporary left


@pytest.mark.parametrize("suffix, codec", [(".mkv", "flac"), (".mov", "alac")])
def test_other_containers_and_channel_count_and_rate_follow_the_samples(clips_dir, tmp_path, suffix, codec):
    src = clips_dir / "n3.mp4"  # stereo 44.1 kHz source
    mono = (0.2 * np.sin(np.arange(22050 * 2) / 22050 * 2 * np.pi * 300))[None].astype(np.float32)
    dst = tmp_path / f"n3{suffix}"
    write_with_audio(src, dst, mono, 22050)
    assert audio_stream_info(dst) == (codec, 1, 22050)
    z, zr = read_audio(dst)
    assert zr == 22050 and z.shape == mono.shape
    assert np.max(np.abs(z - mono)) <= 2.0**-23
    # MKV stores no dts, so compare the payloads (bytes and key-frame flags) only
    assert video_packets(dst, timestamps=False) == video_packets(src, timestamps=False)


def test_container_without_lossless_audio_support_is_a_clear_error(clips_dir, tmp_path):
    x, rate = read_audio(clips_dir / "n3.mp4")
    with pytest.raises(MediaError, match="n3.mp4: cannot write n3.avi"):
        write_with_audio(clips_dir / "n3.mp4", tmp_path / "n3.avi", x, rate)
    assert list(tmp_path.iterdir()) == []


def make_video(path, *, audio: bool, video: bool = True, frames: int = 12) -> None:
    with av.open(str(path), "w") as out:
        if video:
            vs = out.add_stream("libx264", rate=12)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
            vs.options = {"preset": "ultrafast"}
        if audio:
            ast = out.add_stream("aac", rate=16000, layout="mono")
        if video:
            for k in range(frames):
                img = np.full((48, 64, 3), k * 20, np.uint8)
                for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
            for p in vs.encode():
                out.mux(p)
        if audio:
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
            fr.sample_rate = 16000
            for p in ast.encode(fr):
                out.mux(p)
            for p in ast.encode(None):
                out.mux(p)


def test_video_without_audio(tmp_path):
    src = tmp_path / "silent.mp4"
    make_video(src, audio=False)
    with pytest.raises(NoAudioStream, match="silent.mp4"):
        read_audio(src)  # what the runner reports for such a video
    samples = np.zeros((2, 16000), np.float32)
    samples[:, ::100] = 0.5
    dst = tmp_path / "with_audio.mp4"
    write_with_audio(src, dst, samples, 16000)  # a track can still be attached
    assert video_packets(dst) == video_packets(src)
    z, zr = read_audio(dst)
    assert zr == 16000 and z.shape == samples.shape


def test_audio_only_source_is_a_clear_error_and_keeps_an_existing_output(tmp_path):
    src = tmp_path / "voice.m4a"
    make_video(src, audio=True, video=False)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous result")
    with pytest.raises(MediaError, match="voice.m4a: no video stream"):
        write_with_audio(src, dst, np.zeros((1, 100), np.float32), 16000)
    assert dst.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "voice.m4a"]


def test_bad_inputs(tmp_path):
    src = tmp_path / "v.mp4"
    make_video(src, audio=False)
    with pytest.raises(ValueError, match="v.mp4: audio must be a non-empty"):
        write_with_audio(src, tmp_path / "o.mp4", np.zeros((2, 0), np.float32), 16000)
    with pytest.raises(ValueError, match="at most 8 channels"):
        write_with_audio(src, tmp_path / "o.mp4", np.zeros((9, 10), np.float32), 16000)
    with pytest.raises(MediaError, match="missing.mp4"):
        write_with_audio(tmp_path / "missing.mp4", tmp_path / "o.mp4", np.zeros((1, 10), np.float32), 16000)
    assert not (tmp_path / "o.mp4").exists()
