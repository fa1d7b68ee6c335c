"""The pipeline with the real extractors: random weights always, cached weights when fetched.

Random weights exercise the real architectures through the pipeline (shapes,
alignment, batching) without the weights cache; the checks against the
reference fixtures run only when ``robusta-bench weights fetch`` has put the
weights in the cache, and skip with the reason otherwise.
"""

from __future__ import annotations

import importlib
import inspect
import sys

import av
import numpy as np
import pytest

from robusta_bench.extraction import protocol as P
from robusta_bench.extraction.pipeline import build_extractor, extract
from robusta_bench.store.feature_store import FeatureStore, Variant
from robusta_bench.extraction.variants import VideoItem
from robusta_bench.media.decode import read_audio


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(n)


def _module(name: str):
    try:
        return importlib.import_module(f"robusta_bench.models.{name}")
    except ModuleNotFoundError as exc:
        pytest.skip(f"robusta_bench.models.{name} is not in this tree ({exc})")


def _random_extractor(module_name: str, cls_name_contains: str):
    """The module's extractor class bound to random weights of its own builder."""
    import torch

    mod = _module(module_name)
    from robusta_bench.models.extractor import Extractor

    classes = [c for c in vars(mod).values() if inspect.isclass(c) and issubclass(c, Extractor) and c is not Extractor
               and c.__module__ == mod.__name__ and cls_name_contains in c.__name__.lower()]
    builders = [f for n, f in vars(mod).items() if n.startswith("create_") and callable(f)]
    if not classes or not builders or "state_dict" not in inspect.signature(classes[0]).parameters:
        pytest.skip(f"{module_name}: no state_dict constructor / create_* builder to bind random weights")
    torch.manual_seed(0)
    sd = {k: v.detach().numpy().copy() for k, v in builders[0]().state_dict().items()}
    return classes[0](state_dict=sd)


def _cached(name: str):
    """The extractor with its weights from the cache; skip (saying how to fetch) when they are not there."""
    _module(name.replace("-", "_"))
    zoo = _module("zoo")
    try:
        return build_extractor(name)
    except zoo.WeightsNotCached as exc:
        pytest.skip(f"{name} weights not in the cache ({exc.command})")


def _frames(path) -> int:
    with av.open(str(path)) as c:
        return c.streams.video[0].frames


def test_yamnet_random_weights_through_the_pipeline(clips_dir, tmp_path):
    ext = _random_extractor("yamnet", "yamnet")
    path = clips_dir / "fighting2.mp4"  # 640x268, 6-channel 48 kHz
    rep = extract([VideoItem("fighting2", path, "test")], [ext], "clean", tmp_path / "s", batch_size=7)
    assert rep.ok, rep.summary()
    got = FeatureStore(tmp_path / "s").read("yamnet", Variant())["fighting2"]
    t = (_frames(path) - 1) // 16
    assert got.shape == (1, t, 1024)
    native, rate = read_audio(path)
    want = ext.embed(P.audio_windows(P.to_model_audio(native, rate), t))
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_vggish_random_weights_through_the_pipeline(clips_dir, tmp_path):
    ext = _random_extractor("vggish", "vggish")
    path = clips_dir / "car2.mp4"
    rep = extract([VideoItem("car2", path, "test")], [ext], "clean", tmp_path / "s", batch_size=5)
    assert rep.ok, rep.summary()
    got = FeatureStore(tmp_path / "s").read(ext.name, Variant())["car2"]
    assert got.shape == (1, (_frames(path) - 1) // 16, ext.feature_dim)


def test_i3d_inception_random_weights_shapes(clips_dir, tmp_path):
    ext = _random_extractor("i3d_inception", "inception")
    path = clips_dir / "car2.mp4"
    rep = extract([VideoItem("car2", path, "test")], [ext], "clean", tmp_path / "s", crops=1, batch_size=4)
    assert rep.ok, rep.summary()
    got = FeatureStore(tmp_path / "s").read(ext.name, Variant())["car2"]
    assert got.shape == (1, (_frames(path) - 1) // 16, 1024)


def test_i3d_inception_pipeline_reproduces_the_fixture(clips_dir, fixtures_dir, tmp_path):
    """Snippet 1 of explosion1 (frames 16..31), centre crop, through the whole pipeline = the Flax reference feature."""
    ext = _cached("i3d-inception")
    ref = np.load(fixtures_dir / "i3d_inception_k400_reference.npz")["feature"]
    path = clips_dir / "explosion1.mp4"
    rep = extract([VideoItem("explosion1", path, "test")], [ext], "clean", tmp_path / "s", crops=1, batch_size=4, limit=1)
    assert rep.ok, rep.summary()
    got = FeatureStore(tmp_path / "s").read("i3d-inception", Variant())["explosion1"]
    assert got.shape == (1, 10, 1024)
    assert np.abs(got[0, 1] - ref).max() <= 1e-4


def test_yamnet_cached_weights_on_a_clip(clips_dir, tmp_path):
    ext = _cached("yamnet")
    path = clips_dir / "n1.mp4"
    rep = extract([VideoItem("n1", path, "test")], [ext], "clean", tmp_path / "s", batch_size=32)
    assert rep.ok, rep.summary()
    got = FeatureStore(tmp_path / "s").read("yamnet", Variant())["n1"]
    assert got.shape == (1, (_frames(path) - 1) // 16, 1024) and np.isfinite(got).all()
    assert sys.modules.get("tensorflow") is None
