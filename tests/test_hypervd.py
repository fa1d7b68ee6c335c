"""HyperVD: the released checkpoint loads safely and strictly, parity with the official outputs, training."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from conftest import FIXTURES, XD, need
from robusta_bench.detectors.base import TrainSet, build_detector, load_detector
from robusta_bench.detectors.hypervd import HyperVDDetector, HyperVDNet, video_probabilities
from robusta_bench.detectors.train import TrainConfig
from test_hlnet import snippet_auc, synthetic_trainset

torch.set_num_threads(1)
CKPT = XD / "checkpoints" / "hypervd_xdviolence_mix2.pkl"
CASES = "abcde"
#: float32 tolerances of the fixture README (official op order): cases a-d, ill-conditioned inputs
LOOSE = {"proj_x": 1e-4, "htrgcn_out": 1e-3, "adj": 1e-2, "hfsgcn_out": 5e-2, "frame_prob": 0.25}
#: case e (moderate logits)
CASE_E = {"frame_prob": 2e-3, "test_pred": 1e-4, "mil_logits": 1e-5, "adj": 5e-4}


@pytest.fixture(scope="module")
def det():
    return HyperVDDetector.from_official_checkpoint(need(CKPT))


@pytest.fixture(scope="module")
def z():
    return np.load(need(FIXTURES / "hypervd_official_outputs.npz"))


def run(net: HyperVDNet, z, case: str, dtype=torch.float32):
    x = torch.from_numpy(z[f"{case}_inputs"]).to(dtype)
    seq_len = torch.from_numpy(z["d_seq_len"]) if case == "d" else None
    with torch.no_grad():
        out = net.intermediates(x, seq_len)
        mil, frame_prob = net(x, seq_len)
    out["mil_logits"] = mil
    out["test_pred"] = torch.mean(torch.sigmoid(frame_prob), 0)
    return {k: v.numpy() for k, v in out.items()}


def maxdiff(a, b) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


@pytest.mark.parametrize("case", CASES)
def test_float32_parity(det, z, case):
    out = run(det.net, z, case)
    assert maxdiff(out["disadj"], z[f"{case}_disadj"]) <= 1e-6
    tol = CASE_E if case == "e" else LOOSE
    for key, t in tol.items():
        assert maxdiff(out[key], z[f"{case}_{key}"]) <= t, key
    if case != "e":
        assert maxdiff(out["proj_x"], z[f"{case}_proj_x"]) <= 1e-4
    if case == "c":  # batch of one: mil_logits is the per-snippet sigmoid (official squeeze quirk)
        assert out["mil_logits"].shape == (33,)
    if case == "d":  # sign and ranking of the test prediction
        ref = z["d_test_pred"][:, 0]
        assert np.array_equal(np.argsort(out["test_pred"][:, 0], kind="stable"), np.argsort(ref, kind="stable"))
        assert np.array_equal(np.sign(out["test_pred"] - 0.5), np.sign(z["d_test_pred"] - 0.5))


@pytest.mark.parametrize("case", CASES)
def test_float64_parity(det, z, case):
    net64 = HyperVDDetector.from_official_checkpoint(CKPT).net.double()
    out = run(net64, z, case, torch.float64)
    assert maxdiff(out["frame_prob"], z[f"f64_{case}_frame_prob"]) <= 1e-5
    # README: 1e-7; measured 1.05e-7 on case a, within the float64 reference's own thread noise (2.2e-7)
    assert maxdiff(out["adj"], z[f"f64_{case}_adj"]) <= 2e-7
    assert maxdiff(out["mil_logits"], z[f"f64_{case}_mil_logits"]) <= 1e-9


def test_detector_scores_are_the_official_test_prediction(det, z):
    x = z["e_inputs"]
    s = det.score(x[:, :, :1024], x[0, :, 1024:])  # 5 crops, shared audio (MIX2 layout)
    assert maxdiff(s.offline, z["e_test_pred"][:, 0]) <= 1e-4
    assert np.array_equal(s.offline, s.online)
    assert det.score(x[:, :, :1024], None).offline.shape == (24,)  # zero-shot: audio missing


def test_checkpoint_is_read_without_unpickling_code(tmp_path):
    """A pickle naming a callable is refused before anything runs."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="not a plain PyTorch state dict"):
        HyperVDDetector.from_official_checkpoint(bad)


