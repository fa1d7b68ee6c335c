"""Self-made perturbations and the degradation probe behind the ``learned`` weightings (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

import test_evaluate_support as sup
from robusta_bench.corruptions.audio import functional as AF
from robusta_bench.corruptions.base import CORRUPTIONS, benchmark_corruptions, corruption_names, get_corruption
from robusta_bench.corruptions.perturbations import AUDIO_PERTURBATIONS, VISUAL_PERTURBATIONS, training_variants
from robusta_bench.corruptions.runner import parse_types
from robusta_bench.detectors import reliability as rel_mod
from robusta_bench.detectors.gmm import GMMConfig
from robusta_bench.detectors.probe import DegradationProbe, fit_probe
from robusta_bench.detectors.reliability import ModalityReliability, fit_reliability, video_folds
from robusta_bench.detectors.weighting import WeightingConfig
from robusta_bench.evaluation.health import fit_store_reliability, modality_health
from robusta_bench.evaluation.training import load_perturbed, load_train_set
from robusta_bench.store.feature_store import FeatureStore, Variant

GCFG = GMMConfig(n_components=2, pca_dim=4)


def scene(t: int = 4, h: int = 72, w: int = 96) -> np.ndarray:
    """Smooth gradients plus a few hard edges: a frame with both flat areas and detail."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w * 200, y / h * 180, (x + y) / (h + w) * 220], -1)
    base[h // 3 : h // 2, w // 4 : w // 2] = (240, 30, 30)
    base[(x // 6) % 2 == 0] *= 0.8
    return np.stack([np.clip(base + 5 * k, 0, 255) for k in range(t)]).astype(np.uint8)


def test_perturbations_are_registered_apart_from_the_benchmark():
    names = set(VISUAL_PERTURBATIONS + AUDIO_PERTURBATIONS)
    assert names <= set(CORRUPTIONS.names())
    bench = set(benchmark_corruptions("visual") + benchmark_corruptions("audio"))
    assert len(bench) == 16 and not names & bench
    assert not names & set(corruption_names())  # left out by default ...
    assert names <= set(corruption_names(perturbations=True))  # ... listed on request
    assert not any(n.startswith("perturb_") for n in parse_types("all"))  # corrupt --type all
    assert parse_types("perturb_jpeg") == ["perturb_jpeg"]
    for n in names:
        cls = CORRUPTIONS.get(n)
        assert cls.perturbation and cls.rank is None and len(cls.levels) == 5
    assert training_variants("audio")[:2] == ["perturb_lowpass@2", "perturb_lowpass@4"]
    assert len(training_variants("visual")) == 12


@pytest.mark.parametrize("name", VISUAL_PERTURBATIONS)
def test_visual_perturbations_degrade_more_with_severity(name):
    frames = scene()
    c = get_corruption(name)
    out = {s: c.apply(frames, s, seed=11) for s in (1, 3, 5)}
    for s, o in out.items():
        assert o.shape == frames.shape and o.dtype == np.uint8
        assert np.array_equal(o, c.apply(frames, s, seed=11))  # deterministic per seed
    err = [np.abs(out[s].astype(float) - frames).mean() for s in (1, 3, 5)]
    assert 0 < err[0] < err[1] < err[2], err
    # chunked processing (start offsets) gives the frames of one call
    joined = np.concatenate([c.apply(frames[:2], 3, 11, start=0), c.apply(frames[2:], 3, 11, start=2)])
    assert np.array_equal(joined, out[3])


def test_visual_perturbations_do_what_they_say():
    frames = scene(2)
    blur = get_corruption("perturb_gaussian_blur").apply(frames, 5, 0)
    # the sharpest edge step is spread over several pixels
    assert np.abs(np.diff(blur.astype(float), axis=2)).max() < 0.5 * np.abs(np.diff(frames.astype(float), axis=2)).max()
    post = get_corruption("perturb_posterize").apply(frames, 4, 0)  # 2 bits: 4 levels per channel
    assert len(np.unique(post)) <= 4
    occ = get_corruption("perturb_occlusion").apply(frames, 5, 3)
    covered = np.all(occ == 128, axis=-1)
    assert covered.mean() == pytest.approx(0.5, abs=0.05) and np.array_equal(covered[0], covered[1])
    imp = get_corruption("perturb_impulse_noise").apply(frames, 5, 3)
    changed = np.any(imp != frames, axis=-1).mean()
    assert 0.12 < changed < 0.18  # 17 % of pixels set to 0 or 255 (a few already were)


def test_audio_perturbations_do_what_they_say():
    rate = 16000
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, 3 * rate))).astype(np.float32)
    lp = get_corruption("perturb_lowpass").apply(x, 3, 0, rate=rate)  # 1000 Hz
    assert AF.band_energy_db(lp, rate, 1500, 7000) < AF.band_energy_db(x, rate, 1500, 7000) - 50
    hp = get_corruption("perturb_highpass").apply(x, 3, 0, rate=rate)  # 1200 Hz
    assert AF.band_energy_db(hp, rate, 50, 800) < AF.band_energy_db(x, rate, 50, 800) - 40
    for name in ("perturb_brown_noise", "perturb_hum"):
        y = get_corruption(name).apply(x, 3, 5, rate=rate)  # 10 dB
        assert AF.measure_snr_db(x, y) == pytest.approx(10.0, abs=0.05), name
        assert np.array_equal(y, get_corruption(name).apply(x, 3, 5, rate=rate))
    hum = get_corruption("perturb_hum").apply(np.zeros_like(x) + x, 5, 1, rate=rate) - x
    assert AF.dominant_frequency_hz(hum[0], rate) == pytest.approx(50.0, abs=2.0)
    clip = get_corruption("perturb_clipping").apply(x, 5, 0, rate=rate)
    assert np.abs(clip).max() == pytest.approx(np.abs(x).max(), rel=1e-5)
    assert (np.isclose(np.abs(clip), np.abs(clip).max(), rtol=1e-4)).mean() > 0.5  # most samples pinned at the rail
    trem = get_corruption("perturb_tremolo").apply(np.ones((1, rate), np.float32) * 0.5, 5, 0, rate=rate)
    assert trem.min() < 1e-3 and trem.max() == pytest.approx(0.5, abs=1e-3)


