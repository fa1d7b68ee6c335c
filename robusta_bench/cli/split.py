"""CLI: ``split`` (write a split/label list for a folder of your own videos)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("split")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Video list to write (CSV with name, split, label), for 'index --split-list'.")
@click.option("--from-csv", "table", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Your own table (CSV/Parquet) with a name column and label (1/0, violent/normal, yes/no) "
                   "and/or split (train/test) columns; names may carry their extension.")
@click.option("--violent", default=None, metavar="PATTERNS",
              help="Comma-separated name patterns (shell wildcards, case-insensitive) of the violent videos, "
                   "e.g. 'fight*,abuse*'; every other video is normal. Default: labels from --from-csv, "
                   "else from XD-Violence names.")
@click.option("--test", "test", default=None, metavar="PATTERNS",
              help="Comma-separated name patterns of the test videos (the rest are train). "
                   "Default: --test-fraction of each label, chosen by a seeded hash of the name.")
@click.option("--test-fraction", type=click.FloatRange(0.0, 1.0), default=0.3, show_default=True,
              help="Fraction of each label put in the test split (rounded up) when neither --test nor a split "
                   "column says otherwise.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --test-fraction choice.")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Also list videos in sub-folders.")
def split_cmd(root: Path, out: Path, table: Path | None, violent: str | None, test: str | None,
              test_fraction: float, seed: int, recursive: bool) -> None:
    """Write a split/label list (name, split, label) for the videos under ROOT.

    Videos whose names are not XD-Violence's need such a list: without it
    'index' gives them split 'unknown' (left out of training and testing) and
    label -1. Violent test videos also need lines in an annotations file
    (official format: 'name start end ...' frame intervals) for 'evaluate'.

    \b
    Examples:
      robusta-bench split my_videos --out split.csv --violent 'fight*,abuse*' --test-fraction 0.3
      robusta-bench split my_videos --out split.csv --from-csv labels.csv
      robusta-bench index my_videos --out manifest.parquet --split-list split.csv
    """
    from ..dataset.index import find_videos
    from ..dataset.split_rule import SplitRuleError, describe_split_list, make_split_list, read_label_table
    from ..manifest import write_table

    from ..dataset.names import strip_video_ext

    names = [strip_video_ext(p.name) for p in find_videos(root, recursive=recursive)]
    if not names:
        raise click.UsageError(f"no video files found under {root}")
    try:
        labels = read_label_table(table) if table is not None else None
        df = make_split_list(names, table=labels, violent=violent, test=test, test_fraction=test_fraction, seed=seed)
    except SplitRuleError as exc:
        raise click.UsageError(str(exc)) from None
    write_table(df, out)
    click.echo(f"{len(df)} videos -> {out}: {describe_split_list(df)}")
    for split in ("train", "test"):
        part = df[df["split"] == split]
        if len(part) and part["label"].nunique() < 2:
            click.echo(f"warning: the {split} split has only {'violent' if part['label'].iloc[0] else 'normal'} "
                       "videos; detectors need both classes to train and AP needs both to mean anything", err=True)
    click.echo(f"next: robusta-bench index {root} --out MANIFEST --split-list {out} [--annotations ANNOTATIONS]")


COMMANDS = [split_cmd]
