"""Fusion weighting options of RobustA: how a modality's reliability becomes its weight (Eq. 3-5).

Every option is an entry of :data:`WEIGHTINGS` (``robusta-bench list
weightings``) and maps a modality's segment features to a weight ``lambda``
in ``[0, 0.5]``; the fusion normalises the weights of the present modalities
(:func:`~robusta_bench.detectors.gmm.fusion_weights`, a missing modality gets
0):

- ``average``: ``lambda = 0.5`` for every present modality (the Fig. 4
  ablation, 0.5/0.5).
- ``gmm-paper`` (default): the paper's Eq. 4-5 as written: the score is the negative
  log-likelihood (NLL) of the clean-feature GMM, "a higher value indicates
  that the sample is more likely to be compromised", and
  ``lambda = 0.5 / (1 + exp(c (NLL + x0)))``. One-sided: a corruption that
  makes features *more* typical (fog, contrast) raises the weight.
- ``gmm-two-sided``: the same GMM, scored two-sidedly: how far the NLL is
  from the clean median in units of the clean spread on that side
  (``(NLL - median) / (p99 - median)`` above, ``(median - NLL) / (median - p1)``
  below). A too-typical segment is as suspicious as a too-rare one.
- ``typicality``: the larger of the two-sided distances of the NLL and of
  the log feature norm (fog, contrast and blur lower the norm, noise raises
  it), each measured in its own clean spread.
- ``gmm-norm``: the larger of the NLL's *upper* distance (as the paper: only
  a rarer-than-clean NLL counts) and the two-sided distance of the log
  feature norm.

The *unit* scored (:class:`WeightingConfig`, ``unit``) is the paper's open
point: its Eq. 4 scores ``E-bar``, the mean embedding of a video. ``segment``
scores every segment's features (default), ``window`` the mean features of a
centred window of ``window`` segments, ``video`` the video's mean features
``E-bar`` (one weight for the whole video, the paper's literal reading).

Defaults (``gmm-paper``, unit ``segment``): on the shared real clips
(leave-one-clip-out, BENCHMARKS.md, issue 18) none of the new scores beat the
paper's NLL on average (the two-sided options help for contrast and fog per
segment but lose on noise-like and audio corruptions). The ``video`` unit
detects best on average there but, calibrated on few videos, flags more clean
videos (their mean weight falls from 0.43 to 0.37), so it is an option, not
the default.

``c`` and ``x0`` of every dynamic option come from CLEAN TRAINING videos only
(:mod:`.reliability`): each training video is scored by a density fitted
without it (``folds``-fold cross-fitting), and on these out-of-fold scores
``lambda(clean p50) = 0.45`` and ``lambda(clean p99) = 0.10`` (the two anchors
of :class:`WeightingConfig`), i.e. with ``u(l) = ln(0.5 / l - 1)``:
``c = (u(0.10) - u(0.45)) / (s99 - s50)`` and ``x0 = u(0.45) / c - s50``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from ..registry import Registry

WEIGHTINGS: Registry = Registry("weighting")
UNITS = ("segment", "window", "video")
#: the default dynamic option of the RobustA detector (see BENCHMARKS.md, issue 18)
DEFAULT_WEIGHTING = "gmm-paper"
LOG_HALF = math.log(0.5)


@dataclass
class WeightingConfig:
    """The unit scored and the calibration anchors shared by every dynamic option.

    ``anchor_typical`` and ``anchor_rare`` are ``(clean percentile, weight)``
    pairs: the weight a score at that percentile of the out-of-fold clean
    training scores gets.
    """

    unit: str = "segment"
    window: int = 5
    folds: int = 5
    anchor_typical: tuple[float, float] = (50.0, 0.45)
    anchor_rare: tuple[float, float] = (99.0, 0.10)
    probe_c: float = 0.01

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        if self.window < 1 or self.folds < 2:
            raise ValueError("window must be >= 1 and folds >= 2")
        self.anchor_typical = tuple(float(v) for v in self.anchor_typical)
        self.anchor_rare = tuple(float(v) for v in self.anchor_rare)
        (qa, la), (qb, lb) = self.anchor_typical, self.anchor_rare
        if not (0.0 <= qa < qb <= 100.0) or not (0.5 > la > lb > 0.0):
            raise ValueError("anchors need clean percentiles qa < qb and weights 0.5 > la > lb > 0")
        if not self.probe_c > 0:
            raise ValueError("probe_c (inverse L2 strength of the degradation probe) must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "window": self.window,
            "folds": self.folds,
            "anchor_typical": list(self.anchor_typical),
            "anchor_rare": list(self.anchor_rare),
            "probe_c": self.probe_c,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "WeightingConfig":
        d = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        for k in ("anchor_typical", "anchor_rare"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def unit_features(x: np.ndarray, unit: str, window: int = 5) -> np.ndarray:
    """The features scored for each of a video's ``T`` segments, ``(T, d)``.

    ``segment``: ``x`` itself; ``window``: the mean of a centred window of
    ``window`` segments (shorter at the ends); ``video``: the video mean
    ``E-bar`` repeated ``T`` times.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"segment features must be (T, d) with T >= 1, got {x.shape}")
    if unit == "segment" or (unit == "window" and window == 1):
        return x
    if unit == "video":
        return np.broadcast_to(x.mean(0), x.shape).copy()
    if unit != "window":
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    t = len(x)
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0)])
    lo = np.clip(np.arange(t) - window // 2, 0, t)
    hi = np.clip(lo + window, 0, t)
    lo = np.clip(hi - window, 0, t)
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None]


