"""The clean-feature GMMs and the RobustA fusion weights (Eq. 4-5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from robusta_bench.detectors.base import TrainSet
from robusta_bench.detectors.gmm import (
    GMMConfig,
    ModalityGMM,
    fit_modality_gmm,
    fusion_weights,
    gmm_log_likelihood,
)
from robusta_bench.detectors.robusta import fit_gmms


def clusters(n: int, dim: int, seed: int) -> np.ndarray:
    """Three Gaussian clusters with different spreads."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 4, (3, dim))
    which = rng.integers(0, 3, n)
    return centres[which] + rng.normal(0, 1, (n, dim)) * (1 + which[:, None] * 0.5)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_log_likelihood_equals_sklearn(cov):
    x = clusters(600, 5, 0)
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(x)
    probe = clusters(50, 5, 1) + 0.7
    ours = gmm_log_likelihood(probe, gm.weights_, gm.means_, gm.precisions_cholesky_, cov)
    assert np.abs(ours - gm.score_samples(probe)).max() < 1e-9


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_nll_without_pca_equals_sklearn_score_samples(cov):
    x = clusters(800, 6, 2)
    cfg = GMMConfig(n_components=3, pca_dim=None, covariance_type=cov, holdout_fraction=0.2)
    model = fit_modality_gmm(x[:600], x[600:], cfg, seed=0)
    # an sklearn mixture carrying the stored parameters scores the centred features identically
    gm = GaussianMixture(len(model.weights), covariance_type=cov)
    gm.weights_, gm.means_, gm.precisions_cholesky_ = model.weights, model.means, model.prec_chol
    probe = clusters(40, 6, 3) * 1.5
    assert np.abs(model.nll(probe) + gm.score_samples(probe - model.center)).max() < 1e-8


def test_nll_with_pca_is_gmm_plus_isotropic_residual():
    """Checked against scipy densities: -log sum_k pi_k N(z) + the residual's isotropic Gaussian NLL."""
    x = clusters(900, 12, 4)
    model = fit_modality_gmm(x[:700], x[700:], GMMConfig(n_components=2, pca_dim=4), seed=1)
    probe = clusters(30, 12, 5)
    z = (probe - model.center) @ model.components.T
    dens = np.zeros(len(probe))
    for w, mu, pc in zip(model.weights, model.means, model.prec_chol):
        cov = np.linalg.inv(pc @ pc.T)
        dens += w * multivariate_normal(mu, cov).pdf(z)
    resid = probe - model.center - z @ model.components
    r2 = (resid**2).sum(1)
    extra = 0.5 * (r2 / model.resid_var + 8 * math.log(2 * math.pi * model.resid_var))
    assert np.allclose(model.nll(probe), -np.log(dens) + extra, rtol=1e-9, atol=1e-8)
    # components are orthonormal, the residual variance is the mean variance off the subspace
    assert np.allclose(model.components @ model.components.T, np.eye(4), atol=1e-10)
    with pytest.raises(ValueError, match=r"\(n, 12\)"):
        model.nll(probe[:, :5])


def test_calibration_rule_and_shift_lowers_weight():
    rng = np.random.default_rng(0)
    fit, held, fresh = clusters(1500, 10, 6), clusters(400, 10, 7), clusters(300, 10, 8)
    model = fit_modality_gmm(fit, held, GMMConfig(n_components=3, pca_dim=6), seed=0)
    nll_held = model.nll(held)
    p95 = np.percentile(nll_held, 95)
    spread = np.percentile(nll_held, 99) - np.percentile(nll_held, 50)
    assert abs(model.weight(np.array([p95]))[0] - 0.45) < 1e-9
    assert abs(model.weight(np.array([p95 + spread]))[0] - 0.05) < 1e-9
    clean_w = model.weight(model.nll(fresh))
    assert np.mean(clean_w >= 0.4) > 0.85
    direction = rng.normal(0, 1, fresh.shape[1])
    direction /= np.linalg.norm(direction)
    # a corruption moves the features off the clean distribution (clusters have sd 1-2 per axis)
    means = [model.weight(model.nll(fresh + shift * direction)).mean() for shift in (0.0, 8.0, 12.0)]
    assert means[0] > 0.45 and means[1] < 0.5 * means[0] and means[2] < 0.05
    assert model.weight(model.nll(fresh * 2.0)).mean() < 0.1  # a contrast-like rescaling
    assert model.weight(model.nll(fresh * 0.0 + 50.0)).max() < 1e-6
    nll = np.linspace(-1e4, 1e4, 101)
    w = model.weight(nll)
    assert np.all((w >= 0) & (w <= 0.5)) and np.all(np.diff(w) <= 0)
    assert np.isfinite(model.log_weight(np.array([1e308]))).all()


def test_fusion_weights():
    lv, la = np.log([0.45, 0.05, 0.2]), np.log([0.45, 0.45, 1e-300])
    wv, wa = fusion_weights(lv, la)
    assert np.allclose(wv + wa, 1.0)
    assert np.allclose(wv, [0.5, 0.05 / 0.5, 1.0])
    wv, wa = fusion_weights(lv, None)
    assert np.all(wv == 1) and np.all(wa == 0)
    wv, wa = fusion_weights(None, la)
    assert np.all(wv == 0) and np.all(wa == 1)
    # weights too small for float64 still normalise (computed from log weights)
    wv, wa = fusion_weights(np.array([-5000.0]), np.array([-5000.0 - math.log(3)]))
    assert np.allclose(wv, [0.75]) and np.allclose(wa, [0.25])
    with pytest.raises(ValueError, match="both modalities are missing"):
        fusion_weights(None, None)


def test_round_trip_and_fit_gmms_determinism():
    rng = np.random.default_rng(3)
    vis = [np.abs(rng.normal(0, 1, (3, int(rng.integers(10, 20)), 16))).astype(np.float32) for _ in range(12)]
    aud = [np.abs(rng.normal(0, 1, (v.shape[1], 6))).astype(np.float32) for v in vis]
    ts = TrainSet([f"v{i}" for i in range(12)], np.arange(12) % 2, vis, aud)
    cfg = GMMConfig(n_components=2, pca_dim=8)
    a, b = fit_gmms(ts, cfg, seed=5), fit_gmms(ts, cfg, seed=5)
    assert set(a) == {"visual", "audio"} and a["visual"].gmm.dim == 16 and a["audio"].gmm.dim == 6
    probe = vis[0].mean(0)
    assert np.array_equal(a["visual"].gmm.nll(probe), b["visual"].gmm.nll(probe))
    assert a["visual"].calibration["gmm-paper"]["n_clean"] == sum(v.shape[1] for v in vis)  # every video, out of fold
    c = fit_gmms(ts, cfg, seed=6)
    assert not np.array_equal(a["visual"].calibration["gmm-paper"]["c"], c["visual"].calibration["gmm-paper"]["c"])
    arrays, meta = a["audio"].gmm.to_arrays("gmm.audio")
    back = ModalityGMM.from_arrays(arrays, meta, "gmm.audio")
    assert np.array_equal(back.nll(aud[1]), a["audio"].gmm.nll(aud[1]))
    assert (back.c, back.x0) == (a["audio"].gmm.c, a["audio"].gmm.x0)


def test_config_validation():
    with pytest.raises(ValueError, match="covariance_type"):
        GMMConfig(covariance_type="spherical")
    with pytest.raises(ValueError, match="holdout_fraction"):
        GMMConfig(holdout_fraction=0.0)
    with pytest.raises(ValueError, match="at least 2"):
        fit_modality_gmm(np.zeros((1, 4)), np.zeros((0, 4)), GMMConfig())
