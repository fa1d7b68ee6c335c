"""``extract --ray`` and ``corrupt --ray``: the same work spread over a Ray cluster.

Ray (an optional extra: ``pip install robusta-bench[ray]``) does the
scheduling; nothing here is a scheduler of its own.

- ``address``: ``"local"`` (or None) starts a Ray instance on this machine;
  anything else (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.1:6379"``)
  joins an existing cluster (``ray start --head`` on one node,
  ``ray start --address=HEAD:6379`` on the others). Every node must see the
  store and the videos at the same paths (a shared file system).
- **Extraction** runs in actors that hold the models once (``num_gpus=1``
  each where the cluster has GPUs; on a CPU-only cluster one CPU each, half
  as many actors as CPUs so the media tasks have room). The driver cuts the
  manifest's videos (after ``--limit`` / ``--shard``) into tasks of a few
  videos; an :class:`ray.util.ActorPool` feeds them to the actors. Each actor
  runs the ordinary pipeline on its videos: each video's media (decode,
  corruption, cutting) is made by a forked child of the actor
  (:mod:`.isolation`; ``workers`` videos in flight), or, with
  ``media="tasks"``, by a Ray CPU task (a streaming generator, one object per
  item) that the actor's batcher consumes: that spreads decoding over other
  nodes' CPUs, at the price of every snippet passing through the object store
  (a whole video's items are buffered there, spilled to disk for long videos),
  so it is not the default. A media task that crashes natively is retried by
  Ray, then fails that video only. Each actor commits its features into the
  shared store as its own writer (:mod:`robusta_bench.store.commit`), so
  actors never contend for a file. An actor that dies is restarted and its
  task retried by Ray (``max_restarts``, ``max_task_retries``); videos it had
  committed are skipped on the retry. A driver that dies is simply rerun: the
  store resumes.
- **Corruption** runs every video as a Ray CPU task (each in a forked child,
  so a native crash is that video's error row); the driver writes the
  manifest of outputs.
- Features are bit-identical to a local run: a clip's features do not depend
  on which other clips share its batch for the extractors here, and every
  random draw is seeded per video.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .pipeline import ExtractReport

VIDEOS_PER_TASK = 4


def require_ray():
    """The ``ray`` module, or an ImportError telling how to install it."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("--ray needs Ray: pip install 'robusta-bench[ray]'") from exc
    return ray


def init_ray(address: str | None, num_cpus: int | None = None):
    """Connect to (or start) Ray; returns the module. ``address`` None/'local' = a local instance."""
    ray = require_ray()
    if not ray.is_initialized():
        local = address in (None, "", "local")
        kw: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False}
        if local:
            kw["num_cpus"] = num_cpus
        ray.init(address=None if local else address, **kw)
    return ray


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _merge(total: ExtractReport, part: dict[str, Any]) -> None:
    for k, v in part["written"].items():
        total.written[k] = total.written.get(k, 0) + v
    total.skipped += part["skipped"]
    total.snippets += part["snippets"]
    total.clips += part["clips"]
    for name, groups in part["failures"].items():
        for g, err in groups.items():
            total.add_failure(name, g, err)
    for name, groups in part.get("elsewhere", {}).items():
        total.elsewhere.setdefault(name, {}).update(groups)
    for k, v in part["timings"].items():
        total.timings[k] = total.timings.get(k, 0.0) + v
    total.precision.update(part.get("precision", {}))


def _produce_items(job: Any, kwargs: dict[str, Any]) -> Iterator[tuple]:
    """Body of the media task: the producer's items for one video (see :mod:`.producer`)."""
    from ..corruptions.base import get_corruption
    from ..seeding import corruption_seed
    from .producer import produce

    yield from produce(job, seed_of=lambda name, v: corruption_seed(name, v.corruption, v.severity, v.seed),
                       corruption_of=get_corruption, **kwargs)


def _media_from_tasks(task: Any) -> Callable[[Any, dict[str, Any]], Iterator[tuple]]:
    """A ``media_source`` for :func:`~.pipeline.extract` that runs each video's media work as a Ray task."""

    def source(job: Any, kwargs: dict[str, Any]) -> Iterator[tuple]:
        import ray

        try:
            for ref in task.remote(job, kwargs):
                yield ray.get(ref)
        except Exception as exc:  # the task died (native crash, lost node) even after Ray's retries
            yield ("video_end", 0, f"media task for {job.video.name} failed: {type(exc).__name__}: {exc}", {})

    return source


