"""HL-Net: parity with the official implementation, strict loading, MIL loss, training, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import XD, need
from robusta_bench.detectors.base import TrainSet, build_detector, get_detector_class, load_detector
from robusta_bench.detectors.checkpoint import CheckpointError
from robusta_bench.detectors.graph import _masked_softmax
from robusta_bench.detectors.hlnet import HLNet, HLNetDetector, load_official_checkpoint
from robusta_bench.detectors.mil import distillation_loss, hlnet_loss, topk_mil_loss, uniform_indices, video_logits
from robusta_bench.detectors.train import TrainConfig

torch.set_num_threads(1)
CKPT = XD / "checkpoints" / "hlnet_xdviolence_mix2.pt"


@pytest.fixture(scope="module")
def official():
    return load_official_checkpoint(str(need(CKPT)))


@pytest.fixture(scope="module")
def fixture_outputs():
    from conftest import FIXTURES

    return np.load(need(FIXTURES / "hlnet_official_outputs.npz"))


# --------------------------------------------------------------------------- parity
@pytest.mark.parametrize("case", ["a", "b", "c"])
def test_official_parity(official, fixture_outputs, case):
    x = torch.from_numpy(fixture_outputs[f"{case}_inputs"])
    seq_len = torch.from_numpy(fixture_outputs["c_seq_len"]) if case == "c" else None
    with torch.no_grad():
        off, on = official(x, seq_len)
    assert off.shape == fixture_outputs[f"{case}_logits"].shape
    assert np.abs(off.numpy() - fixture_outputs[f"{case}_logits"]).max() <= 1e-5
    assert np.abs(on.numpy() - fixture_outputs[f"{case}_logits_online"]).max() <= 1e-5


def test_padded_batch_leaks_like_official(official, fixture_outputs):
    """Case C: the padded sample's valid steps differ from a trimmed run (offline), not online (causal)."""
    x = torch.from_numpy(fixture_outputs["c_inputs"])
    with torch.no_grad():
        off_t, on_t = official(x[1:2, :25], None)
    off_c, on_c = fixture_outputs["c_logits"][1, :25], fixture_outputs["c_logits_online"][1, :25]
    assert np.abs(off_t.numpy()[0] - off_c).max() > 0.1
    assert np.abs(on_t.numpy()[0] - on_c).max() < 1e-5


def test_strict_loading_rejects_wrong_keys(tmp_path):
    state = torch.load(str(need(CKPT)), map_location="cpu", weights_only=True)
    assert len(state) == 31
    bad = dict(state)
    bad["classifier.weightX"] = bad.pop("classifier.weight")
    path = tmp_path / "bad.pt"
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="classifier.weight"):
        load_official_checkpoint(str(path))
    with pytest.raises(RuntimeError, match="classifier.weight"):
        HLNetDetector.from_official_checkpoint(str(path))
    short = {k: v for k, v in state.items() if k != "gc3.residual.weight"}
    torch.save(short, path)
    with pytest.raises(RuntimeError, match="gc3.residual.weight"):
        load_official_checkpoint(str(path))


def test_masked_softmax_matches_per_sample_loop():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 9, 9, generator=g)
    seq_len = torch.tensor([9, 4, 1])
    got = _masked_softmax(a, seq_len)
    for i, n in enumerate(seq_len.tolist()):
        ref = torch.zeros(9, 9)
        ref[:n, :n] = torch.softmax(a[i, :n, :n], dim=-1)
        assert torch.allclose(got[i], ref, atol=1e-7)


# --------------------------------------------------------------------------- scoring
def test_scorer_equals_forward_on_concatenation(official):
    """The split scorer (visual part + audio part) equals the network on concat(crop, audio)."""
    det = HLNetDetector.from_official_checkpoint(str(need(CKPT)))
    rng = np.random.default_rng(5)
    visual = np.maximum(rng.normal(0, 0.5, (5, 23, 1024)), 0).astype(np.float32)
    audio = np.maximum(rng.normal(0, 0.5, (23, 128)), 0).astype(np.float32)

    def reference(v, a):
        x = np.concatenate([v, np.broadcast_to(a, (v.shape[0],) + a.shape)], axis=2)
        with torch.no_grad():
            off, on = official(torch.from_numpy(x))
        return torch.sigmoid(off[..., 0]).mean(0).numpy(), torch.sigmoid(on[..., 0]).mean(0).numpy()

    out = det.score(visual, audio)
    ref_off, ref_on = reference(visual, audio)
    assert out.offline.shape == (23,) and out.w_visual is None
    assert np.abs(out.offline - ref_off).max() < 1e-5
    assert np.abs(out.online - ref_on).max() < 1e-5
    # missing audio = a zero audio block; missing visual = a zero visual block (one "crop")
    ref_off, _ = reference(visual, np.zeros_like(audio))
    assert np.abs(det.score(visual, None).offline - ref_off).max() < 1e-5
    ref_off, _ = reference(np.zeros((1, 23, 1024), np.float32), audio)
    assert np.abs(det.score(None, audio).offline - ref_off).max() < 1e-5
    with pytest.raises(ValueError, match="both modalities"):
        det.score(None, None)
    with pytest.raises(ValueError, match="1024"):
        det.score(visual[..., :1000], audio)
    with pytest.raises(ValueError, match="concatenation"):
        sc = det.scorer()
        sc.combine(sc.visual_state(visual, 23), sc.audio_state(audio, 23), "gmm")


