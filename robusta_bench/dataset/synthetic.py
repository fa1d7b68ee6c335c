"""A small synthetic XD-Violence-style dataset of real media files.

``make_synthetic_dataset(out_dir)`` writes::

    out_dir/
      videos/<name>.mp4     H.264 yuv420p 24 fps + AAC mono (16 kHz by default)
      annotations.txt       official format, violent TEST videos only
      split.csv             name, split, label, categories, list_index (a video list)
      synth.json            generation parameters and every video's segments/events
      manifest.parquet      the ``index`` manifest of videos/ (same code as ``robusta-bench index``)

Names follow XD-Violence (``Synth.Scene.0007__#00-00-00_00-00-08_label_B2-0-0``,
``..._label_A`` for normal videos), so every tool that understands XD-Violence
understands them. ``split.csv`` plays the role of the official list:
``robusta-bench index out_dir/videos --split-list out_dir/split.csv`` reproduces
the split. Within each split, violent videos come first (as in the official
lists) and ``list_index`` numbers them.

Determinism: a video depends only on (seed, its index, seconds, size, audio
rate); x264 runs with one thread, fixed options and macroblock-tree rate control
off (see :data:`.synth_encode.X264_OPTIONS`), colour conversion runs single-threaded, and the
MP4 muxer writes no time stamp, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ..files import atomic_write_text
from ..manifest import write_table
from ..seeding import rng_for
from .annotations import write_annotations
from .index import index_videos, write_manifest
from .names import format_span, make_name
from .synth_encode import AUDIO_BITRATE, AUDIO_RATES, SYNTH_VERSION, X264_OPTIONS, make_readable, synth_progress, write_video
from .synth_plan import VideoPlan, draw_video_plan
from .synth_roles import assign_videos
from .synth_ucf import make_synthetic_ucf_dataset

log = logging.getLogger(__name__)

FPS = 24
VIDEOS_DIR = "videos"
MANIFEST = "manifest.parquet"
SPLIT_LIST = "split.csv"
ANNOTATIONS = "annotations.txt"
META = "synth.json"
#: The shared encoding pieces stay importable from here.
__all__ = [
    "ANNOTATIONS", "AUDIO_BITRATE", "AUDIO_RATES", "FPS", "MANIFEST", "META", "SPLIT_LIST", "SYNTH_VERSION",
    "VIDEOS_DIR", "X264_OPTIONS", "assign_videos", "make_synthetic_dataset", "plan_video", "video_name", "write_video",
]


def video_name(index: int, seconds: float, categories: tuple[str, ...]) -> str:
    """XD-Violence-style name of synthetic video ``index`` (categories ``("A",)`` for normal)."""
    return make_name(f"Synth.Scene.{index:04d}", format_span(0, seconds), list(categories))


def plan_video(index: int, label: int, categories: tuple[str, ...], *, seconds: float, size: tuple[int, int], seed: int) -> VideoPlan:
    """The deterministic plan of synthetic video ``index``."""
    width, height = size
    n_frames = int(round(seconds * FPS))
    rng = rng_for("synth-video", seed, index, n_frames, width, height)
    return draw_video_plan(
        rng,
        name=video_name(index, seconds, categories),
        label=label,
        categories=tuple(categories),
        n_frames=n_frames,
        fps=FPS,
        width=width,
        height=height,
    )


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    n_videos: int = 40,
    seconds: float = 8.0,
    seed: int = 0,
    test_fraction: float = 0.4,
    size: tuple[int, int] = (320, 240),
    audio_rate: int = 16000,
    *,
    progress: bool = False,
    manifest_name: str = MANIFEST,
    kind: str = "xd-violence",
) -> Path:
    """Generate the synthetic dataset in ``out_dir`` and return the manifest path.

    ``size`` is (width, height), both even. ``audio_rate`` is one of
    :data:`AUDIO_RATES`. Existing videos with the same name are overwritten;
    the folder layout is described in the module docstring. ``kind="ucf-crime"``
    writes the UCF-Crime stand-in instead (:mod:`.synth_ucf`: 30 fps, no audio).
    """
    if kind == "ucf-crime":
        return make_synthetic_ucf_dataset(out_dir, n_videos, seconds, seed, test_fraction, size,
                                          progress=progress, manifest_name=manifest_name)
    if kind != "xd-violence":
        raise ValueError(f"kind must be 'xd-violence' or 'ucf-crime', got {kind!r}")
    width, height = int(size[0]), int(size[1])
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise ValueError(f"size must be even and at least 32x32, got {width}x{height}")
    if audio_rate not in AUDIO_RATES:
        raise ValueError(f"audio_rate must be one of {AUDIO_RATES}, got {audio_rate}")
    if seconds < 2.0:
        raise ValueError(f"seconds must be >= 2 (got {seconds})")
    out_dir = Path(out_dir)
    videos_dir = out_dir / VIDEOS_DIR
    videos_dir.mkdir(parents=True, exist_ok=True)

    specs = assign_videos(n_videos, test_fraction, seed)
    plans = [plan_video(s["index"], s["label"], s["categories"], seconds=seconds, size=(width, height), seed=seed) for s in specs]
    bar = synth_progress(len(plans), progress)
    for plan in plans:
        write_video(plan, videos_dir / f"{plan.name}.mp4", audio_rate)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    rows = []
    for split in ("train", "test"):
        chosen = [(s, p) for s, p in zip(specs, plans) if s["split"] == split]
        chosen.sort(key=lambda sp: (-sp[0]["label"], sp[0]["index"]))  # violent first, as official lists
        for i, (s, p) in enumerate(chosen):
            rows.append({"name": p.name, "split": split, "label": s["label"], "categories": list(s["categories"]), "list_index": i})
    split_df = pd.DataFrame(rows, columns=["name", "split", "label", "categories", "list_index"])
    write_table(split_df, out_dir / SPLIT_LIST, list_columns=("categories",), kind="video_list")

    test_names = set(split_df.loc[split_df["split"] == "test", "name"])
    ordered = [r["name"] for r in rows if r["split"] == "test" and r["label"] == 1]
    by_name = {p.name: p for p in plans}
    annotations = {n: by_name[n].frame_segments for n in ordered if n in test_names}
    write_annotations(out_dir / ANNOTATIONS, annotations)

    meta = {
        "synth_version": SYNTH_VERSION,
        "params": {
            "n_videos": n_videos,
            "seconds": seconds,
            "seed": seed,
            "test_fraction": test_fraction,
            "size": [width, height],
            "audio_rate": audio_rate,
            "fps": FPS,
            "x264": X264_OPTIONS,
        },
        "videos": [
            {
                "name": p.name,
                "split": s["split"],
                "label": p.label,
                "categories": list(p.categories),
                "segments": [asdict(seg) for seg in p.segments],
                "distractors": [asdict(d) for d in p.distractors],
                "passers": [asdict(d) for d in p.passers],
            }
            for s, p in zip(specs, plans)
        ],
    }
    atomic_write_text(out_dir / META, json.dumps(meta, indent=1, sort_keys=True) + "\n")

    df = index_videos(
        videos_dir,
        annotations=out_dir / ANNOTATIONS,
        split_list=out_dir / SPLIT_LIST,
        recursive=False,
        paths=[videos_dir / f"{p.name}.mp4" for p in plans],
    )
    manifest = write_manifest(df, out_dir / manifest_name)
    make_readable([videos_dir / f"{p.name}.mp4" for p in plans] + [out_dir / n for n in (SPLIT_LIST, ANNOTATIONS, META, manifest_name)])
    bad = df[df["error"].notna()]
    if len(bad):
        raise RuntimeError(f"synthetic videos failed to index: {bad[['name', 'error']].to_dict('records')}")
    return manifest
