"""Export to / import from the official XD-Violence .npy layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.store.xdviolence import export_xdviolence, import_xdviolence, official_order
from robusta_bench.store.feature_store import FeatureStore, Variant

NAMES = {
    # name: split
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": "test",
    "v=abc123__#1_label_A": "test",
    "Braveheart.1995__#00-56-30_00-57-20_label_B1-0-0": "test",
    "A.Beautiful.Mind.2001__#00-40-52_00-42-01_label_A": "test",
    "Deadpool.2016__#0-18-58_0-19-20_label_B1-0-0": "train",
    "v=zzz__#1_label_A": "train",
}


def _make_store(root, *, crops=5, vdim=16, adim=8, dtype="float32", variant=Variant()):
    rng = np.random.default_rng(1)
    store = FeatureStore(root, create=True)
    vis, aud = {}, {}
    with store.writer("i3d-inception", variant, spec_hash="vis123", modality="visual", feature_dim=vdim, n_crops=crops,
                      meta={"plan": "p1", "crops": crops}, dtype=dtype, shard_rows=30) as wv, \
         store.writer("vggish", variant, spec_hash="aud456", modality="audio", feature_dim=adim, n_crops=1,
                      meta={"plan": "p2"}, dtype=dtype, shard_rows=30) as wa:
        for i, name in enumerate(sorted(NAMES)):
            t = 3 + i
            vis[name] = rng.standard_normal((crops, t, vdim)).astype(np.float32)
            aud[name] = rng.standard_normal((1, t, adim)).astype(np.float32)
            wv.write(name, vis[name])
            wa.write(name, aud[name])
    pd.DataFrame([{"name": n, "split": s, "label": int("_label_A" not in n)} for n, s in NAMES.items()]).to_csv(root / "videos.csv", index=False)
    return store, vis, aud


def test_official_order_matches_the_official_lists(xd_dir):
    """videos.csv holds each video's index in the official list files: violent first, then normal."""
    df = pd.read_csv(xd_dir / "videos.csv")
    for split in ("train", "test"):
        part = df[df.split == split].sort_values("list_index")
        shuffled = part.name.sample(frac=1.0, random_state=0).tolist()
        assert official_order(shuffled) == part.name.tolist()


