"""CLI: ``train``, ``evaluate`` (also ``--dataset ucf-crime``, the zero-shot Table IV) and ``modality-health``."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from .. import DEFAULT_SEVERITY
from .base import progress_enabled, renamed_option, take_renamed

_STORE_HELP = "Feature store folder written by 'robusta-bench extract' (or 'import')."
_MANIFEST_HELP = "Manifest (CSV/Parquet with name, split, label and ideally frames) of the videos in the store."


def _usage(ctx: click.Context, message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    ctx.exit(2)


def _device(ctx: click.Context, gpu: int | None) -> str:
    if gpu is None:
        return "cpu"
    from ..torch_info import cuda_device_problem

    problem = cuda_device_problem(gpu)
    if problem:
        _usage(ctx, problem)
    return f"cuda:{gpu}"


def _int_list(ctx: click.Context, text: str, what: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        _usage(ctx, f"{what} must be comma-separated integers, got {text!r}")
        return ()
    if not out:
        _usage(ctx, f"{what}: nothing given")
    return out


_RECIPE_HELP = (
    "Training recipe: paper, official or demo (each detector's version of it), or a TOML recipe file "
    "(write one with 'robusta-bench recipe'). Default: the detector's own: robusta = paper (50 epochs, Adam lr 1e-5, "
    "wd 1e-5, batch 640, cosine per step), hlnet/visual-only/audio-only = official XDVioDet (lr 1e-4, online head lr/2, "
    "batch 128, x0.1 at epoch 10). Printed into results.json and the report."
)
_SET_HELP = (
    "Override one hyper-parameter of the recipe (repeatable), e.g. --set lr=1e-4 --set milestones=10,30. Keys: "
    "epochs, lr, online_lr_scale, batch_size, weight_decay, schedule (step|cosine|cosine_steps|none), milestones, "
    "gamma, scheduler_step (before_epoch|after_epoch), bias_init (default|zero), sampling (RobustA: eq2|crop_coin), "
    "max_seq_len, distill_weight."
)


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..corruptions.plan import PlanError
    from ..detectors.checkpoint import CheckpointError
    from ..store.feature_store import StoreError
    from ..registry import RegistryError

    return (ValueError, StoreError, FileNotFoundError, RegistryError, PlanError, CheckpointError)


@click.command("train")
@click.option("--method", required=True, help="Detector to train: a registered name (hlnet, robusta ...) or an ablation such as robusta-pad.")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False), help=_STORE_HELP)
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False), help=_MANIFEST_HELP + " Its 'train' videos are used.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Detector file to write (safetensors + JSON header).")
@click.option("--recipe", default=None, metavar="NAME|FILE", help=_RECIPE_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--epochs", type=click.IntRange(min=0), default=None, help="Training epochs (default: the recipe's, 50; same as --set epochs=N).")
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed (initialisation, shuffling, modality sampling).")
@click.option("--visual-extractor", default=None, help="Visual features to use (default: i3d-inception if present, else the store's only visual extractor).")
@click.option("--audio-extractor", default=None, help="Audio features to use (default: the store's only audio extractor).")
@click.option("--gpu", type=int, default=None, metavar="N", help="Train on CUDA device N (default: CPU).")
@click.pass_context
def train_cmd(ctx, method, store, manifest, out, recipe, overrides, epochs, seed, visual_extractor, audio_extractor, gpu):
    """Train a detector on the CLEAN training features of a store and save it.

    \b
    Example:
      robusta-bench train --method robusta --store store --manifest data/index.csv \\
          --out robusta.safetensors --recipe paper --seed 0
    """
    from ..evaluation.training import train_detector

    device = _device(ctx, gpu)
    try:
        det = train_detector(
            method, store, manifest, visual_extractor=visual_extractor, audio_extractor=audio_extractor,
            seed=seed, epochs=epochs, device=device, progress=progress_enabled(), out=out,
            recipe=recipe, overrides=overrides,
        )
    except _user_errors() as exc:
        _usage(ctx, str(exc))
        return
    log = (det.train_info or {}).get("log") or {}
    losses = log.get("epoch_loss") or []
    tail = f", final loss {losses[-1]:.4f}" if losses else ""
    used = ((det.train_info or {}).get("config") or {}).get("recipe", "?")
    click.echo(f"trained {method} (recipe {used}, seed {seed}{tail}) -> {out}")


def _parse_checkpoints(ctx: click.Context, items: tuple[str, ...], method: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        label, sep, path = item.partition("=")
        if not sep:
            label, path = method, item
        from pathlib import Path

        if not Path(path).is_file():
            _usage(ctx, f"--checkpoint {item}: file not found")
        out[label.strip()] = path
    return out


@click.command("evaluate")
@click.option("--method", "methods", multiple=True, default=("robusta",), show_default=True,
              help="Method(s) to evaluate (repeatable): a registered detector or an ablation (robusta-pad, robusta-average).")
@click.option("--baseline", default="hlnet", show_default=True, help="Baseline compared in every table; 'none' for no baseline.")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False), help=_STORE_HELP)
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False),
              help=_MANIFEST_HELP + " Train videos train the detectors; test videos are scored.")
@click.option("--annotations", required=True, type=click.Path(exists=True, dir_okay=False),
              help="annotations.txt (official XD-Violence format) with the frame-level anomalies of the test videos.")
@click.option("--visual-extractor", default=None, help="Visual features (default: i3d-inception if present, else the store's only visual extractor).")
@click.option("--audio-extractor", default=None, help="Audio features (default: the store's only audio extractor).")
@click.option("--corruptions", default="all", show_default=True,
              help="Settings to evaluate: 'all' (those the store has; the rest are listed as skipped) or a comma list of "
                   "corruptions and settings (fog, babble, missing_visual, mixed_audio, motion_blur+babble ...).")
@click.option("--fractions", "levels", default="0,10,30,50,70,90,100", show_default=True,
              help="Fractions of the test videos corrupted, in percent (the paper's corruption levels).")
@renamed_option("--levels", "--fractions")
@click.option("--severity", type=click.IntRange(1, 5), default=DEFAULT_SEVERITY, show_default=True,
              help="Severity (1-5) of the store variants used: <corruption>-s<SEVERITY>-seed<CORRUPTION-SEED> "
                   "(the default is the benchmark's default severity, also 'corrupt's default).")
@click.option("--corruption-seed", "variant_seed", type=int, default=0, show_default=True,
              help="Corruption seed of the variants in the store (the 'extract --corruption-seed') and of the default plan.")
@renamed_option("--variant-seed", "--corruption-seed", type=int)
@click.option("--seeds", default="0", show_default=True, help="Training seeds, e.g. 0,1,2: every method is trained per seed; tables show mean ± std.")
@click.option("--recipe", default=None, metavar="NAME|FILE", help=_RECIPE_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--epochs", type=click.IntRange(min=0), default=None, help="Training epochs (default: each detector's recipe; same as --set epochs=N).")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="[METHOD=]FILE",
              help="Use a trained detector file instead of training (repeatable). A bare FILE is the first --method.")
@click.option("--plan", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Plan CSV (which test videos are corrupted at each level). Default: the shipped v1 plan when the "
                   "manifest's test videos are XD-Violence's, else a plan made from the manifest with --corruption-seed.")
@click.option("--tables", default="I", show_default=True,
              help="Tables to produce: I, II, III, V (comma-separated); IV with --dataset ucf-crime. Fig. 4 comes with I when the "
                   "method has average/GMM fusion. III adds hlnet, robusta, hypervd, robusta-hypervd, rtfm, robusta-rtfm "
                   "(each trained with its backbone's upstream recipe), the mixed_visual/mixed_audio settings and levels 0 and 100.")
@click.option("--gpu", type=int, default=None, metavar="N", help="Train and score on CUDA device N (default: CPU).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "float32", "bfloat16"]), default="fp32", show_default=True,
              help="Scoring precision of the large matrix products (float32/bfloat16: deprecated spellings). bf16 (float32 accumulation; Gram matrices, "
                   "adjacencies and the rest stay float32) scored the benchmark grid 1.3-1.4x faster on a 2-core AVX-512 BF16 CPU; "
                   "offline APs moved by at most 0.02 points, online APs and ROC-AUCs by up to 0.2 (BENCHMARKS.md). "
                   "Training is always float32.")
@click.option("--dataset", type=click.Choice(["xd-violence", "ucf-crime"]), default="xd-violence", show_default=True,
              help="Dataset of --store/--manifest/--annotations. ucf-crime: zero-shot Table IV (detectors trained on the "
                   "XD-Violence --train-store, or --checkpoint files; UCF-Crime audio is missing; pooled frame ROC-AUC; "
                   "visual corruptions and levels apply). Without --method it evaluates hlnet, robusta, hypervd, "
                   "robusta-hypervd, rtfm, robusta-rtfm.")
@click.option("--train-store", type=click.Path(exists=True, file_okay=False), default=None,
              help="With --dataset ucf-crime: the XD-Violence feature store whose clean train features train the detectors.")
@click.option("--train-manifest", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --dataset ucf-crime: the XD-Violence manifest of --train-store.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Results folder (results.csv/json, tables, PNGs, report.html).")
@click.pass_context
def evaluate_cmd(ctx, methods, baseline, store, manifest, annotations, visual_extractor, audio_extractor, corruptions,
                 levels, levels_old, severity, variant_seed, variant_seed_old, seeds, recipe, overrides, epochs, checkpoints,
                 plan, tables, gpu, precision, dataset, train_store, train_manifest, out):
    """Train (or load) detectors, score the corrupted benchmark, write the paper's tables and plots.

    Training always uses the clean train features; every needed (video,
    input) pair is scored once and the settings x levels are composed from
    those scores. Prints the Table-I-style Markdown and where report.html is.
    Exits 1 when some test video could not be scored (listed in the report).

    \b
    Example:
      robusta-bench evaluate --method robusta --baseline hlnet --store store \\
          --manifest data/index.csv --annotations data/annotations.txt \\
          --corruptions all --tables I,II,V --seeds 0,1,2 --out results
    """
    from ..evaluation.runner import evaluate
    from ..vocabulary import LEGACY_PRECISIONS, canonical_precision

    levels = take_renamed(ctx, "levels", levels, levels_old, "--levels", "--fractions")
    variant_seed = take_renamed(ctx, "variant_seed", variant_seed, variant_seed_old, "--variant-seed", "--corruption-seed")
    if precision in LEGACY_PRECISIONS:
        click.echo(f"note: --precision {precision} is deprecated; use {canonical_precision(precision)}", err=True)
    precision = canonical_precision(precision)
    device = _device(ctx, gpu)
    seed_list = _int_list(ctx, seeds, "--seeds")
    methods = tuple(m.strip() for m in methods if m.strip())
    if dataset == "ucf-crime":
        run_zero_shot(ctx, methods=methods, baseline=baseline, store=store, manifest=manifest, annotations=annotations,
                      visual_extractor=visual_extractor, audio_extractor=audio_extractor, corruptions=corruptions,
                      levels=levels, severity=severity, variant_seed=variant_seed, seeds=seed_list, epochs=epochs,
                      checkpoints=checkpoints, plan=plan, tables=tables, device=device, train_store=train_store,
                      train_manifest=train_manifest, out=out)
        return
    ckpt = _parse_checkpoints(ctx, checkpoints, methods[0] if methods else "robusta")
    from ..evaluation.failures import NoScorableVideos, format_failures

    try:
        result = evaluate(
            store, manifest, annotations, methods=methods,
            baseline=None if baseline.strip().lower() in ("", "none") else baseline.strip(),
            visual_extractor=visual_extractor, audio_extractor=audio_extractor, corruptions=corruptions,
            levels=levels, severity=severity, seeds=seed_list, plan=plan, tables=tables, epochs=epochs,
            checkpoints=ckpt, out_dir=out, progress=progress_enabled(), device=device, variant_seed=variant_seed,
            precision=precision, recipe=recipe, overrides=overrides,
        )
    except NoScorableVideos as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(1)
        return
    except _user_errors() as exc:
        _usage(ctx, str(exc))
        return
    for label, cfg in (result.info.get("recipes") or {}).items():
        click.echo(f"recipe {label}: {(cfg or {}).get('recipe', 'unknown (detector file without a training record)')}")
    _print_sample(result.info)
    for key in ("I", "II", "III", "V", "fig4"):
        if key in result.markdown:
            click.echo(f"\n{_TITLES[key]}\n")
            click.echo(result.markdown[key])
    if result.skipped:
        lacking = sorted({g.strip() for v in result.skipped.values() if v.startswith("store lacks ")
                          for g in v[len("store lacks "):].split(",")})
        click.echo(f"\nskipped {len(result.skipped)} setting(s) the store cannot provide: {', '.join(result.skipped)}")
        if lacking:
            click.echo(f"  (store groups missing: {', '.join(lacking)}; create them with 'robusta-bench extract')")
    if result.failures:
        click.echo(f"\n{len(result.failures)} test video(s) left out, by cause:", err=True)
        for line in format_failures(result.failures):
            click.echo(f"  {line}", err=True)
    click.echo(f"\nresults: {result.files.get('csv')}\nreport: {result.report}")
    ctx.exit(0 if result.ok else 1)


def _print_sample(info: dict) -> None:
    from ..evaluation.sample_size import sample_caption

    if info.get("sample"):
        click.echo(f"sample: {sample_caption(info['sample'])}")
    for w in info.get("warnings", []):
        click.echo(f"warning: {w}", err=True)


_TITLES = {
    "I": "Table I: AP (%), offline head",
    "II": "Table II: one modality missing for all videos, the other corrupted",
    "III": "Table III: plug-and-play (AP %, mixed corruptions; 'paper:' columns are the paper's numbers)",
    "V": "Table V: projection vs padding",
    "fig4": "Fig. 4: fusion schemes",
}


@click.command("modality-health")
@click.option("--store", required=True, type=click.Path(exists=True, file_okay=False), help=_STORE_HELP)
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False), help=_MANIFEST_HELP)
@click.option("--variant", "variants", default="clean", show_default=True,
              help="Comma-separated variants to check: clean and/or CORRUPTION@SEVERITY (fog@3, babble@2); "
                   "a corrupted variant replaces the modality it was extracted for.")
@click.option("--corruption-seed", "variant_seed", type=int, default=0, show_default=True, help="Corruption seed of the CORRUPTION@SEVERITY variants in the store.")
@renamed_option("--variant-seed", "--corruption-seed", type=int)
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A trained robusta detector file whose GMMs to use (default: fit GMMs on the store's clean train features).")
@click.option("--split", type=click.Choice(["test", "train", "all"]), default="test", show_default=True, help="Videos to check.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the GMM fit (without --checkpoint).")
@click.option("--weighting", "weightings", default=None,
              help="Comma-separated dynamic weighting options to report (default: all that the models are calibrated for: learned and learned-gmm need the self-made perturbations in the store, see 'robusta-bench list weightings').")
@click.option("--leave-one-out", is_flag=True,
              help="Fit the models for each checked video on the clean features of all the OTHER checked videos "
                   "(for a few clips without a train split); not with --checkpoint.")
@click.option("--unit", type=click.Choice(["segment", "window", "video"]), default=None,
              help="What is scored (without --checkpoint): each segment, a centred window of --window segments, "
                   "or the video mean E-bar (the paper's Eq. 4). Default: segment.")
@click.option("--window", type=click.IntRange(min=1), default=None, help="Window length in segments for --unit window (default 5).")
@click.option("--visual-extractor", default=None, help="Visual features (default: i3d-inception if present, else the only one).")
@click.option("--audio-extractor", default=None, help="Audio features (default: the store's only audio extractor).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for health_videos.csv, health_segments.csv, health.png and, with corrupted variants, "
                   "health_detection.csv/.md/.png.")
@click.pass_context
def health_cmd(ctx, store, manifest, variants, variant_seed, variant_seed_old, checkpoint, split, seed, weightings,
               leave_one_out, unit, window, visual_extractor, audio_extractor, out):
    """Per-video and per-segment reliability (score, lambda) of each modality, and corruption detection.

    Useful on its own to check camera/microphone health: lambda near 0.5
    means the segment looks like clean training data, near 0 that it does
    not. A modality is flagged for a video when its mean lambda is < 0.25.
    With corrupted variants it reports, per corruption, severity and
    weighting option, the ROC-AUC of the reliability score for corrupted vs
    clean segments (and per video) and the mean weights (table and plot).

    \b
    Example:
      robusta-bench modality-health --store store --manifest data/index.csv \\
          --variant clean,fog@3,babble@3 --out health
    """
    from ..detectors.weighting import WeightingConfig
    from ..evaluation.health import modality_health

    variant_seed = take_renamed(ctx, "variant_seed", variant_seed, variant_seed_old, "--variant-seed", "--corruption-seed")
    try:
        wcfg = None
        if unit is not None or window is not None:
            if checkpoint is not None:
                raise ValueError("--unit/--window apply to models fitted here; a --checkpoint keeps its own")
            wcfg = WeightingConfig(unit=unit or "segment", window=window or 5)
        result = modality_health(
            store, manifest, variants=[v for v in variants.split(",") if v.strip()], checkpoint=checkpoint,
            visual_extractor=visual_extractor, audio_extractor=audio_extractor, split=split,
            variant_seed=variant_seed, seed=seed, out_dir=out, progress=progress_enabled(),
            weightings=[w.strip() for w in weightings.split(",") if w.strip()] if weightings else None,
            leave_one_out=leave_one_out, weighting_config=wcfg,
        )
    except _user_errors() as exc:
        _usage(ctx, str(exc))
        return
    click.echo(result.summary())
    for key, path in result.files.items():
        click.echo(f"{key}: {path}")
    ctx.exit(0 if result.ok else 1)


@click.command("recipe")
@click.option("--method", default="robusta", show_default=True, help="Detector (or ablation) whose recipe to show.")
@click.option("--recipe", default=None, metavar="NAME|FILE", help=_RECIPE_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the TOML here instead of printing it.")
@click.pass_context
def recipe_cmd(ctx, method, recipe, overrides, out):
    """Print a detector's training recipe as TOML (every hyper-parameter); edit it and pass it back with --recipe FILE.

    \b
    Example:
      robusta-bench recipe --method robusta --recipe paper --set lr=2e-5 --out my.toml
      robusta-bench train --method robusta --recipe my.toml ...
    """
    from ..detectors.recipes import recipe_toml
    from ..evaluation.training import resolve_method, train_config

    try:
        cfg = train_config(None, method=method, recipe=recipe, overrides=overrides)
        text = recipe_toml(cfg, resolve_method(method)[0])
    except _user_errors() as exc:
        _usage(ctx, str(exc))
        return
    if out:
        from ..files import atomic_write_text

        atomic_write_text(out, text)
        click.echo(f"recipe {cfg.recipe} -> {out}")
    else:
        click.echo(text, nl=False)


COMMANDS = [train_cmd, evaluate_cmd, health_cmd, recipe_cmd]


# ------------------------------------------------------------- evaluate --dataset ucf-crime (Table IV)
def _explicit(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


def run_zero_shot(ctx: click.Context, *, methods, baseline, tables, checkpoints, out, plan, **kw: Any) -> None:
    """Validate the options, run :func:`~robusta_bench.evaluation.zero_shot.evaluate_zero_shot`, print Table IV."""
    from ..evaluation.table3 import METHODS
    from ..evaluation.zero_shot import TITLES, evaluate_zero_shot

    wanted = {t.strip().upper() for t in tables.split(",") if t.strip()}
    if _explicit(ctx, "tables") and not wanted <= {"IV", "4"}:
        _usage(ctx, f"--dataset ucf-crime produces Table IV only (got --tables {tables}); Tables I-III and V are XD-Violence's")
        return
    if not _explicit(ctx, "methods"):
        labels = list(METHODS)
    else:
        base = baseline.strip()
        labels = list(dict.fromkeys(([base] if base.lower() not in ("", "none") else []) + list(methods)))
    ckpt = _parse_checkpoints(ctx, checkpoints, labels[0] if labels else "robusta")
    levels = kw.pop("levels")
    try:
        result = evaluate_zero_shot(
            methods=labels, checkpoints=ckpt, out_dir=out, plan=plan, progress=progress_enabled(),
            levels=levels.split(",") if isinstance(levels, str) else levels, **kw,
        )
    except _user_errors() as exc:
        _usage(ctx, str(exc))
        return
    for key, md in result.markdown.items():
        click.echo(f"\n{TITLES[key]}\n")
        click.echo(md)
    if result.skipped:
        click.echo(f"\nskipped {len(result.skipped)} setting(s) the store cannot provide: {', '.join(result.skipped)}")
    if result.failures:
        click.echo(f"\n{len(result.failures)} test video(s) left out:", err=True)
        for k, v in list(result.failures.items())[:20]:
            click.echo(f"  {k}: {v}", err=True)
    click.echo(f"\nresults: {result.files.get('csv')}\nreport: {result.files.get('report')}")
    ctx.exit(0 if result.ok else 1)
