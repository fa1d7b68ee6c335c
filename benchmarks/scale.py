"""Extraction at scale: the local path vs ``--ray``, and a simulated cluster of N actors.

    .venv/bin/python benchmarks/scale.py [CLIPS_DIR] [--clips N] [--cpus C] [--sim-actors 1,2,4,8,16,32]
                                         [--sim-videos V] [--model-s S]

1. *local vs Ray*, on the same videos (the shared XD-Violence clips, 1 crop,
   clean): ``extract`` in one process (decode in a forked child per video,
   model in the main process with C torch threads) against ``extract --ray``
   on a local Ray instance with C CPUs (C actors of one CPU each, one torch
   thread each), store commits included. Throughput in snippets/s and the
   ratio Ray / local; also Ray with a single actor (the per-task overhead with
   no parallelism to gain). The extractor is the real ``i3d-inception``
   (weights from the cache, else the same network with random weights: same
   speed); ``--standin`` uses a fixed-time stand-in instead.
2. *simulated cluster*: N = 1..32 Ray actors whose model is a fixed-time
   stand-in (``--model-s`` seconds per video, a sleep: it uses no CPU, so 32
   actors fit on 2 cores the way 32 GPUs would) and that commit a real shard
   per video (the 1024-float features of 300 snippets x 5 crops, fsync, log
   line, claim) into one shared store, driven through an ActorPool exactly as
   ``extract --ray``. Videos/s against the ideal N / model-s shows where the
   driver and the commit path saturate.

Results are printed as a Markdown table (paste into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
DEFAULT_CLIPS = Path(os.environ.get("ROBUSTA_SHARED", ROOT.parent / "shared")) / "data" / "xd-violence" / "clips"
CLIP_ORDER = ["car2", "abuse1", "explosion1", "riot1", "fighting2", "n3", "shooting1", "n1"]


def _manifest(clips_dir: Path, n: int, folder: Path) -> Path:
    import pandas as pd

    rows = [{"name": c, "path": str(clips_dir / f"{c}.mp4"), "split": "test"} for c in CLIP_ORDER[:n]]
    path = folder / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _local(man: Path, ext: str, out: Path, cpus: int) -> tuple[float, int]:
    import torch

    from robusta_bench.extraction.pipeline import extract

    torch.set_num_threads(cpus)
    t0 = time.perf_counter()
    rep = extract(man, ext, "clean", out, crops=1)
    assert rep.ok, rep.summary()
    return time.perf_counter() - t0, rep.snippets


def _ray(man: Path, ext: str, out: Path, actors: int) -> tuple[float, int]:
    from robusta_bench.extraction.ray_runner import extract_ray

    t0 = time.perf_counter()
    rep = extract_ray(man, ext, "clean", out, address="local", actors=actors, videos_per_task=1, crops=1)
    assert rep.ok, rep.summary()
    return time.perf_counter() - t0, rep.snippets


class _Sim:
    """Stand-in actor: sleeps ``model_s`` per video, then commits real features through the store."""

    def __init__(self, store: str, model_s: float) -> None:
        from robusta_bench.store.feature_store import FeatureStore

        self.store = FeatureStore(store)
        self.model_s = model_s
        self.feats = np.random.default_rng(0).standard_normal((5, 300, 1024)).astype(np.float32)

    def run(self, names: list[str]) -> int:
        from robusta_bench.store.feature_store import Variant

        with self.store.writer("sim", Variant(), spec_hash="sim", modality="visual", feature_dim=1024, n_crops=5,
                               flush_s=0.0) as w:
            for n in names:
                if w.claim(n) is not None:
                    continue
                time.sleep(self.model_s)
                w.write(n, self.feats)
        return len(names)


def simulate(ns: list[int], videos: int, model_s: float) -> list[tuple[int, float, float]]:
    import ray
    from ray.util import ActorPool

    from robusta_bench.store.feature_store import FeatureStore, Variant

    Sim = ray.remote(num_cpus=0)(_Sim)
    out = []
    for n in ns:
        tmp = Path(tempfile.mkdtemp(prefix="robusta-sim-"))
        FeatureStore(tmp / "store", create=True)
        actors = [Sim.remote(str(tmp / "store"), model_s) for _ in range(n)]
        ray.get([a.__ray_ready__.remote() for a in actors])
        total = max(videos, 4 * n)
        names = [f"v{i:05d}" for i in range(total)]
        t0 = time.perf_counter()
        list(ActorPool(actors).map_unordered(lambda a, v: a.run.remote([v]), names))
        dt = time.perf_counter() - t0
        assert len(FeatureStore(tmp / "store").names("sim", Variant())) == total  # every video once
        for a in actors:
            ray.kill(a)
        shutil.rmtree(tmp, ignore_errors=True)
        out.append((n, total / dt, (total / dt) / (n / model_s)))
        print(f"  sim N={n:2d}: {total} videos in {dt:.1f} s -> {total / dt:.1f} videos/s "
              f"({100 * (total / dt) / (n / model_s):.0f} % of ideal)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips_dir", nargs="?", default=str(DEFAULT_CLIPS))
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--extractor", default="i3d-inception")
    ap.add_argument("--sim-actors", default="1,2,4,8,16,32")
    ap.add_argument("--sim-videos", type=int, default=64)
    ap.add_argument("--model-s", type=float, default=0.25)
    ap.add_argument("--skip-real", action="store_true", help="only the simulated cluster")
    args = ap.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    print(f"# benchmarks/scale.py on {platform.node()} ({os.cpu_count()} CPUs visible, Ray with {args.cpus})\n")
    if not args.skip_real:
        tmp = Path(tempfile.mkdtemp(prefix="robusta-scale-"))
        man = _manifest(Path(args.clips_dir), args.clips, tmp)
        runs = {}
        for label, fn in (("local", lambda o: _local(man, args.extractor, o, args.cpus)),
                          (f"ray x{args.cpus}", lambda o: _ray(man, args.extractor, o, args.cpus)),
                          ("ray x1", lambda o: _ray(man, args.extractor, o, 1))):
            dt, snippets = fn(tmp / label.replace(" ", "_"))
            runs[label] = (dt, snippets)
            print(f"  {label}: {snippets} snippets in {dt:.1f} s = {snippets / dt:.2f} snippets/s", flush=True)
        ref = runs["local"][1] / runs["local"][0]
        print("\n| path | snippets | seconds | snippets/s | vs local |\n|---|---|---|---|---|")
        for label, (dt, sn) in runs.items():
            print(f"| {label} | {sn} | {dt:.1f} | {sn / dt:.2f} | {(sn / dt) / ref:.2f}x |")
        shutil.rmtree(tmp, ignore_errors=True)
    ns = [int(x) for x in args.sim_actors.split(",")]
    print(f"\nsimulated cluster: stand-in model {args.model_s:.2f} s/video, a 6 MB shard committed per video")
    rows = simulate(ns, args.sim_videos, args.model_s)
    print("\n| actors | videos/s | ideal | efficiency |\n|---|---|---|---|")
    for n, rate, eff in rows:
        print(f"| {n} | {rate:.1f} | {n / args.model_s:.1f} | {100 * eff:.0f} % |")
    ray.shutdown()


if __name__ == "__main__":
    main()
