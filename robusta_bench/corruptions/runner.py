"""The ``corrupt`` runner: write corrupted copies of the planned test videos.

For every requested (corruption, severity) and every video the plan corrupts at
``fraction``, one output file ``OUT/<type>-s<severity>-seed<seed>/<name>.mp4``:

written by the corruption's media-level entry point
:meth:`~robusta_bench.corruptions.base.Corruption.write` (the one the fused
extraction shares through ``Corruption.frames``):

- visual corruptions: frames decoded in chunks, corrupted with the
  corruption's ``stream()``, re-encoded with libx264 (CRF 17, same size and
  frame rate), every audio stream copied bit-exactly;
- bit error: the video packets are damaged and remuxed, nothing re-encoded;
- audio corruptions: the audio track decoded, corrupted at its own rate and
  channel count, written with the video stream copied.

Every random draw comes from ``corruption_seed(name, type, severity, seed)``, so
an output does not depend on order or worker count. Outputs are written under
a temporary name and renamed when complete. ``OUT/corrupt_manifest.csv``
records every item (name, corruption, modality, severity, seed, version,
source_path, output_path relative to OUT, sha256, error, the ``params``
the corruption sampled, as JSON, and noise_source) as
:class:`~robusta_bench.records.CorruptRecord` rows, merged across runs;
a rerun skips items whose output exists with the recorded sha256, version
and noise source (``--noise-dir``, see :mod:`.audio.overlay`).
A failing video becomes a row with an ``error`` and never stops the others.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from ..files import atomic_path, sha256_file
from ..manifest import read_table
from ..records import CORRUPT_COLUMNS, CorruptRecord, read_corrupt_records, write_corrupt_records
from .audio.overlay import make_corruption, noise_file, noise_source
from .base import CORRUPTIONS, SEVERITIES, corruption_names, get_corruption
from .plan import CLEAN, MISSING, Plan, PlanError, make_plan

log = logging.getLogger(__name__)

MANIFEST_NAME = "corrupt_manifest.csv"
MANIFEST_COLUMNS = CORRUPT_COLUMNS
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")
AUDIO_MISSING = "audio corruption support not installed (robusta_bench.media.audio_out is missing)"


class RunnerError(ValueError):
    """Bad runner arguments (unknown type, no manifest column ...): a usage error."""


@dataclass(frozen=True)
class Job:
    """One output to produce."""

    name: str
    source: str
    corruption: str
    severity: int
    seed: int
    output: str  # absolute path
    out_dir: str
    noise_dir: str = ""  # overlay noise recordings (--noise-dir); "" = generated noise

    def key(self) -> tuple:
        return (self.name, self.corruption, self.severity, self.seed)


@dataclass
class CorruptReport:
    """Outcome of :func:`corrupt_videos`."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    manifest_path: Path | None = None
    seconds: float = 0.0

    @property
    def done(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "done"]

    @property
    def skipped(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "skipped"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]


# ---------------------------------------------------------------------------
# arguments


def parse_severities(text: str | int | Sequence[int]) -> list[int]:
    """``"1-5"``, ``"3"``, ``"1,3"`` (or ints) -> sorted unique severities in 1..5."""
    if isinstance(text, int):
        items: list[int] = [text]
    elif isinstance(text, str):
        items = []
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            try:
                if "-" in part:
                    lo, hi = (int(x) for x in part.split("-", 1))
                    if lo > hi:
                        raise RunnerError(f"bad severity range {part!r}")
                    items.extend(range(lo, hi + 1))
                else:
                    items.append(int(part))
            except ValueError as exc:
                raise RunnerError(f"bad severity {part!r} (use e.g. 3, 1,3 or 1-5)") from exc
    else:
        items = [int(x) for x in text]
    bad = [s for s in items if s not in SEVERITIES]
    if bad or not items:
        raise RunnerError(f"severities must be within 1..5, got {text!r}")
    return sorted(set(items))


def parse_types(text: str | Sequence[str]) -> list[str]:
    """``all``, ``visual``, ``audio``, names, plan settings (``mixed_visual``, pairs) -> list of settings."""
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if not parts:
        raise RunnerError("no corruption type given")
    known = corruption_names(perturbations=True)
    out: list[str] = []
    for part in parts:
        if part in ("all", "visual", "audio"):
            names = corruption_names(None if part == "all" else part)
            if part == "audio" and not names:
                raise RunnerError(f"no audio corruptions are installed; {AUDIO_MISSING}")
            out.extend(names)
        elif part in known or part in ("mixed_visual", "mixed_audio") or "+" in part:
            out.append(part)
        elif part in ("missing_visual", "missing_audio"):
            raise RunnerError(f"{part}: a missing modality needs no corrupted files (nothing to write)")
        else:
            CORRUPTIONS.get(part)  # raises a RegistryError with suggestions
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


