"""The extraction pipeline: shapes and alignment on real clips, fused variants, resume, failures, CLI.

Small deterministic test extractors and corruptions are registered here under
test-only names; media are the shared XD-Violence clips and videos generated
with PyAV in the test.
"""

from __future__ import annotations

import fractions
import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.corruptions.base import CORRUPTIONS, Corruption
from robusta_bench.extraction import protocol as P
from robusta_bench.models.extractor import EXTRACTORS, Extractor
from robusta_bench.extraction.pipeline import extract
from robusta_bench.store.feature_store import FeatureStore, StoreError, Variant
from robusta_bench.media.decode import iter_frames, read_audio, read_frames
from robusta_bench.seeding import corruption_seed, rng_for

CLIP_NAMES = ["abuse1", "car2", "explosion1", "fighting2", "n1", "n3", "riot1", "shooting1"]


# ------------------------------------------------------------ test plug-ins
class SimulatedCrash(BaseException):
    """Stands for the process being killed (not an ordinary error)."""


class _TestVisual(Extractor):
    modality = "visual"
    feature_dim = 8
    n_crops = 5
    crash_after: int | None = None
    calls = 0

    def embed(self, batch):
        cls = type(self)
        cls.calls += 1
        if cls.crash_after is not None and cls.calls > cls.crash_after:
            raise SimulatedCrash()
        assert batch.dtype == np.uint8 and batch.shape[1:] == (16, 224, 224, 3)
        m = lambda x, ax: x.mean(axis=ax, dtype=np.float64)  # noqa: E731
        feats = [
            m(batch, (1, 2, 3, 4)),
            m(batch[:, :8], (1, 2, 3, 4)),
            m(batch[:, 15], (1, 2, 3)),
            m(batch[:, :, :112, :112], (1, 2, 3, 4)),
            m(batch[:, :, :, :112], (1, 2, 3, 4)),
            *[m(batch[..., c], (1, 2, 3)) for c in range(3)],
        ]
        return np.stack(feats, axis=1).astype(np.float32)


class _TestAudio(Extractor):
    modality = "audio"
    feature_dim = 4

    def embed(self, batch):
        assert batch.dtype == np.float32 and batch.shape[1:] == (15360,)
        a = np.abs(batch)
        return np.stack([batch.mean(1), batch.std(1), a.max(1), a.argmax(1).astype(np.float32)], axis=1).astype(np.float32)


class _TestDark(Corruption):
    """Per-frame: darken and add seeded noise (depends on the frame's index in the video)."""

    modality = "visual"
    levels = tuple({"factor": 1.0 - 0.1 * i} for i in range(1, 6))

    def apply(self, data, severity, seed, *, rate=None, start=0):
        f = self.params(severity)["factor"]
        out = np.empty_like(data)
        for i, frame in enumerate(data):
            noise = rng_for(seed, start + i).integers(0, 8, size=frame.shape)
            out[i] = np.clip(frame * f + noise, 0, 255).astype(np.uint8)
        return out


class _TestTemporal(Corruption):
    """Temporal: frame i = mean of frames i-1, i, i+1 (edges clamped); stream() needs one frame of lookahead."""

    modality = "visual"
    levels = tuple({"k": i} for i in range(1, 6))

    @staticmethod
    def _avg(prev, cur, nxt):
        return ((prev.astype(np.float32) + cur + nxt) / 3).round().astype(np.uint8)

    def apply(self, data, severity, seed, *, rate=None, start=0):
        prev = np.concatenate([data[:1], data[:-1]])
        nxt = np.concatenate([data[1:], data[-1:]])
        return self._avg(prev, data, nxt)

    def stream(self, chunks, severity, seed, *, rate=None):
        left = None
        pending = None
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            pending = chunk if pending is None else np.concatenate([pending, chunk])
            if len(pending) < 2:
                continue
            ext = np.concatenate([pending[:1] if left is None else left[None], pending])
            yield self._avg(ext[:-2], ext[1:-1], ext[2:])
            left, pending = pending[-2], pending[-1:]
        if pending is not None:
            ext = np.concatenate([pending[:1] if left is None else left[None], pending, pending[-1:]])
            yield self._avg(ext[:-2], ext[1:-1], ext[2:])


