"""RobustA's fusion weighting options (issue 18): Eq. 5, units, cross-fitted calibration, both directions, no leakage."""

from __future__ import annotations


import numpy as np
import pytest

import test_evaluate_support as sup
from robusta_bench.detectors import reliability as rel_mod
from robusta_bench.detectors.base import TrainSet, build_detector
from robusta_bench.detectors.gmm import GMMConfig, fit_density
from robusta_bench.detectors.reliability import ModalityReliability, fit_reliability, video_folds
from robusta_bench.detectors.weighting import WeightingConfig, unit_features, weighting_names
from robusta_bench.evaluation.health import fit_leave_one_out, fit_store_reliability
from robusta_bench.store.feature_store import FeatureStore, Variant

GCFG = GMMConfig(n_components=2, pca_dim=4)


def clean_videos(n: int, dim: int, seed: int) -> list[np.ndarray]:
    """``n`` videos of 15-25 segments: positive, correlated features around a few scene centres."""
    rng = np.random.default_rng(seed)
    centres = np.abs(np.random.default_rng(42).normal(2.0, 1.0, (3, dim)))
    mix = np.random.default_rng(43).normal(0, 0.4, (dim, dim))
    out = []
    for _ in range(n):
        c = centres[rng.integers(0, 3)]
        t = int(rng.integers(15, 26))
        out.append(np.abs(c + rng.normal(0, 1, (t, dim)) @ mix + rng.normal(0, 0.2, (t, dim))))
    return out


@pytest.fixture(scope="module")
def fitted():
    videos = clean_videos(12, 10, 0)
    return videos, fit_reliability(videos, GCFG, WeightingConfig(unit="segment", folds=4), seed=1)


def eq5(score, c, x0):
    return 0.5 / (1.0 + np.exp(c * (score + x0)))


def test_registry_names_and_units():
    assert weighting_names() == ["average", "gmm-paper", "gmm-two-sided", "typicality", "gmm-norm", "learned", "learned-gmm"]
    assert weighting_names(dynamic_only=True) == ["gmm-paper", "gmm-two-sided", "typicality", "gmm-norm", "learned", "learned-gmm"]
    x = np.arange(12.0).reshape(6, 2)
    assert np.array_equal(unit_features(x, "segment"), x)
    assert np.allclose(unit_features(x, "video"), np.tile([5.0, 6.0], (6, 1)))
    # centred window of 3, shortened at the ends only by sliding inside the video
    w = unit_features(x, "window", 3)
    assert np.allclose(w[0], x[0:3].mean(0)) and np.allclose(w[2], x[1:4].mean(0)) and np.allclose(w[5], x[3:6].mean(0))
    with pytest.raises(ValueError, match="unit"):
        WeightingConfig(unit="frame")
    with pytest.raises(ValueError, match="anchors"):
        WeightingConfig(anchor_typical=(50.0, 0.1), anchor_rare=(99.0, 0.4))


def test_gmm_paper_is_eq5_on_the_nll(fitted):
    videos, rel = fitted
    probe = clean_videos(3, 10, 5)[0] * 1.3
    cal = rel.calibration["gmm-paper"]
    expected = eq5(rel.gmm.nll(probe), cal["c"], cal["x0"])
    assert np.allclose(np.exp(rel.log_weight(probe, "gmm-paper")), expected, rtol=1e-12)
    assert np.all(rel.score(probe, "gmm-paper") == rel.gmm.nll(probe))
    assert np.all(np.exp(rel.log_weight(probe, "average")) == 0.5)
    # Eq. 5 stays in [0, 0.5] and finite in log space for any score
    assert np.isfinite(rel.log_weight_of({"nll": np.array([1e308, -1e308])}, "gmm-paper")).all()


