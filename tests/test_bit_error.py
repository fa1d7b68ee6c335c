"""Bit error: packet damage rates, framing spared, audio untouched, decodable output."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from robusta_bench.corruptions.visual import bit_error as be
from robusta_bench.files import sha256_file
from robusta_bench.media.decode import read_frames
from robusta_bench.seeding import corruption_seed


def _packets(path: Path, kind: str) -> list[tuple[bytes, int | None, int | None, bool]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in c.demux(stream) if p.size]


@pytest.fixture(scope="module")
def clip() -> Path:
    from conftest import CLIPS, need

    return need(CLIPS / "explosion1.mp4")


@pytest.fixture(scope="module")
def clip_packets(clip):
    with av.open(str(clip)) as c:
        layout = be.stream_layout(c.streams.video[0])
    return layout, [p[0] for p in _packets(clip, "video")]


def test_layout_of_the_real_clip(clip_packets):
    layout, packets = clip_packets
    assert layout.codec == "h264" and layout.nal_length_size == 4
    # every packet holds at least one slice; SEI/SPS units are never eligible
    for data in packets[:20]:
        ranges = be.eligible_ranges(data, layout)
        assert ranges and all(be.SPARE_BYTES <= lo < hi <= len(data) for lo, hi in ranges)


def test_eligible_ranges_spare_framing_and_parameter_sets():
    layout = be.StreamLayout("h264", nal_length_size=4)
    sps = bytes([0x67]) + bytes(range(1, 20))  # NAL type 7
    idr = bytes([0x65]) + bytes(200)  # NAL type 5 (slice)
    data = len(sps).to_bytes(4, "big") + sps + len(idr).to_bytes(4, "big") + idr
    start = 4 + len(sps) + 4
    assert be.eligible_ranges(data, layout) == [(start + be.SPARE_BYTES, start + len(idr))]
    annexb = be.StreamLayout("h264", annexb=True)
    data_b = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + idr
    lo = 4 + len(sps) + 3
    assert be.eligible_ranges(data_b, annexb) == [(lo + be.SPARE_BYTES, lo + len(idr))]
    other = be.StreamLayout("mpeg4")
    assert be.eligible_ranges(bytes(100), other) == [(be.SPARE_BYTES, 100)]
    assert be.eligible_ranges(bytes(10), other) == []


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_damage_rate_is_one_byte_in_n(clip_packets, severity):
    layout, packets = clip_packets
    n = be.BitError.params(severity)["bytes_per_error"]
    payload = sum(len(p) for p in packets)
    seeds = max(1, math.ceil(150 * n / payload))  # >= 150 expected hits in total
    changed = 0
    for seed in range(seeds):
        damager = be.PacketDamager(layout, n, seed)
        before = changed
        for i, data in enumerate(packets):
            out = damager(data, i)
            assert len(out) == len(data)
            a, b = np.frombuffer(data, np.uint8), np.frombuffer(out, np.uint8)
            diff = np.flatnonzero(a != b)
            changed += len(diff)
            if len(diff):
                ok = np.zeros(len(data), bool)
                for lo, hi in be.eligible_ranges(data, layout):
                    ok[lo:hi] = True
                assert ok[diff].all()  # framing and headers untouched
        assert damager.stats.bytes_changed == changed - before  # every hit changes its byte
    expected = seeds * payload / n
    assert abs(changed - expected) < 5 * math.sqrt(expected) + 3


def test_damage_is_seeded_per_packet(clip_packets):
    layout, packets = clip_packets
    a = be.PacketDamager(layout, 1000, 5)
    b = be.PacketDamager(layout, 1000, 5)
    forward = [a(p, i) for i, p in enumerate(packets[:30])]
    backward = {i: b(packets[i], i) for i in reversed(range(30))}
    assert forward == [backward[i] for i in range(30)]
    c = be.PacketDamager(layout, 1000, 6)
    assert [c(p, i) for i, p in enumerate(packets[:30])] != forward


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_corrupt_file_on_a_real_clip(clip, tmp_path, severity):
    seed = corruption_seed("explosion1", "bit_error", severity, 0)
    dst = tmp_path / "out.mp4"
    stats = be.corrupt_file(clip, dst, severity, seed)
    src_v, dst_v = _packets(clip, "video"), _packets(dst, "video")
    assert len(src_v) == len(dst_v) == stats.packets
    assert [p[1:] for p in src_v] == [p[1:] for p in dst_v]  # timestamps, keyframe flags
    changed = sum(int((np.frombuffer(a[0], np.uint8) != np.frombuffer(b[0], np.uint8)).sum()) for a, b in zip(src_v, dst_v))
    assert changed == stats.bytes_changed
    n = be.BitError.params(severity)["bytes_per_error"]
    expected = stats.payload_bytes / n
    assert abs(changed - expected) < 5 * math.sqrt(expected) + 3
    assert _packets(clip, "audio") == _packets(dst, "audio")  # audio bit-exact
    frames = read_frames(dst)
    assert len(frames) == len(src_v)
    if severity == 5:
        assert changed > 0 and not np.array_equal(frames, read_frames(clip))


def test_in_memory_damage_equals_the_written_file(clip, tmp_path):
    seed = corruption_seed("explosion1", "bit_error", 5, 3)
    dst = tmp_path / "out.mp4"
    be.corrupt_file(clip, dst, 5, seed)
    stats = be.BitErrorStats()
    mem = np.concatenate(list(be.iter_damaged_frames(clip, 5, seed, chunk_size=50, stats=stats)))
    assert stats.bytes_changed > 0 and stats.frames == len(mem)
    assert np.array_equal(mem, read_frames(dst))
    # again: same frames; fps resampling as the clean decoder does it
    again = np.concatenate(list(be.iter_damaged_frames(clip, 5, seed)))
    assert np.array_equal(again, mem)
    half = np.concatenate(list(be.iter_damaged_frames(clip, 5, seed, fps=12)))
    assert abs(len(half) - len(mem) / 2) <= 1
    be.corrupt_file(clip, tmp_path / "b.mp4", 5, seed)
    assert sha256_file(dst) == sha256_file(tmp_path / "b.mp4")


def test_freeze_fill_keeps_the_frame_count():
    class Fake:
        def __init__(self, pts):
            self.pts = pts

        def to_ndarray(self, format):
            return np.full((2, 2, 3), self.pts, np.uint8)

    expected = [0, 1, 2, 3, 4, 5]
    stats = be.BitErrorStats()
    # packets 1, 4 and 5 failed to decode
    out = list(be._freeze_filled(iter([Fake(0), Fake(2), Fake(3)]), list(expected), stats))
    assert [int(a[0, 0, 0]) for a in out] == [0, 0, 2, 3, 3, 3]
    assert stats.filled_frames == 3
    # the first frame missing: filled with the next decoded one
    out = list(be._freeze_filled(iter([Fake(1), Fake(2)]), [0, 1, 2], be.BitErrorStats()))
    assert [int(a[0, 0, 0]) for a in out] == [1, 1, 2]


def test_other_codecs_and_audio_less_files(tmp_path):
    path = tmp_path / "mpeg4.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=24)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            img = np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    stats = be.corrupt_file(path, tmp_path / "o.mp4", 5, 1)
    assert stats.packets == 30 and stats.eligible_bytes == stats.payload_bytes - 30 * be.SPARE_BYTES
    assert len(read_frames(tmp_path / "o.mp4")) == 30
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video")
    with pytest.raises(Exception, match="text.mp4"):
        be.corrupt_file(bad, tmp_path / "x.mp4", 1, 0)
    assert not (tmp_path / "x.mp4").exists()
