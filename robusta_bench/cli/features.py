"""CLI: ``extract``, ``export`` and ``import``.

Each command parses its options, makes one library call and prints a summary.
Exit status: 0 success, 1 when any video failed (listed by name), 2 for usage
errors (bad option values, unknown extractor or corruption, wrong store).
"""

from __future__ import annotations

import click

from .base import progress_enabled, renamed_option, take_renamed


def _usage(ctx: click.Context, message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    ctx.exit(2)


@click.command("extract")
@click.option("--manifest", "manifest", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Index manifest (CSV or Parquet with name, path, split, label ... columns) from 'robusta-bench index' or 'synth'.")
@click.option("--extractors", required=True,
              help="Comma-separated extractor names, e.g. i3d-inception,yamnet (see 'robusta-bench weights list').")
@click.option("--variants", default="clean", show_default=True,
              help="Comma-separated variants: 'clean' and/or CORRUPTION@SEVERITY (fog@3, babble@2 ...). One decode serves them all. "
                   "'perturbations' = the self-made perturbations RobustA's learned weighting trains on (use with "
                   "--variant-split train).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Feature store folder (created if missing; an existing one is resumed: stored videos are skipped).")
@click.option("--gpu", type=int, default=None, metavar="N", help="Run the extractors on CUDA device N (default: CPU).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Clips per model call; a batch mixes crops, variants and videos. Default: 4 on CPU "
                   "(the fastest there, BENCHMARKS.md), 16 with --gpu.")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Background decode threads (0 = decode in the main thread). Results do not depend on it.")
@click.option("--split", type=click.Choice(["all", "train", "test"]), default="all", show_default=True,
              help="Videos whose CLEAN features are extracted.")
@click.option("--variant-split", type=click.Choice(["all", "train", "test"]), default="test", show_default=True,
              help="Videos whose CORRUPTED variants are extracted (training uses clean features).")
@click.option("--corruption-seed", "seed", type=int, default=0, show_default=True, help="Corruption seed of the CORRUPTION@SEVERITY variants.")
@renamed_option("--seed", "--corruption-seed", type=int)
@click.option("--crops", type=click.IntRange(min=1), default=None,
              help="Override the number of crops (1 = centre only, for quick runs); part of the store key.")
@click.option("--corrupted-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Read corrupted media written by 'robusta-bench corrupt' (DIR/corrupt_manifest.csv) instead of corrupting in memory.")
@click.option("--noise-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Your noise recordings for babble, hf_channel, pink_noise, white_noise under their NOISEX-92 names "
                   "(babble.wav, hfchannel.wav, pink.wav, white.wav); default: generated noise. Recorded in the store.")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Storage dtype of the features (computation is always float32 unless --precision).")
@click.option("--precision", type=click.Choice(["fp32", "tf32", "bf16"]), default="fp32", show_default=True,
              help="Model precision. tf32/bf16 are used only if a calibration batch matches fp32 within tolerance (else fp32).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N videos of the manifest.")
@click.option("--shard", default=None, metavar="K/N",
              help="Only the videos of shard K of N (0 <= K < N; a fixed partition by video name): N array tasks, "
                   "e.g. Slurm --array=0-(N-1), all writing into one --out.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run on Ray actors that hold the models once (one per GPU, else one per CPU): alone, a local Ray "
                   "instance; with ADDRESS (auto, HOST:6379, ray://HOST:10001) an existing cluster. Needs "
                   "robusta-bench[ray]; the store and videos must be at the same paths on every node.")
@click.option("--no-isolation", is_flag=True,
              help="Decode and corrupt in threads of this process instead of one child process per video "
                   "(a native crash then kills the run; for debugging).")
@click.pass_context
def extract_cmd(ctx, manifest, extractors, variants, out, gpu, batch_size, workers, split, variant_split, seed, seed_old,
                crops, corrupted_dir, noise_dir, dtype, precision, limit, shard, ray_address, no_isolation):
    """Extract features of a manifest's videos into a feature store.

    \b
    Protocol: 24 fps, short side 256, crops of 224, 16-frame snippets,
    T = floor((N-1)/16); audio mono 16 kHz, one 0.96 s window per snippet
    ending with it. Corrupted variants are made in memory from the same
    decode as the clean features (no intermediate files).

    \b
    Example:
      robusta-bench extract --manifest data/index.csv --out store \\
          --extractors i3d-inception,yamnet --variants clean,fog@3,babble@2
    """
    from ..extraction.pipeline import extract
    from ..registry import RegistryError
    from ..store.feature_store import StoreError

    seed = take_renamed(ctx, "seed", seed, seed_old, "--seed", "--corruption-seed")
    from ..extraction.variants import parse_variants

    def slug_note(text: str, v) -> None:
        click.echo(f"note: variant {text!r} is a store folder name; write {v.corruption}@{v.severity} "
                   f"(with --corruption-seed {v.seed})", err=True)

    try:  # the command-line syntax is parsed here, at the edge, into typed variants
        variants = parse_variants(variants, seed=seed, on_slug=slug_note)
    except ValueError as exc:
        _usage(ctx, str(exc))
        return
    device = "cpu"
    if gpu is not None:
        from ..torch_info import cuda_device_problem

        problem = cuda_device_problem(gpu)
        if problem:
            _usage(ctx, problem)
        device = f"cuda:{gpu}"
    kw = dict(device=device, batch_size=batch_size, workers=workers, split=split, variant_split=variant_split, seed=seed,
              crops=crops, corrupted_dir=corrupted_dir, noise_dir=noise_dir, dtype=dtype, precision=precision, limit=limit,
              progress=progress_enabled(), shard=shard, isolate=not no_isolation)
    try:
        if ray_address is not None:
            from ..extraction.ray_runner import extract_ray

            report = extract_ray(manifest, extractors, variants, out, address=ray_address, **kw)
        else:
            report = extract(manifest, extractors, variants, out, **kw)
    except (ValueError, RegistryError, StoreError, FileNotFoundError, ImportError) as exc:
        _usage(ctx, str(exc))
        return
    click.echo(report.summary())
    ctx.exit(0 if report.ok else 1)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["xdviolence"]), default="xdviolence", show_default=True,
              help="Output layout. xdviolence: <name>__<crop>.npy, <name>__<audio>.npy and the official list files.")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--visual-extractor", default=None, help="Visual group to export (default: the only one in the store; 'none' to skip).")
