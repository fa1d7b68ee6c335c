"""UCF-Crime: names, the shipped official lists, annotations, frame ground truth at 30 and 24 fps, pooled AUC,
index recognition and the synthetic stand-in."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED, need
from robusta_bench.dataset.ground_truth import n_segments
from robusta_bench.dataset.index import index_videos
from robusta_bench.dataset.ucf_crime import (
    ANOMALY_CLASSES,
    TEST_ANNOTATIONS,
    format_ucf_annotations,
    official_frame_gt,
    parse_ucf_annotation_line,
    parse_ucf_name,
    read_test_order,
    read_ucf_annotations,
    resampled_frame_count,
    source_frame_index,
    ucf_frame_labels,
    ucf_video_list,
)
from robusta_bench.evaluation.metrics import SnippetCounts, curve_metrics, official_roc_auc, pooled_frame_auc
from robusta_bench.paths import manifests_dir

UCF = SHARED / "data" / "ucf-crime"
README_COUNTS = {"Abuse": 2, "Arrest": 5, "Arson": 9, "Assault": 3, "Burglary": 13, "Explosion": 21, "Fighting": 5,
                 "RoadAccidents": 23, "Robbery": 5, "Shooting": 23, "Shoplifting": 21, "Stealing": 5, "Vandalism": 5}


# ------------------------------------------------------------------ names / lists
def test_names():
    a = parse_ucf_name("Abuse028_x264.mp4")
    assert (a.cls, a.number, a.label) == ("Abuse", 28, 1)
    assert parse_ucf_name("Normal_Videos_003_x264").label == 0
    assert parse_ucf_name("Training_Normal_Videos_Anomaly/Normal_Videos308_x264.mp4").cls == "Normal"
    assert parse_ucf_name(r"G:\UCF_Test_ten_crop_i3d\RoadAccidents001_x264").cls == "RoadAccidents"
    for bad in ("Abuse028", "Cooking001_x264", "v=abc__#1_label_A", "Abuse_x264"):
        with pytest.raises(ValueError, match="not a UCF-Crime name"):
            parse_ucf_name(bad)


def test_shipped_files_are_the_official_ones():
    for name in ("Anomaly_Train.txt", "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", "rtfm_ucf-i3d-test.list"):
        shipped = (manifests_dir() / "ucf_crime" / name).read_bytes()
        assert hashlib.sha256(shipped).digest() == hashlib.sha256(need(UCF / name).read_bytes()).digest(), name


def test_video_list_matches_the_readme_and_rtfm_order():
    vl = ucf_video_list()
    train, test = vl[vl["split"] == "train"], vl[vl["split"] == "test"]
    assert len(train) == 1610 and int((train["label"] == 0).sum()) == 800
    assert len(test) == 290 and int(test["label"].sum()) == 140
    assert not set(train["name"]) & set(test["name"])
    counts = Counter(c[0] for c, y in zip(test["categories"], test["label"]) if y)
    assert dict(counts) == README_COUNTS and set(counts) == set(ANOMALY_CLASSES)
    tsv = pd.read_csv(need(UCF / "test_videos_rtfm_order.tsv"), sep="\t")
    assert test["name"].tolist() == tsv["video"].tolist()
    assert test["list_index"].tolist() == tsv["index"].tolist()
    assert test["label"].tolist() == tsv["label"].tolist()
    assert test["label"].iloc[:140].all() and not test["label"].iloc[140:].any()


def test_annotations_parse_and_format_round_trip():
    ann = read_ucf_annotations()
    assert len(ann) == 290 and sum(len(a.events) == 2 for a in ann.values()) == 16
    starts = [e[0] for a in ann.values() for e in a.events]
    ends = [e[1] for a in ann.values() for e in a.events]
    assert min(starts) == 1 and max(ends) == 12930
    tsv = pd.read_csv(need(UCF / "test_videos_rtfm_order.tsv"), sep="\t")
    for row in tsv.itertuples():
        events = [(s, e) for s, e in ((row.s1, row.e1), (row.s2, row.e2)) if s != -1]
        assert list(ann[row.video].events) == events and ann[row.video].cls == row._3
    text = (manifests_dir() / "ucf_crime" / TEST_ANNOTATIONS).read_text()
    assert format_ucf_annotations(ann) == text  # byte for byte
    for bad in ("Abuse028_x264.mp4  Abuse  240  165  -1  -1", "X.mp4  Cooking  1  2  -1  -1",
                "Normal_Videos_003_x264.mp4  Normal  1  5  -1  -1", "Abuse028_x264.mp4  Abuse  1"):
        with pytest.raises(ValueError):
            parse_ucf_annotation_line(bad)


# ------------------------------------------------------------------ ground truth
def readme_make_gt(n_snippets: int, cls: str, events) -> list[float]:
    """The README's description of make_gt_ucf.py, written as plain loops."""
    num_frame = n_snippets * 16
    if cls == "Normal":
        return [0.0] * num_frame
    gt = [0.0] * num_frame
    for s, e in events:
        last = e - 1 if e + 1 > num_frame else e
        for i in range(s, last + 1):
            if i < num_frame:
                gt[i] = 1.0
    assert len(gt) == num_frame
    return gt


