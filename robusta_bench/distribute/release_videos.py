"""The video list (name, split, label) travels with a release.

Without it a downloaded store knows no splits: ``export`` would write empty test
lists and ``train`` would find no training videos. ``publish`` copies the store's
``videos.csv`` into the release (listed in ``release.json`` under ``"videos"``
with its size and sha256, and in ``SHA256SUMS``); ``download`` fetches it,
verifies it and merges it into the local store's ``videos.csv``.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes
from ..store.xdviolence import STORE_VIDEOS, read_store_videos, update_store_videos
from .errors import UnsafeReleaseError

#: A video list larger than this is refused on download (4754 XD-Violence rows take ~0.4 MB).
MAX_VIDEOS_BYTES = 64 * 1024 * 1024


def publish_videos(store_root: str | Path, out_dir: str | Path) -> dict[str, Any] | None:
    """Copy ``STORE/videos.csv`` into the release; its ``release.json`` entry, or None when the store has none."""
    src = Path(store_root) / STORE_VIDEOS
    if not src.is_file():
        return None
    data = src.read_bytes()
    atomic_write_bytes(Path(out_dir) / STORE_VIDEOS, data)
    return {"path": STORE_VIDEOS, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "videos": len(read_store_videos(store_root))}


def restore_videos(obj: dict[str, Any], fetch, store_root: str | Path) -> int | None:
    """Fetch the release's video list with ``fetch(rel, limit) -> bytes``, verify it, merge it into the store.

    Returns the number of videos listed, or None when the release has no list
    (older releases). Raises :class:`UnsafeReleaseError` for a malformed entry or
    a file whose size or sha256 differs from ``release.json`` (a damaged copy at
    the source: downloading again would not help).
    """
    import pandas as pd

    entry = obj.get("videos")
    if entry is None:
        return None
    if not isinstance(entry, dict) or entry.get("path") != STORE_VIDEOS:
        raise UnsafeReleaseError(f"release 'videos' entry must name {STORE_VIDEOS!r}, got {entry!r}")
    data = fetch(STORE_VIDEOS, MAX_VIDEOS_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != entry.get("bytes") or digest != entry.get("sha256"):
        raise UnsafeReleaseError(
            f"{STORE_VIDEOS} of the release is damaged at the source ({len(data)} bytes, sha256 {digest[:12]}; "
            f"release.json lists {entry.get('bytes')} bytes, {str(entry.get('sha256'))[:12]}): ask its publisher "
            "to publish again"
        )
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype={"name": str, "split": str})
    rows = [_Video(str(r["name"]), str(r["split"]), _label(r.get("label"))) for r in df.to_dict("records")]
    update_store_videos(store_root, rows)
    return len(rows)


class _Video:
    def __init__(self, name: str, split: str, label: int | None) -> None:
        self.name, self.split, self.label = name, split, label


def _label(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