def resolve_sources(manifest: pd.DataFrame, manifest_dir: Path | None, video_dir: str | Path | None) -> dict[str, str]:
    """Map video name -> source file path (``path`` column, relative to the manifest; or ``video_dir``)."""
    out: dict[str, str] = {}
    if video_dir is not None:
        root = Path(video_dir)
        files = {}
        if root.is_dir():
            for p in root.iterdir():
                if p.suffix.lower() in VIDEO_EXTENSIONS:
                    files.setdefault(p.stem, p)
        for name in manifest["name"].astype(str):
            out[name] = str(files.get(name, root / f"{name}.mp4"))
        return out
    if "path" not in manifest.columns:
        raise RunnerError("the manifest has no 'path' column: pass --video-dir, the folder holding <name>.mp4")
    for name, path in zip(manifest["name"].astype(str), manifest["path"].astype(str)):
        p = Path(path)
        if not p.is_absolute() and manifest_dir is not None:
            p = manifest_dir / p
        out[name] = str(p)
    return out


def output_path(out_dir: str | Path, name: str, corruption: str, severity: int, seed: int) -> Path:
    """``OUT/<type>-s<severity>-seed<seed>/<name>.mp4``."""
    return Path(out_dir) / f"{corruption}-s{int(severity)}-seed{int(seed)}" / f"{name}.mp4"


def corruption_jobs(
    plan: Plan,
    settings: Sequence[str],
    severities: Sequence[int],
    fraction: float,
    seed: int,
    sources: dict[str, str],
    out_dir: str | Path,
    noise_dir: str | Path | None = None,
) -> list[Job]:
    """The outputs needed for ``settings`` x ``severities`` at ``fraction`` (deduplicated, ordered)."""
    out_dir = Path(out_dir).resolve()
    jobs: dict[tuple, Job] = {}
    for setting in settings:
        try:
            assignment = plan.assignment(setting, fraction)
        except PlanError as exc:
            raise RunnerError(str(exc)) from exc
        for severity in severities:
            for name, kinds in assignment.items():
                for corruption in (kinds["visual"], kinds["audio"]):
                    if corruption in (CLEAN, MISSING):
                        continue
                    job = Job(
                        name=name,
                        source=sources.get(name, ""),  # "" -> a per-video error, not an abort
                        corruption=corruption,
                        severity=int(severity),
                        seed=int(seed),
                        output=str(output_path(out_dir, name, corruption, severity, seed)),
                        out_dir=str(out_dir),
                        noise_dir=str(Path(noise_dir).resolve()) if noise_dir is not None else "",
                    )
                    jobs.setdefault(job.key(), job)
    return list(jobs.values())


# ---------------------------------------------------------------------------
# one item (runs in a worker process)


def corrupt_one(job: Job) -> CorruptRecord:
    """Produce one output; never raises: failures come back as a record with ``error``."""
    rec = CorruptRecord(
        name=job.name, corruption=job.corruption, severity=job.severity, seed=job.seed,
        source_path=job.source, output_path=os.path.relpath(job.output, job.out_dir),
    )
    try:
        corr = make_corruption(job.corruption, job.noise_dir or None)
        rec.modality, rec.version = corr.modality, corr.version
        rec.noise_source = corr.noise_source() if hasattr(corr, "noise_source") else ""
        if not job.source:
            raise LookupError(f"{job.name}: in the plan but not in the manifest")
        if not Path(job.source).exists():
            raise FileNotFoundError(f"{job.name}: source video not found: {job.source}")
        rec.params = corr.sample(job.severity, job.seed, job.name)
        with atomic_path(job.output) as tmp:
            corr.write(job.source, tmp, job.severity, rec.params["item_seed"])
        rec.sha256 = sha256_file(job.output)
    except Exception as exc:  # one bad video must not stop the batch
        msg = str(exc) or type(exc).__name__
        rec.error = msg if job.name in msg else f"{job.name}: {msg}"
        log.debug("corrupt %s failed", job.name, exc_info=True)
    return rec


def corrupt_isolated(job: Job) -> CorruptRecord:
    """:func:`corrupt_one` in a child process: a segfault/abort/OOM kill becomes this video's error record."""
    from ..extraction.isolation import call_isolated

    ok, value = call_isolated(corrupt_one, job)
    if ok:
        return value
    return CorruptRecord(
        name=job.name, corruption=job.corruption, severity=job.severity, seed=job.seed,
        source_path=job.source, output_path=os.path.relpath(job.output, job.out_dir),
        error=f"{job.name}: {value} while corrupting (the run went on)",
    )


# ---------------------------------------------------------------------------
# the manifest of outputs


def read_corrupt_manifest(out_dir: str | Path) -> pd.DataFrame:
    """``OUT/corrupt_manifest.csv`` as a frame, ``output_path`` resolved to absolute paths (empty frame if none)."""
    out_dir = Path(out_dir)
    rows = []
    for rec in read_corrupt_records(out_dir / MANIFEST_NAME):
        row = rec.to_dict()
        row["output_path"] = str(rec.output(out_dir).resolve())
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def _is_finished(job: Job, rec: CorruptRecord | None) -> bool:
    if rec is None or rec.error or not rec.sha256:
        return False
    try:
        version = get_corruption(job.corruption).version
        noise = noise_source(job.corruption, job.noise_dir or None) or ""
    except Exception:
        return False
    if int(rec.version or 0) != version or not Path(job.output).exists():
        return False
    if (rec.noise_source or "") != noise:  # other noise: the output differs
        return False
    return sha256_file(job.output) == rec.sha256


