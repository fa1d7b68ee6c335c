"""Issue-19 science check: Table III (plug-and-play) and Table IV (zero-shot) over training seeds, synthetic features.

    .venv/bin/python benchmarks/science.py --backbones [--seeds 0,1,2,3,4] [--epochs 60] [--out DIR]

Builds the synthetic XD-style feature benchmark (:func:`make_feature_benchmark`,
all 16 corruptions, so the mixed settings are the real plan's) and its
UCF-Crime-style zero-shot partner (:func:`make_ucf_feature_benchmark`, same
generator seed, visual only, a small dataset shift). For every seed the six
detectors (hlnet, robusta, hypervd, robusta-hypervd, rtfm, robusta-rtfm) are
trained once with one small-data recipe (:data:`RECIPE`; the upstream
recipes' batch sizes leave a few optimiser steps on 40 videos) and used for
both tables. Prints, per backbone, baseline vs RobustA: AP at 0 % and at 100 %
mixed visual / mixed audio (Table III) and the zero-shot pooled frame
ROC-AUC (Table IV), mean ± std over seeds, and the gaps.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RECIPE = {"lr": 1e-3, "batch_size": 16, "schedule": "cosine"}


def run(seeds: list[int], epochs: int, root: Path, log) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    from robusta_bench.evaluation.runner import evaluate
    from robusta_bench.evaluation.synthetic import make_feature_benchmark
    from robusta_bench.evaluation.synthetic_ucf import make_ucf_feature_benchmark
    from robusta_bench.evaluation.table3 import METHODS
    from robusta_bench.evaluation.training import build_for, load_train_set, train_config
    from robusta_bench.evaluation.zero_shot import evaluate_zero_shot
    from robusta_bench.dataset.index import read_manifest
    from robusta_bench.store.feature_store import FeatureStore

    t0 = time.perf_counter()
    xd = make_feature_benchmark(root / "xd", n_train=40, n_test=24, crops=2, seed=0)
    ucf = make_ucf_feature_benchmark(root / "ucf", n_train=4, n_test=24, crops=2, seed=0, shift=0.3)
    train_set, _ = load_train_set(FeatureStore(xd.store), read_manifest(xd.manifest), visual_extractor=xd.visual_extractor,
                                  audio_extractor=xd.audio_extractor)
    t3, t4 = [], []
    for seed in seeds:
        ckpts = {}
        for m in METHODS:
            path = root / "models" / f"{m}-seed{seed}.safetensors"
            if not path.exists():
                t1 = time.perf_counter()
                det = build_for(m, train_set)
                det.fit(train_set, train_config(epochs, **RECIPE), seed=seed)
                det.save(path)
                log(f"seed {seed}: trained {m} in {time.perf_counter() - t1:.0f} s")
            ckpts[m] = path
        res = evaluate(xd.store, xd.manifest, xd.annotations, methods=METHODS[1:], baseline="hlnet", tables=("III",),
                       levels=(0, 100), seeds=(seed,), checkpoints=ckpts)
        t3.append(res.rows[res.rows["setting"].isin(["mixed_visual", "mixed_audio"])])
        zs = evaluate_zero_shot(ucf.store, ucf.manifest, ucf.annotations, methods=METHODS, checkpoints=ckpts,
                                corruptions="none", seeds=(seed,))
        t4.append(zs.rows.assign(seed=seed))
    return pd.concat(t3), pd.concat(t4), time.perf_counter() - t0


def _cell(v: np.ndarray) -> str:
    return f"{100 * v.mean():.2f} ± {100 * (v.std(ddof=1) if v.size > 1 else 0.0):.2f}"


def report(t3: pd.DataFrame, t4: pd.DataFrame) -> tuple[str, dict]:
    from robusta_bench.evaluation.table3 import PAIRS

    cols = [("mixed_visual", 0, "clean AP"), ("mixed_visual", 100, "mixed visual 100 % AP"),
            ("mixed_audio", 100, "mixed audio 100 % AP")]
    lines = ["| backbone | metric | baseline | RobustA | gap (RobustA - baseline) |", "|---|---|---:|---:|---:|"]
    gaps: dict = {}
    for display, base, ours in PAIRS:
        for setting, level, label in cols:
            def vals(m):
                part = t3[(t3["method"] == m) & (t3["setting"] == setting) & (t3["level"] == level)]
                return part.sort_values("seed")["ap"].to_numpy(dtype=np.float64)
            b, o = vals(base), vals(ours)
            gaps[(display, label)] = o - b
            lines.append(f"| {display} | {label} | {_cell(b)} | {_cell(o)} | {_cell(o - b)} |")
        zb = t4[t4["method"] == base].sort_values("seed")["auc"].to_numpy(dtype=np.float64)
        zo = t4[t4["method"] == ours].sort_values("seed")["auc"].to_numpy(dtype=np.float64)
        gaps[(display, "zero-shot AUC")] = zo - zb
        lines.append(f"| {display} | zero-shot UCF AUC | {_cell(zb)} | {_cell(zo)} | {_cell(zo - zb)} |")
    return "\n".join(lines), gaps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4", help="training seeds")
    p.add_argument("--epochs", type=int, default=60, help="training epochs of every detector")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        (root / "models").mkdir(parents=True, exist_ok=True)
        t3, t4, secs = run(seeds, args.epochs, root, lambda m: print(m, flush=True))
    table, gaps = report(t3, t4)
    print(f"Command: `benchmarks/science.py --backbones {' '.join(shlex.quote(a) for a in (argv or []))}`")
    print(f"Seeds {seeds}, {args.epochs} epochs, recipe {RECIPE}, {secs:.0f} s; mean ± std over seeds (%).\n")
    print(table)
    print("\nGap sign per seed (+: RobustA above the baseline):")
    for (display, label), g in gaps.items():
        print(f"- {display}, {label}: {''.join('+' if x > 0 else '-' for x in g)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
