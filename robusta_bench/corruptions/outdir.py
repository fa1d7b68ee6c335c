"""Sharing one ``corrupt --out`` folder between runs, and cleaning up after killed ones.

- Every run holds a writer lease (:class:`~robusta_bench.store.locks.WriterLease`,
  ``OUT/writers/<id>.lock``) while it works.
- ``OUT/corrupt_manifest.csv`` is rewritten only under ``flock(OUT/.lock)``,
  merging the rows on disk with the rows this run produced (a concurrent
  run's rows are kept, never overwritten by a stale copy).
- Temporary outputs (``.<name>.<random>.part.mp4`` of a killed run) are removed
  at the start of a run when no other run holds a lease on the folder.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable

from ..store.locks import WRITERS_DIR, WriterLease, file_lock, writer_alive

LOCK_FILE = ".lock"


def start_run(out: Path) -> WriterLease:
    """Take this run's lease on ``out`` and remove leftovers of killed runs if no other run is live."""
    lease = WriterLease(out).acquire()
    with file_lock(out / LOCK_FILE):
        others = [p for p in (out / WRITERS_DIR).glob("*.lock") if p.stem != lease.id and writer_alive(out, p.stem)]
        if not others:
            for p in out.rglob(".*.part.*"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            for p in (out / WRITERS_DIR).glob("*.lock"):
                if p.stem != lease.id:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
    return lease


def save_merged(out: Path, mine: dict[tuple, dict[str, Any]], load: Callable[[Path], list[dict[str, Any]]],
                key: Callable[[dict[str, Any]], tuple], save: Callable[[Path, dict[tuple, dict[str, Any]]], Path]) -> Path:
    """Under the folder's lock: rows on disk, updated with this run's rows ``mine``, written back."""
    with file_lock(out / LOCK_FILE):
        merged = {key(r): r for r in load(out)}
        merged.update(mine)
        return save(out, merged)
