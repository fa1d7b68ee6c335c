"""RTFM: parity with the official model (fixture weights by the README's numpy rule), loss, training, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import FIXTURES, need
from robusta_bench.detectors.base import TrainSet, build_detector, detector_names, load_detector
from robusta_bench.detectors.rtfm import RTFMDetector, RTFMNet, rtfm_loss, segment_average
from robusta_bench.detectors.train import TrainConfig
from test_hlnet import snippet_auc, synthetic_trainset

torch.set_num_threads(1)
BN_KEYS = ("conv_1.2", "conv_2.2", "conv_3.2", "conv_5.2", "non_local.W.1")
#: the fixture's model batch size per case (the size of the normal half)
CASES = {"a": 32, "b": 32, "c": 32, "d": 2}


def fixture_state() -> dict[str, torch.Tensor]:
    """The official state_dict filled by the fixture README's rule (seeded per tensor index)."""
    keys = json.loads(need(FIXTURES / "rtfm_state_keys.json").read_text())
    state = {}
    for i, (key, shape, dtype) in enumerate(keys):
        rng = np.random.default_rng([20261206, i])
        if dtype == "torch.int64":
            state[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        if any(b in key for b in BN_KEYS):
            if key.endswith("running_var"):
                arr = 0.5 + rng.random(shape)
            elif key.endswith("weight"):
                arr = 1 + 0.2 * rng.standard_normal(shape)
            else:
                arr = 0.1 * rng.standard_normal(shape)
        elif key.endswith("weight"):
            fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
            rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
            bound = np.sqrt(6 / (fan_in + fan_out * rf))
            arr = rng.uniform(-bound, bound, shape)
        else:
            arr = 0.01 * rng.standard_normal(shape)
        state[key] = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    return state


@pytest.fixture(scope="module")
def official():
    return np.load(need(FIXTURES / "rtfm_official_outputs.npz")), fixture_state()


@pytest.mark.parametrize("case", sorted(CASES))
def test_official_parity(official, case):
    z, state = official
    net = RTFMNet(2048, batch_size=CASES[case])
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(z[f"{case}_inputs"]))
    assert np.abs(out.scores.numpy() - z[f"{case}_scores"]).max() <= 1e-5
    assert np.abs(out.score_abnormal.numpy() - z[f"{case}_score_abnormal"]).max() <= 1e-5
    assert np.abs(out.score_normal.numpy() - z[f"{case}_score_normal"]).max() <= 1e-5
    assert np.abs(out.feat_select_abn.numpy() - z[f"{case}_feat_select_abn"]).max() <= 1e-4
    assert np.abs(out.feat_magnitudes.numpy() - z[f"{case}_feat_magnitudes"]).max() <= 2e-4
    topk = torch.topk(out.feat_magnitudes, 3, dim=1)[1].numpy()
    assert np.array_equal(topk, z[f"{case}_topk_idx"])
    if case == "d":
        assert np.abs(out.feat_select_normal.numpy() - z["d_feat_select_normal"]).max() <= 1e-4
        assert np.array_equal(out.idx_normal.numpy(), z["d_topk_idx"][:2])
        assert np.array_equal(out.idx_abn.numpy(), z["d_topk_idx"][2:])
    else:  # inference layout: both halves are the one video
        assert torch.equal(out.feat_select_abn, out.feat_select_normal)
        test_pred = torch.mean(torch.squeeze(out.scores, 1), 0).numpy()
        assert np.abs(test_pred - z[f"{case}_test_pred"]).max() <= 1e-5


def test_detector_scores_are_the_official_test_prediction(official):
    z, state = official
    det = RTFMDetector(visual_dim=2048, audio_dim=0)
    det.net.load_state_dict(state, strict=True)
    s = det.score(z["b_inputs"][0], None)
    assert np.abs(s.offline - z["b_test_pred"][:, 0]).max() <= 1e-5
    assert np.array_equal(s.offline, s.online)


def test_strict_loading_rejects_missing_keys(official):
    _, state = official
    short = {k: v for k, v in state.items() if k != "Aggregate.non_local.W.1.running_var"}
    with pytest.raises(RuntimeError, match="non_local.W.1.running_var"):
        RTFMNet(2048).load_state_dict(short, strict=True)


def test_input_width_is_a_parameter():
    for width in (1024, 2048 + 128):
        net = RTFMNet(width, batch_size=1).eval()
        with torch.no_grad():
            out = net(torch.rand(1, 3, 7, width))
        assert out.scores.shape == (1, 7, 1) and out.feat_select_abn.shape == (3, 3, width)
        assert net.Aggregate.conv_5[0].out_channels == width


