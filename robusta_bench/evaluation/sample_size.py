"""The sample behind every number of an evaluation, and warnings when it is too small.

Frame-level AP over 2 test videos, or over test videos of one class, says little;
a table printed from it looks as confident as one over 800 videos. Every result
row therefore carries ``n_videos`` (test videos scored), ``n_violent`` /
``n_normal`` and ``n_train`` (training videos the detectors were fitted on; -1
when every detector came from a checkpoint), and :func:`sample_warnings` says
when AP cannot mean much: a class missing from the test or training set, fewer
than :data:`MIN_TEST_VIDEOS` test videos or fewer than :data:`MIN_PER_CLASS` per class.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

#: Fewer scored test videos than this: AP is flagged as not meaning much.
MIN_TEST_VIDEOS = 20
#: Fewer test (or training) videos of one class than this: flagged too.
MIN_PER_CLASS = 5

SAMPLE_COLUMNS = ("n_videos", "n_violent", "n_normal", "n_train")


def sample_counts(names: Sequence[str], labels: Mapping[str, Any], train_labels: Sequence[float] | None) -> dict[str, int]:
    """``n_videos``, ``n_violent``, ``n_normal`` of the scored test ``names`` (``labels``: name -> 0/1)
    and ``n_train`` / ``n_train_violent`` (-1 when no training set was loaded)."""
    lab = [_as_int(labels.get(n)) for n in names]
    out = {
        "n_videos": len(names),
        "n_violent": sum(1 for v in lab if v == 1),
        "n_normal": sum(1 for v in lab if v == 0),
        "n_train": -1,
        "n_train_violent": -1,
    }
    if train_labels is not None:
        arr = np.asarray(train_labels, dtype=float)
        out["n_train"] = int(arr.size)
        out["n_train_violent"] = int((arr > 0.5).sum())
    return out


def _as_int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def sample_warnings(sample: Mapping[str, int]) -> list[str]:
    """One line per reason the sample is too small for AP to mean much (empty when it is fine)."""
    out = []
    n, nv, nn = sample["n_videos"], sample["n_violent"], sample["n_normal"]
    if nv == 0 or nn == 0:
        missing = "violent" if nv == 0 else "normal"
        out.append(f"the test set has no {missing} videos ({nv} violent, {nn} normal): frame-level AP over "
                   "one class measures little; put videos of both classes in the test split")
    if n < MIN_TEST_VIDEOS:
        out.append(f"only {n} test videos were scored (< {MIN_TEST_VIDEOS}): AP differences of several points "
                   "are within chance at this size")
    elif min(nv, nn) < MIN_PER_CLASS:
        out.append(f"only {min(nv, nn)} {'violent' if nv < nn else 'normal'} test videos (< {MIN_PER_CLASS} per "
                   "class): AP depends on a handful of videos")
    nt, ntv = sample.get("n_train", -1), sample.get("n_train_violent", -1)
    if nt >= 0:
        if ntv == 0 or ntv == nt:
            out.append(f"the training set has only {'normal' if ntv == 0 else 'violent'} videos ({nt}): the "
                       "detectors cannot learn what separates the classes")
        elif min(ntv, nt - ntv) < MIN_PER_CLASS:
            out.append(f"only {nt} training videos ({ntv} violent, {nt - ntv} normal; < {MIN_PER_CLASS} per class)")
    return out


def sample_caption(sample: Mapping[str, Any]) -> str:
    """``n = 12 test videos (6 violent, 6 normal); 16 training videos`` for tables and plot titles."""
    text = f"n = {sample['n_videos']} test videos ({sample['n_violent']} violent, {sample['n_normal']} normal)"
    nt = int(sample.get("n_train", -1))
    return text + (f"; {nt} training videos" if nt >= 0 else "; detectors from checkpoints")


def caption_from_rows(rows: Any) -> str:
    """:func:`sample_caption` of a results frame (its first row), or '' when it lacks the columns."""
    if rows is None or len(rows) == 0 or not all(c in rows for c in SAMPLE_COLUMNS):
        return ""
    first = rows.iloc[0]
    return sample_caption({c: int(first[c]) for c in SAMPLE_COLUMNS})