def test_probe_is_a_balanced_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    clean = rng.normal(0, 1, (120, 6)) * [1, 2, 3, 1, 1, 1]
    bad = rng.normal(0, 1, (40, 6)) + [2.0, 0, 0, 0, 0, 0]
    probe = fit_probe(clean, bad, c=0.5, seed=0)
    x = np.concatenate([clean, bad])
    z = (x - x.mean(0)) / x.std(0)
    ref = LogisticRegression(C=0.5, class_weight="balanced", max_iter=5000).fit(z, np.r_[np.zeros(120), np.ones(40)])
    assert np.allclose(probe.logit(x), ref.decision_function(z), atol=1e-4)
    assert probe.logit(bad).mean() > probe.logit(clean).mean() + 2
    arrays, meta = probe.to_arrays("gmm.audio")
    back = DegradationProbe.from_arrays(arrays, meta, "gmm.audio")
    assert np.array_equal(back.logit(x), probe.logit(x))
    assert DegradationProbe.from_arrays({}, {}, "gmm.audio") is None
    with pytest.raises(ValueError, match="clean and perturbed"):
        fit_probe(clean, bad[:0])
    with pytest.raises(ValueError, match="6-d"):
        fit_probe(clean, bad[:, :4])


def _videos(n, seed, dim=8):
    rng = np.random.default_rng(seed)
    centre = np.abs(np.random.default_rng(7).normal(3, 1, dim))
    return [np.abs(centre + rng.normal(0, 1, (int(rng.integers(12, 20)), dim))) for _ in range(n)]


