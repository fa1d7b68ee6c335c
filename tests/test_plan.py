"""Benchmark plans: nesting, stratification, mixed spread, files, the shipped v1 plan."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.corruptions.plan import (
    AUDIO_TYPES,
    FRACTIONS,
    PAIRS,
    VISUAL_TYPES,
    Plan,
    PlanError,
    load_plan,
    make_plan,
    plan_path,
)

ROOT = Path(__file__).resolve().parents[1]


def manifest(n_violent: int, n_normal: int, n_train: int = 7) -> pd.DataFrame:
    rows = []
    for i in range(n_violent):
        rows.append({"name": f"Film.{i:03d}__#00-00-{i % 60:02d}_label_B1-0-0", "label": 1, "split": "test"})
    for i in range(n_normal):
        rows.append({"name": f"v=n{i:03d},x__#1_label_A", "label": 0, "split": "test"})
    for i in range(n_train):
        rows.append({"name": f"train{i}", "label": i % 2, "split": "train"})
    df = pd.DataFrame(rows)
    # interleave so that test-list order is not label-sorted
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)


def largest_remainder(total: int, sizes: dict) -> dict:
    """Hamilton's split of ``total`` over labels in proportion to ``sizes`` (ties: smaller label first)."""
    n = sum(sizes.values())
    share = {lb: total * k / n for lb, k in sizes.items()}
    out = {lb: int(np.floor(s + 1e-9)) for lb, s in share.items()}
    by_remainder = sorted(sizes, key=lambda lb: (-round(share[lb] - out[lb], 9), str(lb)))
    for lb in by_remainder[: total - sum(out.values())]:
        out[lb] += 1
    return out


@pytest.mark.parametrize("sizes", [(500, 300), (37, 23), (5, 1), (1, 0)])
def test_nested_and_stratified(sizes):
    m = manifest(*sizes) if sizes[1] else manifest(sizes[0], 0)
    plan = make_plan(m, seed=3)
    test = m[m.split == "test"]
    assert plan.names == test["name"].tolist()  # test-list order = manifest order
    assert plan.corrupted(0.0) == [] and plan.corrupted(1.0) == plan.names
    n_label = test.groupby("label").size().to_dict()
    previous: set[str] = set()
    for f in (0.0, *FRACTIONS):
        names = plan.corrupted(f)
        assert previous <= set(names)  # nested
        previous = set(names)
        labels = test.set_index("name").loc[names, "label"]
        assert len(names) == int(np.floor(f * len(test) + 0.5))  # exact
        want = largest_remainder(int(np.floor(f * len(test) + 0.5)), n_label)
        for label in n_label:
            assert int((labels == label).sum()) == want[label]  # stratified
        assert names == [n for n in plan.names if n in previous]  # in test-list order
    # corrupted_from is the smallest planned fraction containing the video
    for f in FRACTIONS:
        by_column = set(plan.table.loc[plan.table.corrupted_from <= f + 1e-12, "name"])
        assert by_column == set(plan.corrupted(f))


def test_xd_sized_plan_has_exact_fractions():
    plan = make_plan(manifest(500, 300), seed=0)
    counts = [len(plan.corrupted(f)) for f in FRACTIONS]
    assert counts == [80, 240, 400, 560, 720, 800]
    summary = plan.summary()
    assert summary["label_1"].tolist() == [50, 150, 250, 350, 450, 500]


@pytest.mark.parametrize("sizes", [(500, 300), (37, 23), (61, 3)])
def test_mixed_types_are_spread_evenly_and_stable(sizes):
    plan = make_plan(manifest(*sizes), seed=11)
    for setting, key, types in (("mixed_visual", "visual", VISUAL_TYPES), ("mixed_audio", "audio", AUDIO_TYPES)):
        before: dict[str, str] = {}
        for f in FRACTIONS:
            a = plan.assignment(setting, f)
            got = collections.Counter(v[key] for v in a.values())
            counts = [got.get(t, 0) for t in types]
            assert max(counts) - min(counts) <= 1, (setting, f, counts)
            other = "audio" if key == "visual" else "visual"
            assert all(v[other] == "clean" for v in a.values())
            for name, v in a.items():  # a video keeps its type at every fraction
                assert before.setdefault(name, v[key]) == v[key]


def test_seeded():
    m = manifest(40, 20)
    a, b, c = make_plan(m, seed=0), make_plan(m, seed=0), make_plan(m, seed=1)
    assert a.table.equals(b.table)
    assert a.corrupted(0.3) != c.corrupted(0.3)
    # the plan does not depend on train rows or row order of other splits
    shuffled = pd.concat([m[m.split == "train"].iloc[::-1], m[m.split == "test"]])
    assert make_plan(shuffled, seed=0).table.equals(a.table)


def test_assignment_settings():
    plan = make_plan(manifest(30, 20), seed=2)
    names = plan.corrupted(0.5)
    a = plan.assignment("rain", 0.5)
    assert list(a) == names and all(v == {"visual": "rain", "audio": "clean"} for v in a.values())
    assert set(plan.assignment("babble", 0.5)[names[0]].values()) == {"babble", "clean"}
    assert plan.assignment("missing_visual", 0.5)[names[0]] == {"visual": "missing", "audio": "clean"}
    assert plan.assignment("missing_audio", 0.5)[names[0]] == {"visual": "clean", "audio": "missing"}
    for pair in PAIRS:
        vis, aud = pair.split("+")
        assert plan.assignment(pair, 0.5)[names[0]] == {"visual": vis, "audio": aud}
    assert plan.assignment("fog+missing", 1.0)[plan.names[0]] == {"visual": "fog", "audio": "missing"}
    assert plan.assignment("rain", 0.0) == {}
    for bad in ("nope", "babble+fog", "rain+nope"):
        with pytest.raises(PlanError):
            plan.assignment(bad, 0.5)
    with pytest.raises(PlanError, match="fraction"):
        plan.corrupted(1.5)