def test_export_layout_lists_and_pairing(tmp_path):
    _, vis, aud = _make_store(tmp_path / "s")
    rep = export_xdviolence(tmp_path / "s", tmp_path / "x")
    assert rep.visual == "i3d-inception" and rep.audio == "vggish"
    assert rep.videos == {"test": 4, "train": 2}
    out = tmp_path / "x"
    for name, arr in vis.items():
        for c in range(5):
            f = np.load(out / "rgb" / f"{name}__{c}.npy")
            assert f.dtype == np.float32
            np.testing.assert_array_equal(f, arr[c])
        np.testing.assert_array_equal(np.load(out / "audio" / f"{name}__vggish.npy"), aud[name][0])

    rgb = (out / "list" / "rgb_test.list").read_text().splitlines()
    audio = (out / "list" / "audio_test.list").read_text().splitlines()
    assert len(rgb) == 5 * len(audio) == 20
    # violent first (sorted), then normal (sorted); crops consecutive, 0..4
    expected = [
        "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6",
        "Braveheart.1995__#00-56-30_00-57-20_label_B1-0-0",
        "A.Beautiful.Mind.2001__#00-40-52_00-42-01_label_A",
        "v=abc123__#1_label_A",
    ]
    assert [Path(a).name for a in audio] == [f"{n}__vggish.npy" for n in expected]
    assert [Path(r).name for r in rgb] == [f"{n}__{c}.npy" for n in expected for c in range(5)]
    assert all(Path(r).is_absolute() and Path(r).exists() for r in rgb)
    # what the official MIX2 dataset does: rgb[i] pairs with audio[i // 5]
    for i, line in enumerate(rgb):
        v = np.load(line)
        a = np.load(audio[i // 5])
        assert Path(line).name.split("__")[:-1] == Path(audio[i // 5]).name.split("__")[:-1]
        assert v.shape[0] == a.shape[0]
        assert ("_label_A" in line) == ("_label_A" in audio[i // 5])
    train = (out / "list" / "rgb.list").read_text().splitlines()
    assert [Path(r).name for r in train[::5]] == ["Deadpool.2016__#0-18-58_0-19-20_label_B1-0-0__0.npy", "v=zzz__#1_label_A__0.npy"]


def test_round_trip_is_equal(tmp_path):
    store, vis, aud = _make_store(tmp_path / "s", dtype="float16")
    export_xdviolence(tmp_path / "s", tmp_path / "x")
    r1 = import_xdviolence(tmp_path / "x", tmp_path / "back", "i3d-inception")
    r2 = import_xdviolence(tmp_path / "x", tmp_path / "back", "vggish", dtype="float16")
    assert r1.ok and r2.ok and r1.written == r2.written == len(NAMES) and not r1.trimmed
    back = FeatureStore(tmp_path / "back")
    for ext in ("i3d-inception", "vggish"):
        a, b = store.read(ext, Variant()), back.read(ext, Variant())
        assert a.keys() == b.keys()
        for n in a:
            np.testing.assert_array_equal(a[n], b[n])
        ia, ib = store.index(ext, Variant()), back.index(ext, Variant())
        for key in ("spec_hash", "content_key", "n_crops", "feature_dim", "modality", "meta"):
            assert ia[key] == ib[key], key
    splits = pd.read_csv(tmp_path / "back" / "videos.csv")
    assert dict(zip(splits.name, splits.split)) == NAMES
    # importing again skips everything
    assert import_xdviolence(tmp_path / "x", tmp_path / "back", "i3d-inception").skipped == len(NAMES)


def test_export_of_a_corrupted_variant_and_list_root(tmp_path):
    _make_store(tmp_path / "s", variant=Variant("fog", 3, 0))
    rep = export_xdviolence(tmp_path / "s", tmp_path / "x", variant="fog@3", list_root="/data/feats")
    lines = (tmp_path / "x" / "list" / "rgb_test.list").read_text().splitlines()
    assert lines[0].startswith("/data/feats/rgb/") and rep.files == len(NAMES) * 6
    with pytest.raises(Exception, match="no features for variant"):
        export_xdviolence(tmp_path / "s", tmp_path / "y", variant="clean")
    only = export_xdviolence(tmp_path / "s", tmp_path / "z", variant="fog@3", audio_extractor="none")
    assert only.audio is None and not (tmp_path / "z" / "audio").exists() and "audio_test.list" not in only.lists


def _official_folder(root):
    """Official-style files: audio one row shorter than RGB for one video; list files give the splits."""
    rng = np.random.default_rng(2)
    rgb_dir, aud_dir = root / "i3d-features" / "RGBTest", root / "vggish-features" / "test"
    rgb_dir.mkdir(parents=True)
    aud_dir.mkdir(parents=True)
    shapes = {"Fury.2014__#00-07-30_00-07-58_label_G-0-0": (9, 8), "v=q__#1_label_A": (6, 6)}
    for name, (tv, ta) in shapes.items():
        for c in range(5):
            np.save(rgb_dir / f"{name}__{c}.npy", rng.standard_normal((tv, 1024)).astype(np.float32))
        np.save(aud_dir / f"{name}__vggish.npy", rng.standard_normal((ta, 128)).astype(np.float32))
    (root / "list").mkdir()
    (root / "list" / "rgb_test.list").write_text("".join(f"/media/x/RGBTest/{n}__{c}.npy\n" for n in shapes for c in range(5)))
    return shapes


def test_import_official_audio_one_row_shorter(tmp_path):
    shapes = _official_folder(tmp_path / "off")
    rep = import_xdviolence(tmp_path / "off", tmp_path / "s", "i3d-inception")
    assert rep.trimmed == ["Fury.2014__#00-07-30_00-07-58_label_G-0-0"]
    rep_a = import_xdviolence(tmp_path / "off", tmp_path / "s", "vggish")
    assert rep_a.ok and rep_a.modality == "audio"
    store = FeatureStore(tmp_path / "s")
    vis, aud = store.read("i3d-inception", Variant()), store.read("vggish", Variant())
    for name, (tv, ta) in shapes.items():
        assert vis[name].shape == (5, ta if tv - 1 == ta else tv, 1024)
        assert aud[name].shape == (1, ta, 128)
        assert vis[name].shape[1] == aud[name].shape[1]
    raw = np.load(tmp_path / "off" / "i3d-features" / "RGBTest" / "Fury.2014__#00-07-30_00-07-58_label_G-0-0__3.npy")
    np.testing.assert_array_equal(vis["Fury.2014__#00-07-30_00-07-58_label_G-0-0"][3], raw[:-1])
    splits = pd.read_csv(tmp_path / "s" / "videos.csv")
    assert set(splits.split) == {"test"}

    untrimmed = import_xdviolence(tmp_path / "off", tmp_path / "s2", "i3d-inception", trim=False)
    assert not untrimmed.trimmed
    assert FeatureStore(tmp_path / "s2").read("i3d-inception", Variant())["Fury.2014__#00-07-30_00-07-58_label_G-0-0"].shape == (5, 9, 1024)


def test_import_bad_file_recorded_by_name_cli(tmp_path):
    _official_folder(tmp_path / "off")
    (tmp_path / "off" / "i3d-features" / "RGBTest" / "v=q__#1_label_A__2.npy").unlink()
    res = CliRunner().invoke(cli, ["import", "--format", "xdviolence", str(tmp_path / "off"), str(tmp_path / "s"), "--extractor", "i3d-inception"])
    assert res.exit_code == 1, res.output
    assert "FAILED v=q__#1_label_A" in res.output and "crops [0, 1, 3, 4]" in res.output
    store = FeatureStore(tmp_path / "s")
    assert store.names("i3d-inception", Variant()) == ["Fury.2014__#00-07-30_00-07-58_label_G-0-0"]
    assert "v=q__#1_label_A" in store.errors("i3d-inception", Variant())


def test_cli_export_then_import(tmp_path):
    _make_store(tmp_path / "s")
    runner = CliRunner()
    res = runner.invoke(cli, ["export", "--format", "xdviolence", str(tmp_path / "s"), str(tmp_path / "x")])
    assert res.exit_code == 0, res.output
    assert "rgb_test.list" in res.output
    meta = json.loads((tmp_path / "x" / "robusta_export.json").read_text())
    assert meta["groups"]["visual"]["spec_hash"] == "vis123"
    res = runner.invoke(cli, ["import", str(tmp_path / "x"), str(tmp_path / "b"), "--extractor", "vggish"])
    assert res.exit_code == 0, res.output
    assert FeatureStore(tmp_path / "b").index("vggish", Variant())["spec_hash"] == "aud456"
    res = runner.invoke(cli, ["export", str(tmp_path / "s"), str(tmp_path / "y"), "--visual-extractor", "nope"])
    assert res.exit_code == 2
