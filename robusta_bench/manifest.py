"""Tabular manifests: Parquet by default, CSV when the file name ends in ``.csv``.

Both are written atomically. Lists (e.g. ``categories``) are stored as
``|``-joined strings in CSV and as native lists in Parquet; :func:`read_table`
returns the same pandas frame for both.

A manifest written with a ``kind`` (``videos``, ``corrupted_media`` ...)
carries the columns ``type`` and ``schema_version`` in every row, so any tool
can tell what a file is; :func:`read_table` checks the type when asked to and
drops both columns (files without them are read as before). Typed rows are in
:mod:`robusta_bench.records`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .files import atomic_path

LIST_SEP = "|"
#: columns that say what a manifest file is
META_COLUMNS = ("type", "schema_version")
SCHEMA_VERSION = 1


class ManifestTypeError(ValueError):
    """A manifest of another type than the one expected (e.g. a corrupt manifest given as an index)."""


def write_table(
    df: pd.DataFrame, path: str | os.PathLike, list_columns: tuple[str, ...] = (), *, kind: str | None = None,
    schema_version: int = SCHEMA_VERSION,
) -> Path:
    """Write ``df`` to ``path`` (``.csv`` -> CSV, anything else -> Parquet), atomically.

    With ``kind``, the columns ``type`` (= kind) and ``schema_version`` come first.
    """
    path = Path(path)
    out = df.drop(columns=[c for c in META_COLUMNS if c in df.columns])
    if kind is not None:
        out.insert(0, "schema_version", int(schema_version))
        out.insert(0, "type", str(kind))
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            for col in list_columns:
                if col in out:
                    out[col] = out[col].map(lambda v: LIST_SEP.join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v))
            out.to_csv(tmp, index=False)
        else:
            out.to_parquet(tmp, index=False)
    return path


def read_table(path: str | os.PathLike, list_columns: tuple[str, ...] = (), *, kind: str | None = None) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (or any CSV/Parquet file), without its type columns.

    With ``kind``, a file whose ``type`` column names another kind raises
    :class:`ManifestTypeError`; a file without a ``type`` column is accepted.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"manifest not found: {path}")
    if path.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            raise ValueError(f"manifest {path} is empty (not even a header line)") from None
        except pd.errors.ParserError as exc:
            raise ValueError(f"manifest {path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
        for col in list_columns:
            if col in df:
                df[col] = df[col].map(lambda v: [] if (v is None or (isinstance(v, float) and pd.isna(v)) or v == "") else str(v).split(LIST_SEP))
    else:
        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ValueError(f"manifest {path} is not a readable Parquet file (truncated?): {str(exc).splitlines()[0]}") from None
        for col in list_columns:
            if col in df:
                df[col] = df[col].map(lambda v: [] if v is None else list(v))
    if "type" in df.columns:
        found = sorted({str(t) for t in df["type"].dropna()})
        if kind is not None and found and found != [kind]:
            raise ManifestTypeError(f"{path} is a {', '.join(found)} manifest, not a {kind} manifest")
    return df.drop(columns=[c for c in META_COLUMNS if c in df.columns])
