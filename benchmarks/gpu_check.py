"""GPU check in one command: GPU vs CPU features, GPU speed, and how many CPU cores keep one GPU fed.

    .venv/bin/python benchmarks/gpu_check.py [CLIPS_DIR] [--gpu 0] [--crops 5] [--clips 8] [--cpu-side-only]

On a machine with a CUDA GPU:

1. extracts the shared XD-Violence clips with ``i3d-inception`` on ``cuda:N``
   and on the CPU (same pipeline, ``--crops``), and compares the features:
   max |GPU - CPU| and the minimum cosine similarity over all rows;
2. GPU clips/s (model calls only, from the GPU run's timings) and end to end;
3. decode + corrupt (+ resize) frames/s on ONE CPU core for clean and each
   visual corruption (``torch``/OpenCV/BLAS limited to one thread);
4. CPU cores needed to keep one GPU fed per visual corruption:
   (GPU clips/s / crops x 16 frames) / (frames/s per core).

Without a GPU it says so and exits with status 2, unless ``--cpu-side-only``
(step 3 alone, which needs no GPU: what BENCHMARKS.md's projection uses).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
DEFAULT_CLIPS = Path(os.environ.get("ROBUSTA_SHARED", ROOT.parent / "shared")) / "data" / "xd-violence" / "clips"
CLIPS = ["car2", "abuse1", "explosion1", "riot1", "fighting2", "n3", "shooting1", "n1"]
VISUAL = ["brightness", "contrast", "saturate", "fog", "motion_blur", "shot_noise", "rain", "bit_error"]


def one_core() -> None:
    """Limit this process's numeric libraries to one thread (per-core figures)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def cpu_side(clips: list[Path], severity: int = 3) -> dict[str, float]:
    """Frames/s on one core of decode + corrupt + resize for clean and each visual corruption."""
    from robusta_bench.extraction.producer import produce
    from robusta_bench.extraction.protocol import OFFICIAL
    from robusta_bench.extraction.variants import VideoItem, VideoJob
    from robusta_bench.corruptions.base import get_corruption
    from robusta_bench.seeding import corruption_seed
    from robusta_bench.store.feature_store import Variant

    out = {}
    for name in ["clean", *VISUAL]:
        v = Variant() if name == "clean" else Variant(name, severity, 0)
        frames, t0 = 0, time.perf_counter()
        for p in clips:
            job = VideoJob(VideoItem(p.stem, p), visual={v: ["x"]})
            for item in produce(job, proto=OFFICIAL, corruption_of=get_corruption,
                                seed_of=lambda n, v: corruption_seed(n, v.corruption, v.severity, v.seed)):
                if item[0] == "visual":
                    frames += OFFICIAL.snippet_len
        out[name] = frames / (time.perf_counter() - t0)
        print(f"  decode+corrupt+resize {name:12s} {out[name]:8.1f} frames/s on one core", flush=True)
    return out


def gpu_side(man: Path, gpu: int, crops: int) -> dict[str, float]:
    from robusta_bench.extraction.pipeline import extract
    from robusta_bench.store.feature_store import FeatureStore, Variant

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        reps = {}
        for dev in (f"cuda:{gpu}", "cpu"):
            reps[dev] = extract(man, "i3d-inception", "clean", Path(tmp) / dev.replace(":", "_"), device=dev, crops=crops)
            print(f"  {dev}: {reps[dev].clips} clips in {reps[dev].seconds:.1f} s", flush=True)
        g = FeatureStore(Path(tmp) / f"cuda_{gpu}").read("i3d-inception", Variant())
        c = FeatureStore(Path(tmp) / "cpu").read("i3d-inception", Variant())
        diffs, cosines = [], []
        for n in c:
            a, b = g[n].reshape(-1, g[n].shape[-1]).astype(np.float64), c[n].reshape(-1, c[n].shape[-1]).astype(np.float64)
            diffs.append(np.abs(a - b).max())
            cosines.append(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)).min())
        rg = reps[f"cuda:{gpu}"]
        res = {"max_abs_diff": float(max(diffs)), "min_cosine": float(min(cosines)),
               "gpu_model_clips_s": rg.clips / max(rg.timings.get("model", 0.0), 1e-9),
               "gpu_end_to_end_clips_s": rg.clips_per_s}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips_dir", nargs="?", default=str(DEFAULT_CLIPS))
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--crops", type=int, default=5)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--cpu-side-only", action="store_true", help="only the per-core decode+corrupt figures (no GPU needed)")
    args = ap.parse_args()
    import torch

    has_gpu = torch.cuda.is_available() and args.gpu < torch.cuda.device_count()
    if not has_gpu and not args.cpu_side_only:
        print(f"gpu_check: no CUDA GPU {args.gpu} visible here (torch.cuda.is_available() = "
              f"{torch.cuda.is_available()}): run it on a machine with a GPU, or use --cpu-side-only")
        return 2
    clips = [Path(args.clips_dir) / f"{c}.mp4" for c in CLIPS[: args.clips]]
    missing = [str(p) for p in clips if not p.exists()]
    if missing:
        print(f"gpu_check: missing clips {missing}")
        return 2
    gpu = {}
    if has_gpu:
        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            man = Path(tmp) / "m.csv"
            pd.DataFrame([{"name": p.stem, "path": str(p), "split": "test"} for p in clips]).to_csv(man, index=False)
            gpu = gpu_side(man, args.gpu, args.crops)
        print(f"\nGPU vs CPU features: max |diff| {gpu['max_abs_diff']:.3g}, min cosine {gpu['min_cosine']:.6f}")
        print(f"GPU {torch.cuda.get_device_name(args.gpu)}: {gpu['gpu_model_clips_s']:.1f} clips/s (model), "
              f"{gpu['gpu_end_to_end_clips_s']:.1f} clips/s end to end")
    one_core()
    per_core = cpu_side(clips)
    print("\n| variant | frames/s per core |" + (" cores per GPU |" if gpu else "") + "\n|---|---|" + ("---|" if gpu else ""))
    for name, fps in per_core.items():
        line = f"| {name} | {fps:.1f} |"
        if gpu:
            need = gpu["gpu_model_clips_s"] / args.crops * 16
            line += f" {need / fps:.1f} |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
