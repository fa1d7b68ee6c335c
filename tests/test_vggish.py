"""VGGish port: weight conversion from both official formats, NHWC flatten, postprocessing.

No official weights exist offline, so the test writes fake files with the
official key names and shapes: a torchvggish ``.pth`` (torch layout) and a
TF1 ``vggish_model.ckpt`` (a V1 checkpoint written by a small writer in this
test) from the same random TF-layout weights, plus the PCA files.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from robusta_bench.models import audio_frontend as af  # noqa: E402
from robusta_bench.models.extractor import get_extractor_class  # noqa: E402
from robusta_bench.models.tensorbundle import TABLE_MAGIC, TensorBundleError, crc32c, mask_crc  # noqa: E402
from robusta_bench.models.vggish import (  # noqa: E402
    VGGish,
    convert_user_file,
    create_vggish,
    postprocess,
    vggish_state_shapes,
)

TF_CONVS = [
    ("vggish/conv1", 1, 64),
    ("vggish/conv2", 64, 128),
    ("vggish/conv3/conv3_1", 128, 256),
    ("vggish/conv3/conv3_2", 256, 256),
    ("vggish/conv4/conv4_1", 256, 512),
    ("vggish/conv4/conv4_2", 512, 512),
]
TF_FCS = [("vggish/fc1/fc1_1", 12288, 4096), ("vggish/fc1/fc1_2", 4096, 4096), ("vggish/fc2", 4096, 128)]
TORCH_NAMES = ["features.0", "features.3", "features.6", "features.8", "features.11", "features.13",
               "embeddings.0", "embeddings.2", "embeddings.4"]


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


# --------------------------------------------------------------------------- fake official files

@pytest.fixture(scope="module")
def tf_vars() -> dict[str, np.ndarray]:
    """Random VGGish weights in the TF checkpoint's names and layouts (He-scaled)."""
    rng = np.random.default_rng(2017)
    v = {}
    for scope, cin, cout in TF_CONVS:
        w = rng.standard_normal((3, 3, cin, cout), dtype=np.float32) * np.sqrt(2 / (9 * cin))
        v[f"{scope}/weights"] = w.astype(np.float32)
        v[f"{scope}/biases"] = rng.uniform(-0.05, 0.05, cout).astype(np.float32)
    for scope, n_in, n_out in TF_FCS:
        v[f"{scope}/weights"] = (rng.standard_normal((n_in, n_out), dtype=np.float32) * np.float32(np.sqrt(2 / n_in)))
        v[f"{scope}/biases"] = rng.uniform(-0.05, 0.05, n_out).astype(np.float32)
    return v


@pytest.fixture(scope="module")
def pca() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return (rng.standard_normal((128, 128)) * 0.3).astype(np.float32), rng.uniform(0, 0.5, 128).astype(np.float32)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(num: int, payload: bytes) -> bytes:
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def _vi(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def _shape(shape) -> bytes:
    return b"".join(_ld(2, _vi(1, d)) for d in shape)


def _slice(extents) -> bytes:
    # extents: list of (start, length) or None (full dimension)
    out = b""
    for e in extents:
        out += _ld(1, b"" if e is None else (_vi(1, e[0]) if e[0] else b"") + _vi(2, e[1]))
    return out


def _table(entries: list[tuple[bytes, bytes]]) -> bytes:
    """One data block per entry, an index block, empty metaindex, footer (LevelDB table format)."""
    out = bytearray()

    def block(items):
        content = bytearray()
        for k, v in items:
            content += _varint(0) + _varint(len(k)) + _varint(len(v)) + k + v
        content += struct.pack("<I", 0) + struct.pack("<I", 1)
        off = len(out)
        out.extend(content)
        out.extend(b"\x00" + struct.pack("<I", mask_crc(crc32c(bytes(content) + b"\x00"))))
        return off, len(content)

    index = []
    for k, v in sorted(entries):
        off, n = block([(k, v)])
        index.append((k, _varint(off) + _varint(n)))
    moff, mn = block([])
    ioff, i_n = block(index)
    handles = _varint(moff) + _varint(mn) + _varint(ioff) + _varint(i_n)
    out += handles + bytes(40 - len(handles)) + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out)


