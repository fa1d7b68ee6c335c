"""A small synthetic UCF-Crime-style dataset (``robusta-bench synth --kind ucf-crime``).

``make_synthetic_ucf_dataset(out_dir)`` writes::

    out_dir/
      videos/<name>.mp4     H.264 yuv420p, 30 fps, no audio track
      Anomaly_Train.txt     the official train-list format (Class/<name>.mp4)
      Temporal_Anomaly_Annotation_for_Testing_Videos.txt   the official annotation format
      rtfm_ucf-i3d-test.list   test order (anomalous first, as RTFM's list)
      split.csv             the same split as a video list (``index --split-list``)
      synth.json            parameters and every video's segments
      manifest.parquet      the ``index`` manifest

so the folder can stand in for ``manifests/ucf_crime/``
(:func:`robusta_bench.dataset.ucf_crime.ucf_video_list` reads it). Names are
UCF-Crime's: ``<Class><NNN>_x264`` for anomalous videos (the class cycling
through the 13 classes), ``Normal_Videos<NNN>_x264`` (train) and
``Normal_Videos_<NNN>_x264`` (test). The pictures come from the same
renderer as the XD-Violence stand-in (:mod:`.synth_video`), each UCF class
drawn with the hit kinds of a related XD-Violence category; annotations are
inclusive frame numbers at 30 fps, at most two events per video.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ..files import atomic_write_text
from ..manifest import write_table
from ..seeding import rng_for
from .index import index_videos, write_manifest
from .synth_encode import SYNTH_VERSION, X264_OPTIONS, make_readable, synth_progress, write_video
from .synth_plan import draw_video_plan
from .synth_roles import assign_videos
from .ucf_crime import (
    ANOMALY_CLASSES,
    NATIVE_FPS,
    NORMAL,
    TEST_ANNOTATIONS,
    TEST_ORDER,
    TRAIN_LIST,
    UCFAnnotation,
    write_ucf_annotations,
)

FPS = int(NATIVE_FPS)
#: The XD-Violence category whose hits draw each UCF-Crime class.
RENDER_CODE = {
    "Abuse": "B5", "Arrest": "B1", "Arson": "G", "Assault": "B1", "Burglary": "B4", "Explosion": "G",
    "Fighting": "B1", "RoadAccidents": "B6", "Robbery": "B4", "Shooting": "B2", "Shoplifting": "B4",
    "Stealing": "B4", "Vandalism": "B4",
}


def ucf_video_name(number: int, cls: str, split: str) -> str:
    """``Abuse007_x264``, ``Normal_Videos007_x264`` (train) or ``Normal_Videos_007_x264`` (test)."""
    if cls == NORMAL:
        return f"Normal_Videos_{number:03d}_x264" if split == "test" else f"Normal_Videos{number:03d}_x264"
    return f"{cls}{number:03d}_x264"


def make_synthetic_ucf_dataset(
    out_dir: str | os.PathLike,
    n_videos: int = 20,
    seconds: float = 8.0,
    seed: int = 0,
    test_fraction: float = 0.5,
    size: tuple[int, int] = (320, 240),
    *,
    progress: bool = False,
    manifest_name: str = "manifest.parquet",
) -> Path:
    """Generate the synthetic UCF-Crime-style dataset in ``out_dir``; returns the manifest path."""
    width, height = int(size[0]), int(size[1])
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise ValueError(f"size must be even and at least 32x32, got {width}x{height}")
    if seconds < 2.0:
        raise ValueError(f"seconds must be >= 2 (got {seconds})")
    out_dir = Path(out_dir)
    videos_dir = out_dir / "videos"
    videos_dir.mkdir(parents=True, exist_ok=True)
    specs = assign_videos(n_videos, test_fraction, seed)
    offset = int(rng_for("synth-ucf-classes", seed).integers(len(ANOMALY_CLASSES)))
    plans, rows = [], []
    k = 0
    for s in specs:
        cls = NORMAL
        if s["label"]:
            cls = ANOMALY_CLASSES[(offset + k) % len(ANOMALY_CLASSES)]
            k += 1
        name = ucf_video_name(s["index"] + 1, cls, s["split"])
        n_frames = int(round(seconds * FPS))
        rng = rng_for("synth-ucf-video", seed, s["index"], n_frames, width, height)
        codes = (RENDER_CODE[cls],) if s["label"] else ("A",)
        plans.append(draw_video_plan(rng, name=name, label=s["label"], categories=codes, n_frames=n_frames, fps=FPS,
                               width=width, height=height))
        rows.append({"name": name, "split": s["split"], "label": s["label"], "categories": [cls], "index": s["index"]})
    bar = synth_progress(len(plans), progress)
    for plan in plans:
        write_video(plan, videos_dir / f"{plan.name}.mp4", audio_rate=None)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    df = pd.DataFrame(rows)
    df = df.sort_values(["split", "label", "index"], ascending=[True, False, True], kind="stable")
    df["list_index"] = df.groupby("split").cumcount()
    split_df = df[["name", "split", "label", "categories", "list_index"]].reset_index(drop=True)
    write_table(split_df, out_dir / "split.csv", list_columns=("categories",), kind="video_list")
    by_name = {p.name: p for p in plans}
    train = split_df[split_df["split"] == "train"]
    test = split_df[split_df["split"] == "test"]
    folder = {NORMAL: "Training_Normal_Videos_Anomaly"}
    atomic_write_text(out_dir / TRAIN_LIST, "".join(
        f"{folder.get(c[0], c[0])}/{n}.mp4\n" for n, c in zip(train["name"], train["categories"])))
    atomic_write_text(out_dir / TEST_ORDER, "".join(f"synthetic\\{n}_i3d.npy\r\n" for n in test["name"]))
    annotations = {
        n: UCFAnnotation(c[0], tuple((s, e - 1) for s, e in by_name[n].frame_segments))
        for n, c in zip(test["name"], test["categories"])
    }
    write_ucf_annotations(out_dir / TEST_ANNOTATIONS, annotations)
    meta = {
        "synth_version": SYNTH_VERSION,
        "kind": "ucf-crime",
        "params": {"n_videos": n_videos, "seconds": seconds, "seed": seed, "test_fraction": test_fraction,
                   "size": [width, height], "fps": FPS, "x264": X264_OPTIONS},
        "videos": [{"name": p.name, "label": p.label, "segments_inclusive": [[s, e - 1] for s, e in p.frame_segments]}
                   for p in plans],
    }
    atomic_write_text(out_dir / "synth.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
    manifest_df = index_videos(videos_dir, annotations=out_dir / TEST_ANNOTATIONS, split_list=out_dir / "split.csv",
                               recursive=False, paths=[videos_dir / f"{p.name}.mp4" for p in plans])
    manifest = write_manifest(manifest_df, out_dir / manifest_name)
    make_readable([videos_dir / f"{p.name}.mp4" for p in plans]
                   + [out_dir / n for n in (TRAIN_LIST, TEST_ORDER, TEST_ANNOTATIONS, "split.csv", "synth.json", manifest_name)])
    bad = manifest_df[manifest_df["error"].notna()]
    if len(bad):
        raise RuntimeError(f"synthetic videos failed to index: {bad[['name', 'error']].to_dict('records')}")
    return manifest
