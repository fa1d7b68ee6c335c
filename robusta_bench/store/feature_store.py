"""Versioned feature store: Parquet shards plus a JSON index per group.

Layout (readable with pyarrow/pandas alone, without this package)::

    STORE/
      store.json                                  {"type": "feature_store", "schema_version": 2}
      <extractor>/<variant-slug>/index.json       one group: an extractor x a variant
      <extractor>/<variant-slug>/part-00000.parquet

A *variant* is the clean media or one corruption at one severity and seed;
its slug is ``clean`` or ``<corruption>-s<severity>-seed<seed>`` (e.g.
``fog-s3-seed0``). Each group's ``index.json`` records the extractor spec hash,
the variant, a content key (sha256 over both), and for every shard its path,
rows, bytes, sha256 and the videos it holds, plus per-video errors.

Each shard row is one (video, crop, segment) with columns ``name`` (string),
``crop`` (int16), ``segment`` (int32) and ``feature``. A video's rows are
contiguous, crop-major. Since schema 2, ``feature`` is a ``fixed_size_binary``
column holding each row's ``dim`` little-endian float32 (or float16) values,
uncompressed, with field metadata ``dtype`` and ``dim``: decoding is a buffer
view (``np.frombuffer(col.buffers()[1], dtype).reshape(-1, dim)``), ~9x faster
than the ``fixed_size_list<float>`` column of schema 1, whose rep/def levels
made Parquet decoding the evaluation's bottleneck (BENCHMARKS.md). Schema-1
shards (``fixed_size_list``) are still read, and a group may mix both.

Writes are atomic: a shard is written under a temporary name and renamed, then
the index is rewritten atomically. A shard that is on disk but not in the index
(a crash between the two) is an orphan and is deleted when the group is
reopened, so a killed run resumes without duplicates or holes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..files import atomic_path, atomic_write_json, read_json, sha256_file
from ..vocabulary import parse_variant_text

SCHEMA_VERSION = 2
STORE_FILE = "store.json"
INDEX_FILE = "index.json"


class StoreError(RuntimeError):
    """A store problem a user must act on (missing group, spec mismatch, bad schema)."""


@dataclass(frozen=True, order=True)
class Variant:
    """Clean media (``corruption=None``) or one corruption at a severity and seed."""

    corruption: str | None = None
    severity: int = 0
    seed: int = 0

    @property
    def is_clean(self) -> bool:
        return self.corruption is None

    @property
    def slug(self) -> str:
        if self.corruption is None:
            return "clean"
        return f"{self.corruption}-s{self.severity}-seed{self.seed}"

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> "Variant":
        """Parse ``clean``, ``fog@3`` (with ``seed``) or a slug ``fog-s3-seed0`` (see :mod:`robusta_bench.vocabulary`)."""
        corruption, severity, vseed, _ = parse_variant_text(text, seed)
        return cls() if corruption is None else cls(corruption, severity, vseed)

    def to_dict(self) -> dict[str, Any]:
        return {"corruption": self.corruption, "severity": self.severity, "seed": self.seed, "slug": self.slug}


def spec_hash(spec: dict[str, Any]) -> str:
    """Short content hash of a spec (first 12 hex of sha256 of its canonical JSON): a group's key."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def content_key(spec_hash: str, variant: Variant, plan: str | None = None) -> str:
    """sha256 over what determines a group's content (extractor spec, variant, plan)."""
    blob = json.dumps({"spec": spec_hash, "variant": variant.to_dict(), "plan": plan}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureStore:
    """A folder of feature groups (see module docstring)."""

    def __init__(self, root: str | Path, create: bool = False) -> None:
        self.root = Path(root)
        marker = self.root / STORE_FILE
        if marker.exists():
            meta = read_json(marker)
            if meta.get("type") != "feature_store":
                raise StoreError(f"{marker} is not a feature store marker")
            if int(meta.get("schema_version", -1)) > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.root} has schema_version {meta.get('schema_version')}, "
                    f"this robusta-bench reads up to {SCHEMA_VERSION}: upgrade robusta-bench"
                )
        elif create:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_json(marker, {"type": "feature_store", "schema_version": SCHEMA_VERSION})
        else:
            raise StoreError(f"{self.root} is not a feature store (no {STORE_FILE})")

    # ----------------------------------------------------------------- groups
    def group_dir(self, extractor: str, variant: Variant) -> Path:
        return self.root / extractor / variant.slug

    def has(self, extractor: str, variant: Variant) -> bool:
        return (self.group_dir(extractor, variant) / INDEX_FILE).exists()

    def index(self, extractor: str, variant: Variant) -> dict[str, Any]:
        path = self.group_dir(extractor, variant) / INDEX_FILE
        if not path.exists():
            have = ", ".join(f"{e}/{v.slug}" for e, v in self.groups()) or "nothing"
            raise StoreError(f"store {self.root} has no features for {extractor} / {variant.slug} (it has: {have})")
        return read_json(path)

    def groups(self) -> list[tuple[str, Variant]]:
        """All (extractor, variant) groups in the store, sorted."""
        out = []
        for idx in sorted(self.root.glob(f"*/*/{INDEX_FILE}")):
            meta = read_json(idx)
            v = meta["variant"]
            out.append((meta["extractor"], Variant(v["corruption"], int(v["severity"]), int(v["seed"]))))
        return sorted(out, key=lambda ev: (ev[0], ev[1].slug))

    def names(self, extractor: str, variant: Variant) -> list[str]:
        """Videos with features in a group, in shard order."""
        return [n for f in self.index(extractor, variant)["files"] for n in f["videos"]]

    def errors(self, extractor: str, variant: Variant) -> dict[str, str]:
        return dict(self.index(extractor, variant).get("errors", {}))

    # ---------------------------------------------------------------- writing
    def writer(
        self,
        extractor: str,
        variant: Variant,
        *,
        spec_hash: str,
        modality: str,
        feature_dim: int,
        n_crops: int,
        meta: dict[str, Any] | None = None,
        dtype: str = "float32",
        shard_rows: int = 50_000,
    ) -> "GroupWriter":
        """Open (or resume) a group for writing. See :class:`GroupWriter`.

        New shards use the current schema; a schema-1 store's marker is raised
        to it, so an older robusta-bench refuses the store instead of misreading it.
        """
        marker = self.root / STORE_FILE
        if int(read_json(marker).get("schema_version", -1)) < SCHEMA_VERSION:
            atomic_write_json(marker, {"type": "feature_store", "schema_version": SCHEMA_VERSION})
        return GroupWriter(
            self.group_dir(extractor, variant),
            extractor=extractor,
            variant=variant,
            spec_hash=spec_hash,
            modality=modality,
            feature_dim=feature_dim,
            n_crops=n_crops,
            meta=meta or {},
            dtype=dtype,
            shard_rows=shard_rows,
        )

    # ---------------------------------------------------------------- reading
    def iter_videos(
        self, extractor: str, variant: Variant, names: Iterable[str] | None = None
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(name, features)`` with features ``(crops, T, dim)`` float32."""
        idx = self.index(extractor, variant)
        wanted = None if names is None else set(names)
        gdir = self.group_dir(extractor, variant)
        for f in idx["files"]:
            if wanted is not None and not wanted.intersection(f["videos"]):
                continue
            yield from _read_shard(gdir / f["path"], idx["n_crops"], wanted)

    def read(self, extractor: str, variant: Variant, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """All (or the named) videos of a group as ``{name: (crops, T, dim)}``."""
        out = dict(self.iter_videos(extractor, variant, names))
        if names is not None:
            missing = [n for n in names if n not in out]
            if missing:
                raise StoreError(
                    f"{extractor}/{variant.slug} in {self.root} lacks {len(missing)} video(s), e.g. {missing[:3]}"
                )
        return out

    def verify(self, extractor: str, variant: Variant) -> list[str]:
        """Check every shard's size and sha256 against the index; return problems."""
        idx = self.index(extractor, variant)
        gdir = self.group_dir(extractor, variant)
        problems = []
        for f in idx["files"]:
            p = gdir / f["path"]
            if not p.exists():
                problems.append(f"missing {p}")
            elif p.stat().st_size != f["bytes"] or sha256_file(p) != f["sha256"]:
                problems.append(f"checksum mismatch {p}")
        return problems


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


def _read_shard(path: Path, n_crops: int, wanted: set[str] | None) -> Iterator[tuple[str, np.ndarray]]:
    if not Path(path).is_file():
        raise StoreError(
            f"shard {path} is listed in {Path(path).parent / 'index.json'} but missing: the store is incomplete; "
            "restore the file (download again, or rerun 'robusta-bench extract' into a new --out store)"
        )
    table = pq.read_table(path, columns=["name", "crop", "segment", "feature"])
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


@dataclass
class GroupWriter:
    """Appends videos to one group; resumable. Use as a context manager.

    ``done`` holds the videos already stored (skip them); :meth:`write` buffers a
    video; full buffers become shards; :meth:`fail` records an error for a video
    without stopping the run; :meth:`close` flushes. A video written again after
    a failure clears its error.
    """

    gdir: Path
    extractor: str
    variant: Variant
    spec_hash: str
    modality: str
    feature_dim: int
    n_crops: int
    meta: dict[str, Any]
    dtype: str = "float32"
    shard_rows: int = 50_000
    _buf: list[tuple[str, np.ndarray]] = field(default_factory=list)
    _buf_rows: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float16"):
            raise ValueError("dtype must be float32 or float16")
        self.gdir.mkdir(parents=True, exist_ok=True)
        ipath = self.gdir / INDEX_FILE
        if ipath.exists():
            self._index = read_json(ipath)
            for key in ("spec_hash", "feature_dim", "n_crops"):
                if self._index[key] != getattr(self, key):
                    raise StoreError(
                        f"{self.gdir} was written with {key}={self._index[key]!r}, now {getattr(self, key)!r}: "
                        "use a new store (or delete the group) to re-extract with a different extractor spec"
                    )
        else:
            self._index = {
                "type": "feature_group",
                "schema_version": SCHEMA_VERSION,
                "extractor": self.extractor,
                "modality": self.modality,
                "feature_dim": self.feature_dim,
                "n_crops": self.n_crops,
                "dtype": self.dtype,
                "spec_hash": self.spec_hash,
                "variant": self.variant.to_dict(),
                "content_key": content_key(self.spec_hash, self.variant, self.meta.get("plan")),
                "meta": self.meta,
                "files": [],
                "errors": {},
            }
        listed = {f["path"] for f in self._index["files"]}
        for orphan in self.gdir.glob("part-*.parquet"):
            if orphan.name not in listed:
                orphan.unlink()
        for tmp in self.gdir.glob(".part-*"):
            tmp.unlink()
        self.done: set[str] = {n for f in self._index["files"] for n in f["videos"]}

    def __enter__(self) -> "GroupWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Flush what is complete even when the run is interrupted by an error.
        self.close()

    def write(self, name: str, features: np.ndarray) -> None:
        """Buffer one video's features ``(crops, T, dim)``."""
        arr = np.asarray(features)
        if arr.ndim != 3 or arr.shape[0] != self.n_crops or arr.shape[2] != self.feature_dim:
            raise ValueError(
                f"{name}: features must be (crops={self.n_crops}, T, dim={self.feature_dim}), got {arr.shape}"
            )
        if name in self.done or any(n == name for n, _ in self._buf):
            raise StoreError(f"{name} is already in {self.gdir}")
        self._buf.append((name, arr))
        self._buf_rows += arr.shape[0] * arr.shape[1]
        if self._buf_rows >= self.shard_rows:
            self.flush()

    def fail(self, name: str, error: str) -> None:
        """Record that ``name`` failed (persisted at the next flush/close)."""
        self._index["errors"][name] = str(error)

    def flush(self) -> None:
        """Write buffered videos as one shard, then update the index (both atomic)."""
        if not self._buf:
            self._write_index()
            return
        numbers = [int(f["path"][5:10]) for f in self._index["files"]]
        part = f"part-{(max(numbers) + 1) if numbers else 0:05d}.parquet"
        table = self._table(self._buf)
        final = self.gdir / part
        with atomic_path(final) as tmp:
            # features stay uncompressed (float features barely compress, and a plain buffer decodes at memory
            # speed); names, crops and segments compress well
            pq.write_table(
                table, tmp, compression={"name": "zstd", "crop": "zstd", "segment": "zstd", "feature": "none"},
                use_dictionary=["name"],
            )
        entry = {
            "path": part,
            "rows": table.num_rows,
            "bytes": final.stat().st_size,
            "sha256": sha256_file(final),
            "videos": [n for n, _ in self._buf],
        }
        self._index["files"].append(entry)
        self._index["schema_version"] = SCHEMA_VERSION  # a resumed schema-1 group now also holds schema-2 shards
        for n, _ in self._buf:
            self._index["errors"].pop(n, None)
            self.done.add(n)
        self._buf, self._buf_rows = [], 0
        self._write_index()

    def close(self) -> None:
        self.flush()

    def _write_index(self) -> None:
        atomic_write_json(self.gdir / INDEX_FILE, self._index)

    def _table(self, items: list[tuple[str, np.ndarray]]) -> pa.Table:
        names, crops, segs, feats = [], [], [], []
        for name, arr in items:
            c, t, d = arr.shape
            names.extend([name] * (c * t))
            crops.append(np.repeat(np.arange(c, dtype=np.int16), t))
            segs.append(np.tile(np.arange(t, dtype=np.int32), c))
            feats.append(arr.reshape(c * t, d).astype(self.dtype, copy=False))
        dtype = np.dtype(self.dtype).newbyteorder("<")
        flat = np.ascontiguousarray(np.concatenate(feats) if feats else np.zeros((0, self.feature_dim)), dtype=dtype)
        width = self.feature_dim * dtype.itemsize
        feature = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), flat.shape[0], [None, pa.py_buffer(flat)])
        field_ = pa.field("feature", pa.binary(width), nullable=False,
                          metadata={"dtype": self.dtype, "dim": str(self.feature_dim)})
        schema = pa.schema([pa.field("name", pa.string()), pa.field("crop", pa.int16()),
                            pa.field("segment", pa.int32()), field_])
        return pa.Table.from_arrays(
            [
                pa.array(names, type=pa.string()),
                pa.array(np.concatenate(crops) if crops else np.zeros(0, np.int16)),
                pa.array(np.concatenate(segs) if segs else np.zeros(0, np.int32)),
                feature,
            ],
            schema=schema,
        )