def write_v1_checkpoint(path, tensors: dict[str, np.ndarray], split: str | None = None) -> None:
    """A TF1 V1 checkpoint: metadata under the empty key, one SavedSlice per entry.

    ``split`` names a 2-D tensor stored as two row slices (exercises slice assembly).
    """
    meta = b""
    entries = []
    for name, arr in sorted(tensors.items()):
        full = _slice([None] * arr.ndim)
        meta += _ld(1, _ld(1, name.encode()) + _ld(2, _shape(arr.shape)) + _vi(3, 1) + _ld(4, full))
        parts = [((0, arr.shape[0]), arr)]
        if name == split:
            h = arr.shape[0] // 3
            parts = [((0, h), arr[:h]), ((h, arr.shape[0] - h), arr[h:])]
        for (start, length), piece in parts:
            extents = [(start, length)] + [None] * (arr.ndim - 1)
            tensor = _vi(1, 1) + _ld(2, _shape(piece.shape)) + _ld(5, np.ascontiguousarray(piece, "<f4").tobytes())
            saved = _ld(1, name.encode()) + _ld(2, _slice(extents)) + _ld(3, tensor)
            entries.append((b"\x00" + name.encode() + struct.pack(">Q", start), _ld(2, saved)))
    entries.append((b"", _ld(1, meta + _ld(2, _vi(1, 1)))))
    path.write_bytes(_table(entries))


def to_torchvggish(tf_vars: dict[str, np.ndarray]) -> dict[str, "torch.Tensor"]:
    sd = {}
    scopes = [s for s, *_ in TF_CONVS] + [s for s, *_ in TF_FCS]
    for scope, tname in zip(scopes, TORCH_NAMES, strict=True):
        w = tf_vars[f"{scope}/weights"]
        w = np.transpose(w, (3, 2, 0, 1)) if w.ndim == 4 else w.T
        sd[f"{tname}.weight"] = torch.from_numpy(np.ascontiguousarray(w))
        sd[f"{tname}.bias"] = torch.from_numpy(tf_vars[f"{scope}/biases"].copy())
    return sd


@pytest.fixture(scope="module")
def files(tmp_path_factory, tf_vars, pca):
    d = tmp_path_factory.mktemp("vggish_files")
    torch.save(to_torchvggish(tf_vars), d / "vggish-10086976.pth")
    # torchvggish's PCA file holds plain numpy arrays
    torch.save({"pca_eigen_vectors": pca[0], "pca_means": pca[1]}, d / "vggish_pca_params-970ea276.pth")
    write_v1_checkpoint(d / "vggish_model.ckpt", tf_vars, split="vggish/fc1/fc1_2/weights")
    np.savez(d / "vggish_pca_params.npz", pca_eigen_vectors=pca[0].astype(np.float64), pca_means=pca[1].reshape(-1, 1))
    return d


@pytest.fixture(scope="module")
def state_torch(files):
    return convert_user_file({"file": files / "vggish-10086976.pth", "pca": files / "vggish_pca_params-970ea276.pth"})


@pytest.fixture(scope="module")
def state_tf(files):
    return convert_user_file({"file": files / "vggish_model.ckpt", "pca": files / "vggish_pca_params.npz"})


# --------------------------------------------------------------------------- numpy reference (TF layout)

def _conv_same_nhwc(x, w, b):
    n, h, wd, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.stack([xp[:, i : i + h, j : j + wd, :] for i in range(3) for j in range(3)], axis=3)
    return np.maximum(cols.reshape(n, h, wd, 9 * c) @ w.reshape(9 * c, -1) + b, 0)


def _pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def reference_forward(tf_vars, examples, flatten="nhwc"):
    x = examples[..., None].astype(np.float64)
    for i, (scope, _ci, _co) in enumerate(TF_CONVS):
        x = _conv_same_nhwc(x, tf_vars[f"{scope}/weights"].astype(np.float64), tf_vars[f"{scope}/biases"])
        if i in (0, 1, 3, 5):
            x = _pool(x)
    x = x.reshape(len(x), -1) if flatten == "nhwc" else x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    for scope, *_ in TF_FCS:
        x = np.maximum(x @ tf_vars[f"{scope}/weights"].astype(np.float64) + tf_vars[f"{scope}/biases"], 0)
    return x


