"""Checks of the manifest ``train`` / ``evaluate`` read, before any work starts."""

from __future__ import annotations

import pandas as pd

#: Columns evaluation needs (``frames`` is optional: the scored length is used without it).
REQUIRED = ("name", "split", "label")


def check_eval_manifest(df: pd.DataFrame, source: str = "the manifest", splits: tuple[str, ...] = ("test", "train")) -> None:
    """Raise ``ValueError`` (one line: which file, what is wrong, how to fix it) when ``df`` lacks the
    columns name/split/label or has no video in one of ``splits``."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(
            f"{source} lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, df.columns))}); write it with "
            "'robusta-bench index VIDEOS --out MANIFEST --split-list split.csv' (split list from 'robusta-bench split')"
        )
    have = df["split"].astype(str)
    counts = have.value_counts().to_dict()
    for split in splits:
        if not (have == split).any():
            raise ValueError(
                f"{source} has no {split!r} videos (splits: {counts}); give your videos splits with "
                "'robusta-bench split VIDEOS --out split.csv ...' and 'robusta-bench index VIDEOS --out MANIFEST "
                "--split-list split.csv'"
            )