class _ExtractWorker:
    """Actor body: builds the extractors once, then extracts the video lists it is given."""

    def __init__(self, extractors: Any, device: str, options: dict[str, Any], media: str = "tasks") -> None:
        from .pipeline import build_extractor

        names = [e.strip() for e in extractors.split(",")] if isinstance(extractors, str) else list(extractors)
        self.objs = [build_extractor(e, device) for e in names]
        self.options = dict(options)
        if media == "tasks":
            import ray

            task = ray.remote(num_cpus=1, max_retries=2, num_returns="streaming")(_produce_items)
            self.options["media_source"] = _media_from_tasks(task)

    def run(self, videos: list[Any], variants: Any, store_dir: str) -> dict[str, Any]:
        from .pipeline import extract

        return extract(videos, self.objs, variants, store_dir, **self.options).to_dict()


def extract_ray(
    manifest: str | Path | Sequence[Any],
    extractors: str | Sequence[Any],
    variants: str | Sequence[Any],
    store_dir: str | Path,
    *,
    address: str | None = None,
    actors: int | None = None,
    videos_per_task: int = VIDEOS_PER_TASK,
    limit: int | None = None,
    shard: tuple[int, int] | str | None = None,
    progress: bool = False,
    num_cpus: int | None = None,
    max_retries: int = 3,
    media: str = "local",
    **options: Any,
) -> ExtractReport:
    """:func:`~.pipeline.extract` over Ray actors (see the module docstring); same arguments plus ``address``,
    ``actors`` (default: one per GPU, else one per CPU, half with ``media="tasks"``), ``videos_per_task`` and
    ``media`` (``"local"``: media made inside the actors by forked children, bounded memory; ``"tasks"``: by Ray
    CPU tasks streaming items through the object store)."""
    if media not in ("tasks", "local"):
        raise ValueError("media must be 'tasks' or 'local'")
    from ..store.feature_store import FeatureStore
    from ..store.xdviolence import update_store_videos
    from .sharding import parse_shard, select_shard
    from .variants import read_videos

    t0 = time.perf_counter()
    videos = list(manifest) if not isinstance(manifest, (str, Path)) else read_videos(manifest)
    if limit is not None:
        videos = videos[: int(limit)]
    videos = select_shard(videos, parse_shard(shard))
    store = FeatureStore(store_dir, create=True)
    update_store_videos(store.root, videos)
    ray = init_ray(address, num_cpus)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    n = actors or (gpus if gpus else max(1, cpus // 2 if media == "tasks" else cpus))
    res = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    Actor = ray.remote(max_restarts=max_retries, max_task_retries=max_retries, **res)(_ExtractWorker)
    device = "cuda:0" if gpus else options.pop("device", "cpu")
    options.pop("device", None)
    pool_actors = [Actor.remote(extractors, device, options, media) for _ in range(int(n))]
    from ray.util import ActorPool

    pool = ActorPool(pool_actors)
    tasks = _chunks(videos, max(1, int(videos_per_task)))
    report = ExtractReport(store=Path(store_dir), videos=len(videos))
    bar = _bar(len(videos), progress)
    variants_arg = variants if isinstance(variants, str) else list(variants)
    try:
        for part, chunk in zip(pool.map_unordered(lambda a, c: a.run.remote(c, variants_arg, str(store_dir)), tasks),
                               range(len(tasks))):
            _merge(report, part)
            report.groups = sorted(set(report.groups) | set(part["groups"]))
            if bar is not None:
                bar.update(part["videos"])
                bar.set_postfix_str(f"{report.snippets / max(time.perf_counter() - t0, 1e-9):.1f} snippets/s")
    finally:
        if bar is not None:
            bar.close()
        for a in pool_actors:
            ray.kill(a)
    report.seconds = time.perf_counter() - t0
    return report


def ray_map(fn: Callable[[Any], Any], items: Sequence[Any], address: str | None,
            num_cpus: int | None = None) -> Iterator[Any]:
    """``fn(item)`` for every item as Ray CPU tasks (retried by Ray if a worker dies), results as they finish."""
    ray = init_ray(address, num_cpus)
    task = ray.remote(num_cpus=1, max_retries=3)(fn)
    pending = [task.remote(x) for x in items]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from ..progress import progress_bar as tqdm

    return tqdm(total=total, unit="video", desc="extract (ray)", dynamic_ncols=True)
