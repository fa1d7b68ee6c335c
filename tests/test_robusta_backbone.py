"""RobustA around any backbone: a user's toy backbone defined here, and the registered robusta-rtfm / robusta-hypervd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from robusta_bench.detectors.backbone import BACKBONES
from robusta_bench.detectors.base import build_detector, load_detector
from robusta_bench.detectors.mil import topk_mil_loss
from robusta_bench.detectors.train import TrainConfig
from robusta_bench.seeding import rng_for
from test_hlnet import synthetic_trainset

torch.set_num_threads(1)
TOY = "toy-mlp-for-tests"


class ToyBackbone(nn.Module):
    """A user's network: a per-snippet MLP with top-k MIL; records what the wrapper trains it on."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.mlp = nn.Sequential(nn.Linear(input_dim, 16), nn.ReLU(), nn.Linear(16, 1))
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def snippet_scores(self, x, seq_len=None):
        s = torch.sigmoid(self.mlp(x)[..., 0])
        return s, s

    def training_loss(self, x, seq_len, labels):
        self.seen.append((x.detach().clone(), seq_len.clone()))
        loss = topk_mil_loss(self.mlp(x), labels, seq_len)
        return loss, {"mil": float(loss.detach())}


if TOY not in BACKBONES.names():
    BACKBONES.register(TOY)(ToyBackbone)

FAST = TrainConfig(epochs=8, lr=3e-3, batch_size=8, schedule="none")


def burst_auc(det, ts, bursts, visual=True, audio=True) -> float:
    from sklearn.metrics import roc_auc_score

    pos, neg = [], []
    for v, a, y, b in zip(ts.visual, ts.audio, ts.labels, bursts):
        s = det.score(v if visual else None, a if audio else None).offline
        (pos.extend(s[b]) if y else neg.extend(s))
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


@pytest.fixture(scope="module")
def toy_robusta():
    ts, _ = synthetic_trainset(n=30)
    det = build_detector("robusta-backbone", visual_dim=24, audio_dim=8, backbone=TOY)
    tlog = det.fit(ts, FAST, seed=1)
    return det, tlog


def test_wrapper_trains_a_users_backbone_on_both_modalities(toy_robusta):
    det, tlog = toy_robusta
    assert tlog.samples == 60 and tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    assert det.gmm["visual"] is not None and det.gmm["audio"] is not None
    test_ts, bursts = synthetic_trainset(n=20, seed=7)
    # one detector serves each modality alone and both fused
    assert burst_auc(det, test_ts, bursts, audio=False) > 0.85
    assert burst_auc(det, test_ts, bursts, visual=False) > 0.85
    assert burst_auc(det, test_ts, bursts) > 0.85


def test_missing_modality_gets_zero_weight_and_average_is_the_mean(toy_robusta):
    det, _ = toy_robusta
    ts, _ = synthetic_trainset(n=4, seed=3)
    v, a = ts.visual[1], ts.audio[1]
    only_v = det.score(v, None)
    only_a = det.score(None, a)
    assert np.all(only_v.w_visual == 1) and np.all(only_a.w_visual == 0)
    avg = det.score(v, a, fusion="average")
    assert np.allclose(avg.offline, 0.5 * (only_v.offline + only_a.offline), atol=1e-12)
    gmm = det.score(v, a)
    assert np.all((gmm.w_visual > 0) & (gmm.w_visual < 1))
    assert np.allclose(gmm.offline, gmm.w_visual * only_v.offline + (1 - gmm.w_visual) * only_a.offline, atol=1e-12)


def test_save_and_load_give_the_same_scores(toy_robusta, tmp_path):
    det, _ = toy_robusta
    path = det.save(tmp_path / "toy.safetensors")
    again = load_detector(path)
    assert again.name == "robusta-backbone" and again.options["backbone"] == TOY
    ts, _ = synthetic_trainset(n=2, seed=5)
    a, b = det.score(ts.visual[1], ts.audio[1]), again.score(ts.visual[1], ts.audio[1])
    assert np.array_equal(a.offline, b.offline) and np.array_equal(a.w_visual, b.w_visual)


def test_training_batches_follow_eq2_sampling_and_padding_ablation():
    """align=pad: an audio sample is the audio zero-padded to the visual width, so each batch row tells its modality;
    the per-epoch draw is 50/50 over samples and matches the seeded generator."""
    ts, _ = synthetic_trainset(n=12, crops=2)
    det = build_detector("robusta-backbone", visual_dim=24, audio_dim=8, backbone=TOY, align="pad")
    assert det.net.projection is None
    cfg = TrainConfig(epochs=3, lr=1e-3, batch_size=64, schedule="none")  # one batch per epoch
    det.fit(ts, cfg, seed=4, fit_gmm=False)
    seen = det.net.backbone.seen
    assert len(seen) == 3
    n_items = 24
    for epoch, (x, lengths) in enumerate(seen):
        audio_rows = sum(bool((x[i, : lengths[i], 8:] == 0).all()) for i in range(x.shape[0]))
        draw = rng_for("robusta-modality", 4, epoch).random(n_items) < 0.5
        assert audio_rows == int((~draw).sum())
        assert 0 < audio_rows < n_items
        # the padded audio rows are the raw audio features in the first 8 dims
        first_audio = x.shape[0] - audio_rows
        assert float(x[first_audio, : lengths[first_audio], :8].abs().sum()) > 0


@pytest.mark.parametrize("name", ["robusta-rtfm", "robusta-hypervd"])
def test_registered_wrappers_train_and_score(name):
    ts, bursts = synthetic_trainset(n=16)
    det = build_detector(name, visual_dim=24, audio_dim=8)
    assert det.options["backbone"] == name.split("-", 1)[1]
    tlog = det.fit(ts, TrainConfig(epochs=4, lr=1e-3, batch_size=8, schedule="none"), seed=0)
    assert np.isfinite(tlog.epoch_loss).all() and tlog.epoch_loss[-1] < tlog.epoch_loss[0]
    out = det.score(ts.visual[1], None)
    assert out.offline.shape == (ts.visual[1].shape[1],) and np.all((out.offline >= 0) & (out.offline <= 1))
    with pytest.raises(ValueError, match="robusta-backbone"):
        build_detector(name, visual_dim=24, audio_dim=8, backbone="hlnet")


def test_list_detectors_shows_backbones_wrappers_and_ablations():
    from robusta_bench.cli.main import cli

    res = CliRunner().invoke(cli, ["list", "detectors"])
    assert res.exit_code == 0, res.output
    names = [line.split()[0] for line in res.output.splitlines() if line.strip()]
    for n in ("hlnet", "rtfm", "hypervd", "robusta", "robusta-rtfm", "robusta-hypervd", "robusta-backbone"):
        assert n in names
    assert "robusta-rtfm-pad" in res.output and "robusta-hypervd-average" in res.output
