"""Feature store: round trip, resume after a crash, errors, schema guards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from robusta_bench.features.store import FeatureStore, StoreError, Variant


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
    df = pd.read_parquet(next((tmp_path / "s" / "i3d-inception" / "clean").glob("part-*.parquet")))
    assert list(df.columns) == ["name", "crop", "segment", "feature"]
    assert len(df.iloc[0]["feature"]) == 8


def test_resume_after_crash_removes_orphans_and_skips_done(tmp_path):
    rng = np.random.default_rng(1)
    store = FeatureStore(tmp_path, create=True)
    w = _writer(store, shard_rows=10_000)
    w.write("a", _feats(rng, 4))
    w.flush()
    w.write("b", _feats(rng, 4))  # buffered, never flushed: the "crash"
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
