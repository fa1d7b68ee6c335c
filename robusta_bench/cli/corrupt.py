"""CLI: ``corrupt``, ``show`` and ``plan``."""

from __future__ import annotations

from pathlib import Path

import click

from .. import DEFAULT_SEVERITY
from .base import progress_enabled, renamed_option, take_renamed


def _levels_text(levels: list[dict]) -> str:
    keys = list(levels[0]) if levels else []
    parts = []
    for key in keys:
        parts.append(f"{key}=" + "/".join(f"{lv[key]:g}" if isinstance(lv[key], float) else str(lv[key]) for lv in levels))
    return "; ".join(parts)


def _print_registry() -> None:
    from ..corruptions.runner import describe_registry

    rows = describe_registry()
    width = max((len(r["name"]) for r in rows), default=4)
    click.echo(f"{'name':<{width}}  modality  v  levels 1..5")
    for r in rows:
        flag = " (packet level)" if r.get("packet_level") else ""
        click.echo(f"{r['name']:<{width}}  {r['modality']:<8}  {r['version']}  {_levels_text(r['levels'])}{flag}")
    from ..corruptions.base import corruption_names

    if not corruption_names("audio"):
        click.echo("(no audio corruptions installed)")


@click.command(name="corrupt")
@click.option("--type", "types", default="all", show_default=True,
              help="What to corrupt: all | visual | audio | comma-separated corruption names "
                   "(e.g. rain,fog) | plan settings mixed_visual, mixed_audio, or a pair like "
                   "motion_blur+babble (then each video gets the types the plan assigns).")
@click.option("--severity", "severities", default=str(DEFAULT_SEVERITY), show_default=True,
              help=f"Severities: one (3), a list (1,3) or a range (1-5). The default, {DEFAULT_SEVERITY}, is the "
                   "benchmark's default severity: the one 'evaluate --severity' reads.")
@click.option("--fraction", type=float, default=1.0, show_default=True,
              help="Fraction of the test videos corrupted, 0..1 (the paper's 'corruption level' in %), as the plan "
                   "nests them (0.1, 0.3, 0.5, 0.7, 0.9, 1.0 are planned; any value in [0, 1] works).")
@click.option("--corruption-seed", "seed", type=int, default=0, show_default=True,
              help="Corruption seed: part of every item's random seed, and of the plan when --plan is not given.")
@renamed_option("--seed", "--corruption-seed", type=int)
@click.option("--manifest", "manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="[required unless --list] Video manifest (CSV/Parquet) with name, label, split and path columns "
                   "(relative paths are relative to the manifest file).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="[required unless --list] Output folder: OUT/<type>-s<severity>-seed<corruption seed>/<name>.mp4 "
                   "and OUT/corrupt_manifest.csv.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A plan file (see `robusta-bench plan`); default: made from the manifest's test split with --corruption-seed. "
                   "For XD-Violence use manifests/plans/v1/xd_violence_test.csv to match benchmark v1.")
@click.option("--video-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding <name>.mp4 (etc.) when the manifest has no path column.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; results are identical for any value.")
@click.option("--noise-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Folder with your noise recordings for the overlay types, under their NOISEX-92 names: "
                   "babble.wav, hfchannel.wav, pink.wav, white.wav (any audio extension). Each is looped/cropped to "
                   "the track from a seeded offset and mixed at the level's SNR; a type without a file uses its "
                   "generated noise. The noise source (generated or the file's sha256) is recorded per output.")
@click.option("--shard", default=None, metavar="K/N",
              help="Only the videos of shard K of N (0 <= K < N; a fixed partition by video name) for array jobs "
                   "that share one --out.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run the videos as Ray tasks: alone, a local Ray instance; with ADDRESS (auto, HOST:6379, "
                   "ray://HOST:10001) an existing cluster. Needs robusta-bench[ray].")
