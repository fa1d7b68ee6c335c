"""Issue 18: does RobustA's weighting react to real corruptions? Detection on real clips, Fig. 4 on the demo set.

    .venv/bin/python benchmarks/weighting.py real --store STORE --manifest CLIPS.csv [--units segment,window,video]
    .venv/bin/python benchmarks/weighting.py synthetic DEMO_DIR [--seeds 0,1,2,3,4]

``real``: a store of the shared XD-Violence clips (clean + corrupted variants,
e.g. all 8 visual and 8 audio corruptions at severities 1, 3, 5, i3d-inception
centre crop + yamnet) is scored leave-one-clip-out by
:func:`robusta_bench.evaluation.health.modality_health` (each clip's models
fitted and calibrated on the OTHER clips' clean features, and their
self-made perturbations for the ``learned`` options, only), for every
unit and every dynamic weighting option; ``--oracle`` adds a per-corruption
upper bound (a classifier trained on that very corruption). Prints per option the detection
ROC-AUC (segments, videos) per corruption and severity, the mean weights, and
the issue's targets; ``gmm-paper`` with the segment unit is the reference
measured in the same run (AUC differences against it are printed).

``synthetic``: the demo's store (``make demo`` or ``python -m
robusta_bench.demo``; for the ``learned`` options also ``extract --variants
perturbations --variant-split train`` into it); for every training seed,
HL-Net and RobustA (its reliability models in ``--unit``) are trained with
the demo recipe (checkpoints reused from ``DEMO_DIR/models``) and scored with
every fusion (``robusta-average``, ``robusta-gmm-paper``, ... ``robusta-learned-gmm``) against the HL-Net
concatenation baseline: Table I (AP, mean ± sd over seeds) and Fig. 4 per
option.

Writes ``benchmarks/results/weighting_<mode>.md`` unless ``--no-write``.
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
TARGETS = {"visual": {5: 0.80, 3: 0.70}, "audio": {5: 0.75}}


def misses(g: pd.DataFrame) -> str:
    """The (corruption severity AUC) cells of one option below the issue's targets."""
    out = []
    for mod, sev_target in TARGETS.items():
        for sev, target in sev_target.items():
            x = g[(g["modality"] == mod) & (g["severity"] == sev) & (g["auc_segment"] < target)]
            out += [f"{r.corruption} s{sev} {r.auc_segment:.2f}" for r in x.itertuples()]
    return ", ".join(out) or "none"


