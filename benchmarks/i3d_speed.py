"""Model-only speed of the visual extractors on CPU: clips/s at batch 1, 4, 8.

    .venv/bin/python benchmarks/i3d_speed.py [--threads 2] [--batches 1,4,8] [--seconds 6]
                                             [--models i3d-inception,i3d-resnet50] [--no-write]

One clip is a 16x224x224 uint8 RGB snippet (one crop). Times ``embed()``
only: no decoding, resizing or cropping. Each (model, batch, BN folding)
cell runs batches for ``--seconds`` after one warm-up batch and reports
clips/s; the best of two passes is kept (the build machine is shared). The
i3d-inception row uses the cached k400 weights when present, else random
weights (speed does not depend on the values); i3d-resnet50 always uses random
weights. The table goes to ``benchmarks/results/i3d-speed.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def _random_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for k, s in shapes.items():
        if k.endswith("running_var"):
            a = rng.uniform(0.5, 2.0, s)
        elif k.endswith("weight") and len(s) == 1:
            a = rng.uniform(0.2, 0.6, s)  # BN scales: keep activations in a normal float range
        elif len(s) == 5:
            a = rng.normal(0, np.sqrt(2.0 / np.prod(s[1:])), s)  # He init: no denormals, no overflow
        else:
            a = rng.normal(0, 0.05, s)
        out[k] = a.astype(np.float32)
    return out


def build(name: str, fold_bn: bool):
    from robusta_bench.models import i3d_inception, i3d_resnet50, zoo

    if name == "i3d-inception":
        try:
            state, src = zoo.load_weights("i3d-inception"), "k400 weights"
        except zoo.ZooError:
            state, src = _random_state(i3d_inception.k400_state_shapes()), "random weights"
        return i3d_inception.I3DInception(state_dict=state, fold_bn=fold_bn), src
    state = _random_state(i3d_resnet50.i3d_resnet50_state_shapes())
    return i3d_resnet50.I3DResNet50(state_dict=state, fold_bn=fold_bn), "random weights"


def clips_per_second(ex, batch: int, seconds: float) -> tuple[float, float]:
    """``(clips per wall second, clips per CPU second of this process)``, best of two passes.

    The second number does not depend on how busy the other cores are; times
    the thread count it estimates the speed on an idle machine (upper bound).
    """
    x = np.random.default_rng(1).integers(0, 256, (batch, 16, 224, 224, 3), dtype=np.uint8)
    ex.embed(x)  # warm-up (oneDNN primitives for this shape)
    best, best_cpu = 0.0, 0.0
    for _ in range(2):
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            ex.embed(x)
            n += batch
            el = time.perf_counter() - t0
            if el >= seconds / 2:
                break
        best = max(best, n / el)
        best_cpu = max(best_cpu, n / (time.process_time() - c0))
    return best, best_cpu


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--seconds", type=float, default=6.0, help="measuring time per cell (two passes)")
    ap.add_argument("--models", default="i3d-inception,i3d-resnet50")
    ap.add_argument("--no-fold", action="store_true", help="also measure without BatchNorm folding")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    load_start = _loadavg()
    rows = []
    for name in args.models.split(","):
        for fold in ([True, False] if args.no_fold else [True]):
            ex, src = build(name, fold)
            for b in batches:
                cps, cpu = clips_per_second(ex, b, args.seconds)
                rows.append((name, "yes" if fold else "no", b, cps, cpu, src))
                print(f"{name:14s} fold_bn={fold!s:5s} batch={b}: {cps:.2f} clips/s, {cpu:.2f} clips/CPU-s ({src})",
                      flush=True)
            del ex

    cmd = "python benchmarks/i3d_speed.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = [
        "# I3D extractors: model-only CPU speed",
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads (torch.set_num_threads), {os.cpu_count()} CPUs shared with other jobs: "
        f"1-min load average {load_start} at the start, {_loadavg()} at the end.",
        "One clip = one 16x224x224 crop; `embed()` only (no decode/resize/crop). Best of 2 passes.",
        "",
        "`clips/CPU-s` divides by this process's CPU time, so it does not depend on the other jobs;",
        f"`idle est.` = clips/CPU-s x {args.threads} threads, the expected speed on an idle machine (upper bound).",
        "",
        "| extractor | BN folded | batch | clips/s (measured) | clips/CPU-s | idle est. clips/s | weights |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, fold, b, cps, cpu, src in rows:
        lines.append(f"| {name} | {fold} | {b} | {cps:.2f} | {cpu:.2f} | {cpu * args.threads:.2f} | {src} |")
    lines += [
        "",
        "A 5-crop XD-Violence snippet costs 5 clips of i3d-inception; the 10-crop i3d-resnet50 protocol 10.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        out = Path(__file__).resolve().parent / "results" / "i3d-speed.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