def frame_counts(ann):
    """A plausible frame count per test video (covering its events; some cut inside the last event)."""
    out = {}
    for i, (name, a) in enumerate(ann.items()):
        last = max([e for _, e in a.events], default=600)
        out[name] = last + (i * 37) % 400 - (60 if i % 7 == 0 else 0)
    return out


def test_native_rate_labels_are_the_official_construction():
    ann = read_ucf_annotations()
    for name, n in frame_counts(ann).items():
        t = n_segments(n)  # the protocol's snippets at 30 fps (no resampling)
        ours = ucf_frame_labels(n, ann[name].events, fps=30, src_fps=30)
        ref = np.array(readme_make_gt(t, ann[name].cls, ann[name].events))
        assert np.array_equal(ours, ref), name
        assert np.array_equal(official_frame_gt(t, ann[name].events), ref), name


def test_protocol_rate_labels_are_mapped_by_time():
    ann = read_ucf_annotations()
    for name, n in list(frame_counts(ann).items())[::5]:
        ours = ucf_frame_labels(n, ann[name].events, fps=24, src_fps=30)
        n24 = int(np.ceil(n * 24 / 30 - 1e-9))
        assert len(ours) == 16 * n_segments(n24)
        native = np.array(readme_make_gt(n // 16 + 1, ann[name].cls, ann[name].events))
        for k in range(0, len(ours), 3):
            t = k / 24
            src = min(range(max(0, int(t * 30) - 2), int(t * 30) + 3), key=lambda i: (abs(i / 30 - t), -i))
            assert ours[k] == native[src], (name, k)
        if ann[name].events:  # the anomalous duration is kept to within a frame per event boundary
            covered = len(ours) / 24
            dur30 = sum(min(e, covered * 30) - min(s, covered * 30) + 1 for s, e in ann[name].events if s < covered * 30)
            assert abs(ours.sum() / 24 - dur30 / 30) <= 2 * len(ann[name].events) / 24 + 1e-9


def test_abuse028_by_hand():
    # events 165..240 at 30 fps = 5.5 s .. 8.033 s; at 24 fps frames 132 (src 165) .. 192 (src 240)
    labels = ucf_frame_labels(1000, [(165, 240)])
    assert np.flatnonzero(labels).tolist() == list(range(132, 193))
    assert source_frame_index(np.array([0, 1, 2, 3, 4])).tolist() == [0, 1, 3, 4, 5]  # 1.25 -> 1, 2.5 -> 3 (tie: later)
    assert resampled_frame_count(90) == 72 and resampled_frame_count(91) == 73


def test_resampled_count_matches_the_decoder(tmp_path):
    from robusta_bench.dataset.synth_ucf import make_synthetic_ucf_dataset
    from robusta_bench.media.decode import read_frames

    make_synthetic_ucf_dataset(tmp_path, n_videos=2, seconds=2.1, size=(48, 32), test_fraction=0.5)
    video = sorted((tmp_path / "videos").glob("*.mp4"))[0]
    assert len(read_frames(video)) == 63
    assert len(read_frames(video, fps=24)) == resampled_frame_count(63)


# ------------------------------------------------------------------ pooled AUC
def test_pooled_frame_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    scores = [rng.random(t) for t in (5, 9, 3)]
    labels = [np.repeat(rng.random(t) < 0.4, 16).astype(float) for t in (5, 9, 3)]
    labels[2][:] = 0
    labels[0][3] = 1  # frame-level labels inside a snippet
    auc = pooled_frame_auc(scores, labels)
    frames = np.concatenate([np.repeat(s, 16) for s in scores])
    assert auc == pytest.approx(roc_auc_score(np.concatenate(labels), frames), abs=1e-12)
    counts = SnippetCounts.concat([SnippetCounts.from_frames(g) for g in labels])
    assert auc == pytest.approx(curve_metrics(np.concatenate(scores), counts).auc, abs=1e-12)
    # hand example: 2 positive frames scored 0.9 and 0.2, 2 negatives 0.5 and 0.1 -> 3 of 4 pairs ordered
    assert official_roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.2, 0.1])) == pytest.approx(0.75)
    assert pooled_frame_auc([np.r_[0.9, 0.1]], [np.r_[np.ones(16), np.zeros(10)]]) == 1.0  # scores cut to labels
    with pytest.raises(ValueError, match="frame scores for"):
        pooled_frame_auc([np.r_[0.9]], [np.ones(20)])


