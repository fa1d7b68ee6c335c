"""The backbone contract: what RobustA needs from a detector network to plug its components around it.

RobustA (audio projection to the visual width, one modality-agnostic detector
trained on either modality, GMM weighting at inference) only needs three
things from the detector inside it, so any network meeting this contract can
be wrapped, the paper's HL-Net, RTFM and HyperVD included:

**Inputs.** One modality at a time, as ``x`` of shape ``(B, T, input_dim)``
float32 (a visual crop, or the audio already projected or padded to the
visual width, so ``input_dim`` is the visual width), with ``seq_len`` ``(B,)``
int64 valid lengths when a batch is zero-padded (``None``: all steps valid).

**Per-snippet scores.** ``snippet_scores(x, seq_len) -> (offline, online)``, two
``(B, T)`` tensors of anomaly **probabilities** in ``[0, 1]``. ``online`` is a
causal head when the network has one (HL-Net), otherwise the same tensor as
``offline``. The wrapper averages crops itself (call it with the crops of one
video as the batch).

**Training loss hook.** ``training_loss(x, seq_len, labels) -> (loss, parts)``:
the network's own objective on a batch of samples with video labels ``(B,)``
(0 normal, 1 anomalous), a scalar tensor to minimise plus a dict of floats for
the log. The wrapper supplies the batches (mixing visual and projected audio
samples) and runs the optimiser (:func:`train_backbone`); the backbone decides
what its loss does with them.

Also: ``input_dim`` (int attribute), ``reset_parameters()`` (re-initialise from
torch's global generator, called under the seeded fork of the training loop)
and being a ``torch.nn.Module`` (its ``parameters()`` are optimised, its
``state_dict()`` saved).

:func:`check_backbone` validates an instance against this contract with one
clear error per violation. Adapters for the three ported networks are
registered in :data:`BACKBONES` (``hlnet``, ``rtfm``, ``hypervd``);
``build_backbone(name, input_dim)``. A worked example with a user's own
network is in docs/detectors.md ("Evaluating your own detector") and
``tests/test_backbone.py``.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..registry import Registry

BACKBONES: Registry[type] = Registry("backbone")


@runtime_checkable
class Backbone(Protocol):
    """The contract (see the module docstring)."""

    input_dim: int

    def reset_parameters(self) -> None: ...

    def snippet_scores(
        self, x: torch.Tensor, seq_len: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def training_loss(
        self, x: torch.Tensor, seq_len: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]: ...


def build_backbone(name: str, input_dim: int, **options: Any) -> nn.Module:
    """A fresh registered backbone adapter for ``input_dim``-d single-modality inputs."""
    return BACKBONES.get(name)(input_dim, **options)


def check_backbone(backbone: Any, length: int = 20, batch: int = 4) -> None:
    """Raise ``TypeError`` / ``ValueError`` naming the first way ``backbone`` breaks the contract.

    Runs it on a small random batch (padded, with both labels): score shapes
    and ranges, and a finite scalar loss that reaches the parameters.
    """
    what = type(backbone).__name__
    if not isinstance(backbone, nn.Module):
        raise TypeError(f"{what}: a backbone must be a torch.nn.Module")
    for attr in ("input_dim", "reset_parameters", "snippet_scores", "training_loss"):
        if not hasattr(backbone, attr):
            raise TypeError(f"{what}: missing {attr!r} (see robusta_bench.detectors.backbone)")
    d = int(backbone.input_dim)
    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(batch, length, d, generator=g))
    seq_len = torch.tensor([length] + [max(3, length - 3 * i) for i in range(1, batch)], dtype=torch.int64)
    for i, n in enumerate(seq_len.tolist()):
        x[i, n:] = 0
    labels = torch.tensor([i % 2 for i in range(batch)], dtype=torch.float32)
    was_training = backbone.training
    try:
        backbone.eval()
        with torch.no_grad():
            out = backbone.snippet_scores(x, None)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError(f"{what}: snippet_scores must return (offline, online)")
        for head, s in zip(("offline", "online"), out):
            if tuple(s.shape) != (batch, length):
                raise ValueError(f"{what}: {head} scores have shape {tuple(s.shape)}, expected {(batch, length)}")
            if not bool(torch.isfinite(s).all()) or float(s.min()) < 0 or float(s.max()) > 1:
                raise ValueError(f"{what}: {head} scores must be probabilities in [0, 1]")
        backbone.train()
        loss, parts = backbone.training_loss(x, seq_len, labels)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0 or not bool(torch.isfinite(loss)):
            raise ValueError(f"{what}: training_loss must return a finite scalar tensor")
        if not isinstance(parts, dict):
            raise ValueError(f"{what}: training_loss must return (loss, dict of floats)")
        if not loss.requires_grad:
            raise ValueError(f"{what}: the loss does not depend on any parameter")
    finally:
        backbone.train(was_training)


def crop_scores(backbone: Any, crops: np.ndarray, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """One video's ``(offline, online)`` scores (T,) from its inputs ``(crops, T, input_dim)``: crops averaged."""
    x = torch.as_tensor(np.ascontiguousarray(crops, dtype=np.float32), device=device)
    backbone.eval()
    with torch.no_grad():
        off, on = backbone.snippet_scores(x, None)
    return off.mean(0).double().cpu().numpy(), on.mean(0).double().cpu().numpy()


