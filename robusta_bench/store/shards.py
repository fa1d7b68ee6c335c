"""Reading one feature-store shard: checked against its commit record, decoded per video.

Used by the reader (:mod:`.feature_store`), the writer when it compacts shards
(:mod:`.writer`) and the repair tools (:mod:`.verify`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .commit import FAST_HASH, fast_hash_bytes
from .schema import INDEX_FILE, StoreError


def shard_features(column: pa.ChunkedArray | pa.Array, field: pa.Field | None = None) -> np.ndarray:
    """A shard's ``feature`` column as a ``(rows, dim)`` array (either schema; zero-copy when possible).

    Schema 2 (``fixed_size_binary``) is viewed with the ``dtype`` / ``dim`` of
    the field metadata (float32 when absent); schema 1 (``fixed_size_list``)
    is flattened.
    """
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_binary(col.type):
        meta = (field.metadata or {}) if field is not None else {}
        dtype = np.dtype(meta.get(b"dtype", b"float32").decode()).newbyteorder("<")
        dim = int(meta.get(b"dim", str(col.type.byte_width // dtype.itemsize).encode()))
        if dim * dtype.itemsize != col.type.byte_width:
            raise StoreError(f"feature column of {col.type.byte_width} bytes per row cannot hold {dim} x {dtype}")
        if col.null_count:
            raise StoreError("feature column has null rows")
        buf = col.buffers()[1]
        start = col.offset * col.type.byte_width
        flat = np.frombuffer(buf, dtype=dtype, count=len(col) * dim, offset=start)
        return flat.reshape(len(col), dim)
    if pa.types.is_fixed_size_list(col.type):
        values = col.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(col), col.type.list_size)
    raise StoreError(f"feature column has type {col.type}; expected fixed_size_binary or fixed_size_list")


def checksum_ok(data: bytes, entry: dict[str, Any]) -> bool:
    """Whether ``data`` matches the checksum of its commit record (XXH3-128 when recorded, else sha256)."""
    if entry.get(FAST_HASH):
        return fast_hash_bytes(data) == entry[FAST_HASH]
    return hashlib.sha256(data).hexdigest() == entry.get("sha256")


def read_verified(path: Path, entry: dict[str, Any], root: Path | None = None) -> bytes:
    """A shard's bytes, checked against its commit record (size, then XXH3-128 or sha256); StoreError if damaged."""
    how = f"run 'robusta-bench verify {root}' to see what is damaged and how to repair it" if root else "re-extract it"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(
            f"missing shard (the store is incomplete): shard {path} is listed in {path.parent / INDEX_FILE} but "
            f"missing; restore the file (download again) or {how}"
        ) from None
    if len(data) != int(entry.get("bytes", len(data))) or not checksum_ok(data, entry):
        raise StoreError(f"damaged shard {path} (checksum differs from its commit record): refused; {how}")
    return data


def read_shard(path: Path, n_crops: int, wanted: set[str] | None, entry: dict[str, Any] | None = None,
               root: Path | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(name, (crops, T, dim) float32)`` for the ``wanted`` videos (all when None) of one shard,
    checked against its commit record ``entry`` when given."""
    if entry is not None:
        source: Any = pa.BufferReader(read_verified(path, entry, root))
    else:
        if not Path(path).is_file():
            raise StoreError(
                f"shard {path} is listed in {Path(path).parent / 'index.json'} but missing: the store is incomplete; "
                "restore the file (download again, or rerun 'robusta-bench extract' into a new --out store)"
            )
        source = path
    table = pq.read_table(source, columns=["name", "crop", "segment", "feature"])
    names = table.column("name").to_numpy(zero_copy_only=False)
    feats = shard_features(table.column("feature"), table.schema.field("feature"))
    dim = feats.shape[1]
    if len(names) == 0:
        return
    # contiguous runs of the same name
    change = np.flatnonzero(names[1:] != names[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(names)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        name = str(names[a])
        if wanted is not None and name not in wanted:
            continue
        arr = feats[a:b].astype(np.float32, copy=False).reshape(n_crops, (b - a) // n_crops, dim)
        yield name, arr  # contiguous rows: a read-only view of the shard's buffer for float32
