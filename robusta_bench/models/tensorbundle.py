"""Read TensorFlow TensorBundle checkpoints with numpy alone (no TensorFlow).

A TensorBundle (what ``tf.train.Checkpoint`` / SavedModel ``variables/`` and
TF1 ``.ckpt`` files are) is a pair of files:

- ``<prefix>.index``: an SSTable (the LevelDB table format). Data blocks hold
  sorted key/value entries with prefix-compressed keys and restart points; an
  index block points at the data blocks; a 48-byte footer ends the file with a
  magic number. Every block is followed by a 1-byte compression type and a
  masked CRC-32C. The key is the tensor name, the value a serialized
  ``BundleEntryProto`` (dtype, shape, shard_id, offset, size, crc32c). The
  empty key holds the ``BundleHeaderProto`` (number of shards, endianness).
- ``<prefix>.data-<shard>-of-<num_shards>``: the raw tensor bytes,
  little-endian, concatenated; each entry says where its bytes are.

The protobuf messages are decoded by hand from the wire format (varint,
64-bit, length-delimited and 32-bit fields). Only uncompressed blocks (type 0)
occur in TensorFlow's own writer; snappy-compressed blocks are rejected with a
clear error. Each tensor's bytes are checked against its masked CRC-32C
(computed with a vectorised numpy CRC-32C, about 250 MB/s).

TF1 "V1" checkpoints (one SSTable file whose values are ``SavedTensorSlices``
protos carrying the data inline, e.g. the official ``vggish_model.ckpt``) are
read by :func:`read_v1_checkpoint`; :func:`read_checkpoint` picks the format.

Public API: :func:`read_tensorbundle`, :func:`read_v1_checkpoint`,
:func:`read_checkpoint`, :func:`read_bundle_index`, :func:`iter_table`,
:func:`is_sstable`, :class:`BundleEntry`, :func:`crc32c`, :func:`mask_crc`,
:func:`unmask_crc`, :class:`TensorBundleError`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "BundleEntry",
    "TensorBundleError",
    "crc32c",
    "mask_crc",
    "unmask_crc",
    "read_bundle_index",
    "read_tensorbundle",
    "read_v1_checkpoint",
    "read_checkpoint",
    "iter_table",
    "is_sstable",
    "resolve_prefix",
    "DTYPES",
    "TABLE_MAGIC",
]

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 40 bytes + 8-byte magic
BLOCK_TRAILER_SIZE = 5  # compression type byte + masked crc32c
_MASK_DELTA = 0xA282EAD8

# TensorFlow DataType enum values -> numpy dtypes (little-endian).
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    8: np.dtype("<c8"),  # DT_COMPLEX64
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    18: np.dtype("<c16"),  # DT_COMPLEX128
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
DT_STRING = 7
_DTYPE_NAMES = {7: "string", 14: "bfloat16", 20: "resource", 21: "variant"}


class TensorBundleError(ValueError):
    """A TensorBundle file is malformed, truncated, corrupt or unsupported."""


# --------------------------------------------------------------------------- crc32c

def _make_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> np.uint32(1)) ^ np.uint32(0x82F63B78), t >> np.uint32(1))
    return t.astype(np.uint32)


_TABLE = _make_table()
_TABLE_LIST = [int(v) for v in _TABLE]
_BITS = np.arange(32, dtype=np.uint32)


def _raw_update_py(reg: int, data: bytes) -> int:
    tab = _TABLE_LIST
    for b in data:
        reg = tab[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _apply(cols: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Apply the GF(2) 32x32 matrix with columns ``cols`` to every value in ``v``."""
    v = np.asarray(v, dtype=np.uint32)
    sel = ((v[..., None] >> _BITS) & np.uint32(1)).astype(bool)
    return np.bitwise_xor.reduce(np.where(sel, cols, np.uint32(0)), axis=-1).astype(np.uint32)


def _zeros_matrix_1() -> np.ndarray:
    """Columns of the linear map 'feed one zero byte' on the raw CRC register."""
    basis = (np.uint32(1) << _BITS).astype(np.uint32)
    return (_TABLE[basis & np.uint32(0xFF)] ^ (basis >> np.uint32(8))).astype(np.uint32)