# ------------------------------------------------------------------ index + synth
@pytest.fixture(scope="module")
def synth_ucf(tmp_path_factory) -> Path:
    from robusta_bench.dataset.synthetic import make_synthetic_dataset

    out = tmp_path_factory.mktemp("ucf")
    make_synthetic_dataset(out, n_videos=8, seconds=3.0, size=(64, 48), seed=3, test_fraction=0.5, kind="ucf-crime")
    return out


def test_synth_ucf_layout(synth_ucf):
    df = pd.read_parquet(synth_ucf / "manifest.parquet")
    assert len(df) == 8 and df["error"].isna().all()
    assert (df["fps"] == 30).all() and (df["frames"] == 90).all() and (df["audio_channels"] == 0).all()
    assert (df["n_segments"] == n_segments(72)).all()  # 90 frames at 30 fps -> 72 protocol frames
    vl = ucf_video_list(synth_ucf)  # the folder stands in for manifests/ucf_crime/
    assert sorted(vl["name"]) == sorted(df["name"])
    for row in vl.itertuples():
        assert parse_ucf_name(row.name).label == row.label
        if row.split == "test" and row.label == 0:
            assert row.name.startswith("Normal_Videos_")
    test = vl[vl["split"] == "test"]
    assert test["label"].tolist() == sorted(test["label"].tolist(), reverse=True)  # anomalous first
    ann = read_ucf_annotations(synth_ucf / TEST_ANNOTATIONS)
    import json

    meta = {v["name"]: v for v in json.loads((synth_ucf / "synth.json").read_text())["videos"]}
    for name, a in ann.items():
        assert [list(e) for e in a.events] == meta[name]["segments_inclusive"]
    got = df.set_index("name")["n_anomalous_frames"]
    for name, a in ann.items():
        assert got[name] == ucf_frame_labels(90, a.events).sum()


def test_index_recognises_ucf_names_without_a_list(synth_ucf):
    df = index_videos(synth_ucf / "videos")
    official = ucf_video_list().set_index("name")
    for row in df.itertuples():
        parsed = parse_ucf_name(row.name)
        assert row.label == parsed.label and list(row.categories) == [parsed.cls]
        assert row.split == (official.loc[row.name, "split"] if row.name in official.index else "unknown")
        assert row.n_segments == n_segments(72)


def test_synth_ucf_is_deterministic(synth_ucf, tmp_path):
    from robusta_bench.dataset.synthetic import make_synthetic_dataset

    make_synthetic_dataset(tmp_path, n_videos=8, seconds=3.0, size=(64, 48), seed=3, test_fraction=0.5, kind="ucf-crime")
    for p in sorted((synth_ucf / "videos").glob("*.mp4")):
        assert (tmp_path / "videos" / p.name).read_bytes() == p.read_bytes()
    with pytest.raises(ValueError, match="kind must be"):
        make_synthetic_dataset(tmp_path, kind="ucf")
