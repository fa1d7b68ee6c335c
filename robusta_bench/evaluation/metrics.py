"""Frame-level metrics of weakly-supervised anomaly detection.

The official XD-Violence evaluation concatenates the frame-level ground truth
of all test videos (in the official list order), repeats every snippet score 16
times to get frame scores, and reports

    precision, recall, _ = precision_recall_curve(gt, frame_scores)
    ap = auc(recall, precision)            # trapezoidal rule

which differs slightly from :func:`sklearn.metrics.average_precision_score`
(a step-wise sum). Both are provided, plus ROC-AUC (the UCF-Crime metric:
:func:`official_roc_auc`, and :func:`pooled_frame_auc` for the official pooled
AUC over a list of videos).

Two implementations give the same numbers:

- :func:`official_ap` / :func:`sklearn_ap` / :func:`roc_auc` take frame arrays and
  call scikit-learn literally (the reference);
- :class:`SnippetCounts` + :func:`curve_metrics` work at the snippet level: as
  the 16 frames of a snippet share one score, the precision-recall curve only
  needs, per snippet, its score and how many of its frames are anomalous
  (``pos``) and normal (``neg``). Sorting ~100k snippets instead of ~1.6 M frames
  makes one AP ~20x cheaper, which is what lets the evaluation compute the
  hundreds of APs of the paper's tables in seconds. The two agree exactly
  (integer counts are summed exactly in float64; tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

SNIPPET_FRAMES = 16


# ----------------------------------------------------------------- reference
def frame_scores(snippet_scores: np.ndarray, frames_per_snippet: int = SNIPPET_FRAMES) -> np.ndarray:
    """Snippet scores repeated to frames (``np.repeat(s, 16)``), as the official test code does."""
    return np.repeat(np.asarray(snippet_scores, dtype=np.float64), frames_per_snippet)


def official_ap(frame_labels: np.ndarray, frame_scores: np.ndarray) -> float:
    """The official XD-Violence AP: ``auc(recall, precision)`` of ``precision_recall_curve``."""
    from sklearn.metrics import auc, precision_recall_curve

    labels, scores = _check_frames(frame_labels, frame_scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(auc(recall, precision))


def sklearn_ap(frame_labels: np.ndarray, frame_scores: np.ndarray) -> float:
    """:func:`sklearn.metrics.average_precision_score` over frames (step-wise, not trapezoidal)."""
    from sklearn.metrics import average_precision_score

    labels, scores = _check_frames(frame_labels, frame_scores)
    return float(average_precision_score(labels, scores))


def roc_auc(frame_labels: np.ndarray, frame_scores: np.ndarray) -> float:
    """Frame-level ROC-AUC (:func:`sklearn.metrics.roc_auc_score`), the UCF-Crime metric."""
    from sklearn.metrics import roc_auc_score

    labels, scores = _check_frames(frame_labels, frame_scores)
    return float(roc_auc_score(labels, scores))


def official_roc_auc(frame_labels: np.ndarray, frame_scores: np.ndarray) -> float:
    """The official UCF-Crime AUC (RTFM ``test_10crop.py``): ``auc(fpr, tpr)`` of ``roc_curve``."""
    from sklearn.metrics import auc, roc_curve

    labels, scores = _check_frames(frame_labels, frame_scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(auc(fpr, tpr))


def pooled_frame_auc(snippet_scores: Sequence[np.ndarray], frame_labels: Sequence[np.ndarray]) -> float:
    """One pooled frame-level ROC-AUC over videos, as the official UCF-Crime evaluation computes it.

    Each video's snippet scores are repeated 16 times (``np.repeat``) and cut
    to its frame labels' length; the videos are concatenated in the given
    order (the official list order) and one AUC is computed on the whole
    vector (not an average over videos). Raises ``ValueError`` when a video
    has fewer frame scores than labels.
    """
    if len(snippet_scores) != len(frame_labels):
        raise ValueError(f"{len(snippet_scores)} score arrays but {len(frame_labels)} label arrays")
    scores, labels = [], []
    for i, (s, g) in enumerate(zip(snippet_scores, frame_labels)):
        f = frame_scores(np.asarray(s).reshape(-1))
        g = np.asarray(g).reshape(-1)
        if f.size < g.size:
            raise ValueError(f"video {i}: {f.size} frame scores for {g.size} frame labels")
        scores.append(f[: g.size])
        labels.append(g)
    if not scores:
        raise ValueError("no videos to evaluate")
    return official_roc_auc(np.concatenate(labels), np.concatenate(scores))


def _check_frames(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} frame labels but {scores.size} frame scores")
    if labels.size == 0:
        raise ValueError("no frames to evaluate")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    uniq = np.unique(labels)
    if not np.isin(uniq, (0, 1)).all():
        raise ValueError(f"frame labels must be 0/1, got values {uniq[:5].tolist()}")
    if len(uniq) < 2:
        raise ValueError("the ground truth has a single class: AP and AUC are undefined")
    return labels.astype(np.int64), scores


# -------------------------------------------------------------- snippet level
@dataclass
class SnippetCounts:
    """Per-snippet ground truth: anomalous (``pos``) and normal (``neg``) frame counts."""

    pos: np.ndarray
    neg: np.ndarray

    @classmethod
    def from_frames(cls, frame_labels: np.ndarray, frames_per_snippet: int = SNIPPET_FRAMES) -> "SnippetCounts":
        """Counts of one video from its frame labels (length a multiple of 16)."""
        labels = np.asarray(frame_labels, dtype=np.float64).reshape(-1)
        if labels.size % frames_per_snippet:
            raise ValueError(f"{labels.size} frame labels is not a multiple of {frames_per_snippet}")
        pos = labels.reshape(-1, frames_per_snippet).sum(1)
        return cls(pos=pos, neg=frames_per_snippet - pos)

    def __len__(self) -> int:
        return int(self.pos.shape[0])

    def truncate(self, n: int) -> "SnippetCounts":
        """The first ``n`` snippets."""
        return SnippetCounts(self.pos[:n], self.neg[:n])

    @staticmethod
    def concat(parts: Sequence["SnippetCounts"]) -> "SnippetCounts":
        """Several videos' counts, concatenated in order."""
        return SnippetCounts(np.concatenate([p.pos for p in parts]), np.concatenate([p.neg for p in parts]))