def test_file_round_trip(tmp_path):
    plan = make_plan(manifest(30, 20), seed=4, fractions=(0.25, 0.5, 1.0))
    path = plan.to_file(tmp_path / "p.csv")
    first = path.read_text().splitlines()[0]
    assert first.startswith("# robusta-bench plan {")
    back = Plan.from_file(path)
    assert back.table.equals(plan.table)
    assert (back.seed, back.fractions, back.split) == (4, (0.25, 0.5, 1.0), "test")
    assert back.corrupted(0.5) == plan.corrupted(0.5)
    # names with commas and '#' survive; plain pandas reads it with skiprows=1
    raw = pd.read_csv(path, skiprows=1)
    assert list(raw.columns) == ["name", "label", "rank", "corrupted_from", "mixed_visual", "mixed_audio"]
    assert raw["name"].tolist() == plan.names
    (tmp_path / "bad.csv").write_text("name,label\nx,1\n")
    with pytest.raises(PlanError, match="not a plan file"):
        Plan.from_file(tmp_path / "bad.csv")


def test_bad_manifests():
    with pytest.raises(PlanError, match="label"):
        make_plan(pd.DataFrame({"name": ["a"], "split": ["test"]}))
    with pytest.raises(PlanError, match="no 'test' videos"):
        make_plan(pd.DataFrame({"name": ["a"], "label": [1], "split": ["train"]}))
    with pytest.raises(PlanError, match="duplicate"):
        make_plan(pd.DataFrame({"name": ["a", "a"], "label": [1, 0], "split": ["test", "test"]}))


def test_shipped_v1_plan(xd_dir):
    plan = load_plan()
    assert plan_path() == ROOT / "manifests" / "plans" / "v1" / "xd_violence_test.csv"
    assert len(plan.table) == 800 and plan.seed == 0 and plan.version == "v1"
    assert [len(plan.corrupted(f)) for f in FRACTIONS] == [80, 240, 400, 560, 720, 800]
    videos = pd.read_csv(xd_dir / "videos.csv", keep_default_na=False)
    test = videos[videos.split == "test"].sort_values("list_index")
    assert plan.names == test["name"].tolist()  # official test-list order
    assert plan.table["label"].tolist() == test["label"].tolist()
    assert (plan.table["label"] == 1).sum() == 500
    # reproducible from the official list, and from the package's own list when shipped
    assert make_plan(videos, seed=0).table.equals(plan.table)
    own = ROOT / "manifests" / "xd_violence_v1.csv"
    if own.exists():
        from robusta_bench.manifest import read_table

        assert make_plan(read_table(own), seed=0).table.equals(plan.table)


def test_plan_cli(tmp_path):
    m = manifest(12, 8)
    m.to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "plan.csv"
    res = CliRunner().invoke(cli, ["plan", "--manifest", str(tmp_path / "m.csv"), "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "20 test videos" in res.output
    assert Plan.from_file(out).table.equals(make_plan(m, seed=5).table)
    res = CliRunner().invoke(cli, ["plan", "--manifest", str(tmp_path / "m.csv"), "--fractions", "0.2,x", "--out", str(out)])
    assert res.exit_code == 2


@pytest.mark.parametrize("sizes", [(4, 3), (5, 5), (3, 7), (500, 300), (17, 783)])
def test_every_plan_kind_corrupts_round_f_n_videos(sizes):
    """Issue 17: on 7, 10 and 800 videos, 0.1..1.0 corrupt round(f N) videos, stratified and nested."""
    m = manifest(*sizes)
    plan = make_plan(m, seed=5)
    test = m[m.split == "test"].set_index("name")
    n = len(test)
    n_label = test.groupby("label").size().to_dict()
    settings = ["fog", "babble", "mixed_visual", "mixed_audio", "missing_visual", "missing_audio", *PAIRS]
    before = {s: set() for s in settings}
    for step in range(1, 11):
        f = step / 10
        want_total = int(np.floor(f * n + 0.5))
        want = largest_remainder(want_total, n_label)
        for setting in settings:
            names = set(plan.assignment(setting, f))
            assert len(names) == want_total, (setting, f)
            got = test.loc[sorted(names), "label"].value_counts().to_dict()
            assert {lb: got.get(lb, 0) for lb in n_label} == want, (setting, f)
            assert before[setting] <= names, (setting, f)
            before[setting] = names


def test_ten_videos_match_the_issue_example():
    """5 normal + 5 violent: 0.3 corrupts 3 videos and 0.5 corrupts 5 (it used to be 4 and 6)."""
    plan = make_plan(manifest(5, 5), seed=0)
    assert [len(plan.corrupted(f)) for f in (0.1, 0.3, 0.5, 0.7, 0.9)] == [1, 3, 5, 7, 9]
    assert plan.summary()["label_1"].tolist() == [0, 1, 2, 3, 4, 5]  # ties go to label 0 first
