"""The backbone contract: a user's own network (defined here, outside the package) and the three adapters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import FIXTURES, XD, need
from robusta_bench.detectors.backbone import (
    BACKBONES,
    Backbone,
    build_backbone,
    check_backbone,
    crop_scores,
    train_backbone,
)
from robusta_bench.detectors.mil import topk_mil_loss
from robusta_bench.detectors.train import TrainConfig
from test_hlnet import synthetic_trainset
from test_rtfm import fixture_state

torch.set_num_threads(1)


class ToyBackbone(nn.Module):
    """A user's detector: a per-snippet two-layer MLP trained with top-k MIL."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.mlp = nn.Sequential(nn.Linear(input_dim, 16), nn.ReLU(), nn.Linear(16, 1))

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def snippet_scores(self, x, seq_len=None):
        s = torch.sigmoid(self.mlp(x)[..., 0])
        return s, s

    def training_loss(self, x, seq_len, labels):
        loss = topk_mil_loss(self.mlp(x), labels, seq_len)
        return loss, {"mil": float(loss.detach())}


def visual_samples(ts):
    """Single-modality samples: every visual crop of every video, with its video's label."""
    samples = [v[c] for v in ts.visual for c in range(v.shape[0])]
    labels = [y for v, y in zip(ts.visual, ts.labels) for _ in range(v.shape[0])]
    return samples, labels


def burst_auc(backbone, ts, bursts) -> float:
    from sklearn.metrics import roc_auc_score

    pos, neg = [], []
    for v, y, b in zip(ts.visual, ts.labels, bursts):
        s = crop_scores(backbone, v)[0]
        (pos.extend(s[b]) if y else neg.extend(s))
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


def test_toy_backbone_meets_the_contract_and_trains():
    toy = ToyBackbone(24)
    assert isinstance(toy, Backbone)
    check_backbone(toy)
    ts, bursts = synthetic_trainset(n=30)
    samples, labels = visual_samples(ts)
    cfg = TrainConfig(epochs=8, lr=3e-3, batch_size=8, schedule="none")
    tlog = train_backbone(toy, samples, labels, cfg, seed=2)
    assert tlog.samples == 60 and tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    test_ts, test_bursts = synthetic_trainset(n=20, seed=7)
    assert burst_auc(toy, test_ts, test_bursts) > 0.9
    again = ToyBackbone(24)
    assert train_backbone(again, samples, labels, cfg, seed=2).epoch_loss == tlog.epoch_loss


class Logits(ToyBackbone):
    def snippet_scores(self, x, seq_len=None):
        s = self.mlp(x)[..., 0] * 50
        return s, s


class WrongShape(ToyBackbone):
    def snippet_scores(self, x, seq_len=None):
        s = torch.sigmoid(self.mlp(x))
        return s, s


class Detached(ToyBackbone):
    def training_loss(self, x, seq_len, labels):
        return torch.tensor(1.0), {}


@pytest.mark.parametrize(
    ("bad", "msg"),
    [(Logits(8), "probabilities"), (WrongShape(8), "expected \\(4, 20\\)"), (Detached(8), "does not depend")],
)
def test_check_backbone_names_the_violation(bad, msg):
    with pytest.raises(ValueError, match=msg):
        check_backbone(bad)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        check_backbone(object())


@pytest.mark.parametrize("name", ["hlnet", "rtfm", "hypervd"])
def test_adapters_meet_the_contract_and_their_loss_falls(name):
    assert name in BACKBONES.names()
    bb = build_backbone(name, 24)
    check_backbone(bb)
    ts, _ = synthetic_trainset(n=16)
    samples, labels = visual_samples(ts)
    tlog = train_backbone(bb, samples, labels, TrainConfig(epochs=4, lr=1e-3, batch_size=8, schedule="none"), seed=0)
    assert np.isfinite(tlog.epoch_loss).all() and tlog.epoch_loss[-1] < tlog.epoch_loss[0]


def test_hlnet_adapter_gives_the_official_outputs():
    bb = build_backbone("hlnet", 1152)
    bb.net.load_state_dict(torch.load(need(XD / "checkpoints" / "hlnet_xdviolence_mix2.pt"), map_location="cpu", weights_only=True))
    z = np.load(need(FIXTURES / "hlnet_official_outputs.npz"))
    off, on = crop_scores(bb, z["b_inputs"])
    ref_off = 1 / (1 + np.exp(-z["b_logits"][0, :, 0].astype(np.float64)))
    ref_on = 1 / (1 + np.exp(-z["b_logits_online"][0, :, 0].astype(np.float64)))
    assert np.abs(off - ref_off).max() < 1e-5 and np.abs(on - ref_on).max() < 1e-5


def test_rtfm_adapter_gives_the_official_test_prediction():
    bb = build_backbone("rtfm", 2048)
    bb.net.load_state_dict(fixture_state(), strict=True)
    z = np.load(need(FIXTURES / "rtfm_official_outputs.npz"))
    off, on = crop_scores(bb, z["a_inputs"][0])  # the 10 crops as the batch
    assert np.abs(off - z["a_test_pred"][:, 0]).max() <= 1e-5 and np.array_equal(off, on)
