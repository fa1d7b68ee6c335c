"""A feature store shared by concurrent writers and killed ones: every video exactly once, nothing committed lost,
damaged shards refused by name.

Extraction runs are real ``robusta-bench extract`` processes (``tests/scale_helpers.py``: the CLI with a tiny
deterministic extractor, optionally slowed per batch) over tiny generated clips.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import scale_helpers as sh
import test_evaluate_support as sup
from robusta_bench.cli.main import cli
from robusta_bench.store.feature_store import FeatureStore, StoreError, Variant

ARGS = ["--extractors", "scale-visual", "--variants", "clean", "--crops", "2", "--batch-size", "2", "--workers", "1"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return sh.make_videos(tmp_path_factory.mktemp("scale_media"), 10)


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "store"
    res = subprocess.run(sh.cli_command("extract", "--manifest", str(videos), "--out", str(out), *ARGS),
                         env=sh.cli_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return sh.store_content(out)


def _start(manifest: Path, out: Path, sleep: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen(sh.cli_command("extract", "--manifest", str(manifest), "--out", str(out), *ARGS),
                            env=sh.cli_env(SCALE_SLEEP=str(sleep)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _written(stdout: str) -> int:
    return int(re.search(r"written (\d+) video-group", stdout).group(1))


@pytest.mark.parametrize("split", [("overlap", range(0, 7), range(3, 10)), ("disjoint", range(0, 5), range(5, 10))],
                         ids=lambda s: s[0])
def test_two_concurrent_extracts_store_every_video_once(videos, reference, tmp_path, split):
    _kind, a, b = split
    ma = sh.subset(videos, [f"v{i:02d}" for i in a], videos.parent / f"a_{_kind}.csv")
    mb = sh.subset(videos, [f"v{i:02d}" for i in b], videos.parent / f"b_{_kind}.csv")
    out = tmp_path / "store"
    pa_, pb = _start(ma, out, 0.05), _start(mb, out, 0.05)
    outs = [p.communicate() for p in (pa_, pb)]
    assert pa_.returncode == 0 and pb.returncode == 0, outs
    # each video's work was done once: the runs saw each other's claims and commits
    assert _written(outs[0][0]) + _written(outs[1][0]) == 10
    assert sh.store_content(out) == reference
    # shared metadata was updated under the lock: both runs' videos are recorded
    import pandas as pd

    assert sorted(pd.read_csv(out / "videos.csv")["name"]) == [f"v{i:02d}" for i in range(10)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_random_moments_then_rerun(videos, reference, tmp_path, seed):
    rng = random.Random(seed)
    out = tmp_path / "store"
    proc = _start(videos, out, sleep=0.04)
    logs = out / "scale-visual" / "clean" / "commits"
    if seed != 1:  # seed 1 kills at start-up, the others after a random number of commits
        t0 = time.monotonic()
        while not (logs.is_dir() and any(logs.iterdir())) and time.monotonic() - t0 < 120 and proc.poll() is None:
            time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    committed = sh.store_content(out) if (out / "store.json").exists() else {}
    assert len(committed) < 10  # killed mid-run
    res = subprocess.run(sh.cli_command("extract", "--manifest", str(videos), "--out", str(out), *ARGS),
                         env=sh.cli_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    final = sh.store_content(out)
    assert final == reference
    assert all(final[k] == v for k, v in committed.items())  # nothing committed before the kill was lost or redone
    assert _written(res.stdout) == 10 - len(committed)
    gdir = out / "scale-visual" / "clean"
    assert not list(gdir.glob(".part-*"))  # the killed writer's temp files were cleaned up
    assert not (gdir / "claims").exists() or not list((gdir / "claims").iterdir())  # and its claims
    assert not FeatureStore(out).verify("scale-visual", Variant())


@pytest.fixture
def flipped(tmp_path):
    with sup.registered_detectors():
        d = sup.make_dataset(tmp_path / "ds", n_train=8, n_test=6)
        store = FeatureStore(d["store"])
        ext = next(e for e, v in store.groups() if v.is_clean and store.index(e, v)["modality"] == "visual")
        f = store.index(ext, Variant())["files"][0]
        shard = store.group_dir(ext, Variant()) / f["path"]
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
        shard.write_bytes(bytes(data))
        yield d, shard


def test_flipped_byte_is_refused_by_evaluate_export_and_verify(flipped, tmp_path):
    d, shard = flipped
    runner = CliRunner()
    res = runner.invoke(cli, ["evaluate", "--method", "test-late", "--baseline", "test-concat", "--store", str(d["store"]),
                              "--manifest", str(d["manifest"]), "--annotations", str(d["annotations"]),
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and shard.name in res.output and "damaged" in res.output
    res = runner.invoke(cli, ["export", "--format", "xdviolence", str(d["store"]), str(tmp_path / "x"),
                              "--manifest", str(d["manifest"])])  # the splits (export refuses empty lists, issue 20)
    assert res.exit_code == 2 and shard.name in res.output
    res = runner.invoke(cli, ["verify", str(d["store"])])
    assert res.exit_code == 1 and "DAMAGED" in res.output and shard.name in res.output and "--repair" in res.output
    res = runner.invoke(cli, ["verify", str(d["store"]), "--repair"])
    assert res.exit_code == 0 and "DROPPED" in res.output and not shard.exists()
    res = runner.invoke(cli, ["verify", str(d["store"])])
    assert res.exit_code == 0, res.output


def test_read_refuses_a_truncated_or_missing_shard(tmp_path):
    store = FeatureStore(tmp_path, create=True)
    with store.writer("x", Variant(), spec_hash="h", modality="visual", feature_dim=4, n_crops=1) as w:
        w.write("a", np.ones((1, 3, 4), np.float32))
    store.close()
    shard = next((tmp_path / "x" / "clean").glob("part-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(StoreError, match=shard.name):
        store.read("x", Variant())
    shard.unlink()
    with pytest.raises(StoreError, match="missing shard"):
        store.read("x", Variant())


def test_torn_log_line_and_orphans_of_a_dead_writer_are_ignored_then_cleaned(tmp_path):
    store = FeatureStore(tmp_path, create=True)
    kw = dict(spec_hash="h", modality="visual", feature_dim=4, n_crops=1)
    with store.writer("x", Variant(), **kw) as w:
        w.write("a", np.ones((1, 3, 4), np.float32))
    store.close()
    gdir = tmp_path / "x" / "clean"
    dead = "deadhost-1-abcdef"
    (gdir / f"part-{dead}-000000.parquet").write_bytes(b"renamed but never logged")
    (gdir / f".part-{dead}-000001.parquet.tmp").write_bytes(b"half")
    (gdir / "commits" / f"{dead}.jsonl").write_text('{"op": "add", "path": "part-x')  # torn, no newline
    assert store.names("x", Variant()) == ["a"]
    with store.writer("x", Variant(), **kw) as w:  # the next writer cleans the dead writer's leftovers
        assert w.done == {"a"}
    store.close()
    assert sorted(p.name for p in gdir.glob("*part-*")) == [next(gdir.glob("part-*")).name]


def test_per_video_commits_are_merged_into_one_shard_on_close(tmp_path):
    store = FeatureStore(tmp_path, create=True)
    rng = np.random.default_rng(0)
    feats = {n: rng.standard_normal((2, 3 + i, 4)).astype(np.float32) for i, n in enumerate("abc")}
    with store.writer("x", Variant(), spec_hash="h", modality="visual", feature_dim=4, n_crops=2, flush_s=0.0) as w:
        for n, f in feats.items():
            w.write(n, f)
            assert n in FeatureStore(tmp_path).names("x", Variant())  # committed as soon as written
    store.close()
    gdir = tmp_path / "x" / "clean"
    assert len(list(gdir.glob("part-*.parquet"))) == 1
    assert store.names("x", Variant()) == ["a", "b", "c"]
    back = store.read("x", Variant())
    for n, f in feats.items():
        np.testing.assert_array_equal(back[n], f)
    assert not store.verify("x", Variant())


def test_claims_bind_only_while_their_writer_lives_and_before_expiry(tmp_path):
    from robusta_bench.store.claims import try_claim
    from robusta_bench.store.locks import WriterLease

    gdir = tmp_path / "g"
    gdir.mkdir()
    a, b = WriterLease(tmp_path).acquire(), WriterLease(tmp_path).acquire()
    assert try_claim(tmp_path, gdir, "v#1", a.id) is None
    assert try_claim(tmp_path, gdir, "v#1", b.id) == a.id  # live holder
    assert try_claim(tmp_path, gdir, "v#1", a.id) is None  # its own claim again
    a.release()  # a dies: its lease lock is gone
    assert try_claim(tmp_path, gdir, "v#1", b.id) is None  # taken over
    c = WriterLease(tmp_path).acquire()
    assert try_claim(tmp_path, gdir, "v2", c.id, lease_s=-1.0) is None  # already expired
    assert try_claim(tmp_path, gdir, "v2", b.id) is None
    b.release()
    c.release()
