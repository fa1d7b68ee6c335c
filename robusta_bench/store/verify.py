"""``robusta-bench verify STORE``: check a whole feature store and repair it.

For every group it checks each committed shard (present, size, checksum
recorded at commit, readable Parquet with the recorded row count) and lists
what a crash or a concurrent run left behind (orphaned shards and temp files
of dead writers, stale claims, videos committed twice, commit logs not yet
folded into ``index.json``).

Repair (``--repair``) never rewrites features: under the group's lock it
records a ``drop`` for each damaged shard in a repair commit log, deletes the
damaged files, removes orphans and stale claims and folds the logs into
``index.json``. Rerunning the same ``extract`` command then extracts exactly
the videos of the dropped shards (everything else is skipped as committed).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..files import read_json
from .commit import COMMITS_DIR, LOCK_FILE, all_records, append_record, merge_view, now
from .feature_store import FeatureStore
from .locks import clean_dead_leases, file_lock, new_writer_id
from .schema import INDEX_FILE, StoreError, Variant
from .shards import read_verified


@dataclass
class GroupCheck:
    """What :func:`verify_store` found in one group."""

    group: str
    shards: int = 0
    videos: int = 0
    damaged: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # shard -> (reason, videos)
    leftovers: list[str] = field(default_factory=list)  # orphans, temp files, stale claims
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    unfolded: bool = False
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.damaged


@dataclass
class VerifyReport:
    """All groups of a store; :meth:`summary` says what is damaged and how to repair it."""

    store: Path
    groups: list[GroupCheck] = field(default_factory=list)
    repair: bool = False

    @property
    def ok(self) -> bool:
        """True when no committed shard is damaged (or every damaged one was dropped by ``--repair``)."""
        return all(g.ok or g.repaired for g in self.groups)

    def summary(self) -> str:
        lines = [f"store {self.store}: {len(self.groups)} group(s), "
                 f"{sum(g.shards for g in self.groups)} shard(s), {sum(g.videos for g in self.groups)} video-group(s)"]
        to_redo: set[str] = set()
        for g in self.groups:
            for shard, (reason, videos) in sorted(g.damaged.items()):
                state = "DROPPED" if g.repaired else "DAMAGED"
                lines.append(f"{state} {g.group}/{shard}: {reason}; holds {len(videos)} video(s): {', '.join(videos[:5])}"
                             + (" ..." if len(videos) > 5 else ""))
                to_redo.update(videos)
            for shard, videos in sorted(g.duplicates.items()):
                lines.append(f"duplicate {g.group}/{shard}: {len(videos)} video(s) also committed in an earlier shard "
                             "(readers use the earlier copy)")
            if g.leftovers:
                lines.append(f"leftovers {g.group}: {len(g.leftovers)} orphaned file(s)/stale claim(s)"
                             + (" removed" if self.repair else " (removed by --repair or by the next extract)"))
        if to_redo and not self.repair:
            lines.append(f"repair: robusta-bench verify {self.store} --repair  (drops the damaged shards), then rerun the "
                         f"same 'robusta-bench extract ... --out {self.store}' to re-extract the {len(to_redo)} video(s)")
        elif to_redo:
            lines.append(f"now rerun the same 'robusta-bench extract ... --out {self.store}': it re-extracts the "
                         f"{len(to_redo)} video(s) of the dropped shard(s) and skips the rest")
        if self.ok and not to_redo:
            lines.append("every committed shard matches its checksum")
        return "\n".join(lines)


def _check_shard(path: Path, entry: dict[str, Any], root: Path) -> str | None:
    try:
        data = read_verified(path, entry, root)
    except StoreError as exc:
        return "missing" if "missing" in str(exc) else "checksum differs from its commit record"
    try:
        rows = pq.read_metadata(pa.BufferReader(data)).num_rows
    except Exception as exc:  # checksum matched but not Parquet: written damaged
        return f"unreadable Parquet ({type(exc).__name__})"
    if "rows" in entry and rows != int(entry["rows"]):
        return f"{rows} rows, commit record says {entry['rows']}"
    return None


def verify_group(store: FeatureStore, extractor: str, variant: Variant, repair: bool = False) -> GroupCheck:
    """Check (and with ``repair`` fix) one group; see the module docstring."""
    from .writer import clean_orphans, fold_index

    gdir = store.group_dir(extractor, variant)
    check = GroupCheck(f"{extractor}/{variant.slug}")
    idx = store.index(extractor, variant)
    check.shards = len(idx["files"])
    check.videos = sum(len(f["videos"]) for f in idx["files"])
    check.duplicates = dict(idx.get("duplicates", {}))
    for f in idx["files"]:
        reason = _check_shard(gdir / f["path"], f, store.root)
        if reason:
            check.damaged[f["path"]] = (reason, list(f.get("all_videos", f["videos"])))
    check.unfolded = (gdir / COMMITS_DIR).is_dir() and bool(all_records(gdir))
    check.leftovers = _leftovers(store.root, gdir, read_json(gdir / INDEX_FILE))
    if repair:
        with file_lock(gdir / LOCK_FILE):
            if check.damaged:
                wid = f"repair-{new_writer_id()}"
                for shard, (reason, _videos) in check.damaged.items():
                    append_record(gdir, wid, {"op": "drop", "path": shard, "reason": reason, "time": now()})
            clean_orphans(store.root, gdir, read_json(gdir / INDEX_FILE))
            for shard in check.damaged:
                with contextlib.suppress(FileNotFoundError):
                    (gdir / shard).unlink()
            if (gdir / COMMITS_DIR).is_dir():
                fold_index(gdir)
        check.repaired = bool(check.damaged)
    return check


def _leftovers(root: Path, gdir: Path, snapshot: dict[str, Any]) -> list[str]:
    """Files the next writer (or ``--repair``) would remove, without removing them."""
    from .claims import stale_claims
    from .commit import committed_paths
    from .locks import writer_alive, writer_of

    listed = committed_paths(gdir, snapshot)
    out = []
    for p in list(gdir.glob("part-*.parquet")) + list(gdir.glob(".part-*")):
        if p.name in listed:
            continue
        w = writer_of(p.name)
        if w is None or not writer_alive(root, w):
            out.append(p.name)
    out += [f"claims/{p.name}" for p in stale_claims(root, gdir)]
    return out


def verify_store(root: str | Path, repair: bool = False) -> VerifyReport:
    """Check every group of the store at ``root`` (see the module docstring)."""
    store = FeatureStore(root)
    report = VerifyReport(store.root, repair=repair)
    for extractor, variant in store.groups():
        report.groups.append(verify_group(store, extractor, variant, repair=repair))
    if repair:
        clean_dead_leases(store.root)
    return report


def fold_group(gdir: Path) -> None:
    """Fold a group's commit logs into its ``index.json`` under the group's lock (no-op without logs)."""
    from .writer import fold_index

    if (gdir / COMMITS_DIR).is_dir():
        with file_lock(gdir / LOCK_FILE):
            fold_index(gdir)


def merged_index(gdir: Path) -> dict[str, Any]:
    """A group's merged view straight from its folder (for tools that hold no :class:`FeatureStore`)."""
    return merge_view(read_json(gdir / INDEX_FILE), all_records(gdir))