def test_segment_average_matches_the_official_rule():
    feat = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    out = segment_average(feat, 4)  # bounds linspace(0, 10, 5) -> 0, 2, 5, 7, 10
    assert np.allclose(out[:, 0], [0.5, 3.0, 5.5, 8.0])
    short = segment_average(feat[:3], 5)  # bounds 0, 0, 1, 1, 2, 3: empty segments copy their start
    assert np.allclose(short[:, 0], [0, 0, 1, 1, 2])


def test_loss_terms_by_hand():
    g = torch.Generator().manual_seed(0)
    n, k, f = 2, 3, 5
    net = RTFMNet(f, batch_size=n)
    with torch.no_grad():
        out = net(torch.rand(2 * n, 3, 8, f, generator=g), n_normal=n)
        total, parts = rtfm_loss(out, n)
    s = torch.cat((out.score_normal, out.score_abnormal)).squeeze()
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    cls = -(y * s.log() + (1 - y) * (1 - s).log()).mean()
    mag_a = out.feat_select_abn.mean(1).norm(dim=1)
    mag_n = out.feat_select_normal.mean(1).norm(dim=1)
    rtfm = (((100 - mag_a).abs() + mag_n) ** 2).mean()
    abn = out.scores[n:].reshape(-1)
    smooth = 8e-4 * ((abn[1:] - abn[:-1]) ** 2).sum()  # the last step is compared with itself
    sparse = 8e-3 * abn.pow(2).sum().sqrt()
    assert parts["cls"] == pytest.approx(float(cls), rel=1e-5)
    assert parts["magnitude"] == pytest.approx(float(rtfm), rel=1e-5)
    assert float(total) == pytest.approx(float(cls + 1e-4 * rtfm + smooth + sparse), rel=1e-5)
    assert out.feat_select_abn.shape == (3 * n, k, f)


FAST = dict(epochs=6, lr=1e-3, batch_size=8, schedule="none")


@pytest.fixture(scope="module")
def trained():
    ts, bursts = synthetic_trainset()
    det = build_detector("rtfm", visual_dim=24, audio_dim=8)
    tlog = det.fit(ts, TrainConfig(**FAST), seed=1)
    return det, ts, bursts, tlog


def test_training_reduces_loss_and_separates(trained):
    det, ts, bursts, tlog = trained
    assert tlog.samples == 20 and len(tlog.epoch_loss) == 6  # one sample per abnormal video
    assert tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    assert set(tlog.parts) == {"cls", "magnitude", "smooth", "sparse"}
    test_ts, test_bursts = synthetic_trainset(n=20, seed=7)
    assert snippet_auc(det, test_ts, test_bursts) > 0.8


def test_training_is_deterministic_and_saves(trained, tmp_path):
    det, ts, _, tlog = trained
    again = build_detector("rtfm", visual_dim=24, audio_dim=8)
    assert again.fit(ts, TrainConfig(**FAST), seed=1).epoch_loss == tlog.epoch_loss
    back = load_detector(det.save(tmp_path / "rtfm.safetensors"))
    assert isinstance(back, RTFMDetector) and back.visual_dim == 24 and back.audio_dim == 8
    v, a = ts.visual[3], ts.audio[3]
    assert np.array_equal(det.score(v, a).offline, back.score(v, a).offline)
    assert det.score(v, None).offline.shape == (v.shape[1],)  # audio missing: zero block (zero-shot)


def test_fit_needs_both_classes_and_right_dims():
    ts, _ = synthetic_trainset(n=6)
    only_normal = TrainSet(ts.names, np.zeros(6), ts.visual, ts.audio)
    with pytest.raises(ValueError, match="normal and abnormal"):
        build_detector("rtfm", visual_dim=24, audio_dim=8).fit(only_normal, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="24-d, expected 2048"):
        build_detector("rtfm", visual_dim=2048, audio_dim=8).fit(ts, TrainConfig(epochs=1))


def test_registered():
    assert {"rtfm", "hypervd"} <= set(detector_names())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(trained):
    det, ts, _, _ = trained
    v, a = ts.visual[1], ts.audio[1]
    cpu = det.scorer("cpu")
    ref = cpu.combine(cpu.visual_state(v, v.shape[1]), cpu.audio_state(a, v.shape[1])).offline
    gpu = det.scorer("cuda")
    got = gpu.combine(gpu.visual_state(v, v.shape[1]), gpu.audio_state(a, v.shape[1])).offline
    det.net.to("cpu")
    assert np.abs(got - ref).max() < 1e-4
