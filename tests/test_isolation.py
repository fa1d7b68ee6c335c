"""Native crashes in one video's media work fail that video only; 7.1 (8-channel) AAC audio is extracted.

The 7.1 clip is generated with PyAV here (H.264 + 8-channel AAC at 48 kHz in .mp4): reading it through
PyAV's planar frames used to kill the process with a segmentation fault.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scale_helpers as sh
from robusta_bench.cli.main import cli
from robusta_bench.extraction import protocol as P
from robusta_bench.extraction.pipeline import extract
from robusta_bench.media import decode
from robusta_bench.store.feature_store import FeatureStore, Variant


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("iso")
    sh.make_71_clip(d / "surround.mp4")
    sh.make_clip(d / "a.mp4", 40, 1)
    sh.make_clip(d / "crash_me.mp4", 40, 2)
    sh.make_clip(d / "b.mp4", 56, 3)
    return d


def _manifest(d: Path, names) -> Path:
    path = d / f"m_{'_'.join(names)}.csv"
    pd.DataFrame([{"name": n, "path": f"{n}.mp4", "split": "test"} for n in names]).to_csv(path, index=False)
    return path


def test_71_aac_track_is_read_with_all_channels(media):
    samples, rate = decode.read_audio(media / "surround.mp4")
    assert samples.shape[0] == 8 and rate == 48000 and samples.shape[1] >= 2 * 48000
    assert np.abs(samples).max(axis=1).min() > 0.01  # every channel carries its tone (LFE low-passed by AAC)


def test_71_clip_is_extracted_with_the_documented_downmix(media, tmp_path):
    rep = extract(_manifest(media, ["surround"]), "scale-visual,scale-audio", "clean", tmp_path / "s", crops=1)
    assert rep.ok, rep.summary()
    store = FeatureStore(tmp_path / "s")
    vis = store.read("scale-visual", Variant())["surround"]
    aud = store.read("scale-audio", Variant())["surround"]
    assert aud.shape[:2] == (1, vis.shape[1])  # one audio window per snippet
    samples, rate = decode.read_audio(media / "surround.mp4")
    mono = samples.mean(axis=0, dtype=np.float64)[None]  # the downmix: equal-weight mean of all 8 channels
    windows = P.audio_windows(P.to_model_audio(mono.astype(np.float32), rate, P.OFFICIAL), vis.shape[1], P.OFFICIAL)
    np.testing.assert_allclose(aud[0], sh.ScaleAudio().embed(windows), rtol=1e-5, atol=1e-6)


def _crashing(kind):
    real = decode.iter_frames

    def iter_frames(path, *a, **kw):
        if "crash_me" in str(path):
            if kind == "segv":
                ctypes.string_at(0)  # a null-pointer read: SIGSEGV, as a crash inside FFmpeg would be
            os.abort()
        return real(path, *a, **kw)

    return iter_frames


@pytest.mark.parametrize("kind,signame", [("segv", "SIGSEGV"), ("abort", "SIGABRT")])
def test_native_crash_fails_that_video_only(media, tmp_path, monkeypatch, kind, signame):
    monkeypatch.setattr(decode, "iter_frames", _crashing(kind))
    man = _manifest(media, ["a", "crash_me", "b"])
    res = CliRunner().invoke(cli, ["extract", "--manifest", str(man), "--out", str(tmp_path / "s"), "--extractors",
                                   "scale-visual", "--crops", "1", "--workers", "1"])
    assert res.exit_code == 1, res.output
    assert f"FAILED crash_me [scale-visual/clean]: media worker for crash_me died: {signame}" in res.output
    store = FeatureStore(tmp_path / "s")
    assert sorted(store.names("scale-visual", Variant())) == ["a", "b"]
    assert signame in store.errors("scale-visual", Variant())["crash_me"]


def test_isolated_and_in_process_runs_are_identical(media, tmp_path):
    man = _manifest(media, ["a", "surround", "b"])
    kw = dict(crops=2, batch_size=3)
    extract(man, "scale-visual,scale-audio", "clean", tmp_path / "iso", isolate=True, **kw)
    extract(man, "scale-visual,scale-audio", "clean", tmp_path / "inproc", isolate=False, **kw)
    assert sh.store_content(tmp_path / "iso") == sh.store_content(tmp_path / "inproc")


def test_corrupt_turns_a_crash_into_an_error_row(media, tmp_path, monkeypatch):
    from robusta_bench.corruptions.runner import corrupt_videos

    monkeypatch.setattr(decode, "iter_frames", _crashing("segv"))
    rows = [{"name": n, "path": f"{n}.mp4", "split": "test", "label": k % 2} for k, n in enumerate(["a", "crash_me", "b", "surround"])]
    pd.DataFrame(rows).to_csv(media / "cm.csv", index=False)
    (tmp_path / "out" / "brightness-s2-seed0").mkdir(parents=True)
    leftover = tmp_path / "out" / "brightness-s2-seed0" / ".a.mp4.x1y2.part.mp4"  # of a killed earlier run
    leftover.write_bytes(b"partial")
    rep = corrupt_videos(media / "cm.csv", tmp_path / "out", types="brightness", severities="2", fraction=1.0)
    failed = {r["name"]: r["error"] for r in rep.failed}
    assert list(failed) == ["crash_me"] and "SIGSEGV" in failed["crash_me"]
    assert sorted(r["name"] for r in rep.done) == ["a", "b", "surround"]
    assert not leftover.exists()
    man = pd.read_csv(tmp_path / "out" / "corrupt_manifest.csv", keep_default_na=False)
    assert sorted(man["name"]) == ["a", "b", "crash_me", "surround"]


def test_corrupt_audio_of_a_71_clip(media, tmp_path):
    from robusta_bench.corruptions.runner import corrupt_videos

    rows = [{"name": "surround", "path": "surround.mp4", "split": "test", "label": 1}]
    pd.DataFrame(rows).to_csv(media / "c71.csv", index=False)
    rep = corrupt_videos(media / "c71.csv", tmp_path / "out", types="white_noise", severities="1", fraction=1.0)
    assert not rep.failed, rep.failed
    out, rate = decode.read_audio(Path(rep.done[0]["output_path"]) if Path(rep.done[0]["output_path"]).is_absolute()
                                  else tmp_path / "out" / rep.done[0]["output_path"])
    assert out.shape[0] == 8 and rate == 48000


def test_forking_media_workers_keeps_numpy_blas_single_threaded():
    """OpenBLAS can deadlock a parent's threaded call after fork (OpenBLAS#5520): the pool is set to 1 first."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from robusta_bench.extraction.isolation import call_isolated

    if not any(i["internal_api"] == "openblas" for i in threadpool_info()):
        pytest.skip("NumPy is not linked to OpenBLAS here")
    with threadpool_limits(limits=2, user_api="blas"):  # restored afterwards, for the other tests
        ok, value = call_isolated(lambda x: float((x @ x.T).sum()), np.ones((64, 64)))
        assert ok and value == 64.0**3
        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
        a = np.random.default_rng(0).standard_normal((300, 300))
        assert np.allclose(a @ a.T, (a @ a.T).T)  # the parent's products after the fork still run
