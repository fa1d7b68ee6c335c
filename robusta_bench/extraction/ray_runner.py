"""``extract --ray`` and ``corrupt --ray``: the same work spread over a Ray cluster.

Ray (an optional extra: ``pip install robusta-bench[ray]``) does the
scheduling; nothing here is a scheduler of its own.

- ``address``: ``"local"`` (or None) starts a Ray instance on this machine;
  anything else (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.1:6379"``)
  joins an existing cluster (``ray start --head`` on one node,
  ``ray start --address=HEAD:6379`` on the others). Every node must see the
  store and the videos at the same paths (a shared file system).
- **Extraction** runs in actors that hold the models once (``num_gpus=1``
  each where the cluster has GPUs, one CPU each otherwise). The driver cuts the
  manifest's videos (after ``--limit`` / ``--shard``) into tasks of a few
  videos; an :class:`ray.util.ActorPool` feeds them to the actors. Each actor
  runs the ordinary pipeline on its videos: media decoded and corrupted in
  forked per-video worker processes (:mod:`.isolation`), features committed
  into the shared store as its own writer (:mod:`robusta_bench.store.commit`),
  so actors never contend for a file. An actor that dies is restarted and its
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


class _ExtractWorker:
    """Actor body: builds the extractors once, then extracts the video lists it is given."""

    def __init__(self, extractors: Any, device: str, options: dict[str, Any]) -> None:
        from .pipeline import build_extractor

        names = [e.strip() for e in extractors.split(",")] if isinstance(extractors, str) else list(extractors)
        self.objs = [build_extractor(e, device) for e in names]
        self.options = options

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
    **options: Any,
) -> ExtractReport:
    """:func:`~.pipeline.extract` over Ray actors (see the module docstring); same arguments plus ``address``,
    ``actors`` (default: one per GPU, else one per CPU) and ``videos_per_task``."""
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
    n = actors or (gpus if gpus else max(1, int(ray.cluster_resources().get("CPU", 1))))
    res = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    Actor = ray.remote(max_restarts=max_retries, max_task_retries=max_retries, **res)(_ExtractWorker)
    device = "cuda:0" if gpus else options.pop("device", "cpu")
    options.pop("device", None)
    pool_actors = [Actor.remote(extractors, device, options) for _ in range(int(n))]
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
    from tqdm import tqdm

    return tqdm(total=total, unit="video", desc="extract (ray)", dynamic_ncols=True)
