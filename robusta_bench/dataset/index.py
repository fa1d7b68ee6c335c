"""Index a folder of videos into a manifest (one row per video file).

Every file with a video extension is probed (:func:`robusta_bench.media.probe.probe`);
a file that cannot be used gets a row with ``error`` set instead of stopping the
run. Label and categories come from the XD-Violence name, the split from the
official list shipped with the package (or a user list such as the ``split.csv``
of ``robusta-bench synth``), ``unknown`` when the name is not listed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from ..manifest import read_table, write_table
from ..media.probe import PROBE_KEYS, probe
from .annotations import read_annotations
from .ground_truth import frame_labels, n_segments
from .names import strip_video_ext, try_parse_name
from .ucf_crime import index_fields, is_ucf_annotation_file, read_ucf_annotations, ucf_video_list, video_frame_labels
from .video_list import UNKNOWN, load_video_list

#: File extensions treated as videos (case-insensitive).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts", ".3gp")

#: The probe's keys that become manifest columns (between ``list_index`` and ``n_segments``).
MEDIA_COLUMNS = tuple(k for k in PROBE_KEYS if k not in ("frames_source", "size_bytes", "error"))
#: Manifest columns, in order (``has_annotation`` / ``n_anomalous_frames`` only with annotations).
COLUMNS = ("name", "path", "split", "label", "categories", "list_index", *MEDIA_COLUMNS, "n_segments", "size_bytes", "error")
ANNOTATION_COLUMNS = ("has_annotation", "n_anomalous_frames")
LIST_COLUMNS = ("categories",)


def find_videos(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Video files under ``root`` (sorted by path; hidden files, such as the ``.name.part.mp4``
    temporaries of interrupted atomic writes, are skipped).

    ``root`` may also be a single video file.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    pattern = root.rglob("*") if recursive else root.glob("*")
    found = []
    for p in pattern:
        if p.name.startswith("."):
            continue
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file():
            found.append(p)
    return sorted(found)


def index_videos(
    root: str | os.PathLike,
    *,
    annotations: str | os.PathLike | Mapping[str, Sequence[tuple[int, int]]] | None = None,
    split_list: str | os.PathLike | pd.DataFrame | None = None,
    recursive: bool = True,
    jobs: int = 1,
    progress: bool = False,
    paths: Sequence[str | os.PathLike] | None = None,
) -> pd.DataFrame:
    """Probe every video under ``root`` and return the manifest (columns :data:`COLUMNS`).

    - ``name``: file name without extension; ``path``: absolute path.
    - ``label`` (1 violent, 0 normal, -1 when the name is not an XD-Violence name)
      and ``categories`` from the split list when it has them, else from the name.
    - ``split`` / ``list_index`` from ``split_list`` (a path to a CSV/Parquet list
      or a frame with ``name``/``split``; default: the shipped official list);
      ``unknown`` / -1 when the name is not listed.
    - probe fields (``frames``, ``fps`` ...; see :func:`robusta_bench.media.probe.probe`),
      ``n_segments = floor((frames - 1) / 16)`` and ``error`` (None when fine).
    - with ``annotations`` (a path or a parsed mapping): ``has_annotation`` and
      ``n_anomalous_frames`` (anomalous frames of the official frame-level ground
      truth; 0 for normal videos, -1 where unknown: violent but not annotated, or
      unreadable).

    A second file with the same name (in another sub-folder) is an error row.
    ``jobs`` > 1 probes in threads. Rows are sorted by name.
    """
    files = [Path(p) for p in paths] if paths is not None else find_videos(root, recursive=recursive)
    if isinstance(split_list, pd.DataFrame):
        vlist = split_list
    else:
        vlist = load_video_list(split_list)
        vlist = pd.concat([vlist, ucf_video_list()], ignore_index=True) if split_list is None else vlist
    by_name = vlist.set_index("name")
    ann = annotations
    if isinstance(annotations, (str, os.PathLike)):
        ann = read_ucf_annotations(annotations) if is_ucf_annotation_file(annotations) else read_annotations(annotations)

    results: list[dict[str, Any]]
    bar = _progress(len(files), progress)
    try:
        if jobs > 1 and len(files) > 1:
            with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
                results = []
                for info in pool.map(probe, files):
                    results.append(info)
                    bar(1)
        else:
            results = []
            for f in files:
                results.append(probe(f))
                bar(1)
    finally:
        bar(None)

    rows = []
    seen: dict[str, Path] = {}
    for path, info in zip(files, results):
        name = strip_video_ext(path.name)
        row: dict[str, Any] = {"name": name, "path": str(path.resolve())}
        listed = by_name.loc[name] if name in by_name.index else None
        row["split"] = str(listed["split"]) if listed is not None else UNKNOWN
        row["list_index"] = int(listed["list_index"]) if listed is not None else -1
        parsed = try_parse_name(name)
        if listed is not None and "label" in listed.index:
            row["label"] = int(listed["label"])
        else:
            row["label"] = parsed.label if parsed is not None else -1
        if listed is not None and "categories" in listed.index and len(listed["categories"]):
            row["categories"] = list(listed["categories"])
        else:
            row["categories"] = list(parsed.categories) if parsed is not None else []
        row.update({k: info[k] for k in info if k != "frames_source"})
        row["n_segments"] = n_segments(info["frames"])
        row.update(index_fields(name, info, listed is not None) if parsed is None else {})  # UCF-Crime names
        if name in seen:
            row["error"] = f"duplicate name (also at {seen[name]})"
        else:
            seen[name] = path
        if ann is not None:
            row["has_annotation"] = name in ann
            row["n_anomalous_frames"] = _n_anomalous(row, ann)
        rows.append(row)

    columns = list(COLUMNS) + (list(ANNOTATION_COLUMNS) if ann is not None else [])
    df = pd.DataFrame(rows, columns=columns)
    if len(df):
        df = df.sort_values("name", kind="stable").reset_index(drop=True)
    return _typed(df)


def _n_anomalous(row: Mapping[str, Any], ann: Mapping[str, Sequence[tuple[int, int]]]) -> int:
    if row["error"] is not None:
        return -1
    if row["label"] == 1 and row["name"] not in ann:
        return -1
    if ann and not isinstance(next(iter(ann.values())), list):  # UCF-Crime annotations (inclusive, mapped by time)
        try:
            return int(video_frame_labels(row, ann).sum())
        except ValueError:  # not a UCF-Crime name
            return -1
    return int(frame_labels(row, ann).sum())


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    ints = ["label", "list_index", "frames", "width", "height", "audio_rate", "audio_channels", "n_segments", "size_bytes"]
    for col in ints + (["n_anomalous_frames"] if "n_anomalous_frames" in df else []):
        df[col] = df[col].astype("int64")
    for col in ("fps", "duration_s"):
        df[col] = df[col].astype("float64")
    if "has_annotation" in df:
        df["has_annotation"] = df["has_annotation"].astype(bool)
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    return df


def _progress(total: int, enabled: bool) -> Callable[[int | None], None]:
    """A callback that advances a tqdm bar (``None`` closes it); a no-op when disabled."""
    if not enabled or total == 0:
        return lambda n: None
    from ..progress import progress_bar

    bar = progress_bar(total=total, unit="video", desc="index", dynamic_ncols=True)

    def step(n: int | None) -> None:
        if n is None:
            bar.close()
        else:
            bar.update(n)

    return step


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a manifest (Parquet, or CSV when ``path`` ends ``.csv``) atomically."""
    return write_table(df, path, list_columns=LIST_COLUMNS, kind="videos")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (``categories`` as lists, ``error`` None when fine)."""
    df = read_table(path, list_columns=LIST_COLUMNS, kind="videos")
    if "error" in df:
        df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    return df


def summarize(df: pd.DataFrame, max_errors: int = 20) -> str:
    """A short text report: videos, hours, violent/normal, per split, and the failing names."""
    ok = df[df["error"].isna()] if len(df) else df
    hours = float(ok["duration_s"].sum()) / 3600 if len(ok) else 0.0
    lines = [
        f"videos: {len(df)} ({len(ok)} readable, {len(df) - len(ok)} with errors), {hours:.2f} h",
        f"violent: {int((df['label'] == 1).sum())}  normal: {int((df['label'] == 0).sum())}"
        + (f"  unlabelled: {int((df['label'] == -1).sum())}" if (df["label"] == -1).any() else ""),
    ]
    for split in ("train", "test", UNKNOWN):
        part = df[df["split"] == split]
        if len(part):
            lines.append(
                f"  {split:<8} {len(part):6d} videos  violent {int((part['label'] == 1).sum()):5d}  "
                f"normal {int((part['label'] == 0).sum()):5d}  {part['duration_s'].sum() / 3600:.2f} h"
            )
    if "has_annotation" in df:
        lines.append(f"annotated: {int(df['has_annotation'].sum())} videos, "
                     f"{int(df['n_anomalous_frames'].clip(lower=0).sum())} anomalous frames")
    bad = df[df["error"].notna()]
    if len(bad):
        lines.append(f"errors ({len(bad)}):")
        for _, r in bad.head(max_errors).iterrows():
            lines.append(f"  {Path(r['path']).name}: {r['error']}")
        if len(bad) > max_errors:
            lines.append(f"  ... and {len(bad) - max_errors} more (see the 'error' column)")
    return "\n".join(lines)
