"""Corrupted media written by ``robusta-bench corrupt``, as an extraction source (``--corrupted-dir``).

Which file each corrupted variant of a video is read from: ``robusta-bench
corrupt --fraction F`` writes corrupted copies only of the test videos its plan
picks; the others are, by the plan, uncorrupted at that level. For those, the
variant is extracted from the clean file (so a store made from a partial corrupt
run is complete), and the count is reported (:func:`describe_clean_fallback`). A
video the corrupt run *tried* and failed keeps that error; a listed file that is
gone is an error too; a variant the corrupt run never made is an error naming the
command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .variants import VideoJob

CORRUPT_MANIFEST = "corrupt_manifest.csv"


def read_corrupt_manifest(directory: str | Path) -> dict[tuple[str, str, int, int], Path | str]:
    """Map ``(name, corruption, severity, seed)`` to a corrupted file (or an error) from ``DIR/corrupt_manifest.csv``.

    Rows are read as :class:`~robusta_bench.records.CorruptRecord` (the one
    reader of the file ``robusta-bench corrupt`` writes). A row with an error,
    or made by another version of the corruption than the registered one, maps
    to an error message.
    """
    from ..corruptions.base import CORRUPTIONS
    from ..records import read_corrupt_records

    directory = Path(directory)
    path = directory / CORRUPT_MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: --corrupted-dir must be an output folder of 'robusta-bench corrupt'")
    out: dict[tuple[str, str, int, int], Path | str] = {}
    for rec in read_corrupt_records(path):
        if rec.error:
            out[rec.key()] = f"corrupt failed: {rec.error}"
            continue
        if rec.version and rec.corruption in CORRUPTIONS:
            now = int(getattr(CORRUPTIONS.get(rec.corruption), "version", 1))
            if rec.version != now:
                out[rec.key()] = f"stale corrupted file (made by {rec.corruption} version {rec.version}, now {now}): rerun corrupt"
                continue
        out[rec.key()] = rec.output(directory)
    return out


def attach_media(jobs: Iterable[VideoJob], table: dict[tuple[str, str, int, int], Path | str]) -> dict[str, int]:
    """Set ``job.media`` / ``job.media_errors`` for every corrupted variant of every job.

    A variant that the corrupt run made for some videos but not this one is read
    from the clean file; a variant it never made is an error naming the command.
    Returns ``{variant slug: number of videos read from their clean file}``.
    """
    clean: dict[str, int] = {}
    runs = {key[1:] for key in table}
    for job in jobs:
        for v in {*job.visual, *job.audio}:
            if v.is_clean:
                continue
            hit = table.get((job.video.name, v.corruption, v.severity, v.seed))
            if hit is None and (v.corruption, v.severity, v.seed) not in runs:
                job.media_errors[v] = (
                    f"not in {CORRUPT_MANIFEST} ({v.slug}): run 'robusta-bench corrupt --type {v.corruption} "
                    f"--severity {v.severity} --corruption-seed {v.seed}' into that folder first"
                )
            elif hit is None:
                job.media[v] = Path(job.video.path)
                clean[v.slug] = clean.get(v.slug, 0) + 1
            elif isinstance(hit, str):
                job.media_errors[v] = hit
            elif not Path(hit).exists():
                job.media_errors[v] = f"corrupted file missing: {hit}"
            else:
                job.media[v] = Path(hit)
    return clean


#: newcomer's name of :func:`attach_media`
attach_corrupted_media = attach_media


def describe_clean_fallback(counts: dict[str, int]) -> list[str]:
    """One line per variant: how many videos were read from their clean file."""
    return [
        f"{slug}: {n} video(s) not corrupted by the corrupt run (its plan left them clean at that fraction) "
        f"-> extracted from their clean media; evaluate levels above the corrupt run's --fraction would count "
        f"them as corrupted" for slug, n in sorted(counts.items())
    ]
