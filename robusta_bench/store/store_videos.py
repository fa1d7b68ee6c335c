"""The store's ``videos.csv``: the split and label of every video whose features it holds.

``extract`` and ``import`` record them (under the store's lock); ``export`` and
``evaluate`` read them when no manifest is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..files import atomic_path

STORE_VIDEOS = "videos.csv"


def read_store_videos(store_root: str | Path) -> dict[str, dict[str, Any]]:
    """``{name: {"split", "label"}}`` recorded in ``STORE/videos.csv`` (empty if absent)."""
    import pandas as pd

    path = Path(store_root) / STORE_VIDEOS
    if not path.exists():
        return {}
    df = pd.read_csv(path, keep_default_na=False, dtype={"name": str, "split": str})
    out = {}
    for row in df.to_dict("records"):
        label = row.get("label", "")
        out[str(row["name"])] = {"split": str(row.get("split", "")), "label": None if label == "" else int(label)}
    return out


def update_store_videos(store_root: str | Path, videos: Iterable[Any]) -> None:
    """Record the split and label of ``videos`` (objects with ``name``, ``split``, ``label``) in the store."""
    from .commit import LOCK_FILE
    from .locks import file_lock

    with file_lock(Path(store_root) / LOCK_FILE):  # concurrent runs: read-modify-write under the store's lock
        _update_store_videos(store_root, videos)


def _update_store_videos(store_root: str | Path, videos: Iterable[Any]) -> None:
    import pandas as pd

    current = read_store_videos(store_root)
    for v in videos:
        old = current.get(str(v.name), {})
        split = str(getattr(v, "split", "") or "") or old.get("split", "")  # never blank a known split
        label = getattr(v, "label", None)
        current[str(v.name)] = {"split": split, "label": old.get("label") if label is None else label}
    rows = [
        {"name": n, "split": d["split"], "label": "" if d["label"] is None else int(d["label"])}
        for n, d in sorted(current.items())
    ]
    path = Path(store_root) / STORE_VIDEOS
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=["name", "split", "label"]).to_csv(tmp, index=False)