@pytest.fixture(scope="module")
def learned():
    videos = _videos(12, 0)
    # self-made perturbations in feature space: weaker activations (as blur or fog lower the I3D
    # feature norm on real clips), at two strengths
    perturbed = [[0.8 * v, 0.65 * v] for v in videos]
    rel = fit_reliability(videos, GCFG, WeightingConfig(unit="segment", folds=4), seed=2, perturbed=perturbed)
    return videos, perturbed, rel


def test_learned_options_are_calibrated_on_out_of_fold_clean_logits(learned):
    videos, perturbed, rel = learned
    assert rel.probe is not None and {"learned", "learned-gmm"} <= set(rel.calibration)
    cfg = WeightingConfig(unit="segment", folds=4)
    fold = video_folds(len(videos), 4, 2)
    oof = []
    for f in range(4):
        tr = [i for i in range(len(videos)) if fold[i] != f]
        p = fit_probe(np.concatenate([videos[i] for i in tr]), np.concatenate([q for i in tr for q in perturbed[i]]), cfg.probe_c, 2)
        oof += [p.logit(videos[i]) for i in range(len(videos)) if fold[i] == f]
    oof = np.concatenate(oof)
    cal = rel.calibration["learned"]
    eq5 = lambda s: 0.5 / (1 + np.exp(cal["c"] * (s + cal["x0"])))  # noqa: E731
    assert eq5(np.percentile(oof, 50)) == pytest.approx(0.45, abs=1e-9)
    assert eq5(np.percentile(oof, 99)) == pytest.approx(0.10, abs=1e-9)
    # the final probe is fitted on every training video; Eq. 5 of its logit is the option's weight
    probe_all = fit_probe(np.concatenate(videos), np.concatenate([q for p in perturbed for q in p]), cfg.probe_c, 2)
    assert np.allclose(rel.probe.logit(videos[0]), probe_all.logit(videos[0]))
    assert np.allclose(np.exp(rel.log_weight(videos[0], "learned")), eq5(probe_all.logit(videos[0])))


def test_learned_weight_falls_for_degraded_features(learned):
    videos, _, rel = learned
    fresh = _videos(6, 9)

    def weight(option, transform):
        return float(np.mean([np.exp(rel.log_weight(transform(v), option)).mean() for v in fresh]))

    same = lambda v: v  # noqa: E731
    weaker = lambda v: 0.5 * v  # noqa: E731 - further along the direction the probe learned
    assert weight("learned", same) > 0.3 and weight("learned-gmm", same) > 0.25
    assert weight("learned", weaker) < 0.05 and weight("learned-gmm", weaker) < 0.05
    # learned-gmm keeps the density's view of noise the probe never saw
    noisy = lambda v: v + np.random.default_rng(3).normal(0, 4, v.shape)  # noqa: E731
    assert weight("learned-gmm", noisy) < 0.05
    # and the model round-trips with its probe
    arrays, meta = rel.to_arrays("gmm.visual")
    back = ModalityReliability.from_arrays(arrays, meta, "gmm.visual")
    assert np.array_equal(back.log_weight(fresh[0], "learned-gmm"), rel.log_weight(fresh[0], "learned-gmm"))


def _with_perturbations(tmp_path):
    """The support dataset plus perturbation groups for EVERY video (train and test), recognisably offset."""
    data = sup.make_dataset(tmp_path, n_train=10, n_test=6)
    store = FeatureStore(data["store"])
    vis = dict(store.iter_videos("vis", Variant()))
    aud = dict(store.iter_videos("aud", Variant()))
    for ext, feats, mod, crops, dim in (("vis", vis, "visual", sup.VCROPS, sup.VDIM), ("aud", aud, "audio", 1, sup.ADIM)):
        name = "perturb_jpeg" if mod == "visual" else "perturb_hum"
        with store.writer(ext, Variant(name, 2, 0), spec_hash=ext[0], modality=mod, feature_dim=dim, n_crops=crops, shard_rows=60) as w:
            for n, f in feats.items():
                w.write(n, (0.3 * f + 2.0).astype(np.float32))
    return data, store, vis, aud


