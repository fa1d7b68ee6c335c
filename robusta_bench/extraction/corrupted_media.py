"""Corrupted media written by ``robusta-bench corrupt``, as an extraction source (``--corrupted-dir``)."""

from __future__ import annotations

from pathlib import Path

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


def attach_media(jobs: list[VideoJob], table: dict[tuple[str, str, int, int], Path | str]) -> None:
    for job in jobs:
        for v in {*job.visual, *job.audio}:
            if v.is_clean:
                continue
            hit = table.get((job.video.name, v.corruption, v.severity, v.seed))
            if hit is None:
                job.media_errors[v] = f"not in {CORRUPT_MANIFEST} ({v.slug})"
            elif isinstance(hit, str):
                job.media_errors[v] = hit
            elif not Path(hit).exists():
                job.media_errors[v] = f"corrupted file missing: {hit}"
            else:
                job.media[v] = Path(hit)
