"""Distributed runs: ``--shard K/N`` partitions and a local 2-CPU Ray instance give the store of one local run.

Extractors are the tiny deterministic ``scale-visual`` / ``scale-audio`` doubles of ``tests/scale_helpers.py`` (the
model is not the point); the media path (decode, corruptions, cutting, batching, commits) is the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import scale_helpers as sh
from robusta_bench.cli.main import cli
from robusta_bench.extraction.pipeline import extract
from robusta_bench.extraction.sharding import parse_shard, select_shard, shard_of
from robusta_bench.extraction.variants import read_videos

VARIANTS = "clean,brightness@2,white_noise@1"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist_media")
    man = sh.make_videos(d, 6)
    sh.make_71_clip(d / "v06.mp4")  # one video with (7.1) audio for the audio extractor
    df = pd.read_csv(man)
    df.loc[len(df)] = {"name": "v06", "path": "v06.mp4", "split": "test", "label": 1}
    df.to_csv(man, index=False)
    return man


@pytest.fixture(scope="module")
def local(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "store"
    extract(videos, "scale-visual,scale-audio", VARIANTS, out, crops=2, batch_size=3)
    return sh.store_content(out)


def test_shard_parsing_and_partition(videos):
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "x", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    vids = read_videos(videos)
    parts = [select_shard(vids, (k, 3)) for k in range(3)]
    assert sorted(v.name for p in parts for v in p) == sorted(v.name for v in vids)
    assert shard_of("v03", 3) == shard_of("v03", 3) and all(0 <= shard_of(v.name, 3) < 3 for v in vids)


def test_two_shards_equal_one_run(videos, local, tmp_path):
    out = tmp_path / "store"
    base = ["extract", "--manifest", str(videos), "--out", str(out), "--extractors", "scale-visual,scale-audio",
            "--variants", VARIANTS, "--crops", "2", "--batch-size", "3"]
    for k in (0, 1):
        res = CliRunner().invoke(cli, [*base, "--shard", f"{k}/2"])
        assert res.exit_code in (0, 1), res.output  # 1: the clips without audio fail the audio groups, as locally
    assert sh.store_content(out) == local
    assert CliRunner().invoke(cli, [*base, "--shard", "2/2"]).exit_code == 2


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    tests_dir = str(Path(__file__).resolve().parent)
    old = os.environ.get("PYTHONPATH")
    # Ray's workers are fresh interpreters: they must import the package and the test doubles
    os.environ["PYTHONPATH"] = os.pathsep.join([str(sh.ROOT), tests_dir] + ([old] if old else []))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.mark.parametrize("media", ["local", "tasks"])
def test_ray_on_two_local_cpus_equals_the_local_run(videos, local, tmp_path, ray_local, media):
    from robusta_bench.extraction.ray_runner import extract_ray

    out = tmp_path / "store"
    rep = extract_ray(videos, [sh.ScaleVisual(), sh.ScaleAudio()], VARIANTS, out, address="local",
                      videos_per_task=2, crops=2, batch_size=3, media=media)
    assert rep.videos == 7 and sum(rep.written.values()) > 0
    assert sh.store_content(out) == local
    again = extract_ray(videos, [sh.ScaleVisual(), sh.ScaleAudio()], VARIANTS, out, address="local", crops=2,
                        batch_size=3)
    assert sum(again.written.values()) == 0 and again.skipped == sum(rep.written.values())  # a rerun resumes


def _corrupt_outputs(out: Path) -> dict[str, str]:
    man = pd.read_csv(out / "corrupt_manifest.csv", keep_default_na=False)
    assert not man["error"].astype(str).str.len().any(), man
    return dict(zip(man["name"] + "/" + man["corruption"], man["sha256"]))


def test_corrupt_shards_and_ray_equal_one_local_run(videos, tmp_path, ray_local):
    base = ["corrupt", "--type", "brightness,contrast", "--severity", "2", "--manifest", str(videos)]
    assert CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "one")]).exit_code == 0
    one = _corrupt_outputs(tmp_path / "one")
    assert len(one) == 2 * 7
    for k in (0, 1):  # two array tasks into one --out
        assert CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "sh"), "--shard", f"{k}/2"]).exit_code == 0
    assert _corrupt_outputs(tmp_path / "sh") == one
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "ray"), "--ray"])
    assert res.exit_code == 0, res.output
    assert _corrupt_outputs(tmp_path / "ray") == one