@click.option("--list", "list_only", is_flag=True, help="Print the corruption registry (modality, levels and parameters) and exit.")
@click.pass_context
def corrupt_cmd(ctx, types, severities, fraction, seed, seed_old, manifest, out_dir, plan_file, video_dir, jobs, noise_dir,
                shard, ray_address, list_only):
    """Write corrupted copies of the planned test videos.

    Visual corruptions re-encode the video (libx264, CRF 17, same size and frame
    rate) and copy the audio bit-exactly; bit error damages the compressed video
    packets; audio corruptions rewrite the audio and copy the video stream.
    Resumable: a rerun skips outputs whose sha256 matches OUT/corrupt_manifest.csv.
    A failing video is reported by name; the exit status is 1 if any failed.

    \b
    Example:
      robusta-bench corrupt --type rain --severity 3 --fraction 0.3 --corruption-seed 0 \\
          --manifest test.csv --out corrupted --jobs 2
    """
    seed = take_renamed(ctx, "seed", seed, seed_old, "--seed", "--corruption-seed")
    if list_only:
        _print_registry()
        return
    if manifest is None or out_dir is None:
        raise click.UsageError("--manifest and --out are required (or use --list)")
    if not manifest.exists():
        raise click.BadParameter(f"{manifest} does not exist", param_hint="--manifest")
    from ..corruptions.runner import RunnerError, corrupt_videos
    from ..registry import RegistryError

    try:
        report = corrupt_videos(
            manifest, out_dir, types=types, severities=severities, fraction=fraction, seed=seed,
            plan=plan_file, jobs=jobs, video_dir=video_dir, progress=progress_enabled(), noise_dir=noise_dir,
            shard=shard, ray_address=ray_address,
        )
    except (RunnerError, RegistryError, ValueError, ImportError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"corrupt: {len(report.done)} written, {len(report.skipped)} already done, "
        f"{len(report.failed)} failed in {report.seconds:.1f} s -> {report.manifest_path}"
    )
    for row in report.failed:
        click.echo(f"  FAILED {row['corruption']} s{row['severity']} {row['name']}: {row['error']}", err=True)
    if report.failed:
        raise SystemExit(1)


@click.command(name="show")
@click.option("--type", "types", default="all", show_default=True,
              help="all or visual (every visual corruption), audio (every audio corruption, as spectrograms), "
                   "or comma-separated names of one modality.")
@click.option("--video", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The video to show.")
@click.option("--frame", type=click.IntRange(min=0), default=None,
              help="Index of the frame to show (visual corruptions). Default: frame 0, except for bit_error, "
                   "whose damage is random per frame: each severity shows its most damaged frame of the first "
                   "240 (the cell titles name the frames).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="User seed (as for `corrupt`; the video's file name is the item name).")
@click.option("--out", "out_png", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output PNG.")
def show_cmd(types, video, frame, seed, out_png):
    """Picture of one frame (or the spectrogram) at severities 0-5, one row per corruption.

    \b
    Example:
      robusta-bench show --type fog --video clip.mp4 --frame 40 --out fog.png
    """
    from ..corruptions.show import show_grid
    from ..media.decode import MediaError
    from ..registry import RegistryError

    try:
        path = show_grid(video, types, out_png, frame=frame, seed=seed)
    except (RegistryError, ValueError, IndexError) as exc:
        raise click.UsageError(str(exc)) from exc
    except (MediaError, RuntimeError) as exc:
        click.echo(f"show: {exc}", err=True)
        raise SystemExit(1)
    click.echo(f"wrote {path}")


@click.command(name="plan")
@click.option("--manifest", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="Video manifest (CSV/Parquet) with name, label and split columns.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the stratified ranking and the mixed types.")
@click.option("--split", default="test", show_default=True, help="Which split the plan covers.")
@click.option("--fractions", default="0.1,0.3,0.5,0.7,0.9,1.0", show_default=True,
              help="Planned corruption levels (fractions of the split's videos), comma-separated.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Plan file to write (CSV with a JSON header line).")
def plan_cmd(manifest, seed, split, fractions, out_file):
    """Write a seeded benchmark plan: which videos are corrupted at each fraction.

    Fractions are nested and stratified by label; mixed settings spread the
    corrupted videos evenly over the 8 types of a modality.

    \b
    Example:
      robusta-bench plan --manifest synth/manifest.csv --seed 0 --out synth/plan.csv
    """
    from ..corruptions.plan import PlanError, make_plan
    from ..manifest import read_table

    try:
        fracs = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"bad fractions {fractions!r}", param_hint="--fractions") from exc
    try:
        plan = make_plan(read_table(manifest), seed=seed, fractions=fracs, split=split)
    except PlanError as exc:
        raise click.UsageError(str(exc)) from exc
    plan.to_file(out_file)
    click.echo(f"plan of {len(plan.table)} {split} videos (seed {seed}) -> {out_file}")
    click.echo(plan.summary().to_string(index=False))


COMMANDS = [corrupt_cmd, show_cmd, plan_cmd]
