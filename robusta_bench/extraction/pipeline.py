"""The extraction pipeline behind ``robusta-bench extract``.

One call of :func:`extract` turns an index manifest into feature groups of a
:class:`~robusta_bench.store.feature_store.FeatureStore`, one group per (extractor,
variant):

- background workers decode each video once (:mod:`.producer`) and derive every
  requested variant from the decoded frames/audio in memory (fused), or read
  already-corrupted media (``corrupted_dir``);
- the main thread crops snippets and batches them across crops, variants and
  videos (:mod:`.batching`), so the model always sees full batches;
- features are written per video, in manifest order, through resumable
  :class:`~robusta_bench.store.feature_store.GroupWriter` s keyed by a spec hash that
  covers the extractor spec, the protocol, the crops and the precision; videos
  already stored are skipped, a failing video is recorded by name and the run
  goes on.

Determinism: results and shard bytes depend only on the inputs, the seed and
the batch size, never on the number of workers or timing (videos are consumed
in manifest order whatever the worker that decoded them).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..records import read_videos
from ..registry import RegistryError
from ..store.feature_store import FeatureStore, Variant, spec_hash
from ..vocabulary import canonical_precision
from .batching import Batcher, VideoFeatures
from .corrupted_media import CORRUPT_MANIFEST, attach_media, describe_clean_fallback, read_corrupt_manifest
from .groups import Group, check_resume, crop_order_for, extractor_name, group_spec, load_spec_or_none, variant_plan
from .precision import calibrate_run
from .protocol import OFFICIAL, Protocol
from .report import ExtractReport
from .routing import route_items
from .variants import VideoItem, VideoJob, extraction_jobs, parse_variants, variant_modality
from .workers import job_streams

__all__ = ["CORRUPT_MANIFEST", "ExtractReport", "build_extractor", "crop_order_for", "default_batch_size", "extract",
           "read_corrupt_manifest"]

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16  # CUDA
CPU_BATCH_SIZE = 4  # CPU convolutions gain nothing beyond ~2-4 clips and lose cache locality after


def default_batch_size(device: str) -> int:
    """Clips per model call when none is given: 4 on CPU (measured best, ``benchmarks/extract.py``), 16 on CUDA."""
    return CPU_BATCH_SIZE if str(device).split(":")[0] == "cpu" else DEFAULT_BATCH_SIZE


class ExtractorUnavailable(ValueError):
    """An extractor cannot be built here (weights not in the cache, bad checkpoint ...)."""


# ----------------------------------------------------------------- extractors
def build_extractor(spec: Any, device: str = "cpu") -> Any:
    """An extractor instance from a registered name (or an instance, returned as is).

    The class is constructed with ``device=`` when its constructor takes it.
    """
    if not isinstance(spec, (str, type)):
        return spec
    from ..models.extractor import get_extractor_class

    cls = get_extractor_class(spec) if isinstance(spec, str) else spec
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    takes_device = "device" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return cls(device=device) if takes_device else cls()


# ----------------------------------------------------------------- the run
def extract(
    manifest: str | Path | Sequence[VideoItem],
    extractors: str | Sequence[Any],
    variants: str | Sequence[str | Variant],
    store_dir: str | Path,
    *,
    device: str = "cpu",
    batch_size: int | None = None,
    workers: int = 1,
    split: str = "all",
    variant_split: str = "test",
    seed: int = 0,
    crops: int | None = None,
    corrupted_dir: str | Path | None = None,
    noise_dir: str | Path | None = None,
    dtype: str = "float32",
    precision: str = "fp32",
    limit: int | None = None,
    progress: bool = False,
    proto: Protocol = OFFICIAL,
    chunk_size: int = 64,
    shard_rows: int = 50_000,
    flush_s: float = 0.0,
    isolate: bool = True,
    shard: tuple[int, int] | None = None,
    media_source: Any = None,
) -> ExtractReport:
    """Extract features of ``manifest``'s videos into the store ``store_dir``.

    ``extractors``: registered names (``"i3d-inception,yamnet"``) or instances.
    ``variants``: ``"clean,fog@3,babble@2"`` or a list; corrupted variants use
    ``seed``. ``batch_size`` None: :func:`default_batch_size` of ``device``.
    Clean features are made for videos of ``split``, corrupted ones
    for videos of ``variant_split``; visual corruptions go to visual extractors
    and audio ones to audio extractors. ``crops`` overrides the number of crops
    (1 = centre only). ``corrupted_dir`` reads the corrupted media written by
    ``robusta-bench corrupt`` instead of corrupting in memory; ``noise_dir``
    holds noise recordings for the overlay corruptions (NOISEX-92 names; its
    source is recorded in the group metadata as ``noise_source``). ``precision``
    ``tf32``/``bf16`` is used only if a calibration batch passes the tolerance
    check against fp32 (else fp32 is used and the report says why).
    Resumable and shareable: videos already in a group, or claimed by a
    concurrent writer, are skipped; each video is committed as it finishes
    (``flush_s`` > 0 groups the videos finished within that many seconds).
    ``isolate``: each video's decoding and corruption run in a child process,
    so a native crash fails that video only (:mod:`.isolation`). ``shard``
    ``(K, N)`` keeps the videos of shard K of N (:mod:`.sharding`).
    ``media_source(job, produce_kwargs)``, when given, yields a job's items
    instead of decoding here (Ray CPU tasks, :mod:`.ray_runner`). Returns an
    :class:`ExtractReport`; failures are recorded in the store and the report,
    never raised. Raises ``ValueError`` / :class:`StoreError` for bad arguments.
    """
    t_start = time.perf_counter()
    precision = canonical_precision(precision)
    batch_size = default_batch_size(device) if batch_size is None else batch_size
    _check_options(dtype, batch_size, crops)
    variant_list = parse_variants(variants if not isinstance(variants, Variant) else [variants], seed=seed)
    for v in variant_list:
        variant_modality(v)  # unknown corruption -> RegistryError (a usage error)
    videos = list(manifest) if not isinstance(manifest, (str, Path)) else read_videos(manifest)
    if limit is not None:
        videos = videos[: int(limit)]
    if shard is not None:
        from .sharding import parse_shard, select_shard

        videos = select_shard(videos, parse_shard(shard))
    run = _build_run(extractors, device, crops, variant_list)

    report = ExtractReport(store=Path(store_dir), videos=len(videos))
    store = FeatureStore(store_dir, create=True)
    from ..store.xdviolence import update_store_videos

    update_store_videos(store.root, videos)
    # precision: decided per extractor on a calibration batch before any group is opened
    effective = {n: "fp32" for n in run.names}
    if precision != "fp32":
        effective = calibrate_run(videos, run, precision, device, proto, report, chunk_size)
    report.precision = dict(effective)

    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        source = "corrupted-dir" if corrupted_dir is not None else "fused"
        groups = _open_groups(stack, store, run, variant_list, effective, source, proto, dtype, shard_rows, flush_s,
                              None if corrupted_dir is not None else noise_dir)
        report.written = {g.label: 0 for g in groups.values()}
        report.groups = sorted(report.written)
        jobs = extraction_jobs(
            videos, run.visual_names, run.audio_names, variant_list, {k: set(g.writer.done) for k, g in groups.items()},
            split=split, variant_split=variant_split,
        )
        report.skipped = sum(j.skipped for j in jobs)
        if corrupted_dir is not None:
            report.notes.extend(describe_clean_fallback(attach_media(jobs, read_corrupt_manifest(corrupted_dir))))
        on_done, on_error = _recorders(report)
        batchers = _batchers(run, effective, device, proto, batch_size, on_done, on_error)
        _run_jobs([j for j in jobs if not j.empty], groups, batchers, proto, report, on_done, on_error,
                  workers=workers, chunk_size=chunk_size, progress=progress, device=device, isolate=isolate,
                  media_source=media_source, noise_dir=noise_dir)
    report.seconds = time.perf_counter() - t_start
    return report


@dataclass
class _Run:
    """The extractors of a run: instances by name, their modality, spec and crop order."""

    by_name: dict[str, Any]
    modality: dict[str, str]
    specs: dict[str, dict[str, Any] | None]
    crop_orders: dict[str, tuple[str, ...]]

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    @property
    def visual_names(self) -> list[str]:
        return [n for n in self.by_name if self.modality[n] == "visual"]

    @property
    def audio_names(self) -> list[str]:
        return [n for n in self.by_name if self.modality[n] == "audio"]


def _check_options(dtype: str, batch_size: int, crops: int | None) -> None:
    if dtype not in ("float32", "float16"):
        raise ValueError("dtype must be float32 or float16")
    if batch_size < 1:
        raise ValueError("batch size must be >= 1")
    if crops is not None and crops < 1:
        raise ValueError("--crops must be >= 1")


def _build_run(extractors: str | Sequence[Any], device: str, crops: int | None, variant_list: Sequence[Variant]) -> _Run:
    """Build the extractors (a clear error naming one that cannot load) and their crop orders."""
    if isinstance(extractors, str):
        extractors = [e.strip() for e in extractors.split(",") if e.strip()]
    if not extractors:
        raise ValueError("no extractors given")
    objs = []
    for e in extractors:
        try:
            objs.append(build_extractor(e, device))
        except (RegistryError, ValueError):
            raise
        except Exception as exc:  # weights missing, bad checkpoint ...: say which extractor and what to do
            raise ExtractorUnavailable(
                f"cannot load extractor {e}: {type(exc).__name__}: {exc} "
                f"(fetch or import its weights: 'robusta-bench weights fetch {e}')"
            ) from exc
    names = [extractor_name(o) for o in objs]
    if len(set(names)) != len(names):
        raise ValueError(f"extractor listed twice: {names}")
    by_name = dict(zip(names, objs))
    modality = {n: getattr(o, "modality", "") for n, o in by_name.items()}
    for n, m in modality.items():
        if m not in ("visual", "audio"):
            raise ValueError(f"extractor {n} has modality {m!r} (expected visual or audio)")
    specs = {n: load_spec_or_none(n) for n in names}
    crop_orders = {n: crop_order_for(by_name[n], specs[n], crops) for n in names if modality[n] == "visual"}
    run = _Run(by_name, modality, specs, crop_orders)
    for v in variant_list:
        m = variant_modality(v)
        if m == "visual" and not run.visual_names or m == "audio" and not run.audio_names:
            log.warning("variant %s (%s) has no %s extractor in this run: skipped", v.slug, m, m)
    return run


def _open_groups(
    stack: contextlib.ExitStack, store: FeatureStore, run: _Run, variant_list: Sequence[Variant], effective: dict[str, str],
    source: str, proto: Protocol, dtype: str, shard_rows: int, flush_s: float = 0.0,
    noise_dir: str | Path | None = None,
) -> dict[tuple[str, Variant], Group]:
    """Open (or resume) the writer of every (extractor, variant) group of the run.

    The overlay noise of a corrupted variant (generated, or a ``noise_dir``
    recording: then part of the content key) is recorded as ``meta.noise_source``;
    media read from ``--corrupted-dir`` record theirs in its corrupt manifest.
    """
    from ..corruptions.audio.overlay import noise_source

    corrupted = source == "corrupted-dir"
    groups: dict[tuple[str, Variant], Group] = {}
    for n, obj in run.by_name.items():
        order = run.crop_orders.get(n)
        gspec = group_spec(obj, spec=run.specs[n], crops=order, proto=proto, precision=effective[n])
        shash = spec_hash(gspec)
        for v in variant_list:
            m = variant_modality(v)
            if m is not None and m != run.modality[n]:
                continue
            noise = None if v.is_clean or corrupted else noise_source(v.corruption, noise_dir)
            plan = variant_plan(v, source, noise)
            meta = {
                "plan": plan, "noise_source": noise if not corrupted else "see corrupt_manifest.csv of --corrupted-dir",
                "protocol": proto.to_dict(), "crops": list(order) if order is not None else None,
                "precision": effective[n], "source": "clean" if v.is_clean else source, "spec": gspec,
            }
            check_resume(store, n, v, shash, plan, dtype, gspec)
            writer = store.writer(
                n, v, spec_hash=shash, modality=run.modality[n], feature_dim=int(obj.feature_dim),
                n_crops=len(order) if order is not None else 1, meta=meta, dtype=dtype, shard_rows=shard_rows,
                flush_s=flush_s,
            )
            stack.enter_context(writer)
            groups[(n, v)] = Group(n, v, run.modality[n], order or (), writer)
    return groups


def _recorders(report: ExtractReport) -> tuple[Callable[[VideoFeatures], None], Callable[[VideoFeatures, str], None]]:
    """The callbacks that store a finished video's features, or record its failure."""

    def on_done(acc: VideoFeatures) -> None:
        g: Group = acc.group
        g.writer.write(acc.name, acc.array())
        acc.finished = True
        acc.rows.clear()
        report.written[g.label] += 1
        report.snippets += int(acc.n_snippets or 0)
        report.clips += int(acc.n_snippets or 0) * acc.n_crops

    def on_error(acc: VideoFeatures, message: str) -> None:
        if acc.finished or acc.error is not None:
            return
        acc.error = message
        acc.rows.clear()
        acc.group.writer.fail(acc.name, message)
        report.add_failure(acc.name, acc.group.label, message)

    return on_done, on_error