def _rows_of(arrays):
    return {np.round(r, 6).tobytes() for a in arrays for r in a}


def test_test_videos_never_reach_the_probe(tmp_path, monkeypatch):
    data, store, vis, aud = _with_perturbations(tmp_path)
    manifest = data["manifest_df"]
    test = set(data["names"])
    train = set(manifest.loc[manifest["split"] == "train", "name"])
    seen: list[np.ndarray] = []
    real = rel_mod.fit_probe

    def spy(clean, perturbed, *a, **k):
        seen.extend([np.asarray(clean, dtype=np.float64), np.asarray(perturbed, dtype=np.float64)])
        return real(clean, perturbed, *a, **k)

    monkeypatch.setattr(rel_mod, "fit_probe", spy)
    ts, _ = load_train_set(store, manifest, visual_extractor="vis", audio_extractor="aud")
    assert set(ts.perturbed) == {"visual", "audio"} and all(len(p) == 1 for p in ts.perturbed["visual"])
    models = fit_store_reliability(store, manifest, "vis", "aud", seed=0)
    assert all(m.probe is not None and "learned-gmm" in m.calibration for m in models.values())
    pert = load_perturbed(store, "vis", "visual", sorted(test | train))
    got = _rows_of(seen)
    assert got & _rows_of([pert[n][0] for n in train])  # the training videos' perturbations are read ...
    assert not got & _rows_of([pert[n][0] for n in test])  # ... never a test video's
    assert not got & _rows_of([vis[n].mean(0).astype(np.float64) for n in test])


def test_modality_health_reports_learned_options_only_when_fitted(tmp_path):
    data = sup.make_dataset(tmp_path / "plain", n_train=10, n_test=6)
    plain = modality_health(data["store"], data["manifest_df"], variants=["clean", f"{sup.VISUAL_CORR[0]}@3"])
    assert not plain.failures and "learned" not in set(plain.detection["weighting"])
    with pytest.raises(ValueError, match="perturbations"):
        modality_health(data["store"], data["manifest_df"], weightings=["learned"])
    data2, store, _, _ = _with_perturbations(tmp_path / "pert")
    res = modality_health(store, data2["manifest_df"], variants=["clean", f"{sup.VISUAL_CORR[0]}@3"], weightings=["learned", "gmm-paper"])
    assert not res.failures
    det = res.detection.set_index("weighting")
    assert {"learned", "gmm-paper"} <= set(det.index)


def test_robusta_learned_video_trains_only_with_perturbations(tmp_path):
    from robusta_bench.detectors.base import load_detector
    from robusta_bench.evaluation.training import build_for, train_config

    data = sup.make_dataset(tmp_path / "plain", n_train=10, n_test=6)
    plain, _ = load_train_set(FeatureStore(data["store"]), data["manifest_df"], visual_extractor="vis", audio_extractor="aud")
    det = build_for("robusta-learned-video", plain)
    assert det.weighting == "learned-gmm" and det.weighting_config.unit == "video"
    with pytest.raises(ValueError, match="--variants perturbations"):
        det.fit(plain, train_config(epochs=1), seed=0)  # refused before any training
    data2, store, _, _ = _with_perturbations(tmp_path / "pert")
    ts, _ = load_train_set(store, data2["manifest_df"], visual_extractor="vis", audio_extractor="aud")
    det = build_for("robusta-learned-video", ts)
    det.fit(ts, train_config(epochs=2), seed=0)
    assert all(det.reliability[m].probe is not None for m in ("visual", "audio"))
    det.save(tmp_path / "rl.safetensors")
    back = load_detector(tmp_path / "rl.safetensors")
    vis = next(iter(store.iter_videos("vis", Variant(), names=[data2["names"][0]])))[1]
    aud = next(iter(store.iter_videos("aud", Variant(), names=[data2["names"][0]])))[1][0]
    a, b = det.score(vis, aud), back.score(vis, aud)
    assert np.array_equal(a.w_visual, b.w_visual)
    assert len(np.unique(a.w_visual)) == 1  # one weight per video (unit video)
