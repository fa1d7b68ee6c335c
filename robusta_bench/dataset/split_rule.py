"""Split/label lists for your own videos (``robusta-bench split``).

The benchmark needs, for every video, a split (``train`` or ``test``) and a binary
label (1 violent, 0 normal). XD-Violence names carry the label and the shipped
official list carries the split; other videos need a *video list* (the file
``index --split-list`` reads: columns ``name, split, label``). This module writes
one for a folder of videos from either

- a CSV/Parquet table you already have (``name`` plus ``label`` and/or ``split``
  columns; labels may be 1/0, violent/normal, true/false, yes/no), or
- simple rules: ``violent`` glob patterns on the name (``fight*,abuse*``; every
  other video is normal; without patterns XD-Violence names give the label),
  ``test`` glob patterns or a seeded, label-stratified ``test_fraction``.

The same inputs always give the same list (the fraction rule ranks names by a
hash of name and seed, not by file order or global random state).
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .names import strip_video_ext, try_parse_name
from .video_list import SPLITS

_TRUE = {"1", "violent", "anomalous", "anomaly", "abnormal", "true", "yes", "y", "v"}
_FALSE = {"0", "normal", "false", "no", "n"}


class SplitRuleError(ValueError):
    """A split/label rule cannot be applied (names the file, column or videos, and the fix)."""


def parse_label(value: object, *, where: str = "") -> int:
    """1/0 from 1, 0, violent, normal, true, false, yes, no (case-insensitive); ``SplitRuleError`` otherwise."""
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise SplitRuleError(f"{where}label {value!r} is not one of 1/0, violent/normal, true/false, yes/no")


def _patterns(text: str | Sequence[str] | None) -> list[str]:
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [p.strip() for p in items if p.strip()]


def _matches(name: str, patterns: Sequence[str]) -> bool:
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def _hash_rank(name: str, seed: int) -> str:
    return hashlib.sha256(f"split|{seed}|{name}".encode()).hexdigest()


def read_label_table(path: str | os.PathLike) -> pd.DataFrame:
    """A user's table (CSV/Parquet) with ``name`` and ``label`` and/or ``split`` columns, normalised.

    Names lose their video extension; labels become 1/0; splits must be train/test.
    Raises :class:`SplitRuleError` naming the file and the row for anything else.
    """
    from ..manifest import read_table

    path = Path(path)
    if not path.is_file():
        raise SplitRuleError(f"{path}: no such file")
    try:
        df = read_table(path)
    except Exception as exc:  # a CSV/Parquet the readers reject: say which file
        raise SplitRuleError(f"{path}: cannot read it as CSV/Parquet ({exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "name" not in df.columns:
        raise SplitRuleError(f"{path}: needs a 'name' column (has {list(df.columns)})")
    if "label" not in df.columns and "split" not in df.columns:
        raise SplitRuleError(f"{path}: needs a 'label' and/or a 'split' column (has {list(df.columns)})")
    out = pd.DataFrame({"name": df["name"].astype(str).map(strip_video_ext)})
    if "label" in df.columns:
        out["label"] = [parse_label(v, where=f"{path} row {i + 2}: ") for i, v in enumerate(df["label"])]
    if "split" in df.columns:
        split = df["split"].astype(str).str.strip().str.lower()
        bad = sorted(set(split) - set(SPLITS))
        if bad:
            raise SplitRuleError(f"{path}: split value(s) {bad} are not train/test")
        out["split"] = split
    dups = out["name"][out["name"].duplicated()].tolist()
    if dups:
        raise SplitRuleError(f"{path}: {len(dups)} name(s) listed twice, e.g. {dups[:3]}")
    return out


def make_split_list(
    names: Iterable[str],
    *,
    table: pd.DataFrame | None = None,
    violent: str | Sequence[str] | None = None,
    test: str | Sequence[str] | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> pd.DataFrame:
    """The video list (``name, split, label``, sorted by name) for ``names``.

    Labels: from ``table`` when it has them, else 1 for names matching a ``violent``
    pattern and 0 for the rest, else from XD-Violence names. Splits: from ``table``
    when it has them, else ``test`` for names matching a ``test`` pattern, else the
    first ``ceil(test_fraction * n)`` videos of each label by a seeded hash of the
    name. Raises :class:`SplitRuleError` for names the rules cannot label (listing
    them) and for a table missing some of the videos.
    """
    names = sorted(dict.fromkeys(strip_video_ext(str(n)) for n in names))
    if not names:
        raise SplitRuleError("no videos to list")
    if not 0.0 <= float(test_fraction) <= 1.0:
        raise SplitRuleError(f"test fraction must be within [0, 1], got {test_fraction}")
    df = pd.DataFrame({"name": names})
    known = table.set_index("name") if table is not None else None
    if known is not None:
        missing = [n for n in names if n not in known.index]
        if missing:
            raise SplitRuleError(
                f"{len(missing)} of {len(names)} videos are not in the table, e.g. {missing[:5]}: add rows for them"
            )
    df["label"] = _labels(names, known, _patterns(violent))
    if known is not None and "split" in known.columns:
        df["split"] = [known.at[n, "split"] for n in names]
    else:
        df["split"] = _splits(df, _patterns(test), float(test_fraction), int(seed))
    return df[["name", "split", "label"]]


def _labels(names: list[str], known: pd.DataFrame | None, violent: list[str]) -> list[int]:
    if known is not None and "label" in known.columns:
        return [int(known.at[n, "label"]) for n in names]
    if violent:
        return [int(_matches(n, violent)) for n in names]
    parsed = [try_parse_name(n) for n in names]
    unlabelled = [n for n, p in zip(names, parsed) if p is None]
    if unlabelled:
        raise SplitRuleError(
            f"{len(unlabelled)} of {len(names)} videos have no label: their names are not XD-Violence names "
            f"(e.g. {unlabelled[:3]}). Give --violent PATTERNS (e.g. 'fight*,abuse*'; the rest are normal) "
            "or --from-csv FILE with name,label columns"
        )
    return [p.label for p in parsed]  # type: ignore[union-attr]


def _splits(df: pd.DataFrame, test: list[str], fraction: float, seed: int) -> list[str]:
    if test:
        return ["test" if _matches(n, test) else "train" for n in df["name"]]
    split = {n: "train" for n in df["name"]}
    for _, part in df.groupby("label"):
        ranked = sorted(part["name"], key=lambda n: _hash_rank(n, seed))
        for n in ranked[: math.ceil(fraction * len(ranked))]:
            split[n] = "test"
    return [split[n] for n in df["name"]]


def describe_split_list(df: pd.DataFrame) -> str:
    """``train: 6 videos (3 violent, 3 normal); test: ...`` for a video list."""
    parts = []
    for split in SPLITS:
        part = df[df["split"] == split]
        parts.append(f"{split}: {len(part)} videos ({int((part['label'] == 1).sum())} violent, "
                     f"{int((part['label'] == 0).sum())} normal)")
    return "; ".join(parts)
