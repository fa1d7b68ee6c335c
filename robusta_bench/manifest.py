"""Tabular manifests: Parquet by default, CSV when the file name ends in ``.csv``.

Both are written atomically. Lists (e.g. ``categories``) are stored as
``|``-joined strings in CSV and as native lists in Parquet; :func:`read_table`
returns the same pandas frame for both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .files import atomic_path

LIST_SEP = "|"


def write_table(df: pd.DataFrame, path: str | os.PathLike, list_columns: tuple[str, ...] = ()) -> Path:
    """Write ``df`` to ``path`` (``.csv`` -> CSV, anything else -> Parquet), atomically."""
    path = Path(path)
    out = df.copy()
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            for col in list_columns:
                if col in out:
                    out[col] = out[col].map(lambda v: LIST_SEP.join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v))
            out.to_csv(tmp, index=False)
        else:
            out.to_parquet(tmp, index=False)
    return path


def read_table(path: str | os.PathLike, list_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (or any CSV/Parquet file)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"manifest not found: {path}")
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        for col in list_columns:
            if col in df:
                df[col] = df[col].map(lambda v: [] if (v is None or (isinstance(v, float) and pd.isna(v)) or v == "") else str(v).split(LIST_SEP))
        return df
    df = pd.read_parquet(path)
    for col in list_columns:
        if col in df:
            df[col] = df[col].map(lambda v: [] if v is None else list(v))
    return df
