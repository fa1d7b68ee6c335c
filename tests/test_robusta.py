"""RobustA: joint projection + modality-agnostic HL-Net training, GMM-weighted late fusion, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robusta_bench.detectors.base import TrainSet, build_detector, load_detector
from robusta_bench.detectors.robusta import RobustADetector
from robusta_bench.detectors.train import TrainConfig
from test_hlnet import snippet_auc, synthetic_trainset

torch.set_num_threads(1)
FAST = dict(epochs=20, lr=1e-3, batch_size=8, milestones=(100,))
GMM = {"n_components": 3}


@pytest.fixture(scope="module")
def data():
    return synthetic_trainset(n=40, seed=0), synthetic_trainset(n=20, seed=7)


@pytest.fixture(scope="module")
def trained(data):
    (ts, _), _ = data
    det = build_detector("robusta", visual_dim=24, audio_dim=8, gmm=GMM)
    calls = []
    hook = det.net.projection.register_forward_hook(lambda m, inp, out: calls.append(int(inp[0].shape[0])))
    tlog = det.fit(ts, TrainConfig(**FAST), seed=3)
    hook.remove()
    return det, tlog, calls


def test_training_uses_both_modalities_and_separates(data, trained):
    det, tlog, calls = trained
    (ts, _), (test_ts, test_bursts) = data
    assert tlog.samples == 80 and tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    # Eq. 2: each of the 80 samples per epoch is visual or projected audio, 50/50 at random (20 epochs:
    # long enough to be past the early phase where a seed may still rank snippets backwards)
    n_audio = sum(calls)
    assert 0.35 * 80 * FAST["epochs"] < n_audio < 0.65 * 80 * FAST["epochs"]
    # one detector scores either modality alone
    assert snippet_auc(det, test_ts, test_bursts, audio=False) > 0.85
    assert snippet_auc(det, test_ts, test_bursts, visual=False) > 0.85
    assert snippet_auc(det, test_ts, test_bursts) > 0.85


def test_fusion_rules(data, trained):
    det, _, _ = trained
    (ts, _), _ = data
    v, a = ts.visual[3], ts.audio[3]
    t = v.shape[1]
    sc = det.scorer()
    vs, as_ = sc.visual_state(v, t), sc.audio_state(a, t)
    fused = sc.combine(vs, as_)
    wv = fused.w_visual
    assert wv.shape == (t,) and np.all((wv > 0) & (wv < 1))
    lam_v, lam_a = fused.extras["visual_lambda"], fused.extras["audio_lambda"]
    assert np.all(lam_v <= 0.5) and np.all(lam_a <= 0.5)
    assert np.allclose(wv, lam_v / (lam_v + lam_a))  # Eq. 5 weights normalised to sum to 1
    v_only, a_only = sc.combine(vs, None), sc.combine(None, as_)
    assert np.all(v_only.w_visual == 1) and np.all(a_only.w_visual == 0)
    assert np.allclose(fused.offline, wv * v_only.offline + (1 - wv) * a_only.offline)
    assert np.allclose(fused.online, wv * v_only.online + (1 - wv) * a_only.online)
    avg = sc.combine(vs, as_, "average")
    assert np.allclose(avg.offline, 0.5 * (v_only.offline + a_only.offline)) and np.all(avg.w_visual == 0.5)
    assert np.allclose(det.score(v, a).offline, fused.offline)
    assert np.array_equal(det.score(v, None).offline, v_only.offline)
    with pytest.raises(ValueError, match="both modalities are missing"):
        det.score(None, None)
    with pytest.raises(ValueError, match="fusion"):
        sc.combine(vs, as_, "max")


@pytest.mark.parametrize("pass_rows", [None, 3])
def test_batched_states_equal_one_by_one(data, trained, pass_rows, monkeypatch):
    """visual_states / audio_states (one network pass per video) == visual_state / audio_state per input."""
    det, _, _ = trained
    (ts, _), _ = data
    sc = det.scorer()
    t = ts.visual[2].shape[1]
    if pass_rows:  # long-video path: several network passes of at most 3 sequences
        import robusta_bench.detectors.robusta as rb

        monkeypatch.setattr(rb, "rows_per_pass", lambda length: pass_rows)
    vis = {"a": ts.visual[2], "b": ts.visual[2][:, ::-1] * 1.5, "gone": None}
    aud = {"a": ts.audio[2], "b": ts.audio[2] + 0.5}
    vmany, amany = sc.visual_states(vis, t), sc.audio_states(aud, t)
    assert vmany["gone"] is None
    for k in ("a", "b"):
        for many, one in ((vmany[k], sc.visual_state(vis[k], t)), (amany[k], sc.audio_state(aud[k], t))):
            for field in ("off", "on", "nll", "logw"):
                assert np.allclose(many[field], one[field], rtol=1e-5, atol=1e-6), field


def test_corrupted_modality_loses_weight(data, trained):
    """A visual input pushed off the clean distribution gets a much smaller fusion weight."""
    det, _, _ = trained
    (ts, _), _ = data
    clean, corrupted = [], []
    for v, a in zip(ts.visual[:10], ts.audio[:10]):
        clean.append(det.score(v, a).w_visual.mean())
        corrupted.append(det.score(v * 3.0 + 2.0, a).w_visual.mean())
    assert np.mean(clean) > 0.4 and np.mean(corrupted) < 0.1


def test_save_load_round_trip(data, trained, tmp_path):
    det, _, _ = trained
    (ts, _), _ = data
    path = det.save(tmp_path / "robusta.safetensors")
    back = load_detector(path)
    assert isinstance(back, RobustADetector) and back.options["fusion"] == "gmm"
    assert back.gmm_config.n_components == 3 and back.train_info["seed"] == 3
    for v, a in zip(ts.visual[:3], ts.audio[:3]):
        for fusion in ("gmm", "average"):
            s1, s2 = det.score(v, a, fusion), back.score(v, a, fusion)
            assert np.array_equal(s1.offline, s2.offline) and np.array_equal(s1.online, s2.online)
            assert np.array_equal(s1.w_visual, s2.w_visual)
    assert back.gmm["visual"].c == det.gmm["visual"].c and back.gmm["audio"].x0 == det.gmm["audio"].x0


def test_deterministic_for_a_seed(data, trained):
    det, tlog, _ = trained
    (ts, _), _ = data
    again = build_detector("robusta", visual_dim=24, audio_dim=8, gmm=GMM)
    assert again.fit(ts, TrainConfig(**FAST), seed=3).epoch_loss == tlog.epoch_loss
    for (k, a), b in zip(det.net.state_dict().items(), again.net.state_dict().values()):
        assert torch.equal(a, b), k
    s1, s2 = det.score(ts.visual[0], ts.audio[0]), again.score(ts.visual[0], ts.audio[0])
    assert np.array_equal(s1.offline, s2.offline) and np.array_equal(s1.w_visual, s2.w_visual)


def test_zero_padding_alignment():
    ts, bursts = synthetic_trainset(n=20, seed=1)
    det = build_detector("robusta", visual_dim=24, audio_dim=8, align="pad", fusion="average", gmm=GMM)
    assert det.net.projection is None
    a = torch.rand(1, 5, 8)
    emb = det.net.embed_audio(a)
    assert emb.shape == (1, 5, 24) and torch.equal(emb[..., :8], a) and torch.all(emb[..., 8:] == 0)
    tlog = det.fit(ts, TrainConfig(**{**FAST, "epochs": 2}), seed=0)
    assert len(tlog.epoch_loss) == 2
    out = det.score(ts.visual[0], ts.audio[0])
    assert np.all(out.w_visual == 0.5)  # the detector's own fusion rule is "average"
    with pytest.raises(ValueError, match="narrower than the visual ones.*impossible"):
        build_detector("robusta", visual_dim=8, audio_dim=24, align="pad")


def test_pad_ablation_refuses_audio_as_wide_as_visual():
    """YAMNet (1024-d) with I3D (1024-d): padding appends nothing, so robusta-pad is refused, saying why."""
    with pytest.raises(ValueError, match="1024-d audio and 1024-d visual.*appends nothing"):
        build_detector("robusta", visual_dim=1024, audio_dim=1024, align="pad")
    assert build_detector("robusta", visual_dim=1024, audio_dim=1024).net.projection is not None  # projection is fine


def test_projection_ignores_padded_steps():
    det = build_detector("robusta", visual_dim=24, audio_dim=8)
    a = torch.zeros(2, 6, 8)
    a[0] = 1.0
    a[1, :3] = 1.0
    emb = det.net.embed_audio(a, torch.tensor([6, 3]))
    assert torch.all(emb[1, 3:] == 0) and torch.any(emb[1, :3] != 0)  # the projection bias is not added to padding


def test_rejects_bad_options_and_inputs(data):
    (ts, _), _ = data
    with pytest.raises(ValueError, match="fusion"):
        build_detector("robusta", fusion="max")
    with pytest.raises(ValueError, match="align"):
        build_detector("robusta", align="crop")
    with pytest.raises(ValueError, match="needs audio"):
        build_detector("robusta", visual_dim=24, audio_dim=8).fit(TrainSet(ts.names, ts.labels, ts.visual), TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="24/8-d"):
        build_detector("robusta", visual_dim=32, audio_dim=8).fit(ts, TrainConfig(epochs=1))


@pytest.mark.parametrize("align", ["project", "pad"])
def test_audio_states_in_audio_space_equal_the_aligned_forward(align):
    """audio_states computes the first layer and cosine similarity in the audio space; the scores equal the
    detector run on the materialised aligned audio (projection or zero padding), for both alignments."""
    import torch

    torch.manual_seed(3)
    det = RobustADetector(visual_dim=24, audio_dim=6, align=align)
    det.net.reset_parameters()
    with torch.no_grad():
        if det.net.projection is not None:
            det.net.projection.bias.normal_()  # a non-zero offset exercises the affine terms
    rng = np.random.default_rng(4)
    aud = {"x": rng.standard_normal((30, 6)).astype(np.float32), "y": rng.random((30, 6)).astype(np.float32) * 3}
    sc = det.scorer()
    many = sc.audio_states(aud, 30)
    for k, a in aud.items():
        with torch.no_grad():
            off, on = det.net.detector(det.net.embed_audio(torch.as_tensor(a)[None]), None)
        np.testing.assert_allclose(many[k]["off"], torch.sigmoid(off[0, :, 0]).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(many[k]["on"], torch.sigmoid(on[0, :, 0]).numpy(), rtol=1e-5, atol=1e-6)