_M1 = _zeros_matrix_1()


def _zeros_matrix(nbytes: int) -> np.ndarray:
    """Columns of 'feed ``nbytes`` zero bytes' (binary exponentiation of one step)."""
    result = (np.uint32(1) << _BITS).astype(np.uint32)  # identity
    power = _M1
    while nbytes:
        if nbytes & 1:
            result = _apply(power, result)
        nbytes >>= 1
        if nbytes:
            power = _apply(power, power)
    return result


def _slicing_tables() -> tuple[np.ndarray, ...]:
    """Slicing-by-4 tables: ``T[k][b]`` = register after byte ``b`` then ``k`` zero bytes."""
    tabs = [_TABLE]
    for _ in range(3):
        prev = tabs[-1]
        tabs.append((_TABLE[prev & np.uint32(0xFF)] ^ (prev >> np.uint32(8))).astype(np.uint32))
    return tuple(tabs)


_T4 = _slicing_tables()


def _raw_crc_parallel(data: np.ndarray) -> int:
    """Raw CRC-32C register (initial register 0, no final xor) of a long buffer.

    The buffer is front-padded with zeros (which leave a zero register
    unchanged) into ``K = 2**p`` equal chunks (lanes) whose length is a
    multiple of 4. All lanes advance in lock-step, one little-endian 32-bit
    word per step (slicing-by-4), and the lane CRCs are then combined pairwise
    with the 'shift by n zero bytes' matrices. About 250 MB/s.
    """
    n = data.size
    k = 1
    while k < 8192 and n // (2 * k) >= 256:
        k *= 2
    chunk = -(-n // k)
    chunk = -(-chunk // 4) * 4
    if n == k * chunk:
        padded = data
    else:
        padded = np.zeros(k * chunk, dtype=np.uint8)
        padded[k * chunk - n :] = data
    # (chunk/4, k) strided view: step i reads word i of every lane (a transposed
    # copy would cost more than it saves)
    words = padded.reshape(k, chunk).view("<u4").T
    t0, t1, t2, t3 = _T4
    reg = np.zeros(k, dtype=np.uint32)
    m = np.uint32(0xFF)
    s8, s16, s24 = np.uint32(8), np.uint32(16), np.uint32(24)
    for w in words:
        r = reg ^ w
        reg = t3[r & m] ^ t2[(r >> s8) & m] ^ t1[(r >> s16) & m] ^ t0[r >> s24]
    shift = _zeros_matrix(chunk)
    while reg.size > 1:
        reg = _apply(shift, reg[0::2]) ^ reg[1::2]
        shift = _apply(shift, shift)
    return int(reg[0])


def crc32c(data: bytes | bytearray | memoryview | np.ndarray, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, extending a previous ``crc`` (like ``crc32c::Extend``).

    ``crc32c(b"123456789") == 0xE3069283``. Large buffers use a vectorised numpy
    path; small ones a table loop.
    """
    if isinstance(data, np.ndarray):
        buf = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    else:
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    n = buf.size
    init = (~crc) & 0xFFFFFFFF
    if n < 8192:
        return (~_raw_update_py(init, buf.tobytes())) & 0xFFFFFFFF
    raw = _raw_crc_parallel(buf)
    reg = raw ^ int(_apply(_zeros_matrix(n), np.uint32(init)))
    return (~reg) & 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB/TensorFlow CRC masking (rotate right 15, add a constant)."""
    crc &= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Inverse of :func:`mask_crc`."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --------------------------------------------------------------------------- protobuf wire format

def _varint(buf: bytes | memoryview, pos: int, end: int | None = None) -> tuple[int, int]:
    end = len(buf) if end is None else end
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise TensorBundleError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise TensorBundleError("varint longer than 10 bytes")


def _fields(buf: bytes | memoryview) -> Iterable[tuple[int, int, Any]]:
    """Yield ``(field_number, wire_type, value)`` of a serialized protobuf message.

    Length-delimited values are zero-copy ``memoryview`` slices.
    """
    buf = memoryview(buf)
    pos = 0
    end = len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            if pos + 8 > end:
                raise TensorBundleError("truncated fixed64 field")
            val = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > end:
                raise TensorBundleError("truncated length-delimited field")
            val = buf[pos : pos + ln]
            pos += ln
        elif wt == 5:
            if pos + 4 > end:
                raise TensorBundleError("truncated fixed32 field")
            val = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise TensorBundleError(f"unsupported protobuf wire type {wt} (field {num})")
        yield num, wt, val


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


@dataclass(frozen=True)
class BundleEntry:
    """One decoded ``BundleEntryProto``."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int | None = None  # masked, as stored
    n_slices: int = 0

    @property
    def dtype_name(self) -> str:
        """Numpy dtype name or TensorFlow type name of this entry."""
        if self.dtype in DTYPES:
            return DTYPES[self.dtype].name
        return _DTYPE_NAMES.get(self.dtype, f"dtype#{self.dtype}")


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for num, _wt, val in _fields(buf):
        if num == 2:  # repeated Dim
            size = 0
            for dnum, _dwt, dval in _fields(val):  # type: ignore[arg-type]
                if dnum == 1:
                    size = _signed64(int(dval))  # type: ignore[arg-type]
            dims.append(size)
        elif num == 3 and val:
            raise TensorBundleError("tensor of unknown rank in bundle")
    return tuple(dims)


def _parse_entry(buf: bytes) -> BundleEntry:
    dtype, shape, shard, offset, size, crc, slices = 0, (), 0, 0, 0, None, 0
    for num, _wt, val in _fields(buf):
        if num == 1:
            dtype = int(val)  # type: ignore[arg-type]
        elif num == 2:
            shape = _parse_shape(val)  # type: ignore[arg-type]
        elif num == 3:
            shard = int(val)  # type: ignore[arg-type]
        elif num == 4:
            offset = _signed64(int(val))  # type: ignore[arg-type]
        elif num == 5:
            size = _signed64(int(val))  # type: ignore[arg-type]
        elif num == 6:
            crc = int(val)  # type: ignore[arg-type]
        elif num == 7:
            slices += 1
    return BundleEntry(dtype, tuple(shape), shard, offset, size, crc, slices)


def _parse_header(buf: bytes) -> tuple[int, int]:
    """``(num_shards, endianness)`` of a ``BundleHeaderProto`` (0 = little)."""
    num_shards, endian = 1, 0
    for num, _wt, val in _fields(buf):
        if num == 1:
            num_shards = int(val)  # type: ignore[arg-type]
        elif num == 2:
            endian = int(val)  # type: ignore[arg-type]
    return num_shards, endian


# --------------------------------------------------------------------------- SSTable

def _block_handle(buf: bytes | memoryview, pos: int) -> tuple[int, int, int]:
    off, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return off, size, pos


def _read_block(data: memoryview, offset: int, size: int, what: str) -> memoryview:
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER_SIZE > len(data):
        raise TensorBundleError(f"{what} block [{offset}, {end}) lies outside the file")
    ctype = data[end]
    stored = struct.unpack_from("<I", data, end + 1)[0]
    if crc32c(data[offset : end + 1]) != unmask_crc(stored):
        raise TensorBundleError(f"{what} block at offset {offset}: checksum mismatch (corrupt file)")
    if ctype == 1:
        raise TensorBundleError(
            f"{what} block at offset {offset} is snappy-compressed; only uncompressed "
            "tables (what TensorFlow writes) are supported"
        )
    if ctype != 0:
        raise TensorBundleError(f"{what} block at offset {offset}: unknown compression type {ctype}")
    return data[offset:end]


def _block_entries(block: memoryview, what: str) -> Iterator[tuple[bytes, memoryview]]:
    """Yield the (key, value) pairs of one table block (prefix-compressed keys)."""
    if len(block) < 4:
        raise TensorBundleError(f"{what} block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise TensorBundleError(f"{what} block: bad restart count {n_restarts}")
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = _varint(block, pos, limit)
        non_shared, pos = _varint(block, pos, limit)
        vlen, pos = _varint(block, pos, limit)
        if shared > len(key) or pos + non_shared + vlen > limit:
            raise TensorBundleError(f"{what} block: corrupt entry at byte {pos}")
        key = key[:shared] + bytes(block[pos : pos + non_shared])
        pos += non_shared
        yield key, block[pos : pos + vlen]
        pos += vlen


def is_sstable(path: str | os.PathLike) -> bool:
    """Whether ``path`` ends with the SSTable footer magic (a TF checkpoint table)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() < FOOTER_SIZE:
                return False
            fh.seek(-8, os.SEEK_END)
            return struct.unpack("<Q", fh.read(8))[0] == TABLE_MAGIC
    except OSError:
        return False


def iter_table(path: str | os.PathLike) -> Iterator[tuple[bytes, memoryview]]:
    """Yield every ``(key, value)`` of an SSTable file in key order.

    Checks the footer magic and every block's masked CRC-32C; raises
    :class:`TensorBundleError` naming the file on any problem. Values are
    zero-copy views into the file's bytes.
    """
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise TensorBundleError(f"cannot read {path}: {exc}") from exc
    if len(data) < FOOTER_SIZE:
        raise TensorBundleError(f"{path}: too short to be an SSTable ({len(data)} bytes)")
    footer = data[-FOOTER_SIZE:]
    magic = struct.unpack_from("<Q", footer, 40)[0]
    if magic != TABLE_MAGIC:
        raise TensorBundleError(f"{path}: not an SSTable / TensorFlow checkpoint table (bad magic {magic:#x})")
    try:
        _moff, _msize, pos = _block_handle(footer, 0)
        ioff, isize, _ = _block_handle(footer, pos)
        index_block = _read_block(data, ioff, isize, "index")
        for _sep, handle in _block_entries(index_block, "index"):
            boff, bsize, _ = _block_handle(handle, 0)
            yield from _block_entries(_read_block(data, boff, bsize, "data"), "data")
    except TensorBundleError as exc:
        raise TensorBundleError(f"{path}: {exc}") from None


def resolve_prefix(prefix_or_index_path: str | os.PathLike) -> Path:
    """The bundle prefix for a prefix, a ``.index`` path, or a folder holding one bundle."""
    p = Path(prefix_or_index_path)
    if p.is_dir():
        found = sorted(p.glob("*.index"))
        if len(found) != 1:
            raise TensorBundleError(f"{p}: expected exactly one *.index file, found {len(found)}")
        p = found[0]
    if p.suffix == ".index":
        return p.with_suffix("")
    return p


def read_bundle_index(index_path: str | os.PathLike) -> tuple[dict[str, BundleEntry], int]:
    """Parse a ``.index`` file: ``({name: BundleEntry}, num_shards)``.

    The header entry (empty key) is consumed for the shard count and
    endianness and is not returned. Raises :class:`TensorBundleError` on a bad
    magic number, a corrupt block checksum, compressed blocks or big-endian
    bundles.
    """
    entries: dict[str, BundleEntry] = {}
    num_shards = 1
    for key, value in iter_table(index_path):
        try:
            if key == b"":
                num_shards, endian = _parse_header(value)
                if endian != 0:
                    raise TensorBundleError("big-endian bundles are not supported")
                continue
            entries[key.decode("utf-8")] = _parse_entry(value)
        except TensorBundleError as exc:
            raise TensorBundleError(f"{index_path}: entry {key!r}: {exc}") from None
    return entries, num_shards


# --------------------------------------------------------------------------- tensors

def _decode_strings(raw: bytes, count: int, name: str, check: int | None) -> np.ndarray:
    """Decode a DT_STRING tensor: varint lengths, a masked length checksum, the bytes.

    TensorFlow checksums the lengths as fixed-width little-endian integers
    (uint32 in the writers seen so far; uint64 is accepted too).
    """
    lengths = []
    pos = 0
    for _ in range(count):
        ln, pos = _varint(raw, pos)
        lengths.append(ln)
    if pos + 4 > len(raw):
        raise TensorBundleError(f"string tensor {name!r} truncated")
    stored = raw[pos : pos + 4]
    crc = None
    for fmt in ("<I", "<Q"):
        c = 0
        for ln in lengths:
            c = crc32c(struct.pack(fmt, ln), c)
        if struct.pack("<I", mask_crc(c)) == stored:
            crc = c
            break
    if crc is None and check is not None:
        raise TensorBundleError(f"string tensor {name!r}: length checksum mismatch")
    crc = crc32c(stored, crc or 0)
    pos += 4
    out = np.empty(count, dtype=object)
    for i, ln in enumerate(lengths):
        s = raw[pos : pos + ln]
        if len(s) != ln:
            raise TensorBundleError(f"string tensor {name!r} truncated")
        crc = crc32c(s, crc)
        out[i] = s
        pos += ln
    if check is not None and crc != unmask_crc(check):
        raise TensorBundleError(f"string tensor {name!r}: checksum mismatch")
    return out


def read_tensorbundle(
    prefix_or_index_path: str | os.PathLike,
    *,
    shards: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike] | None = None,
    names: Iterable[str] | None = None,
    strings: str = "skip",
    unsupported: str = "raise",
    verify: bool = True,
) -> dict[str, np.ndarray]:
    """Read a TensorBundle into ``{tensor name: numpy array}`` (numpy only).

    Args:
        prefix_or_index_path: the bundle prefix (``.../variables``), its
            ``.index`` file, or a folder holding exactly one bundle.
        shards: data shard paths by shard id, when they are not stored next to
            the index as ``<prefix>.data-0000i-of-0000N``.
        names: read only these tensors (all by default); unknown names raise.
        strings: ``"skip"`` (default) leaves string tensors out, ``"decode"``
            returns them as object arrays of ``bytes``.
        unsupported: ``"raise"`` (default) or ``"skip"`` for dtypes without a
            numpy equivalent (bfloat16, resource, variant) and sliced entries.
        verify: check each tensor's CRC-32C (always checks sizes).

    Returns arrays that own their memory, shaped as stored, in the bundle's key
    order (sorted).
    """
    if strings not in ("skip", "decode"):
        raise ValueError(f"strings must be 'skip' or 'decode', not {strings!r}")
    if unsupported not in ("skip", "raise"):
        raise ValueError(f"unsupported must be 'skip' or 'raise', not {unsupported!r}")
    prefix = resolve_prefix(prefix_or_index_path)
    index_path = Path(f"{prefix}.index")
    entries, num_shards = read_bundle_index(index_path)
    if names is not None:
        wanted = list(names)
        missing = [n for n in wanted if n not in entries]
        if missing:
            raise TensorBundleError(f"{index_path}: no tensor named {', '.join(map(repr, missing))}")
        entries = {n: entries[n] for n in sorted(wanted)}

    def shard_path(i: int) -> Path:
        if shards is not None:
            try:
                return Path(shards[i])  # type: ignore[index]
            except (KeyError, IndexError):
                raise TensorBundleError(f"no data shard {i} given for {index_path}") from None
        return Path(f"{prefix}.data-{i:05d}-of-{num_shards:05d}")

    handles: dict[int, object] = {}
    out: dict[str, np.ndarray] = {}
    try:
        for name, e in entries.items():
            is_string = e.dtype == DT_STRING
            if is_string and strings == "skip":
                continue
            if e.n_slices or (not is_string and e.dtype not in DTYPES):
                if unsupported == "skip":
                    continue
                why = "is partitioned (sliced)" if e.n_slices else f"has unsupported dtype {e.dtype_name}"
                raise TensorBundleError(f"{index_path}: tensor {name!r} {why}")
            if not 0 <= e.shard_id < max(num_shards, 1):
                raise TensorBundleError(f"tensor {name!r}: shard {e.shard_id} of {num_shards}")
            if e.shard_id not in handles:
                sp = shard_path(e.shard_id)
                try:
                    handles[e.shard_id] = open(sp, "rb")
                except OSError as exc:
                    raise TensorBundleError(f"cannot open data shard {sp}: {exc}") from exc
            fh = handles[e.shard_id]
            fh.seek(e.offset)  # type: ignore[attr-defined]
            raw = fh.read(e.size)  # type: ignore[attr-defined]
            if len(raw) != e.size:
                raise TensorBundleError(
                    f"tensor {name!r}: data shard {e.shard_id} truncated "
                    f"(wanted {e.size} bytes at {e.offset}, got {len(raw)})"
                )
            count = int(np.prod(e.shape, dtype=np.int64)) if e.shape else 1
            if is_string:
                out[name] = _decode_strings(raw, count, name, e.crc32c if verify else None).reshape(e.shape)
                continue
            dt = DTYPES[e.dtype]
            if count * dt.itemsize != e.size:
                raise TensorBundleError(
                    f"tensor {name!r}: size {e.size} does not match shape {e.shape} of {dt.name}"
                )
            if verify and e.crc32c is not None and crc32c(raw) != unmask_crc(e.crc32c):
                raise TensorBundleError(f"tensor {name!r}: checksum mismatch (corrupt data shard)")
            out[name] = np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="), copy=True).reshape(e.shape)
    finally:
        for fh in handles.values():
            fh.close()  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- V1 checkpoints

def _packed_varints(buf: memoryview) -> list[int]:
    vals = []
    pos = 0
    while pos < len(buf):
        v, pos = _varint(buf, pos)
        vals.append(_signed64(v))
    return vals


def _tensor_proto_array(buf: memoryview, dtype: int, count: int, what: str) -> np.ndarray:
    """Values of a ``TensorProto`` as a flat array of ``count`` elements of ``dtype``.

    Reads ``tensor_content`` (raw bytes) or the typed repeated fields
    (``float_val``, ``double_val``, ``int_val``, ``int64_val``, ``bool_val``),
    packed or not. A single value stands for a constant-filled tensor (TF's
    convention).
    """
    if dtype not in DTYPES:
        raise TensorBundleError(f"{what}: unsupported dtype {_DTYPE_NAMES.get(dtype, dtype)}")
    dt = DTYPES[dtype]
    content: list[memoryview] = []
    floats: list[np.ndarray] = []
    ints: list[int] = []
    for num, wt, val in _fields(buf):
        if num == 4:
            content.append(val)
        elif num in (5, 6):  # float_val / double_val
            f = "<f4" if num == 5 else "<f8"
            if wt == 2:
                floats.append(np.frombuffer(val, dtype=f))
            elif wt == 5:
                floats.append(np.array([struct.unpack("<f", struct.pack("<I", val))[0]], dtype=f))
            elif wt == 1:
                floats.append(np.array([struct.unpack("<d", struct.pack("<Q", val))[0]], dtype=f))
        elif num in (7, 10, 11, 13):  # int_val / int64_val / bool_val / half_val (bits)
            if wt == 2:
                ints.extend(_packed_varints(val))
            else:
                ints.append(_signed64(int(val)))
    if content:
        arr = np.frombuffer(b"".join(bytes(c) for c in content), dtype=dt)
    elif floats:
        arr = np.concatenate(floats).astype(dt)
    elif ints:
        arr = np.array(ints, dtype=np.int64)
        arr = arr.astype(np.uint16).view(np.float16) if dtype == 19 else arr.astype(dt)
    else:
        arr = np.zeros(0, dtype=dt)
    if arr.size == count:
        return arr.astype(dt.newbyteorder("="), copy=True)
    if arr.size == 1:
        return np.full(count, arr[0], dtype=dt.newbyteorder("="))
    if arr.size == 0 and count == 0:
        return arr
    raise TensorBundleError(f"{what}: {arr.size} values for {count} elements")


def _parse_slice(buf: memoryview, shape: tuple[int, ...]) -> tuple[slice, ...]:
    extents = []
    for num, _wt, val in _fields(buf):
        if num == 1:
            start, length = 0, None
            for enum_, _ewt, eval_ in _fields(val):
                if enum_ == 1:
                    start = _signed64(int(eval_))
                elif enum_ == 2:
                    length = _signed64(int(eval_))
            extents.append((start, length))
    if not extents:
        return tuple(slice(None) for _ in shape)
    if len(extents) != len(shape):
        raise TensorBundleError(f"slice rank {len(extents)} does not match shape {shape}")
    return tuple(slice(s, None if ln is None else s + ln) for s, ln in extents)


def read_v1_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a TF1 "V1" checkpoint (one SSTable file of ``SavedTensorSlices``) with numpy.

    This is the single-file format of ``tf.train.Saver(write_version=V1)``,
    e.g. the official ``vggish_model.ckpt``. The empty key holds the metadata
    (each tensor's name, shape, dtype); every other entry holds one slice of
    one tensor as a ``TensorProto``. Slices are assembled into full arrays;
    every block checksum is verified. String tensors are skipped.
    """
    meta: dict[str, tuple[tuple[int, ...], int]] = {}
    data: dict[str, list[tuple[memoryview | None, memoryview]]] = {}
    for key, value in iter_table(path):
        for num, _wt, val in _fields(value):
            if num == 1 and key == b"":  # SavedTensorSliceMeta
                for mnum, _mwt, mval in _fields(val):
                    if mnum != 1:
                        continue
                    name, shape, dtype = "", (), 0
                    for tnum, _twt, tval in _fields(mval):
                        if tnum == 1:
                            name = bytes(tval).decode("utf-8")
                        elif tnum == 2:
                            shape = _parse_shape(tval)
                        elif tnum == 3:
                            dtype = int(tval)
                    meta[name] = (shape, dtype)
            elif num == 2:  # SavedSlice
                name, slc, proto = "", None, None
                for snum, _swt, sval in _fields(val):
                    if snum == 1:
                        name = bytes(sval).decode("utf-8")
                    elif snum == 2:
                        slc = sval
                    elif snum == 3:
                        proto = sval
                if proto is not None:
                    data.setdefault(name, []).append((slc, proto))
    if not meta:
        raise TensorBundleError(f"{path}: no checkpoint metadata (not a V1 TensorFlow checkpoint)")
    out: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in sorted(meta.items()):
        if dtype == DT_STRING:
            continue
        if dtype not in DTYPES:
            raise TensorBundleError(f"{path}: tensor {name!r} has unsupported dtype {_DTYPE_NAMES.get(dtype, dtype)}")
        if name not in data:
            raise TensorBundleError(f"{path}: tensor {name!r} has no data")
        dt = DTYPES[dtype].newbyteorder("=")
        full = np.zeros(shape, dtype=dt)
        filled = np.zeros(shape, dtype=bool)
        for slc, proto in data[name]:
            index = _parse_slice(slc, shape) if slc is not None else tuple(slice(None) for _ in shape)
            target_shape = full[index].shape
            count = int(np.prod(target_shape, dtype=np.int64))
            vals = _tensor_proto_array(proto, dtype, count, f"{path}: tensor {name!r}")
            full[index] = vals.reshape(target_shape)
            filled[index] = True
        if not filled.all():
            raise TensorBundleError(f"{path}: tensor {name!r} is not fully covered by its slices")
        out[name] = full
    return out


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a TensorFlow checkpoint of either format into ``{name: array}``.

    ``path`` may be a V2 bundle prefix (``model.ckpt`` with ``model.ckpt.index``
    next to it), its ``.index`` file, a folder with one bundle, or a V1
    single-file checkpoint.
    """
    p = Path(path)
    if p.is_dir() or p.suffix == ".index" or Path(f"{p}.index").exists():
        return read_tensorbundle(p)
    if not p.exists():
        raise TensorBundleError(f"no checkpoint at {p} (nor {p}.index)")
    return read_v1_checkpoint(p)
