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
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .. import BENCHMARK_VERSION
from ..registry import RegistryError
from ..seeding import corruption_seed
from ..models.extractor import spec_hash
from .batching import Batcher, VideoFeatures
from .protocol import OFFICIAL, Protocol, crop_clip, parse_crop_order, select_crops
from ..store.feature_store import FeatureStore, GroupWriter, StoreError, Variant, content_key
from .variants import VideoItem, VideoJob, parse_variants, plan_jobs, read_videos, variant_modality

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16  # CUDA
CPU_BATCH_SIZE = 4  # CPU convolutions gain nothing beyond ~2-4 clips and lose cache locality after


def default_batch_size(device: str) -> int:
    """Clips per model call when none is given: 4 on CPU (measured best, ``benchmarks/extract.py``), 16 on CUDA."""
    return CPU_BATCH_SIZE if str(device).split(":")[0] == "cpu" else DEFAULT_BATCH_SIZE
QUEUE_ITEMS = 16
CORRUPT_MANIFEST = "corrupt_manifest.csv"


class ExtractorUnavailable(ValueError):
    """An extractor cannot be built here (weights not in the cache, bad checkpoint ...)."""


# --------------------------------------------------------------------- report
@dataclass
class ExtractReport:
    """What an extraction run did.

    ``failures`` maps a video name to ``{"extractor/variant": error}``;
    ``written`` counts the videos written per group; ``skipped`` the
    (video, group) pairs already in the store; ``snippets`` the feature rows
    written (one per snippet and group, crops not counted) and ``clips`` the
    model inputs (crops counted); ``timings`` the seconds per stage
    (``decode``, ``corrupt``, ``resize``, ``audio``, ``model`` ...), summed over
    workers, and ``seconds`` the wall-clock time.
    """

    store: Path
    groups: list[str] = field(default_factory=list)
    videos: int = 0
    written: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    snippets: int = 0
    clips: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    precision: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    precision_checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no video failed."""
        return not self.failures

    @property
    def snippets_per_s(self) -> float:
        return self.snippets / self.seconds if self.seconds > 0 else 0.0

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0

    def add_failure(self, name: str, group: str, error: str) -> None:
        self.failures.setdefault(name, {})[group] = error

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.store),
            "groups": list(self.groups),
            "videos": self.videos,
            "written": dict(self.written),
            "skipped": self.skipped,
            "failures": {k: dict(v) for k, v in self.failures.items()},
            "snippets": self.snippets,
            "clips": self.clips,
            "seconds": round(self.seconds, 3),
            "snippets_per_s": round(self.snippets_per_s, 3),
            "clips_per_s": round(self.clips_per_s, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "precision": dict(self.precision),
            "precision_checks": dict(self.precision_checks),
        }

    def summary(self) -> str:
        """A short human-readable summary (failures listed by video name)."""
        lines = [
            f"store {self.store}: {len(self.groups)} group(s), {self.videos} video(s)",
            f"written {sum(self.written.values())} video-group(s), skipped {self.skipped} already stored, "
            f"failed {sum(len(v) for v in self.failures.values())}",
            f"{self.snippets} snippets ({self.clips} model clips) in {self.seconds:.1f} s: "
            f"{self.snippets_per_s:.2f} snippets/s, {self.clips_per_s:.2f} clips/s",
        ]
        if self.timings:
            total = sum(self.timings.values()) or 1.0
            parts = ", ".join(f"{k} {v:.1f}s ({100 * v / total:.0f}%)" for k, v in sorted(self.timings.items()))
            lines.append(f"time by stage (summed over threads): {parts}")
        for ext, check in self.precision_checks.items():
            lines.append(f"precision check {ext}: {check}")
        lines.extend(self.notes)
        for name in sorted(self.failures):
            for group, err in sorted(self.failures[name].items()):
                lines.append(f"FAILED {name} [{group}]: {err}")
        return "\n".join(lines)


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


def extractor_name(obj: Any) -> str:
    """The registry name of an extractor instance."""
    name = getattr(obj, "name", "") or type(obj).__name__
    return str(name)


def crop_order_for(obj: Any, spec: dict[str, Any] | None, crops: int | None) -> tuple[str, ...]:
    """The crop order of a visual extractor (spec's ``preprocessing.crop_order``), after ``--crops``."""
    declared = None
    if spec:
        pre = spec.get("preprocessing") or {}
        declared = pre.get("crop_order", spec.get("crop_order"))
    order = parse_crop_order(declared, int(getattr(obj, "n_crops", 5) or 5))
    return select_crops(order, crops)


def _load_spec_or_none(name: str) -> dict[str, Any] | None:
    from ..models.extractor import load_spec

    try:
        return load_spec(name)
    except FileNotFoundError:
        return None


def group_spec(
    obj: Any,
    *,
    spec: dict[str, Any] | None,
    crops: Sequence[str] | None,
    proto: Protocol = OFFICIAL,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Everything that determines an extractor's features: hashed into the store key.

    The extractor spec file, its class description, the weights checksum when
    the instance exposes ``weights_sha256``, the protocol, the crop order (so a
    ``--crops 1`` store never mixes with a 5-crop one) and the precision.
    """
    describe = obj.describe() if hasattr(obj, "describe") else {}
    return {
        "extractor": extractor_name(obj),
        "spec": spec,
        "describe": describe,
        "weights_sha256": getattr(obj, "weights_sha256", None),
        "protocol": proto.to_dict(),
        "crops": list(crops) if crops is not None else None,
        "precision": precision,
    }


def variant_plan(variant: Variant, source: str) -> str:
    """The plan string of a group's content key: source, corruption and its version."""
    if variant.is_clean:
        return f"benchmark={BENCHMARK_VERSION};source=clean"
    from ..corruptions.base import CORRUPTIONS

    version = getattr(CORRUPTIONS.get(variant.corruption), "version", 1)
    return f"benchmark={BENCHMARK_VERSION};source={source};corruption={variant.corruption};version={version}"


@dataclass
class _Group:
    extractor: str
    variant: Variant
    modality: str
    crops: tuple[str, ...]
    writer: GroupWriter

    @property
    def label(self) -> str:
        return f"{self.extractor}/{self.variant.slug}"


# ------------------------------------------------------------ corrupted media
def read_corrupt_manifest(directory: str | Path) -> dict[tuple[str, str, int, int], Path | str]:
    """Map ``(name, corruption, severity, seed)`` to a corrupted file (or an error) from ``DIR/corrupt_manifest.csv``.

    The file written by ``robusta-bench corrupt`` has columns name, corruption,
    severity, seed, version, output_path (relative to ``DIR``) and error; a
    ``path`` column is accepted instead of ``output_path``. A row with an error,
    or made by another version of the corruption than the registered one, maps
    to an error message.
    """
    import pandas as pd

    from ..corruptions.base import CORRUPTIONS, _ensure_loaded

    directory = Path(directory)
    path = directory / CORRUPT_MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: --corrupted-dir must be an output folder of 'robusta-bench corrupt'")
    df = pd.read_csv(path, keep_default_na=False)
    col = next((c for c in ("output_path", "path", "output", "out_path") if c in df.columns), None)
    need = [c for c in ("name", "corruption", "severity") if c not in df.columns]
    if need or col is None:
        raise ValueError(f"{path} lacks column(s) {', '.join(need + ([] if col else ['output_path']))}")
    _ensure_loaded()
    out: dict[tuple[str, str, int, int], Path | str] = {}
    for row in df.to_dict("records"):
        corruption = str(row["corruption"]).replace("-", "_")
        key = (str(row["name"]), corruption, int(row["severity"]), int(row.get("seed", 0) or 0))
        err = str(row.get("error", "") or "").strip()
        if err:
            out[key] = f"corrupt failed: {err}"
            continue
        made = str(row.get("version", "") or "").strip()
        if made and corruption in CORRUPTIONS:
            now = int(getattr(CORRUPTIONS.get(corruption), "version", 1))
            if int(float(made)) != now:
                out[key] = f"stale corrupted file (made by {corruption} version {made}, now {now}): rerun corrupt"
                continue
        p = Path(str(row[col]))
        out[key] = p if p.is_absolute() else directory / p
    return out


def _attach_media(jobs: list[VideoJob], table: dict[tuple[str, str, int, int], Path | str]) -> list[str]:
    from .corrupted_media import attach_corrupted_media, describe_clean_fallback

    return describe_clean_fallback(attach_corrupted_media(jobs, table))


# -------------------------------------------------------------------- workers
_DONE = object()


class _Stopped(Exception):
    pass


def _pump(produce_fn, job: VideoJob, q: queue.Queue, stop: threading.Event) -> None:
    """Worker body: push a video's items into its bounded queue (stops when asked)."""

    def put(item: Any) -> None:
        while True:
            if stop.is_set():
                raise _Stopped()
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    gen = produce_fn(job)
    try:
        for item in gen:
            put(item)
    except _Stopped:
        return
    except Exception as exc:  # a bug or an unexpected error: fail this video, not the run
        try:
            put(("crash", f"{type(exc).__name__}: {exc}"))
        except _Stopped:
            return
    finally:
        gen.close()
    with contextlib.suppress(_Stopped):
        put(_DONE)


def _drain(q: queue.Queue) -> Iterator[tuple]:
    while True:
        item = q.get()
        if item is _DONE:
            return
        yield item


def _inline(produce_fn, job: VideoJob) -> Iterator[tuple]:
    try:
        yield from produce_fn(job)
    except Exception as exc:
        yield ("crash", f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _job_streams(jobs: Sequence[VideoJob], produce_fn, workers: int) -> Iterator[Iterator[tuple[VideoJob, Iterator[tuple]]]]:
    """``(job, items)`` in job order; with workers > 0 the next videos are decoded ahead in threads."""
    if workers <= 0:
        yield ((job, _inline(produce_fn, job)) for job in jobs)
        return
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="robusta-decode")
    pending: deque = deque()
    todo = iter(jobs)

    def submit() -> None:
        job = next(todo, None)
        if job is None:
            return
        q: queue.Queue = queue.Queue(maxsize=QUEUE_ITEMS)
        pool.submit(_pump, produce_fn, job, q, stop)
        pending.append((job, q))

    def gen() -> Iterator[tuple[VideoJob, Iterator[tuple]]]:
        for _ in range(workers + 1):
            submit()
        while pending:
            job, q = pending.popleft()
            submit()
            yield job, _drain(q)

    try:
        yield gen()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


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
    dtype: str = "float32",
    precision: str = "fp32",
    limit: int | None = None,
    progress: bool = False,
    proto: Protocol = OFFICIAL,
    chunk_size: int = 64,
    shard_rows: int = 50_000,
) -> ExtractReport:
    """Extract features of ``manifest``'s videos into the store ``store_dir``.

    ``extractors``: registered names (``"i3d-inception,yamnet"``) or instances.
    ``variants``: ``"clean,fog@3,babble@2"`` or a list; corrupted variants use
    ``seed``. ``batch_size`` None: :func:`default_batch_size` of ``device``.
    Clean features are made for videos of ``split``, corrupted ones
    for videos of ``variant_split``; visual corruptions go to visual extractors
    and audio ones to audio extractors. ``crops`` overrides the number of crops
    (1 = centre only). ``corrupted_dir`` reads the corrupted media written by
    ``robusta-bench corrupt`` instead of corrupting in memory. ``precision``
    ``tf32``/``bf16`` is used only if a calibration batch passes the tolerance
    check against fp32 (else fp32 is used and the report says why).
    Resumable: videos already in a group are skipped. Returns an
    :class:`ExtractReport`; failures are recorded in the store and the report,
    never raised. Raises ``ValueError`` / :class:`StoreError` for bad arguments.
    """
    from ..corruptions.base import get_corruption
    from .precision import PRECISIONS, PrecisionEmbed
    from .producer import produce

    t_start = time.perf_counter()
    if dtype not in ("float32", "float16"):
        raise ValueError("dtype must be float32 or float16")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    if batch_size is None:
        batch_size = default_batch_size(device)
    if batch_size < 1:
        raise ValueError("batch size must be >= 1")
    if crops is not None and crops < 1:
        raise ValueError("--crops must be >= 1")
    variant_list = parse_variants(variants if not isinstance(variants, Variant) else [variants], seed=seed)
    for v in variant_list:
        variant_modality(v)  # unknown corruption -> RegistryError (a usage error)
    videos = list(manifest) if not isinstance(manifest, (str, Path)) else read_videos(manifest)
    if limit is not None:
        videos = videos[: int(limit)]

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
    visual_names = [n for n in names if modality[n] == "visual"]
    audio_names = [n for n in names if modality[n] == "audio"]
    specs = {n: _load_spec_or_none(n) for n in names}
    crop_orders = {n: crop_order_for(by_name[n], specs[n], crops) for n in visual_names}
    for v in variant_list:
        m = variant_modality(v)
        if m == "visual" and not visual_names or m == "audio" and not audio_names:
            log.warning("variant %s (%s) has no %s extractor in this run: skipped", v.slug, m, m)

    report = ExtractReport(store=Path(store_dir), videos=len(videos))
    store = FeatureStore(store_dir, create=True)
    from ..store.xdviolence import update_store_videos

    update_store_videos(store.root, videos)

    # precision: decided per extractor on a calibration batch before any group is opened
    effective = {n: "fp32" for n in names}
    if precision != "fp32":
        effective = _calibrate_precision(
            videos, by_name, visual_names, audio_names, crop_orders, precision, device, proto, report, chunk_size
        )
    report.precision = dict(effective)

    source = "corrupted-dir" if corrupted_dir is not None else "fused"
    groups: dict[tuple[str, Variant], _Group] = {}
    with contextlib.ExitStack() as stack:
        for n in names:
            obj = by_name[n]
            order = crop_orders.get(n)
            n_crops = len(order) if order is not None else 1
            gspec = group_spec(obj, spec=specs[n], crops=order, proto=proto, precision=effective[n])
            shash = spec_hash(gspec)
            for v in variant_list:
                m = variant_modality(v)
                if m is not None and m != modality[n]:
                    continue
                plan = variant_plan(v, source)
                meta = {
                    "plan": plan,
                    "protocol": proto.to_dict(),
                    "crops": list(order) if order is not None else None,
                    "precision": effective[n],
                    "source": "clean" if v.is_clean else source,
                    "spec": gspec,
                }
                _check_resume(store, n, v, shash, plan, dtype, gspec)
                writer = store.writer(
                    n,
                    v,
                    spec_hash=shash,
                    modality=modality[n],
                    feature_dim=int(obj.feature_dim),
                    n_crops=n_crops,
                    meta=meta,
                    dtype=dtype,
                    shard_rows=shard_rows,
                )
                stack.enter_context(writer)
                groups[(n, v)] = _Group(n, v, modality[n], order or (), writer)
                report.written[f"{n}/{v.slug}"] = 0
        report.groups = sorted(report.written)

        done = {key: set(g.writer.done) for key, g in groups.items()}
        jobs = plan_jobs(
            videos, visual_names, audio_names, variant_list, done, split=split, variant_split=variant_split
        )
        report.skipped = sum(j.skipped for j in jobs)
        if corrupted_dir is not None:
            report.notes.extend(_attach_media(jobs, read_corrupt_manifest(corrupted_dir)))
        work = [j for j in jobs if not j.empty]

        def on_done(acc: VideoFeatures) -> None:
            g: _Group = acc.group
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

        batchers: dict[str, Batcher] = {}
        for n in names:
            obj = by_name[n]
            embed = PrecisionEmbed(obj.embed, effective[n], device) if effective[n] != "fp32" else obj.embed
            if modality[n] == "visual":
                shape, dt = (proto.snippet_len, proto.crop_size, proto.crop_size, 3), np.uint8
            else:
                shape, dt = (proto.audio_window,), np.float32
            batchers[n] = Batcher(n, embed, shape, dt, batch_size, int(obj.feature_dim), on_done, on_error)

        def produce_fn(job: VideoJob) -> Iterator[tuple]:
            return produce(
                job,
                proto=proto,
                seed_of=lambda name, v: corruption_seed(name, v.corruption, v.severity, v.seed),
                corruption_of=get_corruption,
                chunk_size=chunk_size,
            )

        bar = _progress(len(work), progress)
        t_loop = time.perf_counter()
        try:
            with _job_streams(work, produce_fn, workers) as streams:
                for job, items in streams:
                    _consume(job, items, groups, batchers, proto, report, on_done, on_error)
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
    report.seconds = time.perf_counter() - t_start
    return report


def _check_resume(store: FeatureStore, extractor: str, variant: Variant, shash: str, plan: str, dtype: str,
                  gspec: dict[str, Any] | None = None) -> None:
    """Refuse to append to a group made with other settings (corruption version, dtype ...)."""
    if not store.has(extractor, variant):
        return
    idx = store.index(extractor, variant)
    if idx.get("spec_hash") != shash:
        from .resume_diff import spec_difference

        diff = spec_difference((idx.get("meta") or {}).get("spec"), gspec or {})
        raise StoreError(
            f"{extractor}/{variant.slug} in {store.root} was extracted with other settings: "
            + (diff or f"extractor spec, protocol, crops or precision (spec hash {idx.get('spec_hash')} != {shash})")
            + ". Rerun with the store's settings to resume it, or use a new --out store"
        )
    expected = content_key(shash, variant, plan)
    if idx.get("content_key") != expected:
        raise StoreError(
            f"{extractor}/{variant.slug} in {store.root} was made from other media "
            f"({idx.get('meta', {}).get('plan')!r}, now {plan!r}): use a new --out store"
        )
    if idx.get("dtype", "float32") != dtype:
        raise StoreError(f"{extractor}/{variant.slug} in {store.root} is stored as {idx.get('dtype')}, not {dtype}")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from ..progress import progress_bar

    return progress_bar(total=total, unit="video", desc="extract", dynamic_ncols=True)


def _consume(
    job: VideoJob,
    items: Iterable[tuple],
    groups: dict[tuple[str, Variant], _Group],
    batchers: dict[str, Batcher],
    proto: Protocol,
    report: ExtractReport,
    on_done,
    on_error,
) -> None:
    """Route one video's items to the batchers; finish or fail its groups."""
    name = job.video.name
    accs: dict[tuple[str, Variant], VideoFeatures] = {}
    for e, v in job.groups():
        g = groups[(e, v)]
        n_crops = len(g.crops) if g.modality == "visual" else 1
        accs[(e, v)] = VideoFeatures(g, name, n_crops, batchers[e].dim)

    def end(kind_map: dict[Variant, list[str]], v: Variant, n: int, err: str | None) -> None:
        for e in kind_map.get(v, []):
            acc = accs[(e, v)]
            if err is not None:
                on_error(acc, err)
            else:
                acc.n_snippets = int(n)
                if acc.complete:
                    on_done(acc)

    ended = False
    for item in items:
        kind = item[0]
        if kind == "visual":
            _, v, index, snippet = item
            for e in job.visual.get(v, []):
                acc = accs[(e, v)]
                if acc.error is not None:
                    continue
                b = batchers[e]
                for c, crop in enumerate(groups[(e, v)].crops):
                    b.add(crop_clip(snippet, crop, proto.crop_size), acc, index, c)
        elif kind == "audio":
            _, v, start, windows = item
            for e in job.audio.get(v, []):
                acc = accs[(e, v)]
                b = batchers[e]
                for j in range(len(windows)):
                    b.add(windows[j], acc, start + j, 0)
        elif kind == "visual_end":
            end(job.visual, item[1], item[2], item[3])
        elif kind == "audio_end":
            end(job.audio, item[1], item[2], item[3])
        elif kind == "video_end":
            _, _n, err, timings = item
            for k, sec in timings.items():
                report.timings[k] = report.timings.get(k, 0.0) + sec
            if err is not None:
                for acc in accs.values():
                    on_error(acc, err)
            ended = True
        elif kind == "crash":
            for acc in accs.values():
                on_error(acc, f"internal error: {item[1]}")
            ended = True
    for acc in accs.values():
        if acc.n_snippets is None and acc.error is None and not acc.finished:
            on_error(acc, "decoder stopped before the end of the video" if not ended else "no features produced")


def _calibrate_precision(
    videos, by_name, visual_names, audio_names, crop_orders, precision, device, proto, report, chunk_size
) -> dict[str, str]:
    """Check ``precision`` against fp32 per extractor on the first clean snippets of the run."""
    from ..corruptions.base import get_corruption
    from .precision import check_precision
    from .producer import produce

    want = 8
    samples: dict[str, list[np.ndarray]] = {n: [] for n in by_name}
    clean = Variant()
    for video in videos[:5]:
        job = VideoJob(video, visual={clean: list(visual_names)} if visual_names else {}, audio={clean: list(audio_names)} if audio_names else {})
        gen = produce(job, proto=proto, seed_of=lambda *a: 0, corruption_of=get_corruption, chunk_size=chunk_size)
        try:
            for item in gen:
                if item[0] == "visual":
                    for n in visual_names:
                        if len(samples[n]) < want:
                            samples[n].append(crop_clip(item[3], crop_orders[n][0], proto.crop_size).copy())
                elif item[0] == "audio":
                    for n in audio_names:
                        for w in item[3]:
                            if len(samples[n]) < want:
                                samples[n].append(w.copy())
                if all(len(s) >= want for s in samples.values()):
                    break
        finally:
            gen.close()
        if all(len(s) >= want for s in samples.values()):
            break
    out: dict[str, str] = {}
    for n, obj in by_name.items():
        if not samples[n]:
            out[n] = "fp32"
            report.precision_checks[n] = f"{precision}: no calibration data, using fp32"
            continue
        check = check_precision(obj.embed, np.stack(samples[n]), precision, device=device)
        out[n] = precision if check.ok else "fp32"
        report.precision_checks[n] = check.describe() + ("" if check.ok else " -> using fp32")
    return out