def _batchers(run: _Run, effective: dict[str, str], device: str, proto: Protocol, batch_size: int, on_done, on_error) -> dict[str, Batcher]:
    """One batcher per extractor, its model call in the run's precision."""
    from .precision import PrecisionEmbed

    batchers: dict[str, Batcher] = {}
    for n, obj in run.by_name.items():
        embed = PrecisionEmbed(obj.embed, effective[n], device) if effective[n] != "fp32" else obj.embed
        if run.modality[n] == "visual":
            shape, dt = (proto.snippet_len, proto.crop_size, proto.crop_size, 3), np.uint8
        else:
            shape, dt = (proto.audio_window,), np.float32
        batchers[n] = Batcher(n, embed, shape, dt, batch_size, int(obj.feature_dim), on_done, on_error)
    return batchers


def _run_jobs(work: Sequence[VideoJob], groups, batchers, proto: Protocol, report: ExtractReport, on_done, on_error, *,
              workers: int, chunk_size: int, progress: bool, device: str = "cpu", isolate: bool = True,
              media_source: Any = None, noise_dir: str | Path | None = None) -> None:
    """Decode (ahead, in ``workers`` threads), corrupt, cut and embed every job's video, in order.

    On a CUDA ``device`` the visual variants are made there (the torch path).
    The overlay corruptions use the recordings of ``noise_dir`` (default:
    their generated noise). ``isolate``: each video's media work runs in a
    child process (a native crash fails that video only); ``media_source``
    replaces the local decode (Ray CPU tasks). Jobs committed or claimed by a
    concurrent writer are left to it (``report.elsewhere``)."""
    from ..corruptions.audio.overlay import make_corruption
    from .claiming import claimed_jobs
    from ..corruptions.base import get_corruption
    from ..corruptions.visual.device import corruption_device
    from .producer import produce

    corrupt_device = corruption_device(device)

    def produce_fn(job: VideoJob) -> Iterator[tuple]:
        return produce(
            job,
            proto=proto,
            seed_of=lambda name, v: get_corruption(v.corruption).sample(v.severity, v.seed, name)["item_seed"],
            corruption_of=lambda name: make_corruption(name, noise_dir),
            chunk_size=chunk_size,
            corrupt_device=corrupt_device,
        )

    if media_source is not None:
        produce_fn = lambda job: media_source(job, {"proto": proto, "chunk_size": chunk_size})  # noqa: E731
    elif isolate:
        from .isolation import isolated

        produce_fn = isolated(produce_fn)
    bar = _progress(len(work), progress)
    t_loop = time.perf_counter()
    writers = {key: g.writer for key, g in groups.items()}
    todo = claimed_jobs(work, writers, lambda n, grp, why: report.elsewhere.setdefault(n, {}).__setitem__(grp, why))
    try:
        with job_streams(todo, produce_fn, workers) as streams:
            for job, items in streams:
                route_items(job, items, groups, batchers, proto, report, on_done, on_error)
                if bar is not None:
                    elapsed = time.perf_counter() - t_loop
                    bar.set_postfix_str(f"{report.snippets / max(elapsed, 1e-9):.2f} snippets/s")
                    bar.update(1)
        for b in batchers.values():
            b.flush()
    finally:
        if bar is not None:
            bar.close()
        report.timings["model"] = sum(b.model_seconds for b in batchers.values())


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from ..progress import progress_bar

    return progress_bar(total=total, unit="video", desc="extract", dynamic_ncols=True)


