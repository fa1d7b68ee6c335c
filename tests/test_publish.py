"""``publish``: release layout, index contents, verification, selection, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from robusta_bench import BENCHMARK_VERSION
from robusta_bench.cli.distribute import publish_cmd
from robusta_bench.distribute import PublishError, SelectionError, parse_release, publish
from robusta_bench.store.feature_store import FeatureStore, Variant

SPEC = {"name": "i3d-inception", "weights": {"sha256": "0" * 64}, "frames": 16, "fps": 24}


def _spec_hash(spec: dict) -> str:
    # the documented definition: first 12 hex of sha256 of the canonical JSON
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def _build_store(root: Path) -> dict:
    rng = np.random.default_rng(3)
    store = FeatureStore(root, create=True)
    data = {}
    for extractor, variant, crops, dim, spec in [
        ("i3d-inception", Variant(), 5, 12, _spec_hash(SPEC)),
        ("i3d-inception", Variant("fog", 3, 0), 5, 12, _spec_hash(SPEC)),
        ("i3d-inception", Variant("shot_noise", 5, 1), 5, 12, _spec_hash(SPEC)),
        ("vggish", Variant(), 1, 4, "vggish-spec"),
    ]:
        with store.writer(
            extractor, variant, spec_hash=spec, modality="visual" if crops == 5 else "audio",
            feature_dim=dim, n_crops=crops, shard_rows=120,
        ) as w:
            for i in range(4):
                arr = rng.standard_normal((crops, 10 + 4 * i, dim)).astype(np.float32)
                w.write(f"v{i}", arr)
                data[(extractor, variant.slug, f"v{i}")] = arr
    return data


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    return root, _build_store(root)


def _shards(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.glob("*/*/part-*.parquet"))}


def test_release_layout_and_index(store, tmp_path, monkeypatch):
    root, data = store
    specs = tmp_path / "extractors"
    specs.mkdir()
    (specs / "i3d-inception.json").write_text(json.dumps(SPEC))
    monkeypatch.setenv("ROBUSTA_EXTRACTORS", str(specs))
    out = tmp_path / "rel"
    index_path = publish(root, out)
    assert index_path == out / "release.json"
    rel = json.loads(index_path.read_text())
    assert rel["type"] == "robusta_release" and rel["schema_version"] == 1
    assert rel["benchmark_version"] == BENCHMARK_VERSION
    shards = _shards(root)
    assert sorted(f["path"] for f in rel["files"]) == sorted(shards)
    for f in rel["files"]:
        raw = shards[f["path"]].read_bytes()
        assert f["bytes"] == len(raw) and f["sha256"] == hashlib.sha256(raw).hexdigest()
        assert f["path"].split("/")[:2] == [f["extractor"], f["variant"]]
        assert (out / f["path"]).read_bytes() == raw
        assert (out / f["path"]).stat().st_ino == shards[f["path"]].stat().st_ino  # hardlinked (same fs)
    assert rel["total_bytes"] == sum(f["bytes"] for f in rel["files"])
    assert {f["variant"] for f in rel["files"]} == {"clean", "fog-s3-seed0", "shot_noise-s5-seed1"}
    # extractor specs: from the group indexes, plus the spec file when present
    i3d = rel["extractors"]["i3d-inception"]
    assert (i3d["feature_dim"], i3d["n_crops"], i3d["modality"]) == (12, 5, "visual")
    assert i3d["spec"] == SPEC and i3d["spec_matches_shards"] is True
    assert rel["extractors"]["vggish"]["spec"] is None
    # group indexes verbatim, store marker, sha256sum-style list
    for g in rel["groups"]:
        raw = (root / g["index_path"]).read_bytes()
        assert (out / g["index_path"]).read_bytes() == raw
        assert g["index_sha256"] == hashlib.sha256(raw).hexdigest()
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    # the release folder is itself a readable store
    back = FeatureStore(out)
    for (extractor, slug, name), arr in data.items():
        np.testing.assert_array_equal(back.read(extractor, Variant.parse(slug), [name])[name], arr)
    assert len(parse_release(rel).groups) == 4


def test_copy_mode_and_deterministic_index(store, tmp_path):
    root, _ = store
    a = publish(root, tmp_path / "a")
    b = publish(root, tmp_path / "b", link=False)
    assert a.read_bytes() == b.read_bytes()
    for rel, src in _shards(root).items():
        copy = tmp_path / "b" / rel
        assert copy.read_bytes() == src.read_bytes() and copy.stat().st_ino != src.stat().st_ino


def test_selection_and_unknown_names(store, tmp_path):
    root, _ = store
    index = publish(root, tmp_path / "rel", variants="clean,fog@3", extractors=["i3d-inception"])
    rel = json.loads(index.read_text())
    assert sorted(g["variant_key"] for g in rel["groups"]) == ["clean", "fog-s3-seed0"]
    assert {f["extractor"] for f in rel["files"]} == {"i3d-inception"}
    assert not (tmp_path / "rel" / "vggish").exists()
    with pytest.raises(SelectionError) as err:
        publish(root, tmp_path / "x", variants="rain@1")
    assert "fog-s3-seed0" in str(err.value) and "shot_noise-s5-seed1" in str(err.value)
    with pytest.raises(SelectionError, match="vggish"):
        publish(root, tmp_path / "x", extractors="yamnet")
    assert not (tmp_path / "x").exists()


def test_republish_updates_release_and_drops_old_files(store, tmp_path):
    root, _ = store
    out = tmp_path / "rel"
    publish(root, out)
    publish(root, out, variants="clean")
    rel = json.loads((out / "release.json").read_text())
    assert {f["variant"] for f in rel["files"]} == {"clean"}
    assert not (out / "i3d-inception" / "fog-s3-seed0").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*/part-*.parquet")) == sorted(
        f["path"] for f in rel["files"]
    )


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_corrupted_store_refused_nothing_written(store, tmp_path, damage):
    root, _ = store
    rel, shard = next(iter(_shards(root).items()))
    raw = shard.read_bytes()
    if damage == "flip":
        shard.write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    elif damage == "truncate":
        shard.write_bytes(raw[:-10])
    else:
        shard.unlink()
    out = tmp_path / "rel"
    with pytest.raises(PublishError) as err:
        publish(root, out)
    assert rel in str(err.value) and "corrupted" in str(err.value)
    assert not out.exists()
    res = CliRunner().invoke(publish_cmd, [str(root), "--out", str(out)])
    assert res.exit_code == 1 and rel in res.stderr
    assert not out.exists()


def test_bad_output_folders(store, tmp_path):
    root, _ = store
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(PublishError, match="not empty"):
        publish(root, busy)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    with pytest.raises(PublishError, match="store itself"):
        publish(root, root)
    res = CliRunner().invoke(publish_cmd, [str(tmp_path / "nostore"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "not a feature store" in res.stderr


def test_cli_publish(store, tmp_path):
    root, _ = store
    res = CliRunner().invoke(publish_cmd, [str(root), "--out", str(tmp_path / "rel"), "--variants", "clean", "--copy"])
    assert res.exit_code == 0, res.output
    assert "published 2 group(s)" in res.output and "release.json" in res.output
    res = CliRunner().invoke(publish_cmd, [str(root), "--out", str(tmp_path / "o2"), "--variants", "fog"])
    assert res.exit_code == 2 and "fog" in res.output
    help_text = CliRunner().invoke(publish_cmd, ["--help"]).output
    for opt in ("--out", "--variants", "--extractors", "--copy"):
        assert opt in help_text
