"""XD-Violence names, the shipped official list, annotations and the official ground-truth rule."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from robusta_bench.dataset.annotations import parse_annotations, read_annotations, write_annotations
from robusta_bench.dataset.ground_truth import (
    concat_frame_labels,
    frame_labels,
    n_segments,
    snippet_labels,
    snippet_labels_from_frames,
)
from robusta_bench.dataset.names import CATEGORY_NAMES, make_name, parse_name, strip_video_ext
from robusta_bench.dataset.video_list import load_video_list, official_list_path, read_video_list, split_of


def _shared_rows(xd_dir):
    with open(xd_dir / "videos.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- names


def test_parse_examples():
    p = parse_name("Movie.Name.Year__#00-01-02_00-03-04_label_B2-G-0")
    assert (p.label, p.categories, p.source, p.span) == (1, ("B2", "G"), "Movie.Name.Year", "00-01-02_00-03-04")
    assert p.category_names == ("shooting", "explosion")
    q = parse_name("v=abc__#1_label_A.mp4")
    assert (q.name, q.label, q.categories, q.source, q.span) == ("v=abc__#1_label_A", 0, ("A",), "v=abc", "1")
    assert parse_name("x__#1_label_G").categories == ("G",)  # unpadded single code occurs in the list
    assert set(CATEGORY_NAMES) == {"A", "B1", "B2", "B4", "B5", "B6", "G"}


@pytest.mark.parametrize(
    "bad", ["no_label_here", "x__#1_label_B3-0-0", "x__#1_label_A-B1-0", "x__#1_label_0-0-0", "x__#1_label_B1-B2-G-B4"]
)
def test_parse_rejects(bad):
    with pytest.raises(ValueError, match="label|code|categor|mixed"):
        parse_name(bad)


def test_make_name_roundtrip():
    n = make_name("Synth.Scene.0007", "00-00-00_00-00-08", ["B2"])
    assert n == "Synth.Scene.0007__#00-00-00_00-00-08_label_B2-0-0"
    assert make_name("S", "1", ["A"]) == "S__#1_label_A"
    assert parse_name(make_name("S", "1", ["G", "B1"])).categories == ("G", "B1")


def test_all_official_names_parse_and_match_the_csv(xd_dir):
    rows = _shared_rows(xd_dir)
    assert len(rows) == 4754
    counts: dict[tuple[str, int], int] = {}
    for r in rows:
        p = parse_name(r["name"])
        assert p.label == int(r["label"]), r["name"]
        assert "-".join(p.categories) == r["categories"], r["name"]
        counts[(r["split"], p.label)] = counts.get((r["split"], p.label), 0) + 1
    assert counts[("train", 1)] + counts[("train", 0)] == 3954
    assert counts[("train", 1)] == 1905
    assert counts[("test", 1)] + counts[("test", 0)] == 800
    assert counts[("test", 1)] == 500


# ---------------------------------------------------------------- official list


def test_shipped_list_equals_shared_csv(xd_dir):
    shipped = load_video_list()
    assert official_list_path().name == "xd_violence_v1.csv"
    shared = _shared_rows(xd_dir)
    assert list(shipped["name"]) == [r["name"] for r in shared]
    assert list(shipped["split"]) == [r["split"] for r in shared]
    assert list(shipped["label"]) == [int(r["label"]) for r in shared]
    assert list(shipped["list_index"]) == [int(r["list_index"]) for r in shared]
    assert ["-".join(c) for c in shipped["categories"]] == [r["categories"] for r in shared]


def test_split_of():
    vl = load_video_list()
    train = vl[vl["split"] == "train"]
    test = vl[vl["split"] == "test"]
    assert len(train) == 3954 and len(test) == 800
    assert int(train["label"].sum()) == 1905 and int(test["label"].sum()) == 500
    assert split_of(train["name"].iloc[5]) == "train"
    assert split_of(test["name"].iloc[-1] + ".mp4") == "test"
    assert split_of("Synth.Scene.0001__#00-00-00_00-00-08_label_A") == "unknown"


def test_read_video_list_validation(tmp_path):
    p = tmp_path / "l.csv"
    pd.DataFrame({"name": ["a_label_A", "b_label_B1-0-0"], "split": ["Train", "test"], "categories": ["A", "B1-0-0"]}).to_csv(p, index=False)
    df = read_video_list(p)
    assert list(df["split"]) == ["train", "test"]
    assert list(df["categories"]) == [["A"], ["B1"]]
    assert list(df["list_index"]) == [0, 0]
    pd.DataFrame({"name": ["a", "a"], "split": ["train", "train"]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match="twice"):
        read_video_list(p)
    pd.DataFrame({"name": ["a"], "split": ["val"]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match="split"):
        read_video_list(p)
    pd.DataFrame({"file": ["a"]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match="lacks"):
        read_video_list(p)


# ---------------------------------------------------------------- annotations


def test_official_annotations(xd_dir):
    path = xd_dir / "annotations.txt"
    raw = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(raw) == 500
    assert sum(line.split()[0].endswith(".mp4") for line in raw) == 14
    ann = read_annotations(path)
    assert len(ann) == 500
    assert not any(n.endswith(".mp4") for n in ann)
    assert ann["v=S-7rRLrxnVQ__#1_label_B4-0-0"] == [(0, 1517), (1970, 3038)]
    # every annotated video is a violent test video of the official list
    vl = load_video_list().set_index("name")
    assert all(vl.loc[n, "split"] == "test" and vl.loc[n, "label"] == 1 for n in ann)
    # the 14 stripped names are found in the list too
    stripped = [strip_video_ext(line.split()[0]) for line in raw if line.split()[0].endswith(".mp4")]
    assert all(n in vl.index for n in stripped)


def test_annotation_errors_and_roundtrip(tmp_path):
    with pytest.raises(ValueError, match=":2: .*pairs"):
        parse_annotations(["a 1 2", "b 1 2 3"], source="f")
    with pytest.raises(ValueError, match="bad interval"):
        parse_annotations(["a 5 5"])
    with pytest.raises(ValueError, match="twice"):
        parse_annotations(["a 1 2", "a.mp4 3 4"])
    ann = {"x_label_B1-0-0": [(3, 10), (20, 40)], "y_label_G-0-0": [(0, 5)]}
    p = write_annotations(tmp_path / "a.txt", ann)
    assert p.read_text() == "x_label_B1-0-0 3 10 20 40\ny_label_G-0-0 0 5\n"
    assert read_annotations(p) == ann


# ---------------------------------------------------------------- ground truth


def test_n_segments():
    assert [n_segments(n) for n in (0, 1, 16, 17, 32, 33, 100)] == [0, 0, 0, 1, 1, 2, 6]


def test_frame_labels_official_rule():
    segs = [(0, 1517), (1970, 3038)]
    # N = 3100 frames: T = 3099 // 16 = 193 snippets -> 3088 labelled frames
    gt = frame_labels(3100, segs)
    assert gt.shape == (3088,)
    assert gt[0] == 1 and gt[1516] == 1 and gt[1517] == 0
    assert gt[1969] == 0 and gt[1970] == 1 and gt[3037] == 1 and gt[3038] == 0
    assert gt.sum() == 1517 + (3038 - 1970)
    # N = 3040: T = 189 -> 3024 frames; the second interval is cut by the trim
    gt = frame_labels(3040, segs)
    assert gt.shape == (3024,) and gt[-1] == 1 and gt.sum() == 1517 + (3024 - 1970)
    # an interval past the end of the video is clipped
    gt = frame_labels(50, [(40, 500)])
    assert gt.shape == (48,) and gt[:40].sum() == 0 and gt[40:].sum() == 8
    # N = 33 exactly: T = 2, the 33rd frame is dropped
    gt = frame_labels(33, [(32, 33)])
    assert gt.shape == (32,) and gt.sum() == 0


def test_frame_labels_from_rows_and_normal_videos(xd_dir):
    ann = read_annotations(xd_dir / "annotations.txt")
    name = "v=S-7rRLrxnVQ__#1_label_B4-0-0"
    row = {"name": name, "frames": 3100, "label": 1}
    np.testing.assert_array_equal(frame_labels(row, ann), frame_labels(3100, ann[name]))
    np.testing.assert_array_equal(frame_labels(row, ann), frame_labels(pd.Series(row), ann))
    normal = {"name": "Some.Movie__#00-00-00_00-00-10_label_A", "frames": 241, "label": 0}
    gt = frame_labels(normal, ann)
    assert gt.shape == (240,) and gt.sum() == 0
    assert frame_labels(241).sum() == 0
    with pytest.raises(ValueError, match="without an annotation"):
        frame_labels({"name": "Train.Movie__#1_label_B1-0-0", "frames": 100}, ann)
    both = concat_frame_labels([row, normal], ann)
    assert both.shape == (3088 + 240,)


def test_snippet_labels():
    gt = frame_labels(100, [(17, 20), (90, 95)])  # T = 6 -> 96 frames
    assert gt.shape == (96,)
    sn = snippet_labels(100, [(17, 20), (90, 95)])
    assert list(sn) == [0, 1, 0, 0, 0, 1]
    np.testing.assert_array_equal(sn, snippet_labels_from_frames(gt))
    # a single anomalous frame at a snippet's last position marks that snippet only
    assert list(snippet_labels(49, [(31, 32)])) == [0, 1, 0]
