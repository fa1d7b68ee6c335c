"""Frame-level AP (official XD-Violence rule), sklearn AP and ROC-AUC; snippet-level fast path."""

from __future__ import annotations

import numpy as np
import pytest

from robusta_bench.dataset.ground_truth import frame_labels
from robusta_bench.evaluation.metrics import (
    SnippetCounts,
    curve_metrics,
    frame_scores,
    official_ap,
    roc_auc,
    sklearn_ap,
)


def test_official_ap_hand_computed():
    # sorted by score: + - + -  -> PR points (recall, precision): (.5, 1), (.5, .5), (1, 2/3), (1, .5)
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    # sklearn's curve, reversed, ends at (recall 0, precision 1); trapezoids:
    # recall 1 -> .5 between precisions 2/3 and 1/2, then .5 -> 0 between 1 and 1
    expected_official = 0.5 * (2 / 3 + 1 / 2) / 2 + 0.5 * (1 + 1) / 2  # = 19/24
    # step-wise AP: recall +.5 at precision 1, +.5 at precision 2/3
    expected_step = 0.5 * 1 + 0.5 * (2 / 3)  # = 5/6
    assert official_ap(labels, scores) == pytest.approx(19 / 24, abs=1e-12)
    assert expected_official == pytest.approx(19 / 24)
    assert sklearn_ap(labels, scores) == pytest.approx(expected_step, abs=1e-12)
    assert official_ap(labels, scores) != pytest.approx(sklearn_ap(labels, scores), abs=1e-3)
    # 3 of the 4 (positive, negative) pairs are ranked correctly
    assert roc_auc(labels, scores) == pytest.approx(0.75, abs=1e-12)


def test_snippet_path_matches_hand_example():
    # the same example, one snippet per item, 16 frames each: weights scale, the curve does not
    counts = SnippetCounts(pos=np.array([16.0, 0, 16, 0]), neg=np.array([0.0, 16, 0, 16]))
    m = curve_metrics(np.array([0.9, 0.8, 0.7, 0.1]), counts)
    assert m.ap == pytest.approx(19 / 24, abs=1e-12)
    assert m.ap_sklearn == pytest.approx(5 / 6, abs=1e-12)
    assert m.auc == pytest.approx(0.75, abs=1e-12)


def test_frame_scores_repeat_16():
    s = np.array([0.1, 0.7])
    f = frame_scores(s)
    assert f.shape == (32,)
    assert (f[:16] == 0.1).all() and (f[16:] == 0.7).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_snippet_level_equals_frame_level(seed):
    """Random videos with annotations cutting snippets, tied scores: identical to sklearn on frames."""
    rng = np.random.default_rng(seed)
    labels, snip_scores, parts = [], [], []
    for v in range(25):
        n = int(rng.integers(40, 400))
        ann = []
        if v % 3 == 0:
            s = int(rng.integers(0, n - 20))
            ann = [(s, s + int(rng.integers(5, 200)))]  # may run past the end: clipped
        gt = frame_labels(n, ann)
        t = gt.size // 16
        sc = np.round(rng.random(t), 1)  # many ties across videos
        labels.append(gt)
        snip_scores.append(sc)
        parts.append(SnippetCounts.from_frames(gt))
    gt_all = np.concatenate(labels)
    sc_all = np.concatenate(snip_scores)
    fr_all = frame_scores(sc_all)
    m = curve_metrics(sc_all, SnippetCounts.concat(parts))
    assert m.ap == pytest.approx(official_ap(gt_all, fr_all), abs=1e-12)
    assert m.ap_sklearn == pytest.approx(sklearn_ap(gt_all, fr_all), abs=1e-12)
    assert m.auc == pytest.approx(roc_auc(gt_all, fr_all), abs=1e-12)


def test_perfect_and_inverted_scores():
    gt = frame_labels(16 * 10 + 1, [(32, 80)])
    c = SnippetCounts.from_frames(gt)
    truth = (c.pos > 0).astype(float)
    # snippets 2..4 anomalous (frames 32..79): a score equal to the snippet label is perfect
    assert curve_metrics(truth, c).ap == pytest.approx(1.0)
    assert curve_metrics(truth, c).auc == pytest.approx(1.0)
    assert curve_metrics(1 - truth, c).auc == pytest.approx(0.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="frame labels but"):
        official_ap(np.array([0, 1]), np.array([0.1]))
    with pytest.raises(ValueError, match="single class"):
        official_ap(np.zeros(8), np.linspace(0, 1, 8))
    with pytest.raises(ValueError, match="NaN"):
        official_ap(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="multiple of 16"):
        SnippetCounts.from_frames(np.zeros(17))
    with pytest.raises(ValueError, match="snippets of ground truth"):
        curve_metrics(np.zeros(3), SnippetCounts.from_frames(np.zeros(32)))
    # one class only at the snippet level: undefined -> NaN, not an exception
    m = curve_metrics(np.linspace(0, 1, 2), SnippetCounts.from_frames(np.zeros(32)))
    assert np.isnan(m.ap)