# --------------------------------------------------------------------------- tests

def test_registered():
    assert get_extractor_class("vggish") is VGGish
    assert VGGish.describe() == {"modality": "audio", "feature_dim": 128, "n_crops": 1, "version": 1}


def test_both_official_formats_convert_to_identical_weights(state_torch, state_tf):
    shapes = vggish_state_shapes()
    assert set(state_torch) == set(state_tf) == set(shapes) | {"pca.eigen_vectors", "pca.means"}
    for k, shape in shapes.items():
        assert state_torch[k].shape == shape
        np.testing.assert_array_equal(state_torch[k], state_tf[k], err_msg=k)
    np.testing.assert_array_equal(state_torch["pca.means"], state_tf["pca.means"])
    np.testing.assert_allclose(state_torch["pca.eigen_vectors"], state_tf["pca.eigen_vectors"])
    net = create_vggish()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == shapes


def test_network_matches_tf_layout_reference_nhwc(state_torch, state_tf, tf_vars):
    rng = np.random.default_rng(8)
    ex = rng.uniform(-6, 1, (2, 96, 64)).astype(np.float32)
    a = VGGish(state_dict=state_torch, postprocess="none").forward_examples(ex)
    b = VGGish(state_dict=state_tf, postprocess="none").forward_examples(ex)
    np.testing.assert_array_equal(a, b)  # torch-layout and TF-layout files: same outputs
    ref = reference_forward(tf_vars, ex)
    assert a.shape == (2, 128) and a.dtype == np.float32
    scale = np.abs(ref).max()
    assert scale > 0
    np.testing.assert_allclose(a, ref, atol=1e-4 * scale)
    # the flatten order matters: an NCHW flatten gives clearly different embeddings
    wrong = reference_forward(tf_vars, ex, flatten="nchw")
    assert np.abs(wrong - ref).max() > 100 * 1e-4 * scale


def test_final_relu_flag(state_torch):
    ex = np.random.default_rng(3).uniform(-6, 1, (4, 96, 64)).astype(np.float32)
    with_relu = VGGish(state_dict=state_torch, final_relu=True).forward_examples(ex)
    linear = VGGish(state_dict=state_torch, final_relu=False).forward_examples(ex)
    assert (with_relu >= 0).all() and (linear < 0).any()
    np.testing.assert_allclose(np.maximum(linear, 0), with_relu, atol=1e-6)


def test_postprocess_formula(pca):
    e, mu = pca
    x = np.random.default_rng(1).uniform(0, 1, (6, 128)).astype(np.float32)
    pcaed = (e.astype(np.float64) @ (x.T - mu.reshape(-1, 1))).T  # vggish_postprocess.py's formula
    np.testing.assert_allclose(postprocess(x, e, mu, quantize=False), pcaed, rtol=1e-5, atol=1e-5)
    q = np.clip(pcaed, -2, 2)
    q = (q + 2) * 255.0 / 4.0
    got_round = postprocess(x, e, mu, quantize=True, rounding="round")
    got_floor = postprocess(x, e, mu, quantize=True, rounding="floor")
    np.testing.assert_array_equal(got_round, np.round(q))
    np.testing.assert_array_equal(got_floor, q.astype(np.uint8))  # TF: astype(uint8)
    assert got_round.min() >= 0 and got_round.max() <= 255
    with pytest.raises(ValueError):
        postprocess(x, e, mu, rounding="nearest")


