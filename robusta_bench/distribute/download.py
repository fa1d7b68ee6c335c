"""Download prebuilt feature shards into a feature store (``robusta-bench download``).

Steps, in order, so that nothing is written until the release is known good:

1. fetch and validate ``release.json`` (schema version, safe paths, no
   duplicates; see :mod:`robusta_bench.distribute.release`);
2. choose groups by ``variants`` / ``extractors`` (unknown names: an error
   listing what the release has);
3. check the destinations (inside the store, no conflicting group already
   there) and, for a local mirror, that no file is a symbolic link;
4. skip files already present with the right size and sha256;
5. (``dry_run`` stops here and reports the plan;) fetch each group's
   ``index.json`` and check it lists exactly the release's shards;
6. fetch the shards in parallel threads (:func:`~robusta_bench.distribute.fetch.fetch_file`:
   ``.partial`` files, resume, bounded retries, sha256 check, atomic rename);
7. write the ``index.json`` of every group whose shards are all in place, so
   ``FeatureStore(out)`` reads it. A group with a failed shard gets no index
   (it stays invisible to the store) and the next run completes it.

A bad file never stops the others: failures are collected in the
:class:`DownloadReport`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .. import BENCHMARK_VERSION
from ..files import atomic_write_bytes, sha256_file
from ..store.feature_store import SCHEMA_VERSION as STORE_SCHEMA_VERSION, STORE_FILE, FeatureStore, StoreError, Variant
from .errors import DistributeError, UnsafeReleaseError
from .fetch import fetch_file, fetch_small
from .release import (
    MAX_GROUP_INDEX_BYTES,
    MAX_RELEASE_BYTES,
    ReleaseFile,
    ReleaseGroup,
    parse_release,
    select_groups,
)
from .sources import Source, resolve_source

log = logging.getLogger(__name__)


@dataclass
class DownloadReport:
    """What a :func:`download` run did (or, with ``dry_run``, would do)."""

    source: str
    out_dir: Path
    dry_run: bool
    benchmark_version: str
    groups: list[str] = field(default_factory=list)
    to_fetch: list[ReleaseFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    groups_written: list[str] = field(default_factory=list)
    groups_incomplete: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def bytes_to_fetch(self) -> int:
        return sum(f.bytes for f in self.to_fetch)

    @property
    def bytes_downloaded(self) -> int:
        done = set(self.downloaded)
        return sum(f.bytes for f in self.to_fetch if f.path in done)

    def summary(self) -> str:
        """A few human-readable lines."""
        if self.dry_run:
            lines = [
                f"dry run: would fetch {len(self.to_fetch)} file(s), {human_bytes(self.bytes_to_fetch)} "
                f"from {self.source} into {self.out_dir}; {len(self.skipped)} already present"
            ]
        else:
            lines = [
                f"downloaded {len(self.downloaded)} file(s), {human_bytes(self.bytes_downloaded)} from {self.source} "
                f"into {self.out_dir}; {len(self.skipped)} already present; {len(self.failed)} failed"
            ]
            if self.groups_written:
                lines.append(f"groups ready: {', '.join(self.groups_written)}")
            if self.groups_incomplete:
                damaged = any("sha256" in str(v) for v in self.failed.values())
                hint = ("some files are damaged at the source (sha256 mismatch): ask the publisher to publish again; "
                        "running again fetches the same bytes" if damaged else "run again to finish")
                lines.append(f"groups incomplete ({hint}): {', '.join(self.groups_incomplete)}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def human_bytes(n: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def download(
    source: str | None,
    out_dir: str | os.PathLike,
    variants: Iterable[str] | str | None = None,
    extractors: Iterable[str] | str | None = None,
    jobs: int = 4,
    dry_run: bool = False,
    retries: int = 4,
    timeout: float = 30.0,
    progress: bool = False,
    *,
    backoff: float = 0.5,
) -> DownloadReport:
    """Download the chosen groups of the release at ``source`` into the store ``out_dir``.

    ``source`` is an http(s):// URL, a file:// URL or a folder (None: the
    ``ROBUSTA_MIRROR`` environment variable). ``jobs`` parallel threads;
    ``retries`` extra attempts per file for transient failures, waiting
    ``backoff * 2**k`` seconds (jittered, capped at 30 s); ``timeout`` seconds
    for connecting and for each read. Raises :class:`NoSourceError`,
    :class:`SelectionError` or :class:`UnsafeReleaseError` (before writing
    anything); per-file failures are in the returned report.
    """
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    if retries < 0:
        raise ValueError("retries must be >= 0")
    if not timeout > 0:
        raise ValueError("timeout must be > 0")
    out = Path(out_dir)
    with resolve_source(source, timeout=timeout, jobs=jobs) as src:
        raw = fetch_small(src, src.index_name, MAX_RELEASE_BYTES, retries=retries, backoff=backoff)
        try:
            obj = json.loads(raw)
        except ValueError as exc:  # includes bad UTF-8
            raise UnsafeReleaseError(f"{src.describe(src.index_name)} is not valid JSON: {exc}") from None
        release = parse_release(obj)
        chosen = select_groups(release.available(), variants, extractors, what=f"release at {src.label}")
        groups = [release.group(e, v) for e, v in chosen]
        report = DownloadReport(
            source=src.label, out_dir=out, dry_run=dry_run, benchmark_version=release.benchmark_version,
            groups=[g.key for g in groups],
        )
        if release.benchmark_version != BENCHMARK_VERSION:
            report.warnings.append(
                f"the release is benchmark {release.benchmark_version!r}, this robusta-bench defines {BENCHMARK_VERSION!r}"
            )
        _check_out_store(out)
        dests = {f.path: _dest(out, f.path) for g in groups for f in g.files}
        dests.update({g.index_path: _dest(out, g.index_path) for g in groups})
        src.preflight([g.index_path for g in groups] + [f.path for g in groups for f in g.files])

        active = []
        for g in groups:
            conflict = _group_conflict(g, dests[g.index_path])
            if conflict:
                report.failed[g.index_path] = conflict
                report.groups_incomplete.append(g.key)
            else:
                active.append(g)
        for g in active:
            for f in g.files:
                if _present(dests[f.path], f):
                    report.skipped.append(f.path)
                else:
                    report.to_fetch.append(f)
        if dry_run:
            return report

        FeatureStore(out, create=True)
        from .release_videos import restore_videos

        n_videos = restore_videos(
            obj, lambda rel, limit: fetch_small(src, rel, limit, retries=retries, backoff=backoff), out
        )
        if n_videos is None:
            report.warnings.append("the release has no video list (videos.csv): splits are unknown; pass --manifest "
                                   "to export/train/evaluate")
        indexes = _fetch_group_indexes(src, active, dests, report, retries=retries, backoff=backoff)
        fetchable = [f for f in report.to_fetch if f"{f.extractor}/{f.variant}" in indexes]
        _fetch_all(src, fetchable, dests, report, jobs=jobs, retries=retries, backoff=backoff, progress=progress)

        done = set(report.skipped) | set(report.downloaded)
        for g in active:
            if g.key in indexes and all(f.path in done for f in g.files):
                data = indexes[g.key]
                if data is not None:
                    atomic_write_bytes(dests[g.index_path], data)
                report.groups_written.append(g.key)
            elif g.key not in report.groups_incomplete:
                report.groups_incomplete.append(g.key)
    return report


def _check_out_store(out: Path) -> None:
    """``out`` must be missing, empty, or a feature store this version reads."""
    if out.exists() and not out.is_dir():
        raise DistributeError(f"--out {out} exists and is not a folder")
    if (out / STORE_FILE).exists():
        try:
            FeatureStore(out)
        except StoreError as exc:
            raise DistributeError(str(exc)) from None
    elif out.is_dir() and any(out.iterdir()):
        raise DistributeError(f"--out {out} is neither a feature store (no {STORE_FILE}) nor empty")


def _dest(out: Path, rel: str) -> Path:
    """The store path of a (checked) release path; refuse one that resolves outside the store."""
    dest = out.joinpath(*rel.split("/"))
    root = out.resolve()
    resolved = dest.parent.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafeReleaseError(f"{rel}: would be written outside the store ({resolved}); is a folder a symlink?")
    if dest.is_symlink():
        raise UnsafeReleaseError(f"{rel}: {dest} is a symbolic link in the store")
    return dest


def _group_conflict(g: ReleaseGroup, index_dest: Path) -> str | None:
    """A reason why the store's existing group differs from the release's, or None."""
    if not index_dest.exists():
        return None
    if index_dest.stat().st_size == g.index_bytes and sha256_file(index_dest) == g.index_sha256:
        return None
    return (
        f"the store already has {g.key} with other content (extracted locally or from another release); "
        "delete that group folder or download into another store"
    )


def _present(dest: Path, f: ReleaseFile) -> bool:
    return dest.is_file() and dest.stat().st_size == f.bytes and sha256_file(dest) == f.sha256


def _fetch_group_indexes(
    src: Source, groups: list[ReleaseGroup], dests: dict[str, Path], report: DownloadReport, *, retries: int, backoff: float
) -> dict[str, bytes | None]:
    """Group index bytes per group key (None: already in the store); failures go to the report."""
    out: dict[str, bytes | None] = {}
    for g in groups:
        if dests[g.index_path].exists():  # identical (checked by _group_conflict)
            out[g.key] = None
            continue
        try:
            data = fetch_small(src, g.index_path, MAX_GROUP_INDEX_BYTES, retries=retries, backoff=backoff)
            if len(data) != g.index_bytes or hashlib.sha256(data).hexdigest() != g.index_sha256:
                raise DistributeError(f"{g.index_path}: size/sha256 differ from release.json")
            _check_group_index(g, data)
        except DistributeError as exc:
            report.failed[g.index_path] = str(exc)
            report.groups_incomplete.append(g.key)
            continue
        out[g.key] = data
    return out


def _check_group_index(g: ReleaseGroup, data: bytes) -> None:
    """The group index must describe this group and list exactly the release's shards."""
    try:
        idx = json.loads(data)
        v = idx["variant"]
        variant = Variant(v["corruption"], int(v["severity"]), int(v["seed"]))
        listed = {(f["path"], int(f["bytes"]), f["sha256"]) for f in idx["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsafeReleaseError(f"{g.index_path}: not a valid group index ({exc})") from None
    if idx.get("type") != "feature_group" or idx.get("extractor") != g.extractor or variant != g.variant:
        raise UnsafeReleaseError(f"{g.index_path}: describes another group than {g.key}")
    if int(idx.get("schema_version", -1)) > STORE_SCHEMA_VERSION:
        raise UnsafeReleaseError(f"{g.index_path}: group schema_version {idx.get('schema_version')} is too new")
    expected = {(f.path.rsplit("/", 1)[1], f.bytes, f.sha256) for f in g.files}
    if listed != expected:
        raise UnsafeReleaseError(f"{g.index_path}: its shard list differs from release.json")


def _fetch_all(
    src: Source,
    files: list[ReleaseFile],
    dests: dict[str, Path],
    report: DownloadReport,
    *,
    jobs: int,
    retries: int,
    backoff: float,
    progress: bool,
) -> None:
    from ..progress import progress_bar as tqdm

    if not files:
        return
    stop = threading.Event()
    lock = threading.Lock()
    with tqdm(
        total=sum(f.bytes for f in files), unit="B", unit_scale=True, unit_divisor=1024, desc="download",
        disable=not progress,
    ) as bar:

        def advance(n: int) -> None:
            with lock:
                bar.update(n)

        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="robusta-download")
        try:
            futures = {
                pool.submit(
                    fetch_file, src, f, dests[f.path], retries=retries, backoff=backoff, advance=advance, stop=stop
                ): f
                for f in files
            }
            for fut in as_completed(futures):
                f = futures[fut]
                try:
                    fut.result()
                except DistributeError as exc:
                    report.failed[f.path] = str(exc)
                    log.warning("%s", exc)
                except OSError as exc:  # local disk trouble (full disk, permissions)
                    report.failed[f.path] = f"{f.path}: {exc}"
                    log.warning("%s: %s", f.path, exc)
                else:
                    report.downloaded.append(f.path)
        except BaseException:
            stop.set()  # Ctrl-C: workers stop between chunks; partial files stay for resuming
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    report.downloaded.sort()


__all__ = ["DownloadReport", "download", "human_bytes"]