# ---------------------------------------------------------------------------
# the runner


def corrupt_videos(
    manifest: pd.DataFrame | str | Path,
    out_dir: str | Path,
    types: str | Sequence[str] = "all",
    severities: str | Sequence[int] = "1-5",
    fraction: float = 1.0,
    seed: int = 0,
    plan: Plan | str | Path | None = None,
    jobs: int = 1,
    video_dir: str | Path | None = None,
    progress: bool = False,
    noise_dir: str | Path | None = None,
    shard: tuple[int, int] | str | None = None,
    ray_address: str | None = None,
) -> CorruptReport:
    """Write the corrupted videos of a plan; see the module docstring.

    ``manifest`` is a DataFrame or a manifest file (columns name, label, split,
    and path unless ``video_dir`` is given; relative paths are relative to the
    manifest file). Without ``plan`` the plan is made from the manifest's test
    split with ``seed``. ``jobs`` > 1 uses that many processes; the outputs
    are identical to ``jobs=1``. ``noise_dir`` holds the user's noise
    recordings for the overlay types (NOISEX-92 names, see
    :mod:`.audio.overlay`); each row's ``noise_source`` says which noise was
    used. ``shard`` ``K/N`` keeps the videos of shard K of N
    (``robusta_bench.extraction.sharding``); ``ray_address`` runs the videos
    as Ray tasks (``"local"`` for a Ray instance on this machine). Returns a
    :class:`CorruptReport` (its ``failed`` rows name the videos that failed).
    """
    t0 = time.perf_counter()
    manifest_dir = None
    if not isinstance(manifest, pd.DataFrame):
        manifest_dir = Path(manifest).resolve().parent
        manifest = read_table(manifest)
    if "name" not in manifest.columns:
        raise RunnerError("the manifest has no 'name' column")
    settings = parse_types(types)
    sevs = parse_severities(severities)
    if noise_dir is not None:
        try:
            noise_file(noise_dir, "hf_channel")  # a bad folder is a usage error, before any work
        except ValueError as exc:
            raise RunnerError(str(exc)) from exc
    if plan is None:
        try:
            plan = make_plan(manifest, seed=seed)
        except PlanError as exc:
            raise RunnerError(str(exc)) from exc
    elif not isinstance(plan, Plan):
        plan = Plan.from_file(plan)
    sources = resolve_sources(manifest, manifest_dir, video_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from .outdir import save_merged, start_run

    lease = start_run(out)  # leftovers of killed runs removed; concurrent runs share the manifest under a lock
    mine: dict[tuple, CorruptRecord] = {}

    def save() -> Path:
        return save_merged(
            out, mine, lambda o: read_corrupt_records(o / MANIFEST_NAME), lambda rec: rec.key(),
            lambda o, merged: write_corrupt_records(o / MANIFEST_NAME, merged.values()),
        )

    todo = corruption_jobs(plan, settings, sevs, fraction, seed, sources, out, noise_dir)
    if shard is not None:
        from ..extraction.sharding import parse_shard, select_shard

        todo = select_shard(todo, parse_shard(shard))

    known = {rec.key(): rec for rec in read_corrupt_records(out / MANIFEST_NAME)}
    report = CorruptReport()
    pending: list[Job] = []
    for job in todo:
        rec = known.get(job.key())
        if _is_finished(job, rec):
            report.rows.append({**rec.to_dict(), "status": "skipped"})
        else:
            pending.append(job)

    bar = None
    if progress and pending:
        from ..progress import progress_bar

        bar = progress_bar(total=len(pending), unit="video", desc="corrupt")
    last_save = 0.0

    def record(rec: CorruptRecord) -> None:
        nonlocal last_save
        known[rec.key()] = mine[rec.key()] = rec
        report.rows.append({**rec.to_dict(), "status": "failed" if rec.error else "done"})
        if bar is not None:
            bar.update(1)
            if rec.error:
                bar.write(f"failed: {rec.error}")
        now = time.perf_counter()
        if now - last_save > 2.0:
            save()
            last_save = now

    try:
        if ray_address is not None:
            from ..extraction.ray_runner import ray_map

            for row in ray_map(corrupt_isolated, pending, ray_address):
                record(row)
        elif jobs <= 1 or len(pending) <= 1:
            for job in pending:
                record(corrupt_isolated(job))
        else:
            from concurrent.futures import ThreadPoolExecutor

            # each thread forks one child per video: processes do the work, a native crash fails one video
            with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
                futures = [pool.submit(corrupt_isolated, job) for job in pending]
                for fut in as_completed(futures):
                    record(fut.result())
    finally:
        if bar is not None:
            bar.close()
        report.manifest_path = save()
        lease.release()
    report.seconds = time.perf_counter() - t0
    return report


def describe_registry(names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows for ``corrupt --list``: name, modality, version, packet_level, levels."""
    wanted = list(names) if names is not None else corruption_names()
    return [{"name": n, **get_corruption(n).describe()} for n in wanted]