@pytest.fixture(params=["one pass", "small passes"])
def pass_size(request, monkeypatch):
    """Run a test with the default inference pass size and with passes of 3 sequences (long-video path)."""
    import robusta_bench.detectors.inference as hl

    if request.param == "small passes":
        monkeypatch.setattr(hl, "PASS_BYTES", 3 * 4 * 19 * (6 * 19 + 2048))
    return request.param


def test_batched_scoring_equals_one_by_one(official, pass_size):
    """visual_states / combine_many (one pass for all inputs of a video) == visual_state / combine per input."""
    det = HLNetDetector.from_official_checkpoint(str(need(CKPT)))
    sc = det.scorer()
    rng = np.random.default_rng(6)
    t = 19
    vis = {k: np.maximum(rng.normal(0, 0.5, (5, t + 3, 1024)), 0).astype(np.float32) for k in ("clean", "fog")}
    vis["missing"] = None
    aud = {k: np.maximum(rng.normal(0, 0.5, (t, 128)), 0).astype(np.float32) for k in ("clean", "babble")}
    vstates = sc.visual_states(vis, t)
    assert set(vstates) == set(vis) and vstates["missing"]["pre"] is None
    pairs = [(vk, ak) for vk in vis for ak in aud] + [("clean", "none")]
    astates = {k: sc.audio_state(a, t) for k, a in aud.items()} | {"none": sc.audio_state(None, t)}
    many = sc.combine_many([(vstates[v], astates[a]) for v, a in pairs])
    assert len(many) == len(pairs)
    for (v, a), got in zip(pairs, many):
        one = sc.combine(sc.visual_state(vis[v], t), sc.audio_state(aud.get(a), t))
        assert got.offline.shape == (t,)
        assert np.abs(got.offline - one.offline).max() < 1e-6 and np.abs(got.online - one.online).max() < 1e-6


@pytest.mark.parametrize("cin,cout,k,pad,pads", [(16, 8, 1, 0, None), (16, 8, 5, 2, None), (8, 1, 5, 0, (4, 0))])
def test_conv_time_equals_conv1d(cin, cout, k, pad, pads):
    from robusta_bench.detectors.hlnet import conv_time

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(cin, cout, k, padding=pad)
    x = torch.randn(3, 11, cin)
    xt = x.permute(0, 2, 1)
    ref = conv(torch.nn.functional.pad(xt, pads) if pads else xt).permute(0, 2, 1)
    got = conv_time(x, conv, pads)
    assert got.shape == ref.shape and torch.allclose(got, ref, atol=1e-6)


