"""I3D ResNet-50: architecture (names, shapes, reductions), strict weight import, extractor contract.

No weights ship for this network, so everything runs on random weights; the
user's ``i3d_r50_kinetics.pth`` is imitated by a state dict with its key layout.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from robusta_bench.models import i3d_resnet50 as r50  # noqa: E402
from robusta_bench.models import zoo  # noqa: E402
from robusta_bench.models.extractor import get_extractor_class, load_spec  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def random_state(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in r50.i3d_resnet50_state_shapes().items():
        if name.endswith("running_var"):
            a = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("weight") and len(shape) == 1:
            a = rng.uniform(0.2, 0.6, shape)  # BN scales < 1 keep the residual stream bounded
        elif len(shape) == 5:
            a = rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        else:
            a = rng.normal(0, 0.05, shape)
        out[name] = a.astype(np.float32)
    return out


@pytest.fixture(scope="module")
def state():
    return random_state(0)


@pytest.fixture(scope="module")
def extractor(state):
    return r50.I3DResNet50(state_dict=state)


# --------------------------------------------------------------------------- architecture

def test_key_names_and_shapes():
    sd = r50.create_i3d_resnet50().state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes == r50.i3d_resnet50_state_shapes()
    # the layout of REFERENCE §6 (Caffe2 baseline, RTFM's i3d_r50_kinetics.pth)
    assert shapes["conv1.weight"] == (64, 3, 5, 7, 7)
    assert shapes["fc.weight"] == (400, 2048)
    inflated = {1: [1, 1, 1], 2: [1, 0, 1, 0], 3: [1, 0, 1, 0, 1, 0], 4: [0, 1, 0]}
    for layer, pattern in inflated.items():
        for b, temporal in enumerate(pattern):
            assert shapes[f"layer{layer}.{b}.conv1.weight"][2:] == ((3 if temporal else 1), 1, 1)
            assert shapes[f"layer{layer}.{b}.conv2.weight"][2:] == (1, 3, 3)
        assert f"layer{layer}.{len(pattern)}.conv1.weight" not in shapes
        assert shapes[f"layer{layer}.0.downsample.0.weight"][2:] == (1, 1, 1)
        assert f"layer{layer}.0.downsample.1.running_var" in shapes
        assert f"layer{layer}.1.downsample.0.weight" not in shapes
    assert shapes["layer4.2.bn3.weight"] == (2048,)
    # stem conv + BN, 16 bottlenecks x (3 convs + 3 BN x 4), 4 downsamples x (conv + BN x 4), fc
    assert len(shapes) == 5 + 16 * (3 + 3 * 4) + 4 * (1 + 4) + 2
    assert not any("num_batches_tracked" in k for k in shapes)


def test_reductions_16x224(extractor):
    """16x224x224: conv1 (stride 2) -> 8x112, pool (2,3,3)/2 -> 4x55, pool (2,1,1) -> 2x55,
    layer2..4 halve space -> 2x7x7."""
    assert r50.layer4_size(16, 224, 224) == (2, 7, 7)
    clip = np.random.default_rng(1).integers(0, 256, (1, 16, 224, 224, 3), dtype=np.uint8)
    fmap = extractor.feature_map(clip)
    assert fmap.shape == (1, 2, 7, 7, 2048)
    feat = extractor.embed(clip)
    assert feat.shape == (1, 2048) and feat.dtype == np.float32
    # the feature is the global average of the layer4 map
    np.testing.assert_allclose(feat[0], fmap[0].mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,expected", [((32, 224, 224), (4, 7, 7)), ((16, 256, 340), (2, 8, 11)), ((8, 112, 112), (1, 4, 4))])
def test_reductions_other_sizes(size, expected):
    assert r50.layer4_size(*size) == expected


def test_too_small_input_is_a_clear_error(extractor):
    with pytest.raises(ValueError, match="too small"):
        r50.layer4_size(6, 224, 224)
    with pytest.raises(ValueError, match="too small"):
        extractor.embed(np.zeros((1, 4, 64, 64, 3), np.uint8))


def test_small_clip_runs_and_batches_agree(extractor):
    rng = np.random.default_rng(2)
    clips = rng.integers(0, 256, (3, 8, 112, 112, 3), dtype=np.uint8)
    f = extractor.embed(clips)
    assert f.shape == (3, 2048) and np.isfinite(f).all()
    single = extractor.embed(clips[1:2])
    np.testing.assert_allclose(f[1], single[0], rtol=1e-4, atol=1e-4 * np.abs(f).max())
    assert extractor.logits(clips).shape == (3, 400)
    assert extractor.embed(clips[:0]).shape == (0, 2048)


def test_bn_folding_keeps_features(state):
    clips = np.random.default_rng(3).integers(0, 256, (1, 8, 96, 96, 3), dtype=np.uint8)
    a = r50.I3DResNet50(state_dict=state, fold_bn=False).embed(clips)
    b = r50.I3DResNet50(state_dict=state, fold_bn=True).embed(clips)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(a).max())


def test_normalization_and_channel_order(state):
    clips = np.random.default_rng(4).integers(0, 256, (1, 8, 96, 96, 3), dtype=np.uint8)
    caffe = r50.I3DResNet50(state_dict=state)
    unit = r50.I3DResNet50(state_dict=state, normalization="unit")
    fa = caffe.embed(clips)
    assert np.abs(fa - unit.embed(clips)).max() > 1e-3 * np.abs(fa).max()
    bgr = np.ascontiguousarray(clips[..., ::-1])
    assert np.abs(fa - caffe.embed(bgr)).max() > 1e-3 * np.abs(fa).max()
    # the documented normalisation: (x - 114.75) / 57.375 on 0-255 pixels
    x = caffe._input(clips)
    np.testing.assert_allclose(x[0, :, 0, 0, 0].numpy(), (clips[0, 0, 0, 0].astype(np.float32) - 114.75) / 57.375, rtol=1e-6)
    with pytest.raises(ValueError, match="normalization"):
        r50.I3DResNet50(state_dict=state, normalization="imagenet")


def test_registered_and_spec():
    cls = get_extractor_class("i3d-resnet50")
    assert cls is r50.I3DResNet50
    assert cls.describe() == {"modality": "visual", "feature_dim": 2048, "n_crops": 10, "version": 1}
    spec = load_spec("i3d-resnet50")
    assert spec["feature_dim"] == 2048 and spec["n_crops"] == 10
    assert spec["preprocessing"]["crop_order"] == "ten_crop"
    assert spec["weights"][spec["weights"]["default"]]["source"] == "user"


# --------------------------------------------------------------------------- strict import

def save_pth(path, state, extra=None, drop=None):
    sd = {k: torch.from_numpy(v) for k, v in state.items()}
    for k in [k for k in sd if k.endswith("running_var")]:
        sd[k.replace("running_var", "num_batches_tracked")] = torch.tensor(100)
    if drop:
        del sd[drop]
    sd.update(extra or {})
    torch.save(sd, path)


def test_import_pth_strict_and_load(tmp_path, monkeypatch, state):
    monkeypatch.setenv("ROBUSTA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(zoo.WeightsNotCached, match="robusta-bench weights import i3d-resnet50 FILE"):
        r50.I3DResNet50()
    f = tmp_path / "i3d_r50_kinetics.pth"
    save_pth(f, state)
    path = zoo.import_weights("i3d-resnet50", f)
    assert path.name.startswith("kinetics-")
    ex = r50.I3DResNet50(fold_bn=False)
    got = ex.model.state_dict()
    np.testing.assert_array_equal(got["layer3.4.conv1.weight"].numpy(), state["layer3.4.conv1.weight"])
    np.testing.assert_array_equal(got["fc.bias"].numpy(), state["fc.bias"])
    assert ex.weights_sha256 == zoo.state_sha256(state)


@pytest.mark.parametrize("broken,match", [
    ({"drop": "layer2.0.downsample.1.running_mean"}, "missing"),
    ({"extra": {"layer3.1.nl.theta.weight": torch.zeros(512, 1024, 1, 1, 1)}}, "non-local"),
    ({"extra": {"layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1, 1)}}, "shape"),
])
def test_import_rejects_missing_extra_or_misshaped(tmp_path, monkeypatch, state, broken, match):
    monkeypatch.setenv("ROBUSTA_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "bad.pth"
    save_pth(f, state, **broken)
    with pytest.raises(zoo.ZooError, match=match):
        zoo.import_weights("i3d-resnet50", f)
    assert zoo.cached_path("i3d-resnet50") is None


def test_strict_load_into_model(state):
    model = r50.create_i3d_resnet50()
    bad = dict(state)
    bad["fc.extra"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="unexpected"):
        r50.load_state(model, bad)
    bad = {k: v for k, v in state.items() if k != "bn1.weight"}
    with pytest.raises(ValueError, match="missing"):
        r50.load_state(model, bad)


# --------------------------------------------------------------------------- independent reference

def reference_net(state):
    """The pytorch-resnet3d layout written with stock torch modules (BatchNorm3d eps 1e-5, MaxPool3d)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c_in, width, stride, temporal, down):
            super().__init__()
            self.conv1 = nn.Conv3d(c_in, width, (1 + 2 * temporal, 1, 1), padding=(temporal, 0, 0), bias=False)
            self.bn1 = nn.BatchNorm3d(width)
            self.conv2 = nn.Conv3d(width, width, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
            self.bn2 = nn.BatchNorm3d(width)
            self.conv3 = nn.Conv3d(width, 4 * width, 1, bias=False)
            self.bn3 = nn.BatchNorm3d(4 * width)
            self.downsample = nn.Sequential(
                nn.Conv3d(c_in, 4 * width, 1, (1, stride, stride), bias=False), nn.BatchNorm3d(4 * width)
            ) if down else None

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv3d(3, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), bias=False)
            self.bn1 = nn.BatchNorm3d(64)
            self.pool1 = nn.MaxPool3d((2, 3, 3), (2, 2, 2))
            self.pool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))
            c = 64
            for i, (w, pat, s) in enumerate([(64, [1, 1, 1], 1), (128, [1, 0, 1, 0], 2),
                                             (256, [1, 0, 1, 0, 1, 0], 2), (512, [0, 1, 0], 2)], 1):
                blocks = []
                for b, t in enumerate(pat):
                    blocks.append(Block(c, w, s if b == 0 else 1, t, b == 0))
                    c = 4 * w
                setattr(self, f"layer{i}", nn.Sequential(*blocks))
            self.fc = nn.Linear(2048, 400)

        def forward(self, x):
            x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool2(self.layer1(x))
            x = self.layer4(self.layer3(self.layer2(x)))
            return nn.functional.adaptive_avg_pool3d(x, 1).flatten(1)

    net = Net().eval()
    missing, unexpected = net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return net