class _TestGain(Corruption):
    """Audio: keep channel 0 only (so it must run before the mono mix), scale, add seeded noise."""

    modality = "audio"
    levels = tuple({"gain": 0.2 * i} for i in range(1, 6))

    def apply(self, data, severity, seed, *, rate=None, start=0):
        out = np.zeros_like(data)
        out[0] = data[0] * self.params(severity)["gain"]
        out += rng_for(seed).normal(0, 1e-3, size=data.shape).astype(np.float32)
        return out.astype(np.float32)


class _TestBits(Corruption):
    """Packet-level stand-in: decodes its own 'damaged' stream (here: inverted frames)."""

    modality = "visual"
    packet_level = True
    levels = tuple({"n": i} for i in range(1, 6))

    def apply(self, data, severity, seed, *, rate=None, start=0):
        raise NotImplementedError("packet level")

    def frames(self, source, severity, seed, *, decoded=None, chunk_size=None, fps=None):
        """The media-level entry point of a packet-level corruption: its own decode of ``source``."""
        for chunk in iter_frames(source, chunk_size=chunk_size or 64, fps=fps):
            yield 255 - chunk


for _name, _cls, _reg in [
    ("test-visual", _TestVisual, EXTRACTORS),
    ("test-audio", _TestAudio, EXTRACTORS),
    ("test_dark", _TestDark, CORRUPTIONS),
    ("test_temporal", _TestTemporal, CORRUPTIONS),
    ("test_gain", _TestGain, CORRUPTIONS),
    ("test_bits", _TestBits, CORRUPTIONS),
]:
    if _name not in _reg:
        _reg.register(_name)(_cls)


@pytest.fixture(autouse=True)
def _reset_crash():
    _TestVisual.crash_after, _TestVisual.calls = None, 0
    yield
    _TestVisual.crash_after, _TestVisual.calls = None, 0


# ------------------------------------------------------------------- media
def make_video(path, n_frames, *, size=(64, 48), fps=24, audio=True, rate=48000, channels=2, click_at=None):
    """Encode a moving test pattern (libx264) with an optional PCM sine track (+ a click)."""
    w, h = size
    c = av.open(str(path), "w")
    vs = c.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.options = {"crf": "18", "preset": "ultrafast"}
    a = c.add_stream("pcm_s16le", rate=rate, layout="stereo" if channels == 2 else "mono") if audio else None
    y, x = np.mgrid[0:h, 0:w]
    for k in range(n_frames):
        img = np.stack([(x * 3 + k * 5) % 256, (y * 4 + k * 3) % 256, ((x + y) * 2 + k * 11) % 256], -1).astype(np.uint8)
        for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(p)
    for p in vs.encode():
        c.mux(p)
    if a is not None:
        n = int(round(n_frames / fps * rate))
        t = np.arange(n) / rate
        sig = 0.1 * np.sin(2 * np.pi * 440 * t) * np.linspace(0.2, 1, n)
        if click_at is not None:
            sig[int(round(click_at * rate))] = 0.95
        pcm = (np.repeat(sig[None], channels, 0) * 32767).astype(np.int16)
        pcm[-1] //= 2  # channels differ
        for s in range(0, n, 1024):
            part = np.ascontiguousarray(pcm[:, s : s + 1024].T.reshape(1, -1))
            fr = av.AudioFrame.from_ndarray(part, format="s16", layout=a.layout.name)
            fr.sample_rate, fr.pts, fr.time_base = rate, s, fractions.Fraction(1, rate)
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    c.close()
    return Path(path)