# --------------------------------------------------------------------------- MIL loss
def test_mil_and_distillation_by_hand():
    logits_p = torch.tensor([[0.5, -1.0, 2.0, 0.0] + [-3.0] * 16, [1.0, -2.0, 0.25, 3.0, -0.5] + [9.0] * 15])
    logits_s = torch.tensor([[0.1 * i for i in range(20)], [-0.2 * i for i in range(20)]])
    seq_len = torch.tensor([20, 4])
    labels = torch.tensor([1.0, 0.0])
    # video 0: 20 steps -> k = 2: top-2 logits 2.0 and 0.5; video 1: 4 valid steps -> k = 1: 3.0
    # (the 9.0 values of video 1 are padding and must be ignored)
    v0, v1 = (2.0 + 0.5) / 2, 3.0
    sig = lambda z: 1.0 / (1.0 + math.exp(-z))  # noqa: E731
    expect = -(math.log(sig(v0)) + math.log(1.0 - sig(v1))) / 2
    assert torch.allclose(video_logits(logits_p, seq_len), torch.tensor([v0, v1]))
    assert abs(float(topk_mil_loss(logits_p, labels, seq_len)) - expect) < 1e-6
    d0 = sum(-sig(float(p)) * math.log(sig(float(s))) for p, s in zip(logits_p[0], logits_s[0])) / 20
    d1 = sum(-sig(float(p)) * math.log(sig(float(s))) for p, s in zip(logits_p[1, :4], logits_s[1, :4])) / 4
    assert abs(float(distillation_loss(logits_p, logits_s, seq_len)) - (d0 + d1) / 2) < 1e-6
    total, parts = hlnet_loss(logits_p[..., None], logits_s[..., None], labels, seq_len, 5.0)
    mil_s = float(topk_mil_loss(logits_s, labels, seq_len))
    assert abs(float(total) - (expect + mil_s + 5.0 * (d0 + d1) / 2)) < 1e-5
    assert set(parts) == {"mil_offline", "mil_online", "distill"}


def test_mil_gradient_reaches_only_topk_and_valid_steps():
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0, 7.0]], requires_grad=True)
    topk_mil_loss(logits, torch.tensor([1.0]), torch.tensor([4])).backward()
    g = logits.grad[0]
    assert torch.isfinite(g).all()
    assert g[2] != 0 and g[0] == 0 and g[1] == 0 and g[3] == 0 and g[4] == 0  # k = 1 of 4 valid steps


def test_uniform_indices_official_subsampling():
    assert uniform_indices(5, 200).tolist() == [0, 1, 2, 3, 4]
    idx = uniform_indices(1000, 200)
    assert len(idx) == 200 and idx[0] == 0 and idx[-1] == 999
    assert idx.tolist() == [int(v) for v in np.linspace(0, 999, 200)]