def test_matches_stock_torch_reference(state):
    clips = np.random.default_rng(7).integers(0, 256, (2, 8, 112, 112, 3), dtype=np.uint8)
    x = torch.from_numpy((clips.astype(np.float32) - 114.75) / 57.375).permute(0, 4, 1, 2, 3)
    with torch.inference_mode():
        want = reference_net(state)(x).numpy()
    for fold in (False, True):
        got = r50.I3DResNet50(state_dict=state, fold_bn=fold).embed(clips)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# --------------------------------------------------------------------------- Caffe2 pickle import

def caffe2_blobs(state):
    """Name ``state`` the way the Caffe2 video-nonlocal-net model zoo pickles do."""
    suffix = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    blobs = {}
    for k, v in state.items():
        p = k.split(".")
        if k == "conv1.weight":
            name = "conv1_w"
        elif p[0] == "bn1":
            name = f"res_conv1_bn_{suffix[p[1]]}"
        elif p[0] == "fc":
            name = f"pred_{'w' if p[1] == 'weight' else 'b'}"
        else:
            stem = f"res{int(p[0][5:]) + 1}_{p[1]}"
            if p[2] == "downsample":
                name = f"{stem}_branch1_w" if p[3] == "0" else f"{stem}_branch1_bn_{suffix[p[4]]}"
            else:
                br = "abc"[int(p[2][-1]) - 1]
                name = f"{stem}_branch2{br}_w" if p[2].startswith("conv") else f"{stem}_branch2{br}_bn_{suffix[p[3]]}"
        blobs[name] = v
    return blobs


