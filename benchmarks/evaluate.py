"""Speed of the evaluation: the full Table I grid on a store the size of the XD-Violence test set.

    .venv/bin/python benchmarks/evaluate.py [--videos 800] [--segments 100] [--crops 5]
        [--visual-dim 1024] [--audio-dim 128] [--method robusta] [--baseline hlnet]
        [--threads 2] [--workdir DIR] [--keep] [--no-write]

Untimed set-up: a synthetic feature store is written to a temporary folder
(``--videos`` test videos of ``--segments`` +-40 % snippets, ``--crops`` visual
crops; clean + the 8 visual corruptions for the visual extractor, clean + the
8 audio corruptions for the audio one; float32, the store's Parquet shards)
plus a small clean train split; the detectors are trained on it for one epoch
(any weights have the same speed) and saved.

Timed: ONE call of :func:`robusta_bench.evaluation.runner.evaluate` with those
checkpoints: all 23 Table I settings (16 corruptions, missing x2, mixed x2, 3
pairs) x 7 levels x the methods (+ RobustA's average fusion for Fig. 4),
reading the store back (the read counts), scoring every needed (video, input)
once, computing every AP, and writing results.csv/json, the tables, the PNGs
and report.html. The target is 60 s on 2 CPU cores; the script prints the time,
the ratio to that budget and the time split (read / scoring / metrics /
outputs).

``--method bench-null --baseline none`` replaces the detectors by a trivial
numpy scorer: what remains is the cost of the evaluation machinery itself.
Writes ``benchmarks/results/evaluate.md`` (``--append`` adds a section).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGET_S = 60.0


def register_null_detector() -> None:
    """``bench-null``: late fusion of a random linear score per modality (numpy, no network)."""
    from robusta_bench.detectors.base import DETECTORS, Detector, ScoreOut

    if "bench-null" in DETECTORS:
        return

    class _Scorer:
        def __init__(self, det):
            self.w = det.w

        def visual_state(self, visual, length):
            return None if visual is None else 1 / (1 + np.exp(-(visual[:, :length] @ self.w["visual"]).mean(0)))

        def audio_state(self, audio, length):
            return None if audio is None else 1 / (1 + np.exp(-(audio[:length] @ self.w["audio"])))

        def combine(self, vs, as_, fusion=None):
            if vs is None or as_ is None:
                s = vs if as_ is None else as_
            else:
                s = 0.5 * (vs + as_)
            return ScoreOut(s, s, None)

    @DETECTORS.register("bench-null")
    class NullDetector(Detector):
        modalities = ("visual", "audio")
        summary = "benchmark-only trivial scorer"

        def __init__(self, visual_dim=1024, audio_dim=128, **options):
            super().__init__(visual_dim, audio_dim, **options)
            rng = np.random.default_rng(0)
            self.w = {"visual": rng.standard_normal(visual_dim).astype(np.float32) / 32,
                      "audio": rng.standard_normal(audio_dim).astype(np.float32) / 32}

        def fit(self, train, cfg, seed=0, progress=False):
            return None

        def scorer(self, device="cpu"):
            return _Scorer(self)

        def state(self):
            return {f"w.{k}": v for k, v in self.w.items()}, {}

        def load_state(self, tensors, meta):
            self.w = {k[2:]: v.numpy() for k, v in tensors.items()}


def write_store(root: Path, n_test: int, n_train: int, segments: int, crops: int, vdim: int, adim: int, seed: int = 0):
    """The synthetic store, manifest and annotations (see the module docstring)."""
    import pandas as pd

    from robusta_bench.corruptions.plan import AUDIO_TYPES, VISUAL_TYPES
    from robusta_bench.store.feature_store import FeatureStore, Variant

    rng = np.random.default_rng(seed)
    store = FeatureStore(root / "store", create=True)
    vdir = rng.standard_normal(vdim).astype(np.float32)
    adir = rng.standard_normal(adim).astype(np.float32)
    rows, ann = [], []
    vw = {c: store.writer("vis", Variant(c, 3, 0) if c else Variant(), spec_hash="bench", modality="visual",
                          feature_dim=vdim, n_crops=crops) for c in (None, *VISUAL_TYPES)}
    aw = {c: store.writer("aud", Variant(c, 3, 0) if c else Variant(), spec_hash="bench", modality="audio",
                          feature_dim=adim, n_crops=1) for c in (None, *AUDIO_TYPES)}
    vshift = {c: (0.3 * rng.standard_normal(vdim)).astype(np.float32) for c in VISUAL_TYPES}
    ashift = {c: (0.3 * rng.standard_normal(adim)).astype(np.float32) for c in AUDIO_TYPES}
    for i in range(n_train + n_test):
        split = "train" if i < n_train else "test"
        label = int(i % 2 == 0)
        t = int(rng.integers(int(segments * 0.6), int(segments * 1.4) + 1))
        name = f"bench{i:05d}_label_{'B1-0-0' if label else 'A'}"
        snip = np.zeros(t, dtype=np.float32)
        if label:
            a = int(rng.integers(0, t // 2))
            b = int(rng.integers(a + 1, t))
            snip[a:b] = 1
            if split == "test":
                ann.append(f"{name} {16 * a} {16 * b}\n")
        v = rng.standard_normal((crops, t, vdim), dtype=np.float32)
        v += snip[None, :, None] * vdir
        a_ = rng.standard_normal((1, t, adim), dtype=np.float32)
        a_ += snip[None, :, None] * adir
        rows.append({"name": name, "path": f"{name}.mp4", "split": split, "label": label, "frames": 16 * t + 8,
                     "list_index": i, "error": None})
        vw[None].write(name, v)
        aw[None].write(name, a_)
        if split == "test":
            for c in VISUAL_TYPES:
                vw[c].write(name, 0.7 * v + vshift[c])
            for c in AUDIO_TYPES:
                aw[c].write(name, 0.7 * a_ + ashift[c])
    for w in (*vw.values(), *aw.values()):
        w.close()
    man = pd.DataFrame(rows)
    man.to_csv(root / "manifest.csv", index=False)
    (root / "annotations.txt").write_text("".join(ann))
    return root / "store", root / "manifest.csv", root / "annotations.txt"


def compare_results(mine: Path, other: Path) -> list[str]:
    """Markdown lines: the largest AP differences (points) between two results.csv of the same grid."""
    import pandas as pd

    key = ["seed", "method", "table", "setting", "level"]
    a, b = pd.read_csv(mine), pd.read_csv(other)
    both = a.merge(b, on=key, suffixes=("", "_other"))
    if both.empty:
        return []
    cols = ["ap", "ap_online", "ap_sklearn", "auc"]
    diffs = {c: 100 * (both[c] - both[f"{c}_other"]).abs() for c in cols}
    cells = ", ".join(f"{c} max {d.max():.4f} / mean {d.mean():.4f}" for c, d in diffs.items())
    return [f"Against {other.parent.name} ({len(both)} rows, points): {cells}.", ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=800, help="test videos (XD-Violence: 800)")
    p.add_argument("--train-videos", type=int, default=40, help="clean train videos for the quick training")
    p.add_argument("--segments", type=int, default=100, help="mean snippets per video (uniform +-40%%)")
    p.add_argument("--crops", type=int, default=5)
    p.add_argument("--visual-dim", type=int, default=1024)
    p.add_argument("--audio-dim", type=int, default=128)
    p.add_argument("--method", default="robusta")
    p.add_argument("--baseline", default="hlnet", help="'none' for no baseline")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16"), help="scoring precision")
    p.add_argument("--workdir", type=Path, default=None, help="where to write the store (default: a temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the store (and reuse it when --workdir already has one)")
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/evaluate.md")
    p.add_argument("--append", action="store_true", help="append a section to the results file instead of replacing it")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    register_null_detector()
    from robusta_bench.evaluation.training import resolve_method, train_detector

    baseline = None if args.baseline.lower() == "none" else args.baseline
    for m in (args.method, baseline):
        if m:
            try:
                resolve_method(m)
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 2

    work = args.workdir or Path(tempfile.mkdtemp(prefix="rb-eval-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        if (work / "store" / "store.json").exists() and (work / "manifest.csv").exists():
            store, manifest, annotations = work / "store", work / "manifest.csv", work / "annotations.txt"
            print(f"reusing the store in {work}")
        else:
            print(f"writing the synthetic store to {work} ...", flush=True)
            store, manifest, annotations = write_store(
                work, args.videos, args.train_videos, args.segments, args.crops, args.visual_dim, args.audio_dim
            )
        size = sum(f.stat().st_size for f in (work / "store").rglob("*.parquet"))
        print(f"store: {size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s", flush=True)
        ckpts = {}
        t1 = time.perf_counter()
        for m in [x for x in (args.method, baseline) if x]:
            path = work / f"{m}.safetensors"
            if not path.exists():
                train_detector(m, store, manifest, seed=0, epochs=1, out=path)
            ckpts[m] = path
        print(f"trained (1 epoch) and saved {', '.join(ckpts)} in {time.perf_counter() - t1:.0f} s", flush=True)

        from robusta_bench.evaluation.runner import evaluate

        out = work / f"results-{args.precision}"
        t2 = time.perf_counter()
        res = evaluate(store, manifest, annotations, methods=(args.method,), baseline=baseline, corruptions="all",
                       tables=("I",), checkpoints=ckpts, out_dir=out, seeds=(0,), precision=args.precision)
        wall = time.perf_counter() - t2
        tm = res.timings
        settings = res.rows.loc[res.rows["table"] == "I", "setting"].nunique()
        n_ap = len(res.rows)
        detector_s = tm.get("score_total_s", 0.0) - tm.get("read_s", 0.0)
        lines = [
            f"## Table I grid: {args.method}" + (f" vs {baseline}" if baseline else "") + f", {args.precision}",
            "",
            f"Command: `.venv/bin/python benchmarks/evaluate.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}`",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch threads {args.threads}, "
            f"load average at start {os.getloadavg()[0]:.1f}",
            "",
            f"Store: {args.videos} test videos x ~{args.segments} snippets, {args.crops} crops, {args.visual_dim}-d visual, "
            f"{args.audio_dim}-d audio, 9 visual + 9 audio groups, {size / 1e9:.2f} GB of Parquet.",
            f"Grid: {settings} settings x {len(res.info['levels'])} levels, {res.rows['method'].nunique()} scored runs, "
            f"{n_ap} result rows (each: official AP offline + online, sklearn AP, ROC-AUC).",
            "",
            "| part | seconds |",
            "|---|---:|",
            f"| store read (background thread, overlaps scoring) | {tm.get('read_s', 0):.1f} |",
            f"| scoring incl. waiting for reads | {tm.get('score_total_s', 0):.1f} |",
            f"| metrics (all APs) | {tm.get('metrics_s', 0):.1f} |",
            f"| outputs (CSV/JSON/Markdown/PNG/HTML) | {tm.get('outputs_s', 0):.1f} |",
            f"| **total evaluate()** | **{wall:.1f}** |",
            "",
            f"Budget {BUDGET_S:.0f} s: ratio {wall / BUDGET_S:.2f} ({'within' if wall <= BUDGET_S else 'over'} budget).",
            "",
        ]
        other = work / f"results-{'bfloat16' if args.precision == 'float32' else 'float32'}" / "results.csv"
        if other.exists():  # the same grid scored at the other precision: how far apart are the APs?
            lines += compare_results(out / "results.csv", other)
        text = "\n".join(lines)
        print(text)
        if not args.no_write:
            dest = HERE / "results" / "evaluate.md"
            dest.parent.mkdir(parents=True, exist_ok=True)
            head = "# Evaluation speed (`benchmarks/evaluate.py`)\n\n"
            if args.append and dest.exists():
                dest.write_text(dest.read_text() + "\n" + text)
            else:
                dest.write_text(head + text)
            print(f"written to {dest}")
        del detector_s
        return 0
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
