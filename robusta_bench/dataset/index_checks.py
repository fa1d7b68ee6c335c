"""Warnings about an index manifest that would silently give a useless benchmark.

``index`` cannot know which of your videos are test videos or violent unless the
names are XD-Violence's or a split list says so; a video annotations file that
matches no video is equally silent. :func:`index_warnings` turns each such case
into one line with the count, a few example names and the fix.
"""

from __future__ import annotations

import pandas as pd

from .video_list import UNKNOWN

_FIX_SPLIT = ("write a split list with 'robusta-bench split VIDEOS --out split.csv --violent PATTERNS' "
              "(or --from-csv labels.csv) and index again with --split-list split.csv "
              "(README: 'Using your own videos')")


def _examples(names: pd.Series, k: int = 3) -> str:
    items = names.astype(str).head(k).tolist()
    return ", ".join(items) + (", ..." if len(names) > k else "")


def index_warnings(df: pd.DataFrame, *, split_list_given: bool = False, annotations_given: bool = False,
                   n_annotation_lines: int | None = None) -> list[str]:
    """One line per problem of manifest ``df`` (empty when it is usable as it is).

    Checks: videos with split ``unknown`` (not in the split list), videos without a
    label (-1), a split without test or train videos, and with annotations:
    violent videos without an annotation line, annotation lines matching no video.
    """
    out: list[str] = []
    ok = df[df["error"].isna()] if "error" in df else df
    n = len(ok)
    if n == 0:
        return out
    which = "the split list" if split_list_given else "the official XD-Violence list"
    unknown = ok[ok["split"].astype(str) == UNKNOWN]
    if len(unknown):
        out.append(f"{len(unknown)} of {n} videos are not in {which} and got split 'unknown' "
                   f"({_examples(unknown['name'])}); they are left out of training and testing. Fix: {_FIX_SPLIT}")
    unlabelled = ok[ok["label"].astype(int) == -1]
    if len(unlabelled):
        out.append(f"{len(unlabelled)} of {n} videos have no label (-1): not XD-Violence names and no label column "
                   f"in the split list ({_examples(unlabelled['name'])}). Fix: {_FIX_SPLIT}")
    if len(unknown) < n:
        for split in ("train", "test"):
            if not (ok["split"].astype(str) == split).any():
                out.append(f"no video is in the {split!r} split: 'corrupt' and 'evaluate' need test videos, "
                           f"'train' and 'evaluate' need train videos. Fix: {_FIX_SPLIT}")
    if annotations_given and "has_annotation" in ok:
        violent = ok[(ok["label"].astype(int) == 1) & (ok["split"].astype(str) == "test")]
        missing = violent[~violent["has_annotation"].astype(bool)]
        if len(missing):
            out.append(f"{len(missing)} of {len(violent)} violent test videos have no line in the annotations file "
                       f"({_examples(missing['name'])}); 'evaluate' cannot score them. Fix: add a line "
                       "'<name> <start frame> <end frame> ...' per video (names without extension or with .mp4)")
        if n_annotation_lines is not None:
            matched = int(ok["has_annotation"].astype(bool).sum())
            if n_annotation_lines > 0 and matched == 0:
                out.append(f"none of the {n_annotation_lines} annotation lines names a video of this folder; "
                           "check that the annotations belong to these videos (names must match the file names)")
    return out
