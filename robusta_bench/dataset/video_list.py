"""Video lists: the official XD-Violence list shipped with the package, and user split lists.

A video list is a table with at least ``name`` and ``split`` columns, optionally
``label``, ``categories`` and ``list_index`` (position in the official list, the
order in which the official evaluation concatenates test videos). The shipped
``manifests/xd_violence_v1.csv`` is such a list (4754 videos: train 3954, test
800). ``robusta-bench synth`` writes one (``split.csv``) for its synthetic videos.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd

from ..manifest import read_table
from ..paths import manifests_dir
from .names import strip_video_ext

#: File name of the official list under ``manifests/``.
OFFICIAL_LIST = "xd_violence_v1.csv"
SPLITS = ("train", "test")
UNKNOWN = "unknown"


def official_list_path() -> Path:
    """Path of the shipped official XD-Violence list."""
    return manifests_dir() / OFFICIAL_LIST


def read_video_list(path: str | os.PathLike) -> pd.DataFrame:
    """Read a video list (CSV or Parquet; ``name`` and ``split`` columns required).

    Names lose a trailing ``.mp4``; ``categories`` becomes a list (``|``- or
    ``-``-joined strings are both accepted); ``list_index`` defaults to the row
    position within its split. Raises ``ValueError`` naming the file for a
    missing column, an unknown split, or a name listed twice.
    """
    path = Path(path)
    df = read_table(path)
    missing = [c for c in ("name", "split") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: video list lacks column(s) {missing} (has {list(df.columns)})")
    df = df.copy()
    df["name"] = df["name"].astype(str).map(strip_video_ext)
    df["split"] = df["split"].astype(str).str.strip().str.lower()
    bad = sorted(set(df["split"]) - set(SPLITS) - {UNKNOWN})
    if bad:
        raise ValueError(f"{path}: unknown split value(s) {bad}; expected {SPLITS}")
    dups = df["name"][df["name"].duplicated()].tolist()
    if dups:
        raise ValueError(f"{path}: {len(dups)} name(s) listed twice, e.g. {dups[:3]}")
    if "categories" in df.columns:
        df["categories"] = df["categories"].map(_as_code_list)
    if "list_index" not in df.columns:
        df["list_index"] = df.groupby("split").cumcount()
    df["list_index"] = df["list_index"].astype(int)
    if "label" in df.columns:
        df["label"] = df["label"].astype(int)
    return df.reset_index(drop=True)


def _as_code_list(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v) not in ("", "0")]
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    text = str(value).replace("-", "|")
    return [v for v in text.split("|") if v not in ("", "0")]


@functools.lru_cache(maxsize=4)
def _cached_list(path: str, mtime: float) -> pd.DataFrame:
    return read_video_list(path)


def load_video_list(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The video list at ``path`` (default: the shipped official list), cached per file version.

    The returned frame is shared between calls: copy it before changing it.
    """
    p = Path(path) if path is not None else official_list_path()
    if not p.exists():
        raise FileNotFoundError(f"video list not found: {p}")
    return _cached_list(str(p.resolve()), p.stat().st_mtime)


def split_map(path: str | os.PathLike | None = None) -> dict[str, str]:
    """``{name: split}`` of a video list (default: the official list). Shared: do not modify."""
    p = Path(path) if path is not None else official_list_path()
    if not p.exists():
        raise FileNotFoundError(f"video list not found: {p}")
    return _cached_split_map(str(p.resolve()), p.stat().st_mtime)


@functools.lru_cache(maxsize=4)
def _cached_split_map(path: str, mtime: float) -> dict[str, str]:
    df = _cached_list(path, mtime)
    return dict(zip(df["name"], df["split"]))


def split_of(name: str, video_list: str | os.PathLike | None = None) -> str:
    """``train``, ``test`` or ``unknown`` for a video name (``.mp4`` ignored), per the official list
    or the given list file."""
    return split_map(video_list).get(strip_video_ext(name), UNKNOWN)