def test_embed_contract_and_postprocess_modes(state_torch):
    rng = np.random.default_rng(4)
    batch = (rng.standard_normal((3, af.WINDOW_SAMPLES)) * 0.1).astype(np.float32)
    raw = VGGish(state_dict=state_torch, postprocess="none")
    emb = raw.embed(batch)
    assert emb.shape == (3, 128) and emb.dtype == np.float32
    # embed = the window's padded 96-frame example through the network
    np.testing.assert_allclose(emb, raw.forward_examples(af.window_patches(batch, 0.01)), atol=0)
    silence = raw.patches(np.zeros((1, af.WINDOW_SAMPLES), np.float32))
    np.testing.assert_array_equal(silence, np.full((1, 96, 64), np.log(0.01), np.float32))
    q = VGGish(state_dict=state_torch, postprocess="pca_quantize").embed(batch)
    assert q.shape == (3, 128) and q.dtype == np.float32
    assert np.array_equal(q, np.round(q)) and q.min() >= 0 and q.max() <= 255
    p = VGGish(state_dict=state_torch, postprocess="pca").embed(batch)
    np.testing.assert_allclose(
        p, postprocess(emb, state_torch["pca.eigen_vectors"], state_torch["pca.means"], quantize=False), atol=1e-4
    )
    assert raw.embed(np.zeros((0, af.WINDOW_SAMPLES), np.float32)).shape == (0, 128)
    # the options are part of the instance description (and so of the store key)
    assert raw.describe()["postprocess"] == "none"
    assert VGGish.describe()["feature_dim"] == 128
    # whole-waveform official framing: 3 s -> 3 examples
    assert raw.embed_waveform(np.zeros(48000, np.float32)).shape == (3, 128)


def test_bad_configurations_are_reported(state_torch, files, tmp_path):
    net_only = {k: v for k, v in state_torch.items() if not k.startswith("pca.")}
    with pytest.raises(ValueError, match="PCA parameters"):
        VGGish(state_dict=net_only, postprocess="pca")
    with pytest.raises(ValueError, match="postprocess must be"):
        VGGish(state_dict=state_torch, postprocess="whiten")
    sd = torch.load(files / "vggish-10086976.pth", weights_only=True)
    del sd["features.8.weight"]
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="conv3_2.weight"):
        convert_user_file({"file": tmp_path / "broken.pth"})
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(ValueError, match="junk.ckpt"):
        convert_user_file({"file": tmp_path / "junk.ckpt"})
    with pytest.raises(ValueError, match="duplicates"):
        convert_user_file({"a": files / "vggish_pca_params.npz", "b": files / "vggish_pca_params-970ea276.pth"})
    with pytest.raises(ValueError, match="missing.pth"):
        convert_user_file({"file": tmp_path / "missing.pth"})


def test_v1_reader_on_a_small_checkpoint(tmp_path):
    from robusta_bench.models.tensorbundle import read_v1_checkpoint

    rng = np.random.default_rng(0)
    tensors = {"a/w": rng.standard_normal((7, 3)).astype(np.float32), "b": np.arange(4, dtype=np.float32)}
    write_v1_checkpoint(tmp_path / "small.ckpt", tensors, split="a/w")
    got = read_v1_checkpoint(tmp_path / "small.ckpt")
    assert set(got) == set(tensors)
    for k, v in tensors.items():
        np.testing.assert_array_equal(got[k], v)
    bad = bytearray((tmp_path / "small.ckpt").read_bytes())
    bad[20] ^= 0xFF  # inside the first data block: its checksum no longer matches
    (tmp_path / "bad.ckpt").write_bytes(bytes(bad))
    with pytest.raises(TensorBundleError, match="bad.ckpt.*checksum"):
        read_v1_checkpoint(tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="bad.ckpt"):
        convert_user_file({"file": tmp_path / "bad.ckpt"})
    # a valid checkpoint without the VGGish variables is reported by name
    with pytest.raises(ValueError, match="vggish/conv1/weights"):
        convert_user_file({"file": tmp_path / "small.ckpt"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(state_torch):
    ex = np.random.default_rng(2).uniform(-6, 1, (4, 96, 64)).astype(np.float32)
    cpu = VGGish(state_dict=state_torch).forward_examples(ex)
    gpu = VGGish(state_dict=state_torch, device="cuda").forward_examples(ex)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3 * max(1.0, np.abs(cpu).max()))
