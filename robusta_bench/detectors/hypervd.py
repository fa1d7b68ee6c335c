"""HyperVD (Peng et al., 2023, "Learning Weakly Supervised Audio-Visual Violence Detection in Hyperbolic Space").

A port of the official network (github.com/xiaogangpeng/HyperVD at
``b87b354``), module for module, so the released XD-Violence checkpoint loads
with ``strict=True`` (:meth:`HyperVDDetector.from_official_checkpoint`, read
through the allow-list loader) and reproduces the official outputs
(``tests/test_hypervd.py``). The Lorentz-model operations are in
:mod:`.lorentz`. Inputs are ``(B, T, dv + da)``, the visual part first:

- visual ``conv1d1 (dv -> 512, k=1) -> LeakyReLU(0.01) -> dropout -> conv1d2
  (512 -> 128) -> LeakyReLU -> dropout``, concatenated with the raw audio
  (``128 + da`` dims);
- a zero time coordinate is prepended, then ``expmap0`` + projection onto the
  hyperboloid (``proj_x``, ``129 + da`` dims);
- feature adjacency: ``exp(-d_L(x_i, x_j))`` with values ``<= 0.8`` set to 0
  (not masked out) and a row softmax over the valid ``seq_len`` block, zeros
  elsewhere; temporal adjacency ``exp(-|i - j| / e)`` (never masked; the
  stored ``sigma`` is unused, as in the official code);
- two HyboNet encoders (``HFSGCN`` on the feature adjacency, ``HTRGCN`` on the
  temporal one), each one Lorentz graph convolution ``-> 32``:
  ``LorentzLinear`` (time coordinate ``sigmoid(w_0 . x) exp(scale) + 1.1``,
  space part rescaled onto the hyperboloid) then ``LorentzAgg``
  (``s = A h``, ``s / sqrt(|<s, s>_L|)``);
- LeakyReLU on the hyperboloid coordinates, dropout, concatenation (64) and the
  Lorentz classifier ``2 + 2 <x, cls>_c + bias`` where ``cinner`` negates column
  0 only (column 32, the second branch's time coordinate, counts as a space
  coordinate). The result ``frame_prob`` is a pre-sigmoid logit per snippet.

Video-level output (``mil_logits``): with ``seq_len`` the sigmoid of the mean of
the top ``k = len // 16 + 1`` logits of the valid steps; without, the sigmoid of
the per-row mean, except that a batch of one is squeezed to the per-snippet
sigmoid (official quirk, kept in :meth:`HyperVDNet.forward`).

Training: the official loop (BCE of ``mil_logits`` against the video labels,
Adam lr 5.15e-4, cosine schedule, batch 64, sequences capped at 200 steps and
zero-padded with ``seq_len``) on the same per-crop samples as HL-Net (every
visual crop paired with its video's audio).

Registered detector ``hypervd`` (:class:`HyperVDDetector`): early fusion,
scores ``mean over crops of sigmoid(frame_prob)`` (the official test
prediction); HyperVD has no online head, so ``online`` repeats ``offline``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import lorentz
from .base import DETECTORS, Detector, ScoreOut, TrainSet
from .checkpoint import load_model_tensors, model_tensors
from .graph import as_tensor
from .hlnet import DistanceAdj

DROPOUT = 0.6
HIDDEN = 128
GCN_DIM = 32
ADJ_THRESHOLD = 0.8
#: Official optimiser settings (``option.py`` / ``main.py``; the official cosine runs over 60 epochs of 50).
OFFICIAL_TRAIN = {"lr": 5.15e-4, "batch_size": 64, "schedule": "cosine", "epochs": 50, "max_seq_len": 200}


class LorentzLinear(nn.Module):
    """HyboNet's Lorentz linear layer (input dropout, learned time scale ``exp(scale)``)."""

    def __init__(self, in_features: int, out_features: int, dropout: float = DROPOUT, scale: float = 10.0) -> None:
        super().__init__()
        self.manifold = lorentz.LorentzManifold()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Linear(in_features, out_features, bias=True)
        self.dropout = nn.Dropout(dropout)
        self.scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.init_scale = math.log(scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform ``+-1/sqrt(out)`` weights with the time column (input 0) zeroed, zero bias, ``scale = log 10``."""
        bound = 1.0 / math.sqrt(self.out_features)
        nn.init.uniform_(self.weight.weight, -bound, bound)
        with torch.no_grad():
            self.weight.weight[:, 0] = 0
            self.scale.fill_(self.init_scale)
        nn.init.zeros_(self.weight.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.weight(self.dropout(x))
        space = x.narrow(-1, 1, x.shape[-1] - 1)
        time = x.narrow(-1, 0, 1).sigmoid() * self.scale.exp() + 1.1
        factor = (time * time - 1) / (space * space).sum(dim=-1, keepdim=True).clamp_min(1e-8)
        return torch.cat([time, space * factor.sqrt()], dim=-1)


class LorentzAgg(nn.Module):
    """Aggregation ``A @ h`` renormalised onto the hyperboloid."""

    def __init__(self) -> None:
        super().__init__()
        self.manifold = lorentz.LorentzManifold()

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return lorentz.normalize(torch.matmul(adj, x))


class LorentzGraphConvolution(nn.Module):
    """``LorentzAgg(LorentzLinear(x), adj)`` (no activation inside, as in HyperVD's one-layer encoders)."""

    def __init__(self, in_features: int, out_features: int, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.linear = LorentzLinear(in_features, out_features, dropout)
        self.agg = LorentzAgg()

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.agg(self.linear(x), adj)


class _Encoder(nn.Module):
    """HyboNet encoder: the (unused) curvature parameter shared with its owner, and the layers."""

    def __init__(self, c: nn.Parameter, in_features: int, out_features: int, dropout: float) -> None:
        super().__init__()
        self.c = c
        self.manifold = lorentz.LorentzManifold()
        self.layers = nn.Sequential(LorentzGraphConvolution(in_features, out_features, dropout))

    def encode(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.layers[0](x, adj)


class HyperGCN(nn.Module):
    """The official ``FHyperGCN`` wrapper (curvature ``c`` stored, unused; ``encode`` runs the encoder)."""

    def __init__(self, in_features: int, out_features: int = GCN_DIM, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.ones(1))
        self.manifold = lorentz.LorentzManifold()
        self.encoder = _Encoder(self.c, in_features, out_features, dropout)

    def encode(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode(x, adj)


class HypClassifier(nn.Module):
    """``2 + 2 cinner(x, cls) + bias`` with ``cls`` a point of the hyperboloid (one class)."""

    def __init__(self, input_dim: int = 2 * GCN_DIM) -> None:
        super().__init__()
        self.manifold = lorentz.LorentzManifold()
        self.cls = nn.Parameter(torch.zeros(1, input_dim))
        self.bias = nn.Parameter(torch.zeros(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.cls.copy_(lorentz.random_point(1, self.cls.shape[1], self.manifold.k))
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (2 + 2 * lorentz.cinner(x, self.cls)) + self.bias


class HyperVDNet(nn.Module):
    """The HyperVD network for ``visual_dim + audio_dim`` inputs (1024 + 128 officially)."""

    def __init__(self, visual_dim: int = 1024, audio_dim: int = 128, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.visual_dim = int(visual_dim)
        self.audio_dim = int(audio_dim)
        self.manifold = lorentz.LorentzManifold()
        self.disAdj = DistanceAdj()
        self.conv1d1 = nn.Conv1d(self.visual_dim, 512, kernel_size=1)
        self.conv1d2 = nn.Conv1d(512, HIDDEN, kernel_size=1)
        feat_dim = HIDDEN + self.audio_dim + 1  # + the time coordinate
        self.HFSGCN = HyperGCN(feat_dim, GCN_DIM, dropout)
        self.HTRGCN = HyperGCN(feat_dim, GCN_DIM, dropout)
        self.dropout = nn.Dropout(dropout)
        self.HyperCLS = HypClassifier(2 * GCN_DIM)

    def reset_parameters(self) -> None:
        """The official initialisation (PyTorch defaults for the convs, HyboNet's for the Lorentz layers)."""
        self.conv1d1.reset_parameters()
        self.conv1d2.reset_parameters()
        with torch.no_grad():
            self.disAdj.sigma.fill_(0.1)
            for gcn in (self.HFSGCN, self.HTRGCN):
                gcn.c.fill_(1.0)
                gcn.encoder.layers[0].linear.reset_parameters()
        self.HyperCLS.reset_parameters()

    def expm(self, x: torch.Tensor) -> torch.Tensor:
        """Prepend a zero time coordinate, ``expmap0`` and project (``proj_x``)."""
        x = torch.cat([torch.zeros_like(x[..., :1]), x], dim=-1)
        k = self.manifold.k
        return lorentz.project(lorentz.expmap0(x, k), k)

    def adjacency(self, proj_x: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
        """``softmax(threshold(exp(-d_L), 0.8))`` per row of the valid block; zeros outside it."""
        a = F.threshold(torch.exp(-lorentz.pairwise_distance(proj_x, self.manifold.k)), ADJ_THRESHOLD, 0)
        if seq_len is None:
            return torch.softmax(a, dim=-1)
        t = a.shape[1]
        valid = torch.arange(t, device=a.device)[None, :] < seq_len.to(a.device).reshape(-1, 1)  # (B, T)
        a = torch.softmax(a.masked_fill(~valid[:, None, :], float("-inf")), dim=-1)
        return a.masked_fill(~valid[:, :, None], 0.0)

    def frame_logits(self, inputs: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
        """``frame_prob`` (B, T, 1): the per-snippet pre-sigmoid logits."""
        return self.intermediates(inputs, seq_len)["frame_prob"]

    def intermediates(self, inputs: torch.Tensor, seq_len: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The forward pass with its intermediates: ``proj_x``, ``adj``, ``disadj``, ``hfsgcn_out``, ``htrgcn_out``, ``frame_prob``."""
        xv = inputs[:, :, : self.visual_dim].permute(0, 2, 1)
        xa = inputs[:, :, self.visual_dim :]
        xv = self.dropout(F.leaky_relu(self.conv1d1(xv)))
        xv = self.dropout(F.leaky_relu(self.conv1d2(xv))).permute(0, 2, 1)
        x = torch.cat((xv, xa), -1)
        disadj = self.disAdj(x.shape[0], x.shape[1], x.device).to(x.dtype)
        proj_x = self.expm(x)
        adj = self.adjacency(proj_x, seq_len)
        h1 = self.HFSGCN.encode(proj_x, adj)
        h2 = self.HTRGCN.encode(proj_x, disadj)
        out = torch.cat((self.dropout(F.leaky_relu(h1)), self.dropout(F.leaky_relu(h2))), 2)
        return {"proj_x": proj_x, "adj": adj, "disadj": disadj, "hfsgcn_out": h1, "htrgcn_out": h2,
                "frame_prob": self.HyperCLS(out)}

    def forward(self, inputs: torch.Tensor, seq_len: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The official ``(mil_logits, frame_prob)`` (see the module docstring for the batch-of-one quirk)."""
        frame_prob = self.frame_logits(inputs, seq_len)
        return video_probabilities(frame_prob, seq_len), frame_prob


def video_probabilities(frame_prob: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
    """The official ``clas``: sigmoid of the per-video mean (or top-k mean with ``seq_len``) of the logits."""
    from .mil import video_logits

    logits = frame_prob.squeeze()
    if seq_len is None:
        return torch.sigmoid(logits if logits.dim() < 2 else logits.mean(dim=1))
    return torch.sigmoid(video_logits(frame_prob[..., 0], seq_len))


class HyperVDScorer:
    """Scores one video: its crops (each ``[visual crop | audio]``) in one batch, ``sigmoid`` averaged over crops."""

    def __init__(self, det: "HyperVDDetector", device: str = "cpu") -> None:
        self.det = det
        self.device = torch.device(device)
        self.net = det.net.to(self.device).eval()

    def visual_state(self, visual: np.ndarray | None, length: int) -> np.ndarray | None:
        if visual is None:
            return None
        if visual.ndim != 3 or visual.shape[2] != self.det.visual_dim:
            raise ValueError(f"visual features must be (crops, T, {self.det.visual_dim}), got {visual.shape}")
        return np.ascontiguousarray(visual[:, :length], dtype=np.float32)

    def audio_state(self, audio: np.ndarray | None, length: int) -> np.ndarray | None:
        return None if audio is None else np.ascontiguousarray(audio[:length], dtype=np.float32)

    @torch.no_grad()
    def combine(self, vs: np.ndarray | None, as_: np.ndarray | None, fusion: str | None = None) -> ScoreOut:
        if fusion is not None:
            raise ValueError(f"{self.det.name} is an early-fusion detector: no fusion rule to choose")
        x = self.det.network_input(vs, as_)
        frame_prob = self.net.frame_logits(as_tensor(x, self.device))
        s = torch.sigmoid(frame_prob[..., 0]).mean(0).double().cpu().numpy()
        return ScoreOut(s, s.copy())


@DETECTORS.register("hypervd")
class HyperVDDetector(Detector):
    """HyperVD: Lorentz-model graph convolutions on ``concat(visual crop, audio)`` per snippet."""

    modalities = ("visual", "audio")
    fusions = ()
    summary = "HyperVD: hyperbolic (Lorentz) GCN branches on concat(visual crop, audio), top-k MIL"

    def __init__(self, visual_dim: int = 1024, audio_dim: int = 128, dropout: float = DROPOUT) -> None:
        super().__init__(visual_dim, audio_dim, dropout=float(dropout))
        if self.visual_dim < 1 or self.audio_dim < 0:
            raise ValueError(f"{self.name}: bad feature dimensions visual={visual_dim} audio={audio_dim}")
        self.net = HyperVDNet(self.visual_dim, self.audio_dim, dropout=float(dropout))

    @classmethod
    def from_official_checkpoint(cls, path: str | Path, visual_dim: int = 1024) -> "HyperVDDetector":
        """The detector with the official weights (``ckpt/pretrained.pkl``), read by the allow-list loader.

        ``module.`` prefixes are removed (as ``infer.py`` does) and the state
        is loaded with ``strict=True``; the audio width is what the checkpoint
        leaves after ``visual_dim``.
        """
        from ..models.safe_pickle import load_torch_state

        state = load_torch_state(path)
        if "conv1d1.weight" not in state or "HFSGCN.encoder.layers.0.linear.weight.weight" not in state:
            raise ValueError(f"{path}: not a HyperVD state_dict (no conv1d1 / HFSGCN weights)")
        if int(state["conv1d1.weight"].shape[1]) != visual_dim:
            raise ValueError(f"{path}: conv1d1 takes {state['conv1d1.weight'].shape[1]} visual dims, not {visual_dim}")
        audio_dim = int(state["HFSGCN.encoder.layers.0.linear.weight.weight"].shape[1]) - HIDDEN - 1
        det = cls(visual_dim=visual_dim, audio_dim=audio_dim)
        det.net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
        det.net.eval()
        det.train_info = {"source": f"official checkpoint {Path(path).name}"}
        return det

    def network_input(self, visual: np.ndarray | None, audio: np.ndarray | None) -> np.ndarray:
        """``(crops, T, dv + da)``; a missing modality is a zero block."""
        if visual is None and audio is None:
            raise ValueError("both modalities are missing: nothing to score")
        t = min(x.shape[-2] for x in (visual, audio) if x is not None)
        crops = visual.shape[0] if visual is not None else 1
        out = np.zeros((crops, t, self.visual_dim + self.audio_dim), dtype=np.float32)
        if visual is not None:
            out[:, :, : self.visual_dim] = visual[:, :t]
        if audio is not None and self.audio_dim:
            out[:, :, self.visual_dim :] = audio[None, :t]
        return out

    # ----------------------------------------------------------------- training
    def fit(self, train: TrainSet, cfg: Any, seed: int = 0, progress: bool = False) -> Any:
        """The official loop: per-crop samples capped at ``cfg.max_seq_len``, BCE of the top-k video probabilities."""
        from .loss_loop import train_with_loss
        from .mil import cap_length, pad_batch, topk_mil_loss

        train.require(*(["visual", "audio"] if self.audio_dim else ["visual"]))
        if train.visual_dim != self.visual_dim or (self.audio_dim and train.audio_dim != self.audio_dim):
            raise ValueError(
                f"{self.name}: features are {train.visual_dim}/{train.audio_dim}-d, expected {self.visual_dim}/{self.audio_dim}"
            )
        items = [(i, c) for i, v in enumerate(train.visual) for c in range(v.shape[0])]
        labels_all = torch.as_tensor(train.labels, dtype=torch.float32)
        device = torch.device(cfg.device)
        width = self.visual_dim + self.audio_dim

        def step_fn(idx: np.ndarray, epoch: int):
            seqs = []
            for k in idx:
                video, crop = items[k]
                v = train.visual[video][crop : crop + 1]
                a = train.audio[video] if self.audio_dim else None
                seqs.append(cap_length(self.network_input(v, a)[0], cfg.max_seq_len))
            x, lengths = pad_batch(seqs, width)
            frame_prob = self.net.frame_logits(x.to(device), lengths.to(device))
            labels = labels_all[[items[k][0] for k in idx]].to(device)
            loss = topk_mil_loss(frame_prob, labels, lengths.to(device))
            return loss, {"mil": float(loss.detach())}

        tlog = train_with_loss(self.net, step_fn, len(items), cfg, seed, progress=progress, desc=self.name)
        self.train_info = {"seed": int(seed), "config": cfg.to_dict(), "log": tlog.to_dict(), "videos": len(train)}
        return tlog

    # ------------------------------------------------------------------ scoring
    def scorer(self, device: str = "cpu") -> HyperVDScorer:
        """A :class:`HyperVDScorer` on ``device``."""
        return HyperVDScorer(self, device)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        # clones: the curvature ``c`` is shared by a GCN and its encoder (two keys, one tensor)
        return model_tensors(self.net, clone=True), {}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        load_model_tensors(self.net, tensors)
