"""A modality's fitted reliability model: the clean density plus every weighting option's calibration.

:func:`fit_reliability` takes the segment features of CLEAN TRAINING videos
only (one ``(T, d)`` array per video; visual averaged over crops) and

1. cross-fits: the videos are split (seeded) into ``folds`` groups; each
   group's videos are scored (in the configured unit) by a density fitted on
   the other groups, which gives out-of-fold clean statistics (NLL, log
   norm) of videos the density has not seen, as test videos will be;
2. fits the final density (:func:`~robusta_bench.detectors.gmm.fit_density`)
   on all the training videos;
3. given self-perturbed features of the same training videos (``perturbed``,
   :mod:`robusta_bench.corruptions.perturbations`), fits the degradation
   probe (:mod:`.probe`) the same way: out-of-fold for the calibration, then
   on all training videos;
4. for every dynamic weighting option (:mod:`.weighting`) whose statistics
   are available, keeps its clean reference percentiles and its Eq. 5 ``c``,
   ``x0`` from the out-of-fold scores (the anchors of
   :class:`~robusta_bench.detectors.weighting.WeightingConfig`).

Nothing else is read, so test videos cannot reach the fit or the calibration
(tested). Scoring is numpy from stored parameters; the state round-trips
through safetensors arrays and JSON metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .gmm import GMMConfig, ModalityGMM, fit_density
from .probe import DegradationProbe, fit_probe
from .weighting import (
    WeightingConfig,
    calibrate_eq5,
    eq5_log_weight,
    get_weighting,
    unit_features,
    weighting_names,
)


def feature_statistics(gmm: ModalityGMM, x: np.ndarray, probe: DegradationProbe | None = None) -> dict[str, np.ndarray]:
    """Per-row statistics the weighting options read: the density's NLL, the log feature norm and,
    with a probe, its degradation logit (``probe``)."""
    x = np.asarray(x, dtype=np.float64)
    stats = {"nll": gmm.nll(x), "log_norm": np.log(np.linalg.norm(x, axis=1) + 1e-12)}
    if probe is not None:
        stats["probe"] = probe.logit(x)
    return stats


def needs_probe_message(weighting: str) -> str:
    """The error of an option that reads the probe on a model fitted without perturbed features."""
    return (
        f"weighting {weighting!r} needs the degradation probe, which is fitted only when the store holds the "
        "self-made perturbations of the TRAINING videos: robusta-bench extract ... --variant-split train "
        "--variants perturbations (then train again)"
    )


@dataclass
class ModalityReliability:
    """One modality's clean density, the unit it is scored in, and each dynamic option's calibration."""

    gmm: ModalityGMM
    config: WeightingConfig
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    probe: DegradationProbe | None = None

    def statistics(self, segments: np.ndarray) -> dict[str, np.ndarray]:
        """:func:`feature_statistics` of a video's ``(T, d)`` segment features taken in the configured unit."""
        return feature_statistics(self.gmm, unit_features(segments, self.config.unit, self.config.window), self.probe)

    def score(self, segments: np.ndarray, weighting: str, stats: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Reliability score ``(T,)`` of option ``weighting`` (higher: less like clean training data)."""
        rule = get_weighting(weighting)
        stats = self.statistics(segments) if stats is None else stats
        return rule.score(stats, self.calibration.get(weighting, {}))

    def log_weight(self, segments: np.ndarray, weighting: str, stats: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """``log lambda`` ``(T,)`` of option ``weighting``; ``average``: ``log 0.5`` everywhere."""
        return self.log_weight_of(self.statistics(segments) if stats is None else stats, weighting)

    def log_weight_of(self, stats: dict[str, np.ndarray], weighting: str) -> np.ndarray:
        """``log lambda`` of option ``weighting`` from :meth:`statistics` already computed."""
        rule = get_weighting(weighting)
        if not rule.dynamic:
            return np.full(len(stats["nll"]), np.log(0.5))
        cal = self.calibration_of(weighting)
        return eq5_log_weight(rule.score(stats, cal), cal["c"], cal["x0"])

    def calibration_of(self, weighting: str) -> dict[str, float]:
        """The calibration of dynamic option ``weighting``; a clear error when this model has none."""
        cal = self.calibration.get(weighting)
        if cal is None and "probe" in get_weighting(weighting).statistics and self.probe is None:
            raise ValueError(needs_probe_message(weighting))
        if cal is None:
            raise ValueError(f"weighting {weighting!r} is not calibrated in this model (calibrated: {sorted(self.calibration)})")
        return cal

    def to_arrays(self, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (the density's) and JSON metadata (config, calibrations)."""
        arrays, meta = self.gmm.to_arrays(prefix)
        meta = {**meta, "weighting": self.config.to_dict(), "calibration": self.calibration}
        if self.probe is not None:
            parrays, pmeta = self.probe.to_arrays(prefix)
            arrays, meta = {**arrays, **parrays}, {**meta, **pmeta}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str) -> "ModalityReliability":
        """Inverse of :meth:`to_arrays`. A file without calibrations (before issue 18) keeps its Eq. 5
        ``c``, ``x0`` as the ``gmm-paper`` option's (segment unit)."""
        gmm = ModalityGMM.from_arrays(arrays, meta, prefix)
        if "calibration" in meta:
            cal = {k: {kk: float(vv) for kk, vv in v.items()} for k, v in meta["calibration"].items()}
            probe = DegradationProbe.from_arrays(arrays, meta, prefix)
            return cls(gmm, WeightingConfig.from_dict(meta.get("weighting")), cal, probe)
        return cls(gmm, WeightingConfig(unit="segment"), {"gmm-paper": {"c": gmm.c, "x0": gmm.x0}})


