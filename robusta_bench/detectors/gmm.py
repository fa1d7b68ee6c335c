"""Per-modality clean-feature density (GMM) and the RobustA fusion weight.

For each modality a :class:`ModalityGMM` models the distribution of *clean
training* segment features (visual features are averaged over crops first):

1. PCA to ``pca_dim`` dimensions (``None`` or ``>= dim``: no PCA);
2. a ``K``-component scikit-learn ``GaussianMixture`` (``full`` or ``diag``
   covariance) on the PCA coordinates;
3. the energy outside the PCA subspace, modelled by one isotropic Gaussian of
   the mean training residual variance (as in probabilistic PCA), so that a
   shift orthogonal to the principal directions is not invisible.

The negative log-likelihood of a segment is ``-log p_GMM(z) + residual NLL``.
It is turned into a weight in ``[0, 0.5]`` by the paper's Eq. 5,
``lambda = 0.5 / (1 + exp(c * (NLL + x0)))``.

Calibration of ``c`` and ``x0`` (clean TRAIN data only, never test data): the
GMM is fitted on most training videos and the NLL of the held-out training
videos' segments gives the clean spread. With ``p_lo`` = its 95th percentile
and ``spread = p99 - p50``, ``c`` and ``x0`` are chosen so that
``lambda(p_lo) = 0.45`` and ``lambda(p_lo + spread) = 0.05``:
``c = 2 ln 9 / spread`` and ``x0 = -(p_lo + spread / 2)``. So 95 % of clean
segments keep a weight of at least 0.45, and the weight has all but vanished
once a segment is one clean spread past that.

Scoring is done in numpy from the stored parameters (no sklearn object, no
pickle); it equals ``GaussianMixture.score_samples`` (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

COVARIANCE_TYPES = ("full", "diag")
#: target weights at the low and high calibration points
LAMBDA_HI, LAMBDA_LO = 0.45, 0.05


@dataclass
class GMMConfig:
    """How a modality's clean density is fitted and calibrated."""

    n_components: int = 6
    pca_dim: int | None = 64
    covariance_type: str = "full"
    reg_covar: float = 1e-4
    max_fit_samples: int = 20000
    holdout_fraction: float = 0.2
    low_percentile: float = 95.0
    spread_percentiles: tuple[float, float] = (50.0, 99.0)

    def __post_init__(self) -> None:
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}")
        if self.n_components < 1:
            raise ValueError("n_components must be >= 1")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError("holdout_fraction must be in (0, 1)")
        self.spread_percentiles = tuple(float(p) for p in self.spread_percentiles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_components": self.n_components,
            "pca_dim": self.pca_dim,
            "covariance_type": self.covariance_type,
            "reg_covar": self.reg_covar,
            "max_fit_samples": self.max_fit_samples,
            "holdout_fraction": self.holdout_fraction,
            "low_percentile": self.low_percentile,
            "spread_percentiles": list(self.spread_percentiles),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GMMConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "spread_percentiles" in d:
            d["spread_percentiles"] = tuple(d["spread_percentiles"])
        return cls(**d)


@dataclass
class ModalityGMM:
    """A fitted clean-feature density of one modality plus its calibrated ``c``, ``x0``."""

    center: np.ndarray  # (d,)
    components: np.ndarray  # (p, d), orthonormal rows
    resid_var: float
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, p)
    prec_chol: np.ndarray  # (K, p, p) full, (K, p) diag
    covariance_type: str
    c: float = 1.0
    x0: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.center.shape[0])

    # ------------------------------------------------------------- scoring
    def nll(self, x: np.ndarray) -> np.ndarray:
        """Per-row negative log-likelihood of features ``x`` (n, d) (float64)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features must be (n, {self.dim}), got {x.shape}")
        xc = x - self.center
        z = xc @ self.components.T
        p = z.shape[1]
        resid_dim = self.dim - p
        nll = -gmm_log_likelihood(z, self.weights, self.means, self.prec_chol, self.covariance_type)
        if resid_dim > 0:
            r2 = np.maximum((xc * xc).sum(1) - (z * z).sum(1), 0.0)
            nll = nll + 0.5 * (r2 / self.resid_var + resid_dim * math.log(2 * math.pi * self.resid_var))
        return nll

    def log_weight(self, nll: np.ndarray) -> np.ndarray:
        """``log lambda = log 0.5 - softplus(c (NLL + x0))`` (stable for any NLL)."""
        u = self.c * (np.asarray(nll, dtype=np.float64) + self.x0)
        return math.log(0.5) - np.logaddexp(0.0, u)

    def weight(self, nll: np.ndarray) -> np.ndarray:
        """The paper's Eq. 5: ``lambda = 0.5 / (1 + exp(c (NLL + x0)))`` in [0, 0.5]."""
        return np.exp(self.log_weight(nll))

    # ----------------------------------------------------------- (de)serialise
    def to_arrays(self, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (for safetensors) and JSON metadata describing this GMM."""
        arrays = {
            f"{prefix}.center": self.center.astype(np.float64),
            f"{prefix}.components": self.components.astype(np.float64),
            f"{prefix}.weights": self.weights.astype(np.float64),
            f"{prefix}.means": self.means.astype(np.float64),
            f"{prefix}.prec_chol": self.prec_chol.astype(np.float64),
        }
        meta = {
            "covariance_type": self.covariance_type,
            "resid_var": float(self.resid_var),
            "c": float(self.c),
            "x0": float(self.x0),
            "stats": {k: float(v) for k, v in self.stats.items()},
        }
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str) -> "ModalityGMM":
        return cls(
            center=np.asarray(arrays[f"{prefix}.center"], dtype=np.float64),
            components=np.asarray(arrays[f"{prefix}.components"], dtype=np.float64),
            resid_var=float(meta["resid_var"]),
            weights=np.asarray(arrays[f"{prefix}.weights"], dtype=np.float64),
            means=np.asarray(arrays[f"{prefix}.means"], dtype=np.float64),
            prec_chol=np.asarray(arrays[f"{prefix}.prec_chol"], dtype=np.float64),
            covariance_type=str(meta["covariance_type"]),
            c=float(meta["c"]),
            x0=float(meta["x0"]),
            stats=dict(meta.get("stats", {})),
        )


def gmm_log_likelihood(
    z: np.ndarray, weights: np.ndarray, means: np.ndarray, prec_chol: np.ndarray, covariance_type: str
) -> np.ndarray:
    """``log sum_k pi_k N(z | mu_k, Sigma_k)`` per row, from sklearn-style precision Cholesky factors."""
    n, p = z.shape
    k = len(weights)
    logp = np.empty((n, k))
    for j in range(k):
        if covariance_type == "full":
            y = (z - means[j]) @ prec_chol[j]
            log_det = np.log(np.diag(prec_chol[j])).sum()
        elif covariance_type == "diag":
            y = (z - means[j]) * prec_chol[j]
            log_det = np.log(prec_chol[j]).sum()
        else:
            raise ValueError(f"unsupported covariance_type {covariance_type!r}")
        logp[:, j] = -0.5 * (p * math.log(2 * math.pi) + (y * y).sum(1)) + log_det + math.log(weights[j])
    m = logp.max(1, keepdims=True)
    return (m + np.log(np.exp(logp - m).sum(1, keepdims=True)))[:, 0]


def _pca(x: np.ndarray, dim: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    center = x.mean(0)
    xc = x - center
    d = x.shape[1]
    if dim is None or dim >= d:
        return center, np.eye(d), 1.0
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:dim]
    var = (s**2) / max(len(x) - 1, 1)
    resid = float(var[dim:].sum() / (d - dim)) if d > dim else 1.0
    return center, comps, max(resid, 1e-12)


def fit_density(fit_features: np.ndarray, cfg: GMMConfig, seed: int = 0) -> ModalityGMM:
    """PCA + GMM + residual density of ``fit_features`` (n, d), not calibrated (``c = 1``, ``x0 = 0``).

    At most ``cfg.max_fit_samples`` rows are used (a seeded subsample); the EM runs single-threaded.
    """
    from sklearn.mixture import GaussianMixture

    from ..seeding import rng_for

    x = np.asarray(fit_features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least 2 training segments to fit a GMM, got shape {x.shape}")
    if len(x) > cfg.max_fit_samples:
        x = x[np.sort(rng_for("gmm-subsample", seed).choice(len(x), cfg.max_fit_samples, replace=False))]
    center, comps, resid_var = _pca(x, cfg.pca_dim)
    z = (x - center) @ comps.T
    k = max(1, min(cfg.n_components, len(z) // 2))
    gm = GaussianMixture(
        n_components=k,
        covariance_type=cfg.covariance_type,
        reg_covar=cfg.reg_covar,
        random_state=int(seed % (2**31)),
        max_iter=200,
    )
    from threadpoolctl import threadpool_limits

    # one thread: EM on at most max_fit_samples rows is small work, and sklearn's OpenMP/BLAS
    # threads on a busy machine made the many small fits of the calibration ~15x slower
    with threadpool_limits(limits=1):
        gm.fit(z)
    return ModalityGMM(
        center=center,
        components=comps,
        resid_var=resid_var,
        weights=gm.weights_,
        means=gm.means_,
        prec_chol=gm.precisions_cholesky_,
        covariance_type=cfg.covariance_type,
    )


def fit_modality_gmm(
    fit_features: np.ndarray, holdout_features: np.ndarray, cfg: GMMConfig, seed: int = 0
) -> ModalityGMM:
    """Fit the density on ``fit_features`` (n, d) and calibrate ``c``, ``x0`` on ``holdout_features``.

    Both are clean *training* segments (of disjoint videos). At most
    ``cfg.max_fit_samples`` rows are used for the fit (a seeded subsample).
    """
    model = fit_density(fit_features, cfg, seed)
    held = np.asarray(holdout_features, dtype=np.float64)
    if len(held) == 0:
        held = np.asarray(fit_features, dtype=np.float64)
    calibrate(model, model.nll(held), cfg)
    return model


def calibrate(model: ModalityGMM, clean_nll: np.ndarray, cfg: GMMConfig) -> ModalityGMM:
    """Set ``c``, ``x0`` from clean held-out NLLs (see the module docstring); records the percentiles."""
    nll = np.asarray(clean_nll, dtype=np.float64)
    p_lo = float(np.percentile(nll, cfg.low_percentile))
    a, b = (float(np.percentile(nll, q)) for q in cfg.spread_percentiles)
    spread = max(b - a, 1e-6 * max(abs(a), 1.0), 1e-6)
    k = math.log((0.5 / LAMBDA_LO) - 1.0)  # ln 9: logit at 0.05 (and minus at 0.45)
    model.c = 2.0 * k / spread
    model.x0 = -(p_lo + spread / 2.0)
    model.stats = {"p50": float(np.percentile(nll, 50)), "p_lo": p_lo, "spread": spread, "n_holdout": float(len(nll))}
    return model


def fusion_weights(log_lv: np.ndarray | None, log_la: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised ``(w_visual, w_audio)`` from log weights; a missing modality (None) gets 0.

    Computed as ``w_v = sigmoid(log lambda_V - log lambda_A)`` so that two tiny
    weights still normalise. Both missing is an error.
    """
    if log_lv is None and log_la is None:
        raise ValueError("both modalities are missing: nothing to score")
    if log_la is None:
        ones = np.ones_like(np.asarray(log_lv, dtype=np.float64))
        return ones, np.zeros_like(ones)
    if log_lv is None:
        ones = np.ones_like(np.asarray(log_la, dtype=np.float64))
        return np.zeros_like(ones), ones
    from scipy.special import expit  # overflow-free logistic

    wv = expit(np.asarray(log_lv, dtype=np.float64) - np.asarray(log_la, dtype=np.float64))
    return wv, 1.0 - wv
