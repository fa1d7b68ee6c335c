"""The issue-6 science check over several training seeds, on the demo's synthetic benchmark.

    .venv/bin/python benchmarks/science.py [DEMO_DIR] [--seeds 0,1,2] [--no-write]
    .venv/bin/python benchmarks/science.py --backbones [--seeds 0,1,2,3,4] [--epochs 60]

``--backbones`` runs the issue-19 check instead (:mod:`science_tables`: Table III
baseline vs RobustA per backbone and the zero-shot UCF-Crime AUCs, on
synthetic features).

``DEMO_DIR`` is the folder ``make demo`` wrote (default ``demo_out``): its
synthetic dataset and feature store are reused (nothing is extracted again).
For every seed, HL-Net and RobustA are trained on the clean train features
with the demo's recipe (:data:`robusta_bench.demo.DEMO_RECIPE`, or ``--recipe``;
checkpoints are kept in ``DEMO_DIR/models`` under the recipe's name and reused on a rerun) and scored on the demo's
settings and levels. The script prints, per setting and level, the mean and
the standard deviation over seeds of the official frame-level AP of both
methods and the gap, and checks the paper's claims:

- clean: RobustA within 2 AP points of HL-Net;
- 100 % missing visual and 100 % of the strongest visual corruption: RobustA
  clearly above HL-Net (here: the gap's mean minus its standard deviation > 0).

Writes ``benchmarks/results/science.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def train_seed(demo: Path, seed: int, train_set, log, recipe: str) -> dict[str, Path]:
    """Checkpoints of both methods for ``seed`` (trained with ``recipe`` unless present)."""
    from robusta_bench.evaluation.training import build_for, train_config

    out = {}
    for method in ("hlnet", "robusta"):
        path = demo / "models" / f"{method}-{Path(recipe).stem}-seed{seed}.safetensors"
        if not path.exists():
            t0 = time.perf_counter()
            det = build_for(method, train_set)
            det.fit(train_set, train_config(method=method, recipe=recipe), seed=seed)
            det.save(path)
            log(f"trained {method} seed {seed} in {time.perf_counter() - t0:.0f} s")
        out[method] = path
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--backbones" in argv:
        sys.path.insert(0, str(HERE))
        from science_tables import main as backbones_main

        return backbones_main([a for a in argv if a != "--backbones"])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("demo_dir", nargs="?", type=Path, default=Path("demo_out"), help="folder written by make demo")
    p.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--recipe", default="demo", help="training recipe (name or TOML file; default demo)")
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/science.md")
    args = p.parse_args(argv)

    import torch

    from robusta_bench.dataset.index import read_manifest
    from robusta_bench.demo import DEMO_LEVELS, DEMO_VARIANTS
    from robusta_bench.evaluation.training import train_config
    from robusta_bench.evaluation.runner import evaluate
    from robusta_bench.evaluation.training import load_train_set
    from robusta_bench.store.feature_store import FeatureStore

    torch.set_num_threads(args.threads)
    demo = args.demo_dir
    store, manifest = demo / "store", demo / "synth" / "manifest.parquet"
    if not (store / "store.json").exists() or not manifest.exists():
        print(f"{demo} has no demo store: run `make demo` first", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    (demo / "models").mkdir(exist_ok=True)
    train_set, _ = load_train_set(FeatureStore(store), read_manifest(manifest), visual_extractor="i3d-inception",
                                  audio_extractor="yamnet")
    corruptions = [v.split("@")[0] for v in DEMO_VARIANTS] + ["missing_visual", "missing_audio"]
    rows = []
    for seed in seeds:
        ckpts = train_seed(demo, seed, train_set, print, args.recipe)
        res = evaluate(store, manifest, demo / "synth" / "annotations.txt", methods=("robusta",), baseline="hlnet",
                       visual_extractor="i3d-inception", audio_extractor="yamnet", corruptions=corruptions,
                       levels=DEMO_LEVELS, severity=5, seeds=(seed,), checkpoints=ckpts, out_dir=None)
        r = res.rows[res.rows["table"] == "I"][["method", "setting", "display", "modality", "level", "ap"]].copy()
        r["seed"] = seed
        rows.append(r)
        print(f"seed {seed}: scored {r['setting'].nunique()} settings", flush=True)
    df = pd.concat(rows)
    wide = df.pivot_table(index=["setting", "modality", "level", "seed"], columns="method", values="ap").reset_index()
    wide["gap"] = wide["robusta"] - wide["hlnet"]
    agg = wide.groupby(["setting", "modality", "level"]).agg(
        hlnet=("hlnet", "mean"), hlnet_sd=("hlnet", "std"), robusta=("robusta", "mean"), robusta_sd=("robusta", "std"),
        gap=("gap", "mean"), gap_sd=("gap", "std")).reset_index()

    def cell(m, s):
        return f"{100 * m:.2f} ± {100 * (0 if np.isnan(s) else s):.2f}"

    lines = [
        f"Command: `.venv/bin/python benchmarks/science.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}`",
        "",
        f"Demo benchmark (synthetic, `make demo`), training seeds {seeds}, recipe {args.recipe} "
        f"(hlnet: {train_config(method='hlnet', recipe=args.recipe).to_dict()}; "
        f"robusta: {train_config(method='robusta', recipe=args.recipe).to_dict()}); official frame AP (%), "
        "mean ± standard deviation over the seeds; gap = RobustA - HL-Net.",
        "",
        "| setting | modality | level % | HL-Net | RobustA | gap |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for _, r in agg.sort_values(["setting", "level"]).iterrows():
        lines.append(f"| {r['setting']} | {r['modality']} | {r['level']:g} | {cell(r['hlnet'], r['hlnet_sd'])} | "
                     f"{cell(r['robusta'], r['robusta_sd'])} | {cell(r['gap'], r['gap_sd'])} |")

    def pick(setting, level):
        hit = agg[(agg["setting"] == setting) & (agg["level"] == level)]
        return None if hit.empty else hit.iloc[0]

    clean = agg[agg["level"] == 0].iloc[0]
    lines += ["", "Checks (the paper's claims):", ""]
    lines.append(f"- clean: gap {cell(clean['gap'], clean['gap_sd'])} points -> "
                 f"{'within' if abs(100 * clean['gap']) <= 2 else 'NOT within'} 2 points")
    for setting in ("missing_visual", "fog", "contrast"):
        r = pick(setting, 100)
        if r is None:
            continue
        ok = r["gap"] - (0 if np.isnan(r["gap_sd"]) else r["gap_sd"]) > 0
        lines.append(f"- {setting} 100 %: gap {cell(r['gap'], r['gap_sd'])} points -> "
                     f"{'RobustA clearly above' if ok else 'NOT clearly above'} HL-Net")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        dest = HERE / "results" / "science.md"
        dest.write_text("# Science check over training seeds (issue 6)\n\n" + text + "\n")
        print(f"written to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