@dataclass
class CurveMetrics:
    """Metrics of one score vector: official AP, sklearn AP and ROC-AUC (NaN when undefined)."""

    ap: float
    ap_sklearn: float
    auc: float


def curve_metrics(scores: np.ndarray, counts: SnippetCounts) -> CurveMetrics:
    """Official AP, ``average_precision_score`` and ROC-AUC from snippet scores and frame counts.

    Identical to :func:`official_ap`, :func:`sklearn_ap` and :func:`roc_auc` on
    the frame-level arrays (``np.repeat(scores, 16)`` and the concatenated frame
    labels), but computed on snippets weighted by their frame counts.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape != counts.pos.shape:
        raise ValueError(f"{s.size} snippet scores but {len(counts)} snippets of ground truth")
    if s.size == 0:
        raise ValueError("no snippets to evaluate")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    order = np.argsort(s, kind="mergesort")[::-1]
    s_sorted = s[order]
    tps = np.cumsum(counts.pos[order])
    fps = np.cumsum(counts.neg[order])
    # last index of each run of equal scores (the thresholds of sklearn's curve)
    idx = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps, fps = tps[idx], fps[idx]
    p_total, n_total = tps[-1], fps[-1]
    if p_total <= 0 or n_total <= 0:
        nan = float("nan")
        return CurveMetrics(nan, nan, nan)
    ps = tps + fps
    precision = np.where(ps > 0, tps / np.where(ps > 0, ps, 1.0), 0.0)
    recall = tps / p_total
    # sklearn's precision_recall_curve: reversed, with (recall 0, precision 1) appended
    prec_c = np.r_[precision[::-1], 1.0]
    rec_c = np.r_[recall[::-1], 0.0]
    ap = float(-_trapezoid(prec_c, rec_c))  # recall decreasing -> auc = -trapz
    ap_sk = float(-np.sum(np.diff(rec_c) * prec_c[:-1]))
    tpr = np.r_[0.0, tps / p_total]
    fpr = np.r_[0.0, fps / n_total]
    auc = float(_trapezoid(tpr, fpr))
    return CurveMetrics(ap, ap_sk, auc)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