def oracle(store_dir: str) -> pd.DataFrame:
    """Upper bound, NOT a usable score: per corruption, a logistic regression trained on THAT corruption
    (clean vs corrupted segments of the other clips), ROC-AUC on the held-out clip's segments, pooled.
    Shows how far each corruption moves the features at all."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from robusta_bench.store.feature_store import FeatureStore, Variant

    store = FeatureStore(store_dir)
    rows = []
    for ext, var in store.groups():
        if var.is_clean or var.corruption.startswith("perturb_"):
            continue
        clean = {n: np.asarray(a, np.float64).mean(0) for n, a in store.iter_videos(ext, Variant())}
        bad = {n: np.asarray(a, np.float64).mean(0) for n, a in store.iter_videos(ext, var)}
        names = sorted(set(clean) & set(bad))
        scores, labels = [], []
        for held in names:
            tr = [n for n in names if n != held]
            x = np.concatenate([clean[n] for n in tr] + [bad[n] for n in tr])
            y = np.r_[np.zeros(sum(len(clean[n]) for n in tr)), np.ones(sum(len(bad[n]) for n in tr))]
            mu, sd = x.mean(0), x.std(0) + 1e-8
            lr = LogisticRegression(C=0.1, max_iter=3000).fit((x - mu) / sd, y)
            scores.append(lr.decision_function((np.concatenate([clean[held], bad[held]]) - mu) / sd))
            labels.append(np.r_[np.zeros(len(clean[held])), np.ones(len(bad[held]))])
        rows.append({"corruption": var.corruption, "severity": var.severity,
                     "oracle_auc": roc_auc_score(np.concatenate(labels), np.concatenate(scores))})
    return pd.DataFrame(rows)


def real(args) -> str:
    from robusta_bench.corruptions import get_corruption
    from robusta_bench.detectors.gmm import GMMConfig
    from robusta_bench.detectors.weighting import WeightingConfig
    from robusta_bench.evaluation.health import modality_health
    from robusta_bench.evaluation.health_table import detection_markdown
    from robusta_bench.store.feature_store import FeatureStore

    store = FeatureStore(args.store)
    # the benchmark's corrupted variants; the self-made perturbations (perturb_*) only train the probe
    variants = ["clean"] + sorted({d.name for d in Path(args.store).glob("*/*-s*-seed*")
                                   if (d / "index.json").exists() and not d.name.startswith("perturb_")})
    gcfg = GMMConfig(n_components=args.components, pca_dim=args.pca)
    out = []
    tables = []
    for unit in args.units.split(","):
        t0 = time.perf_counter()
        res = modality_health(store, args.manifest, variants=variants, split="all", leave_one_out=True,
                              gmm_config=gcfg,
                              weighting_config=WeightingConfig(unit=unit, window=args.window, probe_c=args.probe_c),
                              out_dir=Path(args.out) / unit if args.out else None)
        det = res.detection.copy()
        det.insert(0, "unit", unit)
        tables.append(det)
        print(f"unit {unit}: {len(det)} rows in {time.perf_counter() - t0:.0f} s; failures {len(res.failures)}", flush=True)
    det = pd.concat(tables, ignore_index=True)
    det["modality"] = [get_corruption(c).modality for c in det["corruption"]]
    ref = det[(det["unit"] == "segment") & (det["weighting"] == "gmm-paper")].set_index(["corruption", "severity"])["auc_segment"]
    out.append(f"GMM: PCA {args.pca}, K = {args.components}; leave-one-clip-out over {det['videos'].max()} clips; "
               f"anchors lambda(clean p50) = 0.45, lambda(clean p99) = 0.10 (out-of-fold clean scores of the other clips)")
    out.append("")
    out.append("Targets per option and unit (min AUC over corruptions; mean weights; w = normalised fusion weight of the "
               "corrupted modality with the other modality clean, lambda = its Eq. 5 weight):")
    out.append("")
    out.append("| unit | weighting | min AUC vis s5 (seg / video) | min AUC vis s3 | min AUC aud s5 | mean dAUC vs paper-segment "
               "| w clean vis / aud | w s5 vis | w s5 aud | lambda clean | lambda s5 | below target (AUC) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (unit, opt), g in det.groupby(["unit", "weighting"], sort=False):
        def mn(mod, sev, col="auc_segment"):
            x = g[(g["modality"] == mod) & (g["severity"] == sev)][col]
            return float(x.min()) if len(x) else float("nan")

        def mean(mod, sev, col):
            x = g[(g["modality"] == mod) & (g["severity"] == sev)][col]
            return float(x.mean()) if len(x) else float("nan")

        def w_clean(mod):  # per modality: averaged over both, the two clean weights sum to 1 by construction
            return float(g[g["modality"] == mod]["w_clean"].mean())

        d = (g.set_index(["corruption", "severity"])["auc_segment"] - ref).mean()
        out.append(
            f"| {unit} | {opt} | {mn('visual', 5):.3f} / {mn('visual', 5, 'auc_video'):.3f} | {mn('visual', 3):.3f} | "
            f"{mn('audio', 5):.3f} | {d:+.3f} | {w_clean('visual'):.3f} / {w_clean('audio'):.3f} | "
            f"{mean('visual', 5, 'w_corrupted'):.3f} | "
            f"{mean('audio', 5, 'w_corrupted'):.3f} | {g['lambda_clean'].mean():.3f} | "
            f"{g[g['severity'] == 5]['lambda_corrupted'].mean():.3f} | {misses(g)} |"
        )
    if args.oracle:
        orc = oracle(args.store).set_index(["corruption", "severity"])["oracle_auc"]
        out += ["", "Per corruption: segment ROC-AUC of the paper's rule and of `learned-gmm` (video mean), and the "
                "oracle (a logistic regression trained on that very corruption, other clips; an upper bound, not "
                "allowed as a score):", "",
                "| corruption | sev | gmm-paper (segment) | gmm-paper (video) | learned (window) | learned-gmm (video) | oracle |",
                "|---|---|---|---|---|---|---|"]
        piv = det.pivot_table(index=["corruption", "severity"], columns=["unit", "weighting"], values="auc_segment")

        def cell(key, col):
            return f"{piv.loc[key, col]:.2f}" if col in piv.columns and key in piv.index else "-"

        for key in piv.index:
            out.append(f"| {key[0]} | {key[1]} | {cell(key, ('segment', 'gmm-paper'))} | {cell(key, ('video', 'gmm-paper'))} | "
                       f"{cell(key, ('window', 'learned'))} | {cell(key, ('video', 'learned-gmm'))} | "
                       f"{orc.get(key, float('nan')):.2f} |")
    for unit in dict.fromkeys(det["unit"]):
        out += ["", f"### unit {unit}", "", detection_markdown(det[det["unit"] == unit])]
    if args.out:
        det.to_csv(Path(args.out) / "detection_all.csv", index=False)
    return "\n".join(out)


def synthetic(args) -> str:
    import torch

    from robusta_bench.dataset.index import read_manifest
    from robusta_bench.demo import DEMO_LEVELS, DEMO_RECIPE, DEMO_VARIANTS
    from robusta_bench.detectors.weighting import weighting_names
    from robusta_bench.evaluation.runner import evaluate
    from robusta_bench.evaluation.training import build_for, load_train_set, train_config
    from robusta_bench.store.feature_store import FeatureStore

    torch.set_num_threads(args.threads)
    demo = Path(args.demo_dir)
    store, manifest = demo / "store", demo / "synth" / "manifest.parquet"
    if not (store / "store.json").exists() or not manifest.exists():
        raise SystemExit(f"{demo} has no demo store: run `python -m robusta_bench.demo --out {demo}` first")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    (demo / "models").mkdir(exist_ok=True)
    train_set, _ = load_train_set(FeatureStore(store), read_manifest(manifest), visual_extractor="i3d-inception",
                                  audio_extractor="yamnet")
    corruptions = [v.split("@")[0] for v in DEMO_VARIANTS] + ["missing_visual", "missing_audio"]
    probe = bool(train_set.perturbed)
    options = [w for w in weighting_names() if probe or not w.startswith("learned")]
    labels = ["robusta"] + [f"robusta-{w}" for w in options]
    rows = []
    for seed in seeds:
        ckpts = {}
        for method in ("hlnet", "robusta"):
            # hlnet: the demo's own file name (make demo's models are reused); robusta: per unit and probe
            tag = ""
            if method == "robusta":
                tag = (f"-{args.unit}" if args.unit != "segment" else "") + ("-probe" if probe else "")
            path = demo / "models" / f"{method}-{DEMO_RECIPE}-seed{seed}{tag}.safetensors"
            if not path.exists():
                t0 = time.perf_counter()
                opts = {"weighting_config": {"unit": args.unit}} if method == "robusta" else {}
                det = build_for(method, train_set, opts)
                det.fit(train_set, train_config(method=method, recipe=DEMO_RECIPE), seed=seed)
                det.save(path)
                print(f"trained {method} seed {seed} in {time.perf_counter() - t0:.0f} s", flush=True)
            ckpts[method] = path
        ckpts.update({lb: ckpts["robusta"] for lb in labels[1:]})
        res = evaluate(store, manifest, demo / "synth" / "annotations.txt", methods=tuple(labels), baseline="hlnet",
                       visual_extractor="i3d-inception", audio_extractor="yamnet", corruptions=corruptions,
                       levels=DEMO_LEVELS, severity=5, seeds=(seed,), checkpoints=ckpts, out_dir=None)
        r = res.rows[res.rows["table"] == "I"][["method", "setting", "modality", "level", "ap"]].copy()
        r["seed"] = seed
        rows.append(r)
        print(f"seed {seed}: scored {r['setting'].nunique()} settings x {r['method'].nunique()} methods", flush=True)
    df = pd.concat(rows)
    df.to_csv(HERE / "results" / "weighting_synthetic_rows.csv", index=False)
    agg = df.groupby(["setting", "modality", "level", "method"])["ap"].agg(["mean", "std"]).reset_index()
    methods = ["hlnet", *labels]
    lines = [
        f"Demo benchmark (synthetic), training seeds {seeds}, recipe '{DEMO_RECIPE}', RobustA's reliability unit "
        f"'{args.unit}', probe {'fitted' if probe else 'absent (no perturbations in the store)'}; official frame AP (%), mean ± sd over "
        "seeds. `robusta` = the detector's default weighting; the others name the fusion applied to the same trained "
        "detector. Reference: `robusta-average` (0.5/0.5) of the same run; Δ = option - average.",
        "",
        "| setting | level % | " + " | ".join(methods) + " |",
        "|---|---:|" + "---:|" * len(methods),
    ]
    for (setting, level), g in agg.groupby(["setting", "level"]):
        cells = []
        avg = g[g["method"] == "robusta-average"]["mean"]
        for m in methods:
            x = g[g["method"] == m]
            if x.empty:
                cells.append("-")
                continue
            mean_, sd = 100 * x["mean"].iloc[0], 100 * np.nan_to_num(x["std"].iloc[0])
            delta = "" if m in ("hlnet", "robusta-average") or avg.empty else f" (Δ {100 * (x['mean'].iloc[0] - avg.iloc[0]):+.2f})"
            cells.append(f"{mean_:.2f} ± {sd:.2f}{delta}")
        lines.append(f"| {setting} | {level:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("real", help="leave-one-clip-out detection on a store of real clips")
    r.add_argument("--store", required=True)
    r.add_argument("--manifest", required=True)
    r.add_argument("--units", default="segment,window,video")
    r.add_argument("--window", type=int, default=5)
    r.add_argument("--pca", type=int, default=64)
    r.add_argument("--components", type=int, default=6)
    r.add_argument("--probe-c", type=float, default=0.01, help="inverse L2 strength of the learned options' probe")
    r.add_argument("--oracle", action="store_true", help="add the per-corruption supervised upper bound (a few seconds)")
    r.add_argument("--out", default=None, help="folder for the modality-health outputs per unit")
    s = sub.add_parser("synthetic", help="5-seed Table I / Fig. 4 per weighting option on the demo store")
    s.add_argument("demo_dir")
    s.add_argument("--seeds", default="0,1,2,3,4")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--unit", default="segment", choices=["segment", "window", "video"],
                   help="the unit RobustA's reliability models score (a training option: the checkpoints are per unit)")
    for q in (r, s):
        q.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    text = real(args) if args.mode == "real" else synthetic(args)
    text = f"Command: `python benchmarks/weighting.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}`\n\n{text}"
    print(text)
    if not args.no_write:
        dest = HERE / "results" / f"weighting_{args.mode}.md"
        dest.write_text(f"# Weighting (issue 18), {args.mode}\n\n{text}\n")
        print(f"written to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
