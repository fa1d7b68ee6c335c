"""CLI: ``index`` (probe a folder of videos into a manifest) and ``synth`` (synthetic dataset)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .base import progress_enabled


def _size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 320x240, got {value!r}") from None
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise click.BadParameter(f"width and height must be even and >= 32, got {w}x{h}")
    return w, h


@click.command("index")
@click.argument("root", type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Manifest to write: Parquet, or CSV when the name ends in .csv.")
@click.option("--annotations", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="XD-Violence annotations.txt ('name s1 e1 ...' frame intervals) or the UCF-Crime "
                   "Temporal_Anomaly_Annotation file ('name Class s1 e1 s2 e2', recognised by its class "
                   "column); adds the columns has_annotation and n_anomalous_frames.")
@click.option("--split-list", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Video list (CSV/Parquet with name and split columns; optional label, categories, "
                   "list_index), e.g. the split.csv written by 'synth'. Default: the official XD-Violence "
                   "and UCF-Crime lists shipped with the package (UCF-Crime names also give label and "
                   "class). Videos not listed get split 'unknown'.")
@click.option("--recursive/--no-recursive", default=True, show_default=True,
              help="Also look for videos in sub-folders of ROOT.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Files probed in parallel (threads; probing is mostly I/O).")
def index_cmd(root: Path, out: Path, annotations: Path | None, split_list: Path | None, recursive: bool, jobs: int) -> None:
    """Probe every video under ROOT (mp4, avi, mkv, webm, mov, ...) into a manifest.

    One row per file: name, path, split, label, categories, list_index, frames,
    fps, width, height, duration_s, audio_rate, audio_channels (0 without audio),
    codecs, n_segments (16-frame snippets) and error. A file that cannot be read
    (truncated, empty, not a video) gets an error row and the others are kept.
    Prints a summary; exits 1 if any file failed.

    \b
    Examples:
      robusta-bench index /data/xd-violence/videos --out manifest.parquet \\
          --annotations /data/xd-violence/annotations.txt --jobs 4
      robusta-bench index synth/videos --out synth.csv --split-list synth/split.csv
    """
    from ..dataset.index import index_videos, summarize, write_manifest

    try:
        df = index_videos(root, annotations=annotations, split_list=split_list, recursive=recursive,
                          jobs=jobs, progress=progress_enabled())
    except (ValueError, FileNotFoundError) as exc:
        raise click.UsageError(str(exc)) from None
    if len(df) == 0:
        click.echo(f"no video files found under {root}", err=True)
        raise SystemExit(1)
    write_manifest(df, out)
    click.echo(summarize(df))
    click.echo(f"manifest: {out}")
    _warn_index(df, split_list, annotations)
    if df["error"].notna().any():
        raise SystemExit(1)


def _warn_index(df, split_list: Path | None, annotations: Path | None) -> None:
    from ..dataset.annotations import read_annotations
    from ..dataset.index_checks import index_warnings

    n_lines = len(read_annotations(annotations)) if annotations is not None else None
    for line in index_warnings(df, split_list_given=split_list is not None, annotations_given=annotations is not None,
                               n_annotation_lines=n_lines):
        click.echo(f"warning: {line}", err=True)


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--videos", "-n", "n_videos", type=click.IntRange(min=1), default=40, show_default=True,
              help="Number of videos (about half violent in each split).")
@click.option("--seconds", type=click.FloatRange(min=2.0), default=8.0, show_default=True,
              help="Length of every video in seconds (24 fps).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed: the same arguments give byte-identical files.")
@click.option("--test-fraction", type=click.FloatRange(0.0, 1.0), default=0.4, show_default=True,
              help="Fraction of the videos in the test split.")
@click.option("--size", callback=_size, default="320x240", show_default=True,
              help="Frame size WIDTHxHEIGHT (even numbers).")
@click.option("--audio-rate", type=click.Choice(["16000", "22050", "32000", "44100", "48000"]), default="16000",
              show_default=True, help="Audio sample rate in Hz (mono AAC).")
@click.option("--kind", type=click.Choice(["xd-violence", "ucf-crime"]), default="xd-violence", show_default=True,
              help="Dataset to imitate: xd-violence (24 fps, audio, XD names) or ucf-crime (30 fps, no audio, "
                   "UCF-Crime names, official list and annotation formats; --audio-rate is ignored).")
def synth_cmd(out: Path, n_videos: int, seconds: float, seed: int, test_fraction: float, size: tuple[int, int], audio_rate: str,
              kind: str) -> None:
    """Generate a small synthetic XD-Violence-style dataset in OUT.

    Writes OUT/videos/*.mp4 (H.264 yuv420p + AAC mono, 24 fps, XD-Violence names;
    violent videos hold 1-2 anomalous segments that are visible and audible),
    OUT/annotations.txt (official format, violent test videos), OUT/split.csv
    (a video list for 'index --split-list'), OUT/synth.json (all segments and
    events) and OUT/manifest.parquet (the 'index' manifest).

    With --kind ucf-crime: OUT/videos/*.mp4 at 30 fps without audio, UCF-Crime
    names, and the official UCF-Crime files (Anomaly_Train.txt,
    Temporal_Anomaly_Annotation_for_Testing_Videos.txt, rtfm_ucf-i3d-test.list).

    \b
    Example:
      robusta-bench synth data/synth --videos 40 --seconds 8 --seed 0
      robusta-bench synth data/synth-ucf --kind ucf-crime --videos 20
    """
    from ..dataset.synthetic import make_synthetic_dataset

    t0 = time.perf_counter()
    manifest = make_synthetic_dataset(out, n_videos=n_videos, seconds=seconds, seed=seed, test_fraction=test_fraction,
                                      size=size, audio_rate=int(audio_rate), progress=progress_enabled(), kind=kind)
    from ..dataset.index import read_manifest, summarize

    click.echo(summarize(read_manifest(manifest)))
    click.echo(f"wrote {n_videos} videos to {out} in {time.perf_counter() - t0:.1f} s; manifest: {manifest}")


COMMANDS = [index_cmd, synth_cmd]