@click.option("--audio-extractor", default=None, help="Audio group to export (default: the only one, if any; 'none' to skip).")
@click.option("--variant", default="clean", show_default=True, help="Variant to export: clean or CORRUPTION@SEVERITY.")
@click.option("--corruption-seed", "seed", type=int, default=0, show_default=True, help="Corruption seed of the variant (with CORRUPTION@SEVERITY).")
@renamed_option("--seed", "--corruption-seed", type=int)
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Take train/test splits from this manifest (default: the splits recorded in the store).")
@click.option("--list-root", default=None,
              help="Folder to write in the list files instead of OUT_DIR (if the features will be moved).")
@click.pass_context
def export_cmd(ctx, fmt, store, out_dir, visual_extractor, audio_extractor, variant, seed, seed_old, manifest, list_root):
    """Export a feature store to the official XD-Violence .npy layout.

    \b
    Writes OUT_DIR/rgb/<name>__0.npy .. __{C-1}.npy, OUT_DIR/audio/<name>__<audio>.npy and
    OUT_DIR/list/{rgb,rgb_test,audio,audio_test}.list (violent first, then normal),
    ready for XDVioDet / HyperVD / RTFM training code.

    \b
    Example:
      robusta-bench export --format xdviolence store xd_features --variant fog@3
    """
    from ..store.feature_store import StoreError
    from ..store.xdviolence import export_xdviolence

    seed = take_renamed(ctx, "seed", seed, seed_old, "--seed", "--corruption-seed")
    try:
        report = export_xdviolence(
            store, out_dir, visual_extractor=visual_extractor, audio_extractor=audio_extractor, variant=variant,
            seed=seed, manifest=manifest, list_root=list_root,
        )
    except (ValueError, StoreError, FileNotFoundError) as exc:
        _usage(ctx, str(exc))
        return
    click.echo(report.summary())


@click.command("import")
@click.option("--format", "fmt", type=click.Choice(["xdviolence"]), default="xdviolence", show_default=True,
              help="Input layout (xdviolence: <name>__<crop>.npy / <name>__<extractor>.npy files, any folder depth).")
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("store", type=click.Path(file_okay=False))
@click.option("--extractor", required=True,
              help="Group to import into, e.g. i3d-inception (reads <name>__<k>.npy) or vggish (reads <name>__vggish.npy).")
@click.option("--variant", default="clean", show_default=True, help="Variant the features are of: clean or CORRUPTION@SEVERITY.")
@click.option("--corruption-seed", "seed", type=int, default=0, show_default=True, help="Corruption seed of the variant (with CORRUPTION@SEVERITY).")
@renamed_option("--seed", "--corruption-seed", type=int)
@click.option("--trim/--no-trim", default=True, show_default=True,
              help="Drop the last visual row when the video's audio file is one row shorter (as the official code does).")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Storage dtype in the store.")
@click.pass_context
def import_cmd(ctx, fmt, src_dir, store, extractor, variant, seed, seed_old, trim, dtype):
    """Import official XD-Violence .npy features into a feature store.

    \b
    Splits are read from rgb(_test).list / audio(_test).list files found under SRC_DIR.
    A folder written by 'export' is restored exactly (same groups and keys).

    \b
    Example:
      robusta-bench import --format xdviolence i3d-features/ store --extractor i3d-inception
      robusta-bench import --format xdviolence vggish-features/ store --extractor vggish
    """
    from ..store.feature_store import StoreError
    from ..store.xdviolence import import_xdviolence

    seed = take_renamed(ctx, "seed", seed, seed_old, "--seed", "--corruption-seed")
    try:
        report = import_xdviolence(src_dir, store, extractor, variant=variant, seed=seed, trim=trim, dtype=dtype)
    except (ValueError, StoreError, FileNotFoundError) as exc:
        _usage(ctx, str(exc))
        return
    click.echo(report.summary())
    ctx.exit(0 if report.ok else 1)


COMMANDS = [extract_cmd, export_cmd, import_cmd]
