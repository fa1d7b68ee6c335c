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

Writes are crash-safe and shared: every writer names its own shards
``part-<writer>-<seq>.parquet``, commits each atomically and records it in its
own append-only log ``commits/<writer>.jsonl``; readers merge ``index.json``
(a folded snapshot, and the whole index of schema-1/2 groups) with the logs,
and every read checks each shard against its commit-time checksum
(:mod:`.commit`, :mod:`.writer`, :mod:`.claims`, :mod:`.verify`). A group's
names and keys live in :mod:`.schema`, shard reading in :mod:`.shards`; both
are importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..files import atomic_write_json, read_json
from .schema import INDEX_FILE, SCHEMA_VERSION, STORE_FILE, StoreError, Variant, content_key, spec_hash
from .shards import checksum_ok, read_shard, read_verified, shard_features
from .writer import GroupWriter

#: What readers and writers of the store import from here (defined in :mod:`.schema`,
#: :mod:`.shards` and :mod:`.writer`).
__all__ = [
    "INDEX_FILE", "SCHEMA_VERSION", "STORE_FILE", "FeatureStore", "GroupWriter", "StoreError", "Variant",
    "content_key", "read_verified", "shard_features", "spec_hash",
]

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
        """A group's index as readers see it: ``index.json`` merged with the commit logs (committed shards only)."""
        from .commit import all_records, merge_view, view_signature

        gdir = self.group_dir(extractor, variant)
        path = gdir / INDEX_FILE
        if not path.exists():
            have = ", ".join(f"{e}/{v.slug}" for e, v in self.groups()) or "nothing"
            raise StoreError(f"store {self.root} has no features for {extractor} / {variant.slug} (it has: {have})")
        cache = self.__dict__.setdefault("_views", {})
        sig = view_signature(gdir)
        hit = cache.get(gdir)
        if hit is None or hit[0] != sig:  # merged once per change of index.json or a log, not per read
            hit = cache[gdir] = (sig, merge_view(read_json(path), all_records(gdir)))
        return dict(hit[1])  # nested lists are shared with the cache: treat them as read-only

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
        flush_s: float | None = None,
    ) -> GroupWriter:
        """Open (or resume) a group for writing. See :class:`GroupWriter`.

        New shards use the current schema; a schema-1 store's marker is raised
        to it, so an older robusta-bench refuses the store instead of misreading it.
        """
        from .commit import LOCK_FILE
        from .locks import file_lock

        marker = self.root / STORE_FILE
        with file_lock(self.root / LOCK_FILE):
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
            store_root=self.root,
            lease=self.lease(),
            flush_s=flush_s,
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
            owned = set(f["videos"]) if wanted is None else wanted.intersection(f["videos"])
            if not owned:
                continue
            yield from read_shard(gdir / f["path"], idx["n_crops"], owned, f, self.root)

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
        """Check every committed shard's size and checksum against its commit record; return problems."""
        idx = self.index(extractor, variant)
        gdir = self.group_dir(extractor, variant)
        problems = []
        for f in idx["files"]:
            p = gdir / f["path"]
            if not p.exists():
                problems.append(f"missing {p}")
            elif p.stat().st_size != f["bytes"] or not checksum_ok(p.read_bytes(), f):
                problems.append(f"checksum mismatch {p}")
        return problems

    def lease(self):
        """This store object's writer lease (one writer id per run), taken on first use."""
        from .locks import WriterLease

        if getattr(self, "_lease", None) is None:
            self._lease = WriterLease(self.root).acquire()
        return self._lease

    def close(self) -> None:
        """Give up the writer lease, if one was taken."""
        lease = getattr(self, "_lease", None)
        if lease is not None:
            lease.release()
            self._lease = None