def eq5_log_weight(score: np.ndarray, c: float, x0: float) -> np.ndarray:
    """``log lambda`` of Eq. 5, ``lambda = 0.5 / (1 + exp(c (score + x0)))``, stable for any score."""
    u = c * (np.asarray(score, dtype=np.float64) + x0)
    return LOG_HALF - np.logaddexp(0.0, u)


def anchor_logit(weight: float) -> float:
    """``u`` with ``0.5 / (1 + exp(u)) = weight`` (``weight`` in (0, 0.5))."""
    return math.log(0.5 / weight - 1.0)


def calibrate_eq5(clean_scores: np.ndarray, cfg: WeightingConfig) -> dict[str, float]:
    """``c``, ``x0`` putting ``cfg``'s two anchors on the percentiles of clean (out-of-fold) scores."""
    s = np.asarray(clean_scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if len(s) < 2:
        raise ValueError("calibration needs at least 2 clean held-out scores")
    (qa, la), (qb, lb) = cfg.anchor_typical, cfg.anchor_rare
    sa, sb = float(np.percentile(s, qa)), float(np.percentile(s, qb))
    gap = max(sb - sa, 1e-6 * max(abs(sa), 1.0))
    ua, ub = anchor_logit(la), anchor_logit(lb)
    c = (ub - ua) / gap
    x0 = ua / c - sa
    return {"c": c, "x0": x0, "s_typical": sa, "s_rare": sa + gap, "n_clean": float(len(s))}


def two_sided(values: np.ndarray, ref: Mapping[str, float], key: str) -> np.ndarray:
    """Distance of ``values`` from the clean median, in the clean spread on that side (0 at the median)."""
    v = np.asarray(values, dtype=np.float64)
    med, lo, hi = ref[f"{key}_p50"], ref[f"{key}_p1"], ref[f"{key}_p99"]
    up = (v - med) / max(hi - med, 1e-9)
    down = (med - v) / max(med - lo, 1e-9)
    return np.maximum(up, down)


def reference_of(stats: Mapping[str, np.ndarray], keys: tuple[str, ...]) -> dict[str, float]:
    """Clean percentiles (1, 50, 99) of the statistics ``keys`` (from out-of-fold clean training stats)."""
    ref = {}
    for k in keys:
        v = np.asarray(stats[k], dtype=np.float64)
        v = v[np.isfinite(v)]
        for q in (1, 50, 99):
            ref[f"{k}_p{q}"] = float(np.percentile(v, q))
    return ref


class Weighting:
    """One fusion weighting option: a reliability score of a modality's segments (higher: less reliable).

    ``statistics`` names what the score reads from
    :meth:`ModalityReliability.statistics <robusta_bench.detectors.reliability.ModalityReliability.statistics>`
    (``nll``, ``log_norm``); ``reference`` keeps clean percentiles of them.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    dynamic: ClassVar[bool] = True
    statistics: ClassVar[tuple[str, ...]] = ("nll",)

    def reference(self, clean_stats: Mapping[str, np.ndarray]) -> dict[str, float]:
        """What the score needs from the clean out-of-fold statistics."""
        return reference_of(clean_stats, self.statistics)

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"summary": cls.summary, "dynamic": cls.dynamic, "reads": list(cls.statistics)}


@WEIGHTINGS.register("average")
class AverageWeighting(Weighting):
    summary = "0.5/0.5 over the present modalities (Fig. 4 ablation)"
    dynamic = False
    statistics = ()

    def reference(self, clean_stats: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {}

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return np.zeros(len(next(iter(stats.values()))))


@WEIGHTINGS.register("gmm-paper")
class PaperWeighting(Weighting):
    summary = "the paper's Eq. 4-5: lambda = 0.5 / (1 + exp(c (NLL + x0))), NLL of the clean GMM (one-sided)"

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return np.asarray(stats["nll"], dtype=np.float64)


@WEIGHTINGS.register("gmm-two-sided")
class TwoSidedWeighting(Weighting):
    summary = "Eq. 5 on the two-sided distance of the GMM NLL from its clean median (too typical is suspicious too)"

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return two_sided(stats["nll"], ref, "nll")


@WEIGHTINGS.register("typicality")
class TypicalityWeighting(Weighting):
    summary = "Eq. 5 on the larger two-sided clean distance of the GMM NLL and of the log feature norm"
    statistics = ("nll", "log_norm")

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return np.maximum(two_sided(stats["nll"], ref, "nll"), two_sided(stats["log_norm"], ref, "log_norm"))


@WEIGHTINGS.register("gmm-norm")
class NllNormWeighting(Weighting):
    summary = "Eq. 5 on the larger of the NLL's upper clean distance and the log feature norm's two-sided one"
    statistics = ("nll", "log_norm")

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return np.maximum(upper(stats["nll"], ref, "nll"), two_sided(stats["log_norm"], ref, "log_norm"))


def upper(values: np.ndarray, ref: Mapping[str, float], key: str) -> np.ndarray:
    """Distance of ``values`` above the clean median in its upper clean spread (p50 -> p99); negative below."""
    v = np.asarray(values, dtype=np.float64)
    return (v - ref[f"{key}_p50"]) / max(ref[f"{key}_p99"] - ref[f"{key}_p50"], 1e-9)


@WEIGHTINGS.register("learned")
class LearnedWeighting(Weighting):
    summary = "Eq. 5 on the degradation probe's logit (clean vs self-perturbed TRAINING features; needs perturbations)"
    statistics = ("probe",)

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return np.asarray(stats["probe"], dtype=np.float64)


@WEIGHTINGS.register("learned-gmm")
class LearnedGmmWeighting(Weighting):
    summary = "Eq. 5 on the larger upper clean distance of the probe logit and of the GMM NLL (needs perturbations)"
    statistics = ("nll", "probe")

    def score(self, stats: Mapping[str, np.ndarray], ref: Mapping[str, float]) -> np.ndarray:
        return np.maximum(upper(stats["nll"], ref, "nll"), upper(stats["probe"], ref, "probe"))


def get_weighting(name: str) -> Weighting:
    """An instance of the weighting option ``name`` (a helpful error for unknown names)."""
    return WEIGHTINGS.get(name)()


def weighting_names(dynamic_only: bool = False) -> list[str]:
    """Registered weighting names (only the dynamic ones with ``dynamic_only``)."""
    return [n for n in WEIGHTINGS.names() if not dynamic_only or WEIGHTINGS.get(n).dynamic]