def test_strict_loading_and_wrong_files(tmp_path):
    sd = torch.load(need(CKPT), map_location="cpu", weights_only=True)
    assert len(sd) == 27
    missing = {k: v for k, v in sd.items() if k != "HyperCLS.bias"}
    path = tmp_path / "short.pkl"
    torch.save(missing, path)
    with pytest.raises(RuntimeError, match="HyperCLS.bias"):
        HyperVDDetector.from_official_checkpoint(path)
    torch.save({"module." + k: v for k, v in sd.items()}, path)  # DataParallel prefix, removed as infer.py does
    assert HyperVDDetector.from_official_checkpoint(path).audio_dim == 128
    torch.save({"x": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not a HyperVD state_dict"):
        HyperVDDetector.from_official_checkpoint(path)


def test_video_probabilities_follow_the_official_clas():
    g = torch.Generator().manual_seed(0)
    fp = torch.randn(3, 20, 1, generator=g)
    assert torch.allclose(video_probabilities(fp), torch.sigmoid(fp[..., 0].mean(1)))
    seq = torch.tensor([20, 17, 3])
    ref = torch.stack([torch.sigmoid(torch.topk(fp[i, : n, 0], n // 16 + 1).values.mean()) for i, n in enumerate(seq.tolist())])
    assert torch.allclose(video_probabilities(fp, seq), ref, atol=1e-6)
    assert video_probabilities(fp[:1]).shape == (20,)


FAST = dict(epochs=15, lr=1e-3, batch_size=8, schedule="none")


@pytest.fixture(scope="module")
def trained():
    ts, bursts = synthetic_trainset()
    det = build_detector("hypervd", visual_dim=24, audio_dim=8)
    tlog = det.fit(ts, TrainConfig(**FAST), seed=1)
    return det, ts, bursts, tlog


def test_training_reduces_loss_and_separates(trained):
    det, ts, bursts, tlog = trained
    assert tlog.samples == 80 and len(tlog.epoch_loss) == 15
    assert tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    test_ts, test_bursts = synthetic_trainset(n=20, seed=7)
    assert snippet_auc(det, test_ts, test_bursts) > 0.8


def test_training_is_deterministic_and_saves(trained, tmp_path):
    det, ts, _, tlog = trained
    again = build_detector("hypervd", visual_dim=24, audio_dim=8)
    assert again.fit(ts, TrainConfig(**FAST), seed=1).epoch_loss == tlog.epoch_loss
    back = load_detector(det.save(tmp_path / "hypervd.safetensors"))
    assert isinstance(back, HyperVDDetector) and back.audio_dim == 8
    v, a = ts.visual[5], ts.audio[5]
    assert np.array_equal(det.score(v, a).offline, back.score(v, a).offline)


def test_fit_rejects_wrong_dimensions():
    ts, _ = synthetic_trainset(n=4)
    with pytest.raises(ValueError, match="expected 32/8"):
        build_detector("hypervd", visual_dim=32, audio_dim=8).fit(ts, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="needs audio"):
        build_detector("hypervd", visual_dim=24, audio_dim=8).fit(TrainSet(ts.names, ts.labels, ts.visual), TrainConfig(epochs=1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(det, z):
    x = z["e_inputs"]
    ref = det.score(x[:, :, :1024], x[0, :, 1024:]).offline
    sc = det.scorer("cuda")
    got = sc.combine(sc.visual_state(x[:, :, :1024], 24), sc.audio_state(x[0, :, 1024:], 24)).offline
    det.net.to("cpu")
    assert np.abs(got - ref).max() < 1e-3