def write_manifest(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def shard_digests(store_root):
    """``{(group, videos of the shard): sha256}`` of every committed shard (shard names carry the writer id)."""
    store = FeatureStore(store_root)
    out = {}
    for e, v in store.groups():
        for f in store.index(e, v)["files"]:
            out[(f"{e}/{v.slug}", tuple(f["videos"]))] = hashlib.sha256((store.group_dir(e, v) / f["path"]).read_bytes()).hexdigest()
    return out


def manual_visual(frames, crops, ext=None):
    """The protocol done by hand on a whole decoded video: resize, snippets, crops, embed -> (C, T, D)."""
    ext = ext or _TestVisual()
    small = P.resize_frames(frames)
    t = P.n_snippets(len(frames))
    out = np.zeros((len(crops), t, ext.feature_dim), np.float32)
    for i in range(t):
        clip = small[16 * i : 16 * i + 16]
        for c, name in enumerate(crops):
            out[c, i] = ext.embed(np.ascontiguousarray(P.crop_clip(clip, name))[None])[0]
    return out


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    make_video(d / "good.mkv", 100, click_at=1.5)
    make_video(d / "noaudio.mkv", 60, audio=False)
    make_video(d / "short.mkv", 12)
    make_video(d / "wide.mkv", 70, size=(96, 40), channels=1, rate=22050)
    (d / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    return d


# -------------------------------------------------------------------- tests
def test_shared_clips_snippet_counts_and_audio_alignment(clips_dir, tmp_path):
    """T = floor((N-1)/16) on every shared clip (160x120, 640x268, 640x360; 2/6 channels, 44.1/48 kHz); audio T == visual T."""
    rows = [{"name": n, "path": str(clips_dir / f"{n}.mp4"), "split": "test", "label": int(not n.startswith("n"))} for n in CLIP_NAMES]
    man = write_manifest(tmp_path / "m.csv", rows)
    rep = extract(man, "test-visual,test-audio", "clean", tmp_path / "s", crops=1, batch_size=8, workers=2)
    assert rep.ok, rep.summary()
    store = FeatureStore(tmp_path / "s")
    vis = store.read("test-visual", Variant())
    aud = store.read("test-audio", Variant())
    for n in CLIP_NAMES:
        with av.open(str(clips_dir / f"{n}.mp4")) as c:
            n_frames = c.streams.video[0].frames  # all clips are 24 fps: no resampling
        assert vis[n].shape == (1, (n_frames - 1) // 16, 8), n
        assert aud[n].shape == (1, vis[n].shape[1], 4), n
    assert rep.snippets == 2 * sum(v.shape[1] for v in vis.values())


def test_crops_override_is_part_of_the_key(clips_dir, tmp_path):
    item = [{"name": "riot1", "path": str(clips_dir / "riot1.mp4"), "split": "test"}]
    man = write_manifest(tmp_path / "m.csv", item)
    extract(man, "test-visual", "clean", tmp_path / "one", crops=1)
    extract(man, "test-visual", "clean", tmp_path / "five")
    one, five = FeatureStore(tmp_path / "one"), FeatureStore(tmp_path / "five")
    i1, i5 = one.index("test-visual", Variant()), five.index("test-visual", Variant())
    assert i1["n_crops"] == 1 and i5["n_crops"] == 5
    assert i1["meta"]["crops"] == ["center"] and i5["meta"]["crops"] == list(P.FIVE_CENTER_FIRST)
    assert i1["spec_hash"] != i5["spec_hash"]
    # crop 0 of the 5-crop features is the centre crop
    np.testing.assert_array_equal(one.read("test-visual", Variant())["riot1"][0], five.read("test-visual", Variant())["riot1"][0])
    # a 5-crop run never appends to a 1-crop store
    with pytest.raises(StoreError):
        extract(man, "test-visual", "clean", tmp_path / "one")


def test_fused_variants_equal_separately_corrupted(gen_dir, tmp_path):
    man = write_manifest(tmp_path / "m.csv", [{"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"}])
    variants = "clean,test_dark@2,test_temporal@1,test_gain@3,test_bits@1"
    rep = extract(man, "test-visual,test-audio", variants, tmp_path / "fused", crops=2, batch_size=5, seed=7, chunk_size=7)
    assert rep.ok, rep.summary()
    store = FeatureStore(tmp_path / "fused")
    crops = ("center", "top_left")
    frames = read_frames(gen_dir / "good.mkv", fps=24)
    seed_of = lambda c, s: corruption_seed("good", c, s, 7)  # noqa: E731

    # visual, corrupted separately on the whole decoded video then the protocol by hand
    dark = _TestDark().apply(frames, 2, seed_of("test_dark", 2))
    temporal = _TestTemporal().apply(frames, 1, seed_of("test_temporal", 1))
    for v, src in [(Variant(), frames), (Variant("test_dark", 2, 7), dark), (Variant("test_temporal", 1, 7), temporal), (Variant("test_bits", 1, 7), 255 - frames)]:
        got = store.read("test-visual", v)["good"]
        np.testing.assert_array_equal(got, manual_visual(src, crops), err_msg=v.slug)

    # audio: the corruption sees the native 2-channel 48 kHz track, before the mono mix
    native, rate = read_audio(gen_dir / "good.mkv")
    t = P.n_snippets(len(frames))
    for v, sig in [(Variant(), native), (Variant("test_gain", 3, 7), _TestGain().apply(native, 3, seed_of("test_gain", 3), rate=rate))]:
        want = _TestAudio().embed(P.audio_windows(P.to_model_audio(sig, rate), t))
        np.testing.assert_array_equal(store.read("test-audio", v)["good"][0], want, err_msg=v.slug)

    # routing: visual corruptions never reach the audio extractor and vice versa
    groups = {f"{e}/{v.slug}" for e, v in store.groups()}
    assert "test-audio/test_dark-s2-seed7" not in groups and "test-visual/test_gain-s3-seed7" not in groups

    # the same variant alone (one consumer instead of four) gives identical features
    extract(man, "test-visual", "test_temporal@1", tmp_path / "alone", crops=2, batch_size=5, seed=7)
    alone = FeatureStore(tmp_path / "alone").read("test-visual", Variant("test_temporal", 1, 7))["good"]
    np.testing.assert_array_equal(alone, store.read("test-visual", Variant("test_temporal", 1, 7))["good"])


REAL_VISUAL = ("motion_blur@2", "fog@1", "shot_noise@3", "bit_error@5")
REAL_AUDIO = ("white_noise@2", "hf_channel@3")


def test_fused_equals_separate_with_the_real_corruptions(gen_dir, tmp_path):
    """The registered corruptions, fused in one decode, equal each one applied to the whole decoded video/track."""
    from robusta_bench.corruptions.base import corruption_names, get_corruption

    known = set(corruption_names())
    wanted = [v for v in REAL_VISUAL + REAL_AUDIO if v.split("@")[0] in known]
    if not wanted:
        pytest.skip("the benchmark corruptions are not in this tree yet")
    man = write_manifest(tmp_path / "m.csv", [{"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"}])
    rep = extract(man, "test-visual,test-audio", ["clean", *wanted], tmp_path / "s", crops=1, seed=5, batch_size=7)
    assert rep.ok, rep.summary()
    store = FeatureStore(tmp_path / "s")
    frames = read_frames(gen_dir / "good.mkv", fps=24)
    native, rate = read_audio(gen_dir / "good.mkv")
    t = P.n_snippets(len(frames))
    for text in wanted:
        v = Variant.parse(text, seed=5)
        corr = get_corruption(v.corruption)
        seed = corruption_seed("good", v.corruption, v.severity, 5)
        if corr.modality == "audio":
            sig = corr.apply(native, v.severity, seed, rate=rate)
            want = _TestAudio().embed(P.audio_windows(P.to_model_audio(sig, rate), t))
            np.testing.assert_array_equal(store.read("test-audio", v)["good"][0], want, err_msg=text)
            continue
        if corr.packet_level:
            src = np.concatenate(list(corr.frames(gen_dir / "good.mkv", v.severity, seed, fps=24)))
        else:
            src = corr.apply(frames, v.severity, seed)
        np.testing.assert_array_equal(store.read("test-visual", v)["good"], manual_visual(src, ("center",)), err_msg=text)


def test_click_lands_in_the_window_of_its_snippet(gen_dir, tmp_path):
    man = write_manifest(tmp_path / "m.csv", [{"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"}])
    extract(man, "test-audio", "clean", tmp_path / "s")
    feats = FeatureStore(tmp_path / "s").read("test-audio", Variant())["good"][0]
    assert feats.shape == (P.n_snippets(100), 4)
    # click at 1.5 s = sample 24000 at 16 kHz: only window 2 ([16640, 32000)) holds it, 7360 samples in
    peak = feats[:, 2]  # max |x| per window; the sine stays below 0.1, the (low-passed) click above 0.2
    assert peak.argmax() == 2 and peak[2] > 0.2 and np.delete(peak, 2).max() < 0.1
    assert abs(feats[2, 3] - 7360) <= 3


def test_determinism_same_shard_bytes(clips_dir, gen_dir, tmp_path):
    rows = [
        {"name": "car2", "path": str(clips_dir / "car2.mp4"), "split": "test"},
        {"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"},
        {"name": "abuse1", "path": str(clips_dir / "abuse1.mp4"), "split": "test"},
    ]
    man = write_manifest(tmp_path / "m.csv", rows)
    kw = dict(crops=1, batch_size=6, seed=3)
    extract(man, "test-visual,test-audio", "clean,test_dark@1,test_gain@2", tmp_path / "a", workers=2, **kw)
    extract(man, "test-visual,test-audio", "clean,test_dark@1,test_gain@2", tmp_path / "b", workers=0, **kw)
    da, db = shard_digests(tmp_path / "a"), shard_digests(tmp_path / "b")
    assert da and da == db
    ia = json.loads((tmp_path / "a/test-visual/test_dark-s1-seed3/index.json").read_text())
    assert [n for f in ia["files"] for n in f["videos"]] == ["car2", "good", "abuse1"]  # manifest order, whatever the workers


def test_resume_after_crash_mid_run(clips_dir, gen_dir, tmp_path):
    rows = [{"name": n, "path": str(clips_dir / f"{n}.mp4"), "split": "test"} for n in ("car2", "abuse1", "riot1", "n3")]
    man = write_manifest(tmp_path / "m.csv", rows)
    kw = dict(crops=1, batch_size=4, shard_rows=15, workers=1)
    extract(man, "test-visual", "clean,test_dark@1", tmp_path / "ref", **kw)
    ref = FeatureStore(tmp_path / "ref")

    _TestVisual.calls, _TestVisual.crash_after = 0, 12  # the 'process' dies after 12 batches, in the middle of the run
    with pytest.raises(SimulatedCrash):
        extract(man, "test-visual", "clean,test_dark@1", tmp_path / "s", **kw)
    part = FeatureStore(tmp_path / "s")
    stored = sum(len(part.names("test-visual", v)) for v in (Variant(), Variant("test_dark", 1, 0)))
    assert 0 < stored < 8  # some videos were flushed before the crash, not all

    _TestVisual.crash_after = None
    rep = extract(man, "test-visual", "clean,test_dark@1", tmp_path / "s", **kw)
    assert rep.ok and rep.skipped == stored
    for v in (Variant(), Variant("test_dark", 1, 0)):
        names = part.names("test-visual", v)
        assert sorted(names) == sorted(r["name"] for r in rows) and len(names) == len(set(names))
        assert not part.verify("test-visual", v)
        got, want = part.read("test-visual", v), ref.read("test-visual", v)
        for n in want:
            np.testing.assert_array_equal(got[n], want[n])
    # a third run has nothing left to do
    again = extract(man, "test-visual", "clean,test_dark@1", tmp_path / "s", **kw)
    assert again.skipped == 8 and sum(again.written.values()) == 0


def test_broken_videos_are_reported_by_name_and_the_rest_is_kept(gen_dir, tmp_path):
    rows = [
        {"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"},
        {"name": "garbage", "path": str(gen_dir / "garbage.mp4"), "split": "test"},
        {"name": "missing", "path": str(gen_dir / "nope.mp4"), "split": "test"},
        {"name": "short", "path": str(gen_dir / "short.mkv"), "split": "test"},
        {"name": "noaudio", "path": str(gen_dir / "noaudio.mkv"), "split": "test"},
        {"name": "flagged", "path": str(gen_dir / "good.mkv"), "split": "test", "error": "moov atom not found"},
        {"name": "wide", "path": str(gen_dir / "wide.mkv"), "split": "test"},
    ]
    man = write_manifest(tmp_path / "m.csv", rows)
    res = CliRunner().invoke(
        cli, ["extract", "--manifest", str(man), "--extractors", "test-visual,test-audio", "--variants", "clean,test_dark@1",
              "--out", str(tmp_path / "s"), "--crops", "1", "--workers", "2"],
    )
    assert res.exit_code == 1, res.output
    for name in ("garbage", "missing", "short", "flagged"):
        assert f"FAILED {name} " in res.output
    assert "FAILED noaudio [test-audio/clean]: no audio stream" in res.output
    assert "FAILED good" not in res.output and "FAILED wide" not in res.output
    store = FeatureStore(tmp_path / "s")
    assert set(store.names("test-visual", Variant())) == {"good", "noaudio", "wide"}
    assert set(store.names("test-audio", Variant())) == {"good", "wide"}
    errors = store.errors("test-visual", Variant())
    assert set(errors) == {"garbage", "missing", "short", "flagged"}
    assert "too short: 12 frame(s)" in errors["short"]
    assert "nope.mp4" in errors["missing"] and "moov" in errors["flagged"]
    # mono 22.05 kHz, 96x40: still the same T in both modalities
    assert store.read("test-audio", Variant())["wide"].shape[1] == store.read("test-visual", Variant())["wide"].shape[1] == P.n_snippets(70)


def test_splits_route_clean_and_variants(gen_dir, tmp_path):
    rows = [
        {"name": "tr", "path": str(gen_dir / "good.mkv"), "split": "train"},
        {"name": "te", "path": str(gen_dir / "wide.mkv"), "split": "test"},
    ]
    man = write_manifest(tmp_path / "m.csv", rows)
    rep = extract(man, "test-visual,test-audio", "clean,test_dark@1,test_gain@1", tmp_path / "s", crops=1)
    assert rep.ok
    store = FeatureStore(tmp_path / "s")
    assert set(store.names("test-visual", Variant())) == {"tr", "te"}
    assert store.names("test-visual", Variant("test_dark", 1, 0)) == ["te"]
    assert store.names("test-audio", Variant("test_gain", 1, 0)) == ["te"]
    rep = extract(man, "test-visual", "clean", tmp_path / "t", crops=1, split="test")
    assert FeatureStore(tmp_path / "t").names("test-visual", Variant()) == ["te"]
    videos = pd.read_csv(tmp_path / "s" / "videos.csv")
    assert dict(zip(videos.name, videos.split)) == {"te": "test", "tr": "train"}


def test_corrupted_dir_reads_media_written_by_corrupt(gen_dir, tmp_path):
    cdir = tmp_path / "corrupted"
    (cdir / "test_dark-s1-seed0").mkdir(parents=True)
    # the 'corrupted' file of good@test_dark/1 is wide.mkv: its features must be wide's clean ones
    (cdir / "test_dark-s1-seed0" / "good.mp4").write_bytes((gen_dir / "wide.mkv").read_bytes())
    row = {"modality": "visual", "corruption": "test_dark", "severity": 1, "seed": 0, "source_path": "", "sha256": "", "error": ""}
    pd.DataFrame([
        {**row, "name": "good", "version": 1, "output_path": "test_dark-s1-seed0/good.mp4"},
        {**row, "name": "wide", "version": 99, "output_path": "test_dark-s1-seed0/wide.mp4"},
    ]).to_csv(cdir / "corrupt_manifest.csv", index=False)
    rows = [{"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"}, {"name": "wide", "path": str(gen_dir / "wide.mkv"), "split": "test"}]
    man = write_manifest(tmp_path / "m.csv", rows)
    rep = extract(man, "test-visual", "clean,test_dark@1,test_dark@2", tmp_path / "s", crops=1, corrupted_dir=cdir)
    assert set(rep.failures) == {"good", "wide"}
    assert "stale corrupted file" in rep.failures["wide"]["test-visual/test_dark-s1-seed0"]
    assert "not in corrupt_manifest.csv" in rep.failures["good"]["test-visual/test_dark-s2-seed0"]
    store = FeatureStore(tmp_path / "s")
    np.testing.assert_array_equal(store.read("test-visual", Variant("test_dark", 1, 0))["good"], store.read("test-visual", Variant())["wide"])
    assert store.index("test-visual", Variant("test_dark", 1, 0))["meta"]["source"] == "corrupted-dir"
    # fused features of the same variant are other content: they never go into this group
    with pytest.raises(StoreError):
        extract(man, "test-visual", "test_dark@1", tmp_path / "s", crops=1)


def test_long_video_streams_in_bounded_memory(tmp_path):
    """Peak memory of the decode side does not grow with the video's length (4x longer video, same peak)."""
    import tracemalloc

    from robusta_bench.corruptions.base import get_corruption
    from robusta_bench.extraction.producer import produce
    from robusta_bench.extraction.variants import VideoItem, VideoJob

    variants = [Variant(), Variant("test_temporal", 1, 0), Variant("test_dark", 1, 0)]
    peaks = {}
    for n_frames in (240, 960):  # 10 s and 40 s of 160x120
        path = make_video(tmp_path / f"v{n_frames}.mkv", n_frames, size=(160, 120), audio=False)
        job = VideoJob(VideoItem("v", path), visual={v: ["x"] for v in variants})
        n = 0
        tracemalloc.start()
        try:
            for item in produce(job, proto=P.OFFICIAL, seed_of=lambda *a: 1, corruption_of=get_corruption):
                n += item[0] == "visual"
            peaks[n_frames] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert n == 3 * P.n_snippets(n_frames)
    # holding the 40 s video would take 55 MB decoded and 251 MB resized per variant
    assert peaks[960] < 1.2 * peaks[240], peaks
    assert peaks[960] < 120e6, peaks


def test_precision_check_and_fallback(clips_dir, tmp_path, monkeypatch):
    import torch

    from robusta_bench.extraction import precision as prec

    class TinyTorch(Extractor):
        modality, feature_dim, n_crops, name = "visual", 4, 1, "tiny-torch"

        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.conv = torch.nn.Conv3d(3, 4, 3, stride=4)
            with torch.no_grad():
                self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.1)

        def embed(self, batch):
            x = torch.from_numpy(batch).permute(0, 4, 1, 2, 3).float() / 255.0
            with torch.no_grad():
                return self.conv(x).float().mean(dim=(2, 3, 4)).numpy()

    torch.set_num_threads(1)
    ext = TinyTorch()
    batch = np.random.default_rng(0).integers(0, 256, (2, 16, 224, 224, 3), dtype=np.uint8)
    check = prec.calibrate_precision(ext.embed, batch, "bf16")
    assert 0 < check.max_abs_diff and check.ok, check.describe()
    assert not prec.calibrate_precision(ext.embed, batch, "bf16", tolerance=0.0).ok

    man = write_manifest(tmp_path / "m.csv", [{"name": "car2", "path": str(clips_dir / "car2.mp4"), "split": "test"}])
    rep = extract(man, [ext], "clean", tmp_path / "bf", precision="bf16", batch_size=3)
    assert rep.precision == {"tiny-torch": "bf16"} and "ok" in rep.precision_checks["tiny-torch"]
    monkeypatch.setitem(prec.TOLERANCES, "bf16", 0.0)
    rep = extract(man, [ext], "clean", tmp_path / "fb", precision="bf16", batch_size=3)
    assert rep.precision == {"tiny-torch": "fp32"} and "FAILED" in rep.precision_checks["tiny-torch"]
    fp32 = extract(man, [ext], "clean", tmp_path / "fp", batch_size=3)
    assert fp32.ok
    h = lambda d: FeatureStore(d).index("tiny-torch", Variant())["spec_hash"]  # noqa: E731
    assert h(tmp_path / "fb") == h(tmp_path / "fp") != h(tmp_path / "bf")


def test_cli_usage_errors_exit_2(tmp_path, gen_dir):
    man = write_manifest(tmp_path / "m.csv", [{"name": "good", "path": str(gen_dir / "good.mkv"), "split": "test"}])
    runner = CliRunner()
    base = ["extract", "--manifest", str(man), "--out", str(tmp_path / "s")]
    assert runner.invoke(cli, base + ["--extractors", "no-such-extractor"]).exit_code == 2
    assert runner.invoke(cli, base + ["--extractors", "test-visual", "--variants", "fog@9"]).exit_code == 2
    assert runner.invoke(cli, base + ["--extractors", "test-visual", "--variants", "no_such_corruption@1"]).exit_code == 2
    res = runner.invoke(cli, ["extract", "--help"])
    assert res.exit_code == 0
    for opt in ("--variants", "--crops", "--corrupted-dir", "--variant-split", "--precision", "--workers", "--gpu"):
        assert opt in res.output


def test_synthetic_dataset_extract_then_export(tmp_path):
    """The dataset layer's manifest goes straight into extract, and the store exports in the official layout."""
    synthetic = pytest.importorskip("robusta_bench.dataset.synthetic")
    from robusta_bench.store.xdviolence import export_xdviolence

    manifest = synthetic.make_synthetic_dataset(tmp_path / "synth", n_videos=4, seconds=2.0, size=(64, 48), test_fraction=0.5)
    runner = CliRunner()
    res = runner.invoke(cli, ["extract", "--manifest", str(manifest), "--extractors", "test-visual,test-audio",
                              "--variants", "clean,test_dark@2", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(manifest)
    store = FeatureStore(tmp_path / "s")
    assert sorted(store.names("test-visual", Variant())) == sorted(df.name)
    assert sorted(store.names("test-visual", Variant("test_dark", 2, 0))) == sorted(df.name[df.split == "test"])
    for row in df.itertuples():
        t = store.read("test-visual", Variant(), [row.name])[row.name].shape[1]
        assert t == P.n_snippets(int(row.frames)) == store.read("test-audio", Variant(), [row.name])[row.name].shape[1]
    rep = export_xdviolence(tmp_path / "s", tmp_path / "x")
    assert rep.videos == df.split.value_counts().to_dict()
    test_list = (tmp_path / "x" / "list" / "rgb_test.list").read_text().splitlines()
    names = [Path(p).name.rsplit("__", 1)[0] for p in test_list[::5]]
    violent = [("_label_A" not in n) for n in names]
    assert violent == sorted(violent, reverse=True)  # violent first, then normal


def test_corrupted_dir_from_the_real_corrupt_runner(clips_dir, tmp_path):
    """Files written by `corrupt` are decoded as they are: features equal the protocol applied to their frames/audio."""
    runner_mod = pytest.importorskip("robusta_bench.corruptions.runner")
    from robusta_bench.corruptions.base import corruption_names

    if not {"brightness", "white_noise"} <= set(corruption_names()):
        pytest.skip("brightness / white_noise not registered in this tree")
    row = {"name": "car2", "path": str(clips_dir / "car2.mp4"), "split": "test", "label": 1}
    rep = runner_mod.corrupt_videos(pd.DataFrame([row]), tmp_path / "c", types="brightness,white_noise", severities="2", seed=4)
    assert not rep.failed, rep.failed
    man = write_manifest(tmp_path / "m.csv", [row])
    res = extract(man, "test-visual,test-audio", "clean,brightness@2,white_noise@2", tmp_path / "s", crops=1, seed=4,
                  corrupted_dir=tmp_path / "c")
    assert res.ok, res.summary()
    store = FeatureStore(tmp_path / "s")
    table = pd.read_csv(tmp_path / "c" / "corrupt_manifest.csv").set_index("corruption")
    vis_file = tmp_path / "c" / table.loc["brightness", "output_path"]
    aud_file = tmp_path / "c" / table.loc["white_noise", "output_path"]
    np.testing.assert_array_equal(store.read("test-visual", Variant("brightness", 2, 4))["car2"],
                                  manual_visual(read_frames(vis_file, fps=24), ("center",)))
    t = store.read("test-visual", Variant())["car2"].shape[1]
    native, rate = read_audio(aud_file)
    want = _TestAudio().embed(P.audio_windows(P.to_model_audio(native, rate), t))
    np.testing.assert_array_equal(store.read("test-audio", Variant("white_noise", 2, 4))["car2"][0], want)