def test_calibration_uses_out_of_fold_clean_scores(fitted):
    """c, x0 put lambda(p50) = 0.45 and lambda(p99) = 0.10 on NLLs of videos scored by densities fitted without them."""
    videos, rel = fitted
    fold = video_folds(len(videos), 4, 1)
    assert sorted(np.bincount(fold)) == [3, 3, 3, 3]
    oof = []
    for f in range(4):
        rows = np.concatenate([videos[i] for i in range(len(videos)) if fold[i] != f])
        dens = fit_density(rows, GCFG, 1)
        oof += [dens.nll(videos[i]) for i in range(len(videos)) if fold[i] == f]
    oof = np.concatenate(oof)
    cal = rel.calibration["gmm-paper"]
    assert eq5(np.percentile(oof, 50), cal["c"], cal["x0"]) == pytest.approx(0.45, abs=1e-9)
    assert eq5(np.percentile(oof, 99), cal["c"], cal["x0"]) == pytest.approx(0.10, abs=1e-9)
    # in-sample NLLs are lower than out-of-fold ones: calibrating on them would misplace the anchors
    insample = rel.gmm.nll(np.concatenate(videos))
    assert np.percentile(insample, 50) < np.percentile(oof, 50)
    # the two-sided options are calibrated on the same clean scores
    ts = rel.calibration["gmm-two-sided"]
    up = (oof - ts["nll_p50"]) / (ts["nll_p99"] - ts["nll_p50"])
    down = (ts["nll_p50"] - oof) / (ts["nll_p50"] - ts["nll_p1"])
    assert ts["nll_p50"] == pytest.approx(np.percentile(oof, 50))
    assert eq5(np.percentile(np.maximum(up, down), 99), ts["c"], ts["x0"]) == pytest.approx(0.10, abs=1e-9)


def test_two_sided_options_see_both_directions(fitted):
    videos, rel = fitted
    fresh = clean_videos(6, 10, 9)
    mean = np.concatenate(videos).mean(0)

    def weight(option, transform):
        return float(np.mean([np.exp(rel.log_weight(transform(v), option)).mean() for v in fresh]))

    flat = lambda v: mean + 0.15 * (v - mean)  # noqa: E731 - fog/contrast-like: pulled to the clean mean
    dark = lambda v: 0.4 * v  # noqa: E731 - lower feature norm
    noisy = lambda v: v + np.abs(np.random.default_rng(3).normal(0, 3, v.shape))  # noqa: E731
    same = lambda v: v  # noqa: E731
    for option in ("gmm-paper", "gmm-two-sided", "typicality", "gmm-norm"):  # calibrated without perturbations
        assert weight(option, same) > 0.3, option
        assert weight(option, noisy) < 0.05, option
    # the paper's rule rewards the flattened features (they look MORE typical) ...
    assert weight("gmm-paper", flat) > weight("gmm-paper", same)
    # ... the two-sided options do not
    assert weight("gmm-two-sided", flat) < 0.1 and weight("typicality", flat) < 0.1
    assert weight("typicality", dark) < 0.1 and weight("gmm-norm", dark) < 0.1


def test_state_round_trip_and_old_files(fitted):
    videos, rel = fitted
    arrays, meta = rel.to_arrays("gmm.visual")
    back = ModalityReliability.from_arrays(arrays, meta, "gmm.visual")
    assert back.probe is None and "learned" not in rel.calibration  # fitted without perturbed features
    with pytest.raises(ValueError, match="perturbations"):
        rel.log_weight(videos[0], "learned")
    for option in ["average", *rel.calibration]:
        assert np.array_equal(back.log_weight(videos[0], option), rel.log_weight(videos[0], option))
    # a file written before issue 18 (no calibrations): its c, x0 are the gmm-paper option's
    old = {k: v for k, v in meta.items() if k not in ("weighting", "calibration")}
    legacy = ModalityReliability.from_arrays(arrays, old, "gmm.visual")
    assert legacy.config.unit == "segment" and set(legacy.calibration) == {"gmm-paper"}
    with pytest.raises(ValueError, match="not calibrated"):
        legacy.log_weight(videos[0], "typicality")


