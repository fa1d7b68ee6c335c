"""Writing one feature group: per-writer shards, atomic commits, claims.

:class:`GroupWriter` is what ``extract`` and ``import`` write through. Many
writers (processes, Ray actors, array tasks) may write the same group at once:
each names its own shards ``part-<writer>-<seq>.parquet``, commits each one
atomically through :mod:`.commit` and never rewrites a file another writer
made. ``index.json`` (header + folded snapshot) is only rewritten under the
group's lock. See :mod:`.commit` for the on-disk protocol.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..files import atomic_write_json, read_json
from . import claims as _claims
from .commit import (
    COMMITS_DIR, LOCK_FILE, LogTail, all_records, append_record, commit_file, committed_paths, merge_view, now,
    shard_name,
)
from .schema import INDEX_FILE, SCHEMA_VERSION, StoreError, Variant, content_key
from .shards import read_verified
from .locks import WriterLease, file_lock, writer_alive, writer_of

_VIEW_ONLY = ("duplicates",)
_SEQ = itertools.count()  # shard numbers, unique within a process (so within a writer id, shared by its groups)


def fold_index(gdir: Path) -> dict[str, Any]:
    """Rewrite ``index.json`` as the merged view of its snapshot and every commit log (caller holds the lock)."""
    ipath = gdir / INDEX_FILE
    view = merge_view(read_json(ipath), all_records(gdir))
    snap = {k: v for k, v in view.items() if k not in _VIEW_ONLY}
    snap["files"] = [{k: v for k, v in f.items() if k != "all_videos"} for f in view["files"] if f["videos"]]
    atomic_write_json(ipath, snap)
    return snap


def clean_orphans(store_root: Path, gdir: Path, snapshot: dict[str, Any]) -> list[Path]:
    """Remove shards and temp files no commit names whose writer is dead, and stale claims (caller holds the lock)."""
    listed = committed_paths(gdir, snapshot)
    removed = []
    for p in list(gdir.glob("part-*.parquet")) + list(gdir.glob(".part-*")):
        final = p.name[1:-4] if p.name.startswith(".") and p.name.endswith(".tmp") else p.name
        if p.name == final and final in listed:
            continue
        writer = writer_of(p.name)
        if writer is not None and writer_alive(store_root, writer):
            continue  # a live writer between its rename and its log line
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    for p in _claims.stale_claims(store_root, gdir):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


@dataclass
class GroupWriter:
    """Appends videos to one group; resumable and safe next to other writers. Use as a context manager.

    ``done`` holds the videos already committed (by anyone; :meth:`refresh`
    re-reads the other writers' logs); :meth:`claim` leases a video before its
    work starts; :meth:`write` buffers a video; the buffer is committed as one
    shard when it holds ``shard_rows`` rows or, with ``flush_s`` set, once its
    oldest video waited that long (``flush_s=0``: every video is committed as
    it comes, what ``extract`` does). :meth:`fail` records an error for a video without stopping the run;
    :meth:`close` commits what is buffered and folds the logs into
    ``index.json``. A video written again after a failure clears its error.
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
    store_root: Path | None = None
    lease: WriterLease | None = None
    flush_s: float | None = None
    lease_s: float = _claims.DEFAULT_LEASE_S
    _buf: list[tuple[str, np.ndarray]] = field(default_factory=list)
    _buf_rows: int = 0
    _buf_since: float = 0.0

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float16"):
            raise ValueError("dtype must be float32 or float16")
        self.gdir = Path(self.gdir)
        self.store_root = Path(self.store_root) if self.store_root is not None else self.gdir.parent.parent
        if self.lease is None:
            self.lease = WriterLease(self.store_root)
        self.lease.acquire()
        self.writer_id = self.lease.id
        self.gdir.mkdir(parents=True, exist_ok=True)
        ipath = self.gdir / INDEX_FILE
        with file_lock(self.gdir / LOCK_FILE):
            if ipath.exists():
                snapshot = read_json(ipath)
                for key in ("spec_hash", "feature_dim", "n_crops"):
                    if snapshot[key] != getattr(self, key):
                        raise StoreError(
                            f"{self.gdir} was written with {key}={snapshot[key]!r}, now {getattr(self, key)!r}: "
                            "use a new store (or delete the group) to re-extract with a different extractor spec"
                        )
            else:
                snapshot = self._header()
                atomic_write_json(ipath, snapshot)
            clean_orphans(self.store_root, self.gdir, snapshot)
        self._snapshot = snapshot
        self._tail = LogTail(self.gdir)
        self._primed = False
        self._mine: set[str] = set()
        self._shards: list[tuple[str, dict[str, Any], list[str], int]] = []
        self.done: set[str] = set()
        self._at_open = frozenset(self.refresh())

    def _header(self) -> dict[str, Any]:
        return {
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

    def __enter__(self) -> "GroupWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Commit what is complete even when the run is interrupted by an error.
        self.close()

    # ------------------------------------------------------------ concurrency
    def refresh(self) -> set[str]:
        """Re-read the commit logs (only their new lines); return and remember every committed video."""
        new = self._tail.new_records()
        if not self._primed:
            view = merge_view(self._snapshot, new)
            self.done = {n for f in view["files"] for n in f["videos"]}
            self._primed = True
        else:
            for _w, rec in new:
                if rec.get("op") == "add":
                    self.done.update(rec["videos"])
        return self.done

    def claim(self, name: str) -> str | None:
        """Lease ``name`` for this writer: None when granted, else the id of the live writer holding it."""
        return _claims.try_claim(self.store_root, self.gdir, name, self.writer_id, self.lease_s)

    def release(self, name: str) -> None:
        """Give up this writer's claim on ``name``."""
        _claims.release_claim(self.gdir, name, self.writer_id)

    # ---------------------------------------------------------------- writing
    def write(self, name: str, features: np.ndarray) -> None:
        """Buffer one video's features ``(crops, T, dim)``; commit per the flush policy."""
        arr = np.asarray(features)
        if arr.ndim != 3 or arr.shape[0] != self.n_crops or arr.shape[2] != self.feature_dim:
            raise ValueError(
                f"{name}: features must be (crops={self.n_crops}, T, dim={self.feature_dim}), got {arr.shape}"
            )
        if name in self._mine or name in self._at_open or any(n == name for n, _ in self._buf):
            raise StoreError(f"{name} is already in {self.gdir}")
        if name in self.done:  # committed meanwhile by a concurrent writer: readers keep one copy, skip ours
            self.release(name)
            return
        if not self._buf:
            self._buf_since = time.monotonic()
        self._buf.append((name, arr))
        self._buf_rows += arr.shape[0] * arr.shape[1]
        late = self.flush_s is not None and time.monotonic() - self._buf_since >= self.flush_s
        if self._buf_rows >= self.shard_rows or late:
            self.flush()

    def fail(self, name: str, error: str) -> None:
        """Record (commit) that ``name`` failed, and drop this writer's claim on it."""
        append_record(self.gdir, self.writer_id, {"op": "error", "video": name, "error": str(error), "time": now()})
        self.release(name)

    def flush(self) -> None:
        """Commit the buffered videos as one shard (see :mod:`.commit`)."""
        if not self._buf:
            return
        table = self._table(self._buf)
        final = shard_name(self.writer_id, next(_SEQ))
        entry = self._commit_table(table, final)
        videos = [n for n, _ in self._buf]
        append_record(self.gdir, self.writer_id,
                      {"op": "add", **entry, "rows": table.num_rows, "videos": videos, "time": now(),
                       "schema_version": SCHEMA_VERSION})
        self._buf, self._buf_rows = [], 0
        self.done.update(videos)
        self._mine.update(videos)
        self._shards.append((final, entry, videos, table.num_rows))
        for n in videos:
            self.release(n)

    def close(self) -> None:
        """Commit what is buffered, merge this writer's shards into one, fold the logs into ``index.json``."""
        self.flush()
        self.compact()
        if (self.gdir / COMMITS_DIR).is_dir():
            with file_lock(self.gdir / LOCK_FILE):
                self._snapshot = fold_index(self.gdir)

    def compact(self) -> None:
        """Merge the small shards this writer committed in this group into shards of up to ``shard_rows`` rows.

        Each video was committed as it finished (kill safety); fewer, larger
        shards keep reads fast. A merged shard is committed first, then its
        parts are logged as dropped and deleted: a kill at any point leaves
        every video readable (readers use the first copy and ignore dropped
        shards; leftover files are removed as orphans by the next writer).
        """
        batches: list[list[tuple[str, dict[str, Any], list[str], int]]] = [[]]
        for shard in self._shards:
            if batches[-1] and sum(s[3] for s in batches[-1]) + shard[3] > self.shard_rows:
                batches.append([])
            batches[-1].append(shard)
        kept = []
        for batch in batches:
            if batch:
                kept.append(self._merge(batch) if len(batch) > 1 else batch[0])
        self._shards = kept

    def _merge(self, batch: list[tuple[str, dict[str, Any], list[str], int]]) -> tuple[str, dict[str, Any], list[str], int]:
        tables = [pq.read_table(pa.BufferReader(read_verified(self.gdir / name, entry))) for name, entry, _, _ in batch]
        table = pa.concat_tables(tables).combine_chunks()
        final = shard_name(self.writer_id, next(_SEQ))
        entry = self._commit_table(table, final)
        videos = [n for _, _, vs, _ in batch for n in vs]
        append_record(self.gdir, self.writer_id, {"op": "add", **entry, "rows": table.num_rows, "videos": videos,
                                                  "time": now(), "schema_version": SCHEMA_VERSION})
        for name, _, _, _ in batch:
            append_record(self.gdir, self.writer_id, {"op": "drop", "path": name, "reason": "compacted", "time": now()})
        for name, _, _, _ in batch:
            with contextlib.suppress(FileNotFoundError):
                (self.gdir / name).unlink()
        return final, entry, videos, table.num_rows

    def _commit_table(self, table: pa.Table, final: str) -> dict[str, Any]:
        """Write ``table`` to a temp file and commit it under ``final`` (see :func:`.commit.commit_file`)."""
        tmp = self.gdir / f".{final}.tmp"
        try:
            # features stay uncompressed (float features barely compress, and a plain buffer decodes at memory
            # speed); names, crops and segments compress well
            pq.write_table(
                table, tmp, compression={"name": "zstd", "crop": "zstd", "segment": "zstd", "feature": "none"},
                use_dictionary=["name"],
            )
            return commit_file(self.gdir, tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

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