def video_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """Fold index of each of ``n`` training videos (seeded, as equal in size as possible)."""
    from ..seeding import rng_for

    k = max(2, min(int(folds), n))
    perm = rng_for("reliability-folds", int(seed)).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[perm] = np.arange(n) % k
    return out


def _rows(videos: Sequence[np.ndarray], idx: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """The segment rows of videos ``idx``, a seeded subsample of at most ``cap`` rows (float64)."""
    from ..seeding import rng_for

    pairs = np.concatenate([np.stack([np.full(len(videos[i]), i), np.arange(len(videos[i]))], 1) for i in idx])
    if len(pairs) > cap:
        pairs = pairs[np.sort(rng_for("reliability-rows", int(seed), len(idx)).choice(len(pairs), cap, replace=False))]
    return np.stack([videos[v][t] for v, t in pairs]).astype(np.float64)


def _units(videos: Sequence[np.ndarray], wcfg: WeightingConfig) -> np.ndarray:
    """The scored units (:func:`unit_features`) of all ``videos``, stacked (float64)."""
    return np.concatenate([unit_features(v, wcfg.unit, wcfg.window) for v in videos])


def _fit_probe_on(
    videos: Sequence[np.ndarray], perturbed: Sequence[Sequence[np.ndarray]] | None, idx: np.ndarray,
    wcfg: WeightingConfig, seed: int,
) -> DegradationProbe | None:
    """The probe of training videos ``idx``: their clean units vs their perturbed units (None without any)."""
    if perturbed is None:
        return None
    bad = [p for i in idx for p in perturbed[i] if len(p)]
    if not bad:
        return None
    return fit_probe(_units([videos[i] for i in idx], wcfg), _units(bad, wcfg), wcfg.probe_c, seed)


def out_of_fold_statistics(
    videos: Sequence[np.ndarray], gcfg: GMMConfig, wcfg: WeightingConfig, seed: int = 0,
    perturbed: Sequence[Sequence[np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Statistics of every training video's units, each from a density (and probe) fitted without its fold.

    With a single video there is nothing to hold out: it is scored in-sample.
    ``perturbed[i]``: self-perturbed ``(T, d)`` features of ``videos[i]``
    (any number, possibly none); with them, the ``probe`` statistic is added.
    """
    n = len(videos)
    if n == 1:
        gmm = fit_density(videos[0], gcfg, seed)
        probe = _fit_probe_on(videos, perturbed, np.arange(1), wcfg, seed)
        return feature_statistics(gmm, unit_features(videos[0], wcfg.unit, wcfg.window), probe)
    fold = video_folds(n, wcfg.folds, seed)
    parts: dict[str, list[np.ndarray]] = {}
    for f in np.unique(fold):
        train = np.flatnonzero(fold != f)
        gmm = fit_density(_rows(videos, train, gcfg.max_fit_samples, seed), gcfg, seed)
        probe = _fit_probe_on(videos, perturbed, train, wcfg, seed)
        for i in np.flatnonzero(fold == f):
            for k, v in feature_statistics(gmm, unit_features(videos[i], wcfg.unit, wcfg.window), probe).items():
                parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def fit_reliability(
    videos: Sequence[np.ndarray],
    gcfg: GMMConfig | None = None,
    wcfg: WeightingConfig | None = None,
    seed: int = 0,
    perturbed: Sequence[Sequence[np.ndarray]] | None = None,
) -> ModalityReliability:
    """Fit and calibrate one modality's reliability model on clean training videos' ``(T, d)`` features.

    ``perturbed`` (optional, aligned with ``videos``): each training video's
    self-perturbed features (:mod:`robusta_bench.corruptions.perturbations`);
    with them the degradation probe is fitted and the options that read it
    (``learned``, ``learned-gmm``) are calibrated. Options whose statistics are
    missing are left uncalibrated (selecting one raises a clear error).
    """
    gcfg = gcfg or GMMConfig()
    wcfg = wcfg or WeightingConfig()
    if perturbed is not None and len(perturbed) != len(videos):
        raise ValueError(f"perturbed features are given for {len(perturbed)} videos, clean for {len(videos)}")
    keep = [i for i, v in enumerate(videos) if len(v)]
    videos = [np.asarray(videos[i]) for i in keep]
    if perturbed is not None:
        perturbed = [[np.asarray(p) for p in perturbed[i]] for i in keep]
    if sum(len(v) for v in videos) < 2:
        raise ValueError("need at least 2 clean training segments to fit a reliability model")
    clean = out_of_fold_statistics(videos, gcfg, wcfg, seed, perturbed)
    gmm = fit_density(_rows(videos, np.arange(len(videos)), gcfg.max_fit_samples, seed), gcfg, seed)
    probe = _fit_probe_on(videos, perturbed, np.arange(len(videos)), wcfg, seed)
    calibration = {}
    for name in weighting_names(dynamic_only=True):
        rule = get_weighting(name)
        if not set(rule.statistics) <= set(clean):
            continue
        ref = rule.reference(clean)
        cal = calibrate_eq5(rule.score(clean, ref), wcfg)
        calibration[name] = {**ref, **cal}
    paper = calibration["gmm-paper"]
    gmm.c, gmm.x0 = paper["c"], paper["x0"]
    gmm.stats = {"n_videos": float(len(videos)), "n_clean_scores": paper["n_clean"]}
    return ModalityReliability(gmm, wcfg, calibration, probe)