# --------------------------------------------------------------------------- training
def synthetic_trainset(n: int = 40, dv: int = 24, da: int = 8, crops: int = 2, seed: int = 0):
    """Violent videos carry a burst of raised features in both modalities; returns the set and burst masks."""
    rng = np.random.default_rng(seed)
    names, labels, vis, aud, bursts = [], [], [], [], []
    for i in range(n):
        y = i % 2
        t = int(rng.integers(20, 33))
        v = rng.normal(0.0, 1.0, (crops, t, dv))
        a = rng.normal(0.0, 1.0, (t, da))
        burst = np.zeros(t, dtype=bool)
        if y:
            s = int(rng.integers(0, t - 6))
            burst[s : s + 6] = True
            v[:, burst, : dv // 2] += 2.5
            a[burst, : da // 2] += 2.5
        names.append(f"video{i}")
        labels.append(y)
        vis.append(np.maximum(v, 0).astype(np.float32))
        aud.append(np.maximum(a, 0).astype(np.float32))
        bursts.append(burst)
    return TrainSet(names, np.array(labels), vis, aud), bursts


def snippet_auc(det, ts, bursts, visual=True, audio=True) -> float:
    """ROC-AUC of burst snippets (positives) vs snippets of normal videos (negatives)."""
    from sklearn.metrics import roc_auc_score

    pos, neg = [], []
    for v, a, y, b in zip(ts.visual, ts.audio, ts.labels, bursts):
        s = det.score(v if visual else None, a if audio else None).offline
        (pos.extend(s[b]) if y else neg.extend(s))
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


FAST = dict(epochs=5, lr=1e-3, batch_size=8, milestones=(100,))


@pytest.fixture(scope="module")
def trained():
    ts, bursts = synthetic_trainset()
    det = build_detector("hlnet", visual_dim=24, audio_dim=8)
    tlog = det.fit(ts, TrainConfig(**FAST), seed=1)
    return det, ts, bursts, tlog


def test_training_reduces_loss_and_separates(trained):
    det, ts, bursts, tlog = trained
    assert len(tlog.epoch_loss) == 5 and tlog.samples == 80  # every crop is a sample
    assert tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    test_ts, test_bursts = synthetic_trainset(n=20, seed=7)
    assert snippet_auc(det, test_ts, test_bursts) > 0.85
    assert det.train_info["seed"] == 1 and det.train_info["config"]["epochs"] == 5


def test_training_is_deterministic(trained):
    det, ts, bursts, tlog = trained
    again = build_detector("hlnet", visual_dim=24, audio_dim=8)
    tlog2 = again.fit(ts, TrainConfig(**FAST), seed=1)
    assert tlog2.epoch_loss == tlog.epoch_loss
    for (k, a), b in zip(det.net.state_dict().items(), again.net.state_dict().values()):
        assert torch.equal(a, b), k
    other = build_detector("hlnet", visual_dim=24, audio_dim=8)
    other.fit(ts, TrainConfig(**{**FAST, "epochs": 1}), seed=2)
    assert not torch.equal(other.net.classifier.weight, det.net.classifier.weight)


def test_save_load_round_trip(trained, tmp_path):
    det, ts, _, _ = trained
    path = det.save(tmp_path / "hlnet.safetensors")
    back = load_detector(path)
    assert type(back) is HLNetDetector and back.visual_dim == 24 and back.audio_dim == 8
    assert back.train_info["seed"] == 1
    for v, a in zip(ts.visual[:4], ts.audio[:4]):
        s1, s2 = det.score(v, a), back.score(v, a)
        assert np.array_equal(s1.offline, s2.offline) and np.array_equal(s1.online, s2.online)
    (tmp_path / "junk.safetensors").write_bytes(b"not a detector")
    with pytest.raises(CheckpointError):
        load_detector(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        load_detector(tmp_path / "absent.safetensors")


def test_fit_rejects_wrong_dimensions():
    ts, _ = synthetic_trainset(n=4)
    with pytest.raises(ValueError, match="visual training features are 24-d"):
        build_detector("hlnet", visual_dim=32, audio_dim=8).fit(ts, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="needs audio"):
        build_detector("hlnet", visual_dim=24, audio_dim=8).fit(TrainSet(ts.names, ts.labels, ts.visual), TrainConfig(epochs=1))


def test_single_modality_detectors_ignore_the_other_modality():
    ts, bursts = synthetic_trainset(n=20)
    vis_only = get_detector_class("visual-only")(visual_dim=24, audio_dim=8)
    vis_only.fit(TrainSet(ts.names, ts.labels, ts.visual), TrainConfig(**FAST), seed=0)
    assert vis_only.net.feature_size == 24
    v, a = ts.visual[1], ts.audio[1]
    assert np.array_equal(vis_only.score(v, a).offline, vis_only.score(v, 2 * a + 1).offline)
    aud_only = build_detector("audio-only", visual_dim=24, audio_dim=8)
    tlog = aud_only.fit(ts, TrainConfig(**FAST), seed=0)
    assert tlog.samples == 20 and aud_only.net.feature_size == 8
    assert np.array_equal(aud_only.score(v, a).offline, aud_only.score(None, a).offline)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(trained):
    det, ts, _, _ = trained
    v, a = ts.visual[0], ts.audio[0]
    cpu = det.scorer("cpu")
    ref = cpu.combine(cpu.visual_state(v, v.shape[1]), cpu.audio_state(a, v.shape[1]))
    gpu = det.scorer("cuda")
    out = gpu.combine(gpu.visual_state(v, v.shape[1]), gpu.audio_state(a, v.shape[1]))
    assert np.abs(out.offline - ref.offline).max() < 1e-4
    det.scorer("cpu")


def test_network_class_is_the_module():
    assert issubclass(HLNet, torch.nn.Module)
    assert HLNet(40).conv1d1.weight.shape == (512, 40, 1)


def test_cap_length_subsamples_like_the_official_loader():
    from robusta_bench.detectors.mil import cap_length

    seq = np.arange(450, dtype=np.float32)[:, None].repeat(3, 1)
    out = cap_length(seq, 200)
    assert out.shape == (200, 3) and out[0, 0] == 0 and out[-1, 0] == 449
    assert np.array_equal(out[:, 0], np.floor(np.linspace(0, 449, 200)))
    assert cap_length(seq[:150], 200) is not None and cap_length(seq[:150], 200).shape == (150, 3)


def test_official_detector_saves_and_loads(tmp_path):
    det = HLNetDetector.from_official_checkpoint(str(need(CKPT)))
    assert (det.visual_dim, det.audio_dim) == (1024, 128)
    back = load_detector(det.save(tmp_path / "official.safetensors"))
    rng = np.random.default_rng(11)
    v = np.maximum(rng.normal(0, 0.5, (2, 12, 1024)), 0).astype(np.float32)
    a = np.maximum(rng.normal(0, 0.5, (12, 128)), 0).astype(np.float32)
    assert np.array_equal(det.score(v, a).offline, back.score(v, a).offline)
    assert "official checkpoint" in back.train_info["source"]
