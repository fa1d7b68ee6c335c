"""Feature store: round trip, resume after a crash, errors, schema guards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robusta_bench.store.feature_store import FeatureStore, StoreError, Variant


def _feats(rng, t, crops=5, dim=8):
    return rng.standard_normal((crops, t, dim)).astype(np.float32)


def _writer(store, variant=Variant(), **kw):
    args = dict(spec_hash="abc", modality="visual", feature_dim=8, n_crops=5, shard_rows=40)
    args.update(kw)
    return store.writer("i3d-inception", variant, **args)


def test_variant_parse():
    assert Variant.parse("clean").is_clean
    v = Variant.parse("fog@3", seed=2)
    assert (v.corruption, v.severity, v.seed, v.slug) == ("fog", 3, 2, "fog-s3-seed2")
    assert Variant.parse("fog-s3-seed2") == v
    assert Variant.parse("motion-blur@1").corruption == "motion_blur"
    for bad in ("fog@9", "fog@x", "fog"):
        with pytest.raises(ValueError):
            Variant.parse(bad)


def test_round_trip_and_plain_pyarrow_read(tmp_path):
    rng = np.random.default_rng(0)
    store = FeatureStore(tmp_path / "s", create=True)
    data = {f"v{i}": _feats(rng, t) for i, t in enumerate([3, 7, 1, 12])}
    with _writer(store) as w:
        for k, a in data.items():
            w.write(k, a)
    back = store.read("i3d-inception", Variant())
    assert list(back) == list(data)
    for k in data:
        np.testing.assert_array_equal(back[k], data[k])
    assert len(store.index("i3d-inception", Variant())["files"]) >= 2  # shard_rows=40 splits
    assert store.verify("i3d-inception", Variant()) == []
    # readable without this package
    df = pd.read_parquet(sorted((tmp_path / "s" / "i3d-inception" / "clean").glob("part-*.parquet"))[0])
    assert list(df.columns) == ["name", "crop", "segment", "feature"]
    first = df[df["name"] == "v0"]
    row0 = np.frombuffer(first.iloc[0]["feature"], dtype="<f4")
    np.testing.assert_array_equal(row0, data["v0"][0, 0])
    schema = pq.read_schema(next((tmp_path / "s" / "i3d-inception" / "clean").glob("part-*.parquet")))
    assert schema.field("feature").metadata == {b"dtype": b"float32", b"dim": b"8"}
    assert json.loads((tmp_path / "s" / "store.json").read_text())["schema_version"] == 2


def _write_schema1_group(root, name_arrays, dim=8, crops=5):
    """A group exactly as robusta-bench 0.1 wrote it: fixed_size_list<float32> features, zstd, schema 1."""
    import hashlib

    gdir = root / "i3d-inception" / "clean"
    gdir.mkdir(parents=True)
    (root / "store.json").write_text(json.dumps({"type": "feature_store", "schema_version": 1}))
    names, crop, seg, flat = [], [], [], []
    for n, a in name_arrays.items():
        c, t, _ = a.shape
        names += [n] * (c * t)
        crop.append(np.repeat(np.arange(c, dtype=np.int16), t))
        seg.append(np.tile(np.arange(t, dtype=np.int32), c))
        flat.append(a.reshape(-1))
    table = pa.table({
        "name": pa.array(names), "crop": pa.array(np.concatenate(crop)), "segment": pa.array(np.concatenate(seg)),
        "feature": pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(flat)), dim),
    })
    pq.write_table(table, gdir / "part-00000.parquet", compression="zstd")
    blob = (gdir / "part-00000.parquet").read_bytes()
    index = {
        "type": "feature_group", "schema_version": 1, "extractor": "i3d-inception", "modality": "visual",
        "feature_dim": dim, "n_crops": crops, "dtype": "float32", "spec_hash": "abc",
        "variant": Variant().to_dict(), "content_key": "k", "meta": {},
        "files": [{"path": "part-00000.parquet", "rows": table.num_rows, "bytes": len(blob),
                   "sha256": hashlib.sha256(blob).hexdigest(), "videos": list(name_arrays)}],
        "errors": {},
    }
    (gdir / "index.json").write_text(json.dumps(index))


def test_schema1_store_is_read_and_resumed_with_schema2_shards(tmp_path):
    rng = np.random.default_rng(5)
    old = {"a": _feats(rng, 4), "b": _feats(rng, 9)}
    _write_schema1_group(tmp_path, old)
    store = FeatureStore(tmp_path)
    back = store.read("i3d-inception", Variant())
    for k in old:
        np.testing.assert_array_equal(back[k], old[k])
    with _writer(store) as w:  # resume: the new shard uses schema 2, the old one stays
        assert w.done == {"a", "b"}
        new = _feats(rng, 6)
        w.write("c", new)
    kinds = [pq.read_schema(p).field("feature").type for p in sorted((tmp_path / "i3d-inception" / "clean").glob("part-*"))]
    assert pa.types.is_fixed_size_list(kinds[0]) and pa.types.is_fixed_size_binary(kinds[1])
    back = store.read("i3d-inception", Variant())
    np.testing.assert_array_equal(back["b"], old["b"])
    np.testing.assert_array_equal(back["c"], new)
    assert json.loads((tmp_path / "store.json").read_text())["schema_version"] == 2
    assert store.index("i3d-inception", Variant())["schema_version"] == 2
    assert store.verify("i3d-inception", Variant()) == []


def test_feature_column_with_wrong_width_is_refused():
    from robusta_bench.store.feature_store import shard_features

    col = pa.FixedSizeBinaryArray.from_buffers(pa.binary(12), 2, [None, pa.py_buffer(np.zeros(6, "<f4"))])
    field = pa.field("feature", pa.binary(12), metadata={"dtype": "float32", "dim": "4"})
    with pytest.raises(StoreError, match="cannot hold 4"):
        shard_features(col, field)
    ok = shard_features(col, pa.field("feature", pa.binary(12), metadata={"dtype": "float32", "dim": "3"}))
    assert ok.shape == (2, 3)
    with pytest.raises(StoreError, match="expected fixed_size_binary"):
        shard_features(pa.array([1.0, 2.0]))


def test_resume_after_crash_removes_orphans_and_skips_done(tmp_path):
    rng = np.random.default_rng(1)
    store = FeatureStore(tmp_path, create=True)
    w = _writer(store, shard_rows=10_000, flush_s=3600)  # commit only when asked
    w.write("a", _feats(rng, 4))
    w.flush()
    w.write("b", _feats(rng, 4))  # buffered, never committed: the "crash"
    gdir = tmp_path / "i3d-inception" / "clean"
    (gdir / "part-00007.parquet").write_bytes(b"half written")  # orphan shard
    w2 = _writer(store)
    assert w2.done == {"a"}
    assert not (gdir / "part-00007.parquet").exists()
    w2.write("b", _feats(rng, 4))
    w2.close()
    assert store.names("i3d-inception", Variant()) == ["a", "b"]
    with pytest.raises(StoreError):
        w3 = _writer(store)
        w3.write("a", _feats(rng, 2))


def test_errors_and_spec_mismatch(tmp_path):
    rng = np.random.default_rng(2)
    store = FeatureStore(tmp_path, create=True)
    with _writer(store) as w:
        w.fail("bad", "cannot decode")
        w.write("ok", _feats(rng, 2))
        with pytest.raises(ValueError):
            w.write("wrong", rng.standard_normal((5, 2, 9)).astype(np.float32))
    assert store.errors("i3d-inception", Variant()) == {"bad": "cannot decode"}
    with pytest.raises(StoreError, match="spec_hash"):
        _writer(store, spec_hash="other")
    with pytest.raises(StoreError, match="fog-s3-seed0"):
        store.read("i3d-inception", Variant("fog", 3, 0))


def test_newer_schema_refused(tmp_path):
    FeatureStore(tmp_path, create=True)
    (tmp_path / "store.json").write_text(json.dumps({"type": "feature_store", "schema_version": 99}))
    with pytest.raises(StoreError, match="upgrade"):
        FeatureStore(tmp_path)
    with pytest.raises(StoreError):
        FeatureStore(tmp_path / "nowhere")


def test_float16_storage(tmp_path):
    rng = np.random.default_rng(3)
    store = FeatureStore(tmp_path, create=True)
    a = _feats(rng, 5)
    with _writer(store, dtype="float16") as w:
        w.write("x", a)
    back = store.read("i3d-inception", Variant())["x"]
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, a, atol=2e-3)


def test_atomic_outputs_have_normal_permissions(tmp_path):
    import os
    import stat

    from robusta_bench.files import atomic_write_text

    atomic_write_text(tmp_path / "x.txt", "hi")
    mode = stat.S_IMODE(os.stat(tmp_path / "x.txt").st_mode)
    old = os.umask(0)
    os.umask(old)
    assert mode == 0o666 & ~old