def test_missing_modality_gets_weight_zero():
    rng = np.random.default_rng(0)
    vis = [np.abs(rng.normal(1, 1, (2, int(rng.integers(10, 16)), 12))).astype(np.float32) for _ in range(8)]
    aud = [np.abs(rng.normal(1, 1, (v.shape[1], 6))).astype(np.float32) for v in vis]
    det = build_detector("robusta", visual_dim=12, audio_dim=6, gmm={"n_components": 2, "pca_dim": 4})
    det.fit_gmms(TrainSet([f"v{i}" for i in range(8)], np.arange(8) % 2, vis, aud), seed=0)
    sc = det.scorer()
    t = vis[0].shape[1]
    vs, as_ = sc.visual_state(vis[0], t), sc.audio_state(aud[0], t)
    for fusion in ("gmm", "average", *det.reliability["visual"].calibration):
        only_audio, only_visual = sc.combine(None, as_, fusion), sc.combine(vs, None, fusion)
        assert np.all(only_audio.w_visual == 0) and np.allclose(only_audio.offline, as_["off"])
        assert np.all(only_visual.w_visual == 1) and np.allclose(only_visual.offline, vs["off"])
        both = sc.combine(vs, as_, fusion)
        assert np.all((both.w_visual > 0) & (both.w_visual < 1))
    assert np.all(sc.combine(vs, as_, "average").w_visual == 0.5)
    # the detector's own weighting is what "gmm" applies
    assert det.weighting == "gmm-paper" and det.weighting_config.unit == "segment"
    assert np.array_equal(sc.combine(vs, as_, "gmm").w_visual, sc.combine(vs, as_, "gmm-paper").w_visual)
    per_video = build_detector("robusta", visual_dim=12, audio_dim=6, gmm={"n_components": 2, "pca_dim": 4},
                               weighting_config={"unit": "video"})
    per_video.fit_gmms(TrainSet([f"v{i}" for i in range(8)], np.arange(8) % 2, vis, aud), seed=0)
    assert len(np.unique(per_video.score(vis[0], aud[0]).w_visual)) == 1  # unit "video": one weight per video
    with pytest.raises(ValueError, match="weighting must be one of"):
        build_detector("robusta", visual_dim=12, audio_dim=6, weighting="average")


@pytest.fixture()
def spy(monkeypatch):
    """Every feature row the reliability fit and calibration see (density fits and scored statistics)."""
    seen: list[np.ndarray] = []
    real_fit, real_stats, real_probe = rel_mod.fit_density, rel_mod.feature_statistics, rel_mod.fit_probe

    def fit(x, *a, **k):
        seen.append(np.asarray(x, dtype=np.float64))
        return real_fit(x, *a, **k)

    def stats(gmm, x, probe=None):
        seen.append(np.asarray(x, dtype=np.float64))
        return real_stats(gmm, x, probe)

    def probe_fit(clean, perturbed, *a, **k):
        seen.extend([np.asarray(clean, dtype=np.float64), np.asarray(perturbed, dtype=np.float64)])
        return real_probe(clean, perturbed, *a, **k)

    monkeypatch.setattr(rel_mod, "fit_density", fit)
    monkeypatch.setattr(rel_mod, "feature_statistics", stats)
    monkeypatch.setattr(rel_mod, "fit_probe", probe_fit)
    return seen


def _rows_of(arrays: list[np.ndarray]) -> set[bytes]:
    return {np.round(r, 6).tobytes() for a in arrays for r in a}


def test_test_videos_never_reach_fit_or_calibration(tmp_path, spy):
    data = sup.make_dataset(tmp_path, n_train=10, n_test=6)
    store, manifest = FeatureStore(data["store"]), data["manifest_df"]
    test = set(data["names"])
    train = set(manifest.loc[manifest["split"] == "train", "name"])
    vis = dict(store.iter_videos("vis", Variant()))
    aud = dict(store.iter_videos("aud", Variant()))
    models = fit_store_reliability(store, manifest, "vis", "aud", seed=0)
    assert set(models) == {"visual", "audio"} and spy
    seen = _rows_of(spy)
    test_rows = _rows_of([vis[n].mean(0).astype(np.float64) for n in test] + [aud[n][0].astype(np.float64) for n in test])
    train_rows = _rows_of([vis[n].mean(0).astype(np.float64) for n in train])
    assert seen & train_rows  # the spy does see the training segments ...
    assert not seen & test_rows  # ... and never a test segment
    # leave-one-out: the held-out video never reaches its own models
    spy.clear()
    clean = {n: {"visual": vis[n].mean(0).astype(np.float64), "audio": aud[n][0].astype(np.float64)} for n in test}
    held = sorted(test)[0]
    fit_leave_one_out(clean, held, seed=0, gmm_config=GMMConfig(n_components=1, pca_dim=2))
    assert not _rows_of(spy) & _rows_of(list(clean[held].values()))
    assert _rows_of(spy) & _rows_of([clean[sorted(test)[1]]["visual"]])
