"""Claiming videos before their work starts, so concurrent runs share a store without redoing work.

:func:`claimed_jobs` walks the planned jobs lazily (just before each video is
decoded): for every (extractor, variant) group of a job it claims the video
(:mod:`robusta_bench.store.claims`), then re-reads the group's commit logs (a
video committed meanwhile by another writer is released and dropped); a group
a live writer has claimed is left to it. A job left with no group is skipped.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from .variants import VideoJob


def _trim(job: VideoJob, keep: Callable[[str, Any], bool]) -> None:
    for table in (job.visual, job.audio):
        for v in list(table):
            table[v] = [e for e in table[v] if keep(e, v)]
            if not table[v]:
                del table[v]


def claimed_jobs(jobs: Iterable[VideoJob], writers: dict[tuple[str, Any], Any],
                 on_elsewhere: Callable[[str, str, str], None] | None = None) -> Iterator[VideoJob]:
    """Yield ``jobs`` with every group already committed elsewhere, or claimed by a live writer, removed.

    ``writers[(extractor, variant)]`` is the group's :class:`~robusta_bench.store.writer.GroupWriter`;
    ``on_elsewhere(video, group_label, reason)`` is told about each group given up.
    """
    for job in jobs:
        name = job.video.name

        def keep(e: str, v: Any) -> bool:
            w = writers[(e, v)]
            label = f"{e}/{v.slug}"
            holder = w.claim(name)
            if holder is not None:
                if on_elsewhere:
                    on_elsewhere(name, label, f"claimed by writer {holder}")
                return False
            # checked after the claim: a writer commits before it releases, so nothing slips in between
            if name in w.refresh():
                w.release(name)
                if on_elsewhere:
                    on_elsewhere(name, label, "committed by another writer")
                return False
            return True

        _trim(job, keep)
        if not job.empty:
            yield job