def test_import_caffe2_pickle_gives_the_same_weights(tmp_path, monkeypatch, state):
    import pickle

    monkeypatch.setenv("ROBUSTA_CACHE", str(tmp_path / "cache"))
    blobs = caffe2_blobs(state)
    assert len(blobs) == len(state)
    blobs["res3_1_branch2a_w_momentum"] = np.zeros(3, np.float32)  # optimiser state: dropped
    blobs["lr"] = np.float32(0.1)
    f = tmp_path / "i3d_baseline_32x2_IN_pretrain_400k.pkl"
    f.write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    zoo.import_weights("i3d-resnet50", f)
    loaded = zoo.load_weights("i3d-resnet50")
    assert loaded.keys() == state.keys()
    for k in state:
        np.testing.assert_array_equal(loaded[k], state[k])
    # the non-local variant is refused
    blobs["nonlocal_conv3_1_theta_w"] = np.zeros((512, 1024, 1, 1, 1), np.float32)
    f.write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    with pytest.raises(zoo.ZooError, match="non-local"):
        zoo.import_weights("i3d-resnet50", f)


def test_caffe2_pickle_with_code_is_refused(tmp_path, monkeypatch):
    import os
    import pickle

    monkeypatch.setenv("ROBUSTA_CACHE", str(tmp_path / "cache"))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    f = tmp_path / "evil.pkl"
    f.write_bytes(pickle.dumps({"blobs": {"conv1_w": Evil()}}, protocol=2))
    with pytest.raises(zoo.ZooError, match="refusing"):
        zoo.import_weights("i3d-resnet50", f)
    assert not (tmp_path / "pwned").exists()