def train_backbone(
    backbone: nn.Module,
    samples: Sequence[np.ndarray],
    labels: Sequence[float],
    cfg: Any,
    seed: int = 0,
    *,
    progress: bool = False,
) -> Any:
    """Train ``backbone`` on single-modality ``samples`` ``(T_i, input_dim)`` with its own loss hook.

    Sequences longer than ``cfg.max_seq_len`` are subsampled uniformly, batches
    zero-padded with ``seq_len`` (the official HL-Net layout); the loop is
    :func:`~.loss_loop.train_with_loss` (seeded initialisation, shuffles and
    dropout). Returns its :class:`~.train.TrainLog`.
    """
    from .loss_loop import train_with_loss
    from .mil import cap_length, pad_batch

    if len(samples) != len(labels):
        raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    y = torch.as_tensor(np.asarray(labels, dtype=np.float32))
    device = torch.device(cfg.device)

    def step(idx: np.ndarray, epoch: int):
        x, lengths = pad_batch([cap_length(samples[k], cfg.max_seq_len) for k in idx], backbone.input_dim)
        return backbone.training_loss(x.to(device), lengths.to(device), y[idx].to(device))

    return train_with_loss(backbone, step, len(samples), cfg, seed, progress=progress, desc=type(backbone).__name__)


# --------------------------------------------------------------------------- adapters
@BACKBONES.register("hlnet")
class HLNetBackbone(nn.Module):
    """HL-Net: both heads (offline graph head, causal online head); loss = MIL on both + 5 x distillation."""

    def __init__(self, input_dim: int, dropout: float | None = None, distill_weight: float = 5.0) -> None:
        from .hlnet import DROPOUT, HLNet

        super().__init__()
        self.input_dim = int(input_dim)
        self.distill_weight = float(distill_weight)
        self.net = HLNet(self.input_dim, dropout=DROPOUT if dropout is None else dropout)

    def reset_parameters(self) -> None:
        self.net.reset_parameters()

    def snippet_scores(self, x: torch.Tensor, seq_len: torch.Tensor | None = None):
        off, on = self.net(x, seq_len)
        return torch.sigmoid(off[..., 0]), torch.sigmoid(on[..., 0])

    def training_loss(self, x: torch.Tensor, seq_len: torch.Tensor, labels: torch.Tensor):
        from .mil import hlnet_loss

        off, on = self.net(x, seq_len)
        return hlnet_loss(off, on, labels, seq_len, self.distill_weight)


@BACKBONES.register("rtfm")
class RTFMBackbone(nn.Module):
    """RTFM: each sample is one crop; the loss averages each valid sequence into 32 segments and pairs the
    batch's normal and anomalous samples (``min`` of the two counts each, the rest of the larger half unused);
    a batch with one class only contributes the smoothness/sparsity terms of its scores (or 0)."""

    def __init__(self, input_dim: int, dropout: float | None = None) -> None:
        from .rtfm import DROPOUT, RTFMNet

        super().__init__()
        self.input_dim = int(input_dim)
        self.net = RTFMNet(self.input_dim, dropout=DROPOUT if dropout is None else dropout)

    def reset_parameters(self) -> None:
        self.net.reset_parameters()

    def snippet_scores(self, x: torch.Tensor, seq_len: torch.Tensor | None = None):
        _, scores = self.net.features_and_scores(x[:, None])
        return scores[..., 0], scores[..., 0]

    def training_loss(self, x: torch.Tensor, seq_len: torch.Tensor, labels: torch.Tensor):
        from .rtfm import NUM_SEGMENTS, rtfm_loss

        seg = torch.stack([segment_mean(x[i, : int(n)], NUM_SEGMENTS) for i, n in enumerate(seq_len.tolist())])
        nor = torch.nonzero(labels <= 0.5)[:, 0]
        abn = torch.nonzero(labels > 0.5)[:, 0]
        n = min(len(nor), len(abn))
        if n == 0:
            _, scores = self.net.features_and_scores(seg[:, None])
            zero = scores.sum() * 0.0
            return zero, {"cls": 0.0, "magnitude": 0.0, "smooth": 0.0, "sparse": 0.0}
        batch = torch.cat((seg[nor[:n]], seg[abn[:n]]))[:, None]  # (2n, 1 crop, 32, D)
        return rtfm_loss(self.net(batch, n_normal=n), n)


def segment_mean(x: torch.Tensor, length: int) -> torch.Tensor:
    """:func:`~.rtfm.segment_average` in torch (differentiable): ``(T, D)`` -> ``(length, D)``."""
    t = x.shape[0]
    bounds = np.linspace(0, t, length + 1).astype(np.int64)
    rows = [x[lo:hi].mean(0) if lo != hi else x[min(lo, t - 1)] for lo, hi in zip(bounds[:-1], bounds[1:])]
    return torch.stack(rows)


@BACKBONES.register("hypervd")
class HyperVDBackbone(nn.Module):
    """HyperVD on one modality (the whole input goes through the visual branch, no raw-audio block);
    loss = BCE of the sigmoid of the top-k mean logits (the official objective)."""

    def __init__(self, input_dim: int, dropout: float | None = None) -> None:
        from .hypervd import DROPOUT, HyperVDNet

        super().__init__()
        self.input_dim = int(input_dim)
        self.net = HyperVDNet(self.input_dim, 0, dropout=DROPOUT if dropout is None else dropout)

    def reset_parameters(self) -> None:
        self.net.reset_parameters()

    def snippet_scores(self, x: torch.Tensor, seq_len: torch.Tensor | None = None):
        s = torch.sigmoid(self.net.frame_logits(x, seq_len)[..., 0])
        return s, s

    def training_loss(self, x: torch.Tensor, seq_len: torch.Tensor, labels: torch.Tensor):
        from .mil import topk_mil_loss

        loss = topk_mil_loss(self.net.frame_logits(x, seq_len), labels, seq_len)
        return loss, {"mil": float(loss.detach())}
