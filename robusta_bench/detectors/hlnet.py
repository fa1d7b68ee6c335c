"""HL-Net (Wu et al., ECCV 2020, "Not only look, but also listen"), the paper's backbone.

A port of the official XDVioDet network, module for module, so that the
released checkpoint loads with ``strict=True`` and reproduces the official
outputs (``tests/test_hlnet.py``). Shapes are ``(B, T, F)`` throughout.

Forward pass (as the official code does it):

- ``h = dropout(relu(conv1d2(dropout(relu(conv1d1(x))))))``, ``(B, T, 128)``;
- online (causal) head: ``approximator(h)``, left-pad 4, ``conv1d_approximator``
  (kernel 5) -> ``logits_S``;
- holistic adjacency: cosine similarity of the *raw input* features, values
  ``<= 0.7`` set to 0, softmax over the last axis of the valid ``T x T`` block;
- localized adjacency: ``exp(-|i - j| / e)`` (never masked);
- score adjacency from ``s = sigmoid(logits_S).detach()``: ``a = 1 - |s_i - s_j|``,
  ``a = sigmoid((a - 0.5) / 0.1)``, softmax over the valid block;
- three branches ``GC(128->32) -> ReLU -> dropout -> GC(32->32) -> ReLU -> dropout``
  with ``GC(x, A) = A @ (x W) + residual(x)`` (residual = Conv1d k=5 when the
  sizes differ, identity otherwise); concatenation (96) -> Linear -> ``logits_P``.

With a ``seq_len`` only the two softmaxed adjacencies are masked; the distance
adjacency and the convolutions see the padded steps, exactly like the official
code (so a padded sample's valid steps differ from an unpadded run).

This module is the reference port (training and the forward pass the parity
tests check); scoring goes through :mod:`.inference` (:class:`HLNetScorer`,
a fused tail with the same function, tested against this one), which
exploits the linearity of ``conv1d1`` and of the Gram matrix to score many
(visual, audio) combinations without recomputing the visual part.

Registered detectors (:class:`HLNetDetector`): ``hlnet`` (early fusion, input
``concat(visual crop, audio)``), ``visual-only`` and ``audio-only`` (the same
network on one modality, single-modality ablations). They train with the
official recipe (:mod:`.train`, :mod:`.mil`) and score through
:class:`HLNetScorer`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import DETECTORS, Detector, TrainSet
from .checkpoint import load_model_tensors, model_tensors
from .graph import conv_time, cosine_similarity, distance_adjacency, holistic_adjacency, score_adjacency
from .inference import HLNetScorer

#: Dropout of the official code (the paper says 0.7).
DROPOUT = 0.6
HIDDEN = 128


class GraphConvolution(nn.Module):
    """``A @ (x W) + residual(x)``; residual is a kernel-5 Conv1d when in != out, else identity."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        if in_features != out_features:
            self.residual = nn.Conv1d(in_features, out_features, kernel_size=5, padding=2)
        else:
            self.residual = None

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        out = adj.matmul(x.matmul(self.weight))
        if self.residual is not None:
            return out + conv_time(x, self.residual)
        return out + x


class SimilarityAdj(nn.Module):
    """Parameters of the official (unused) learned similarity; kept for strict loading."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight0 = nn.Parameter(torch.empty(in_features, out_features))
        self.weight1 = nn.Parameter(torch.empty(in_features, out_features))


class DistanceAdj(nn.Module):
    """Localized adjacency ``exp(-|i - j| / e)``; ``sigma`` is stored but unused (as in the official code)."""

    def __init__(self) -> None:
        super().__init__()
        self.sigma = nn.Parameter(torch.full((1,), 0.1))

    def forward(self, batch: int, length: int, device: torch.device | None = None) -> torch.Tensor:
        return distance_adjacency(length, device).unsqueeze(0).expand(batch, length, length)


class HLNet(nn.Module):
    """The HL-Net network for ``feature_size``-d inputs (1152 = 1024 I3D + 128 VGGish officially)."""

    def __init__(self, feature_size: int = 1152, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.feature_size = int(feature_size)
        self.conv1d1 = nn.Conv1d(self.feature_size, 512, kernel_size=1)
        self.conv1d2 = nn.Conv1d(512, HIDDEN, kernel_size=1)
        # conv1d3/conv1d4 exist in the official model (and its checkpoint) but are unused
        self.conv1d3 = nn.Conv1d(HIDDEN, 32, kernel_size=5, padding=2)
        self.conv1d4 = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.gc1 = GraphConvolution(HIDDEN, 32)
        self.gc2 = GraphConvolution(32, 32)
        self.gc3 = GraphConvolution(HIDDEN, 32)
        self.gc4 = GraphConvolution(32, 32)
        self.gc5 = GraphConvolution(HIDDEN, 32)
        self.gc6 = GraphConvolution(32, 32)
        self.simAdj = SimilarityAdj(self.feature_size, 32)
        self.disAdj = DistanceAdj()
        self.classifier = nn.Linear(96, 1)
        self.approximator = nn.Sequential(
            nn.Conv1d(HIDDEN, 64, kernel_size=1), nn.ReLU(), nn.Conv1d(64, 32, kernel_size=1), nn.ReLU()
        )
        self.conv1d_approximator = nn.Conv1d(32, 1, kernel_size=5)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self, bias_init: str = "default") -> None:
        """Official initialisation: Xavier-uniform weights of every conv, GC and linear layer.

        ``bias_init="default"`` keeps PyTorch's default bias draw
        (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), as the official code does (its
        ``fill_(0.1)`` line is commented out); ``"zero"`` zeroes the biases.
        """
        if bias_init not in ("default", "zero"):
            raise ValueError(f"bias_init must be 'default' or 'zero', got {bias_init!r}")
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                m.reset_parameters()  # PyTorch's default weight and bias draw
            if isinstance(m, (nn.Conv1d, nn.Linear, GraphConvolution)):
                nn.init.xavier_uniform_(m.weight)
                if bias_init == "zero" and getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for w in (self.simAdj.weight0, self.simAdj.weight1):
            bound = 1.0 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)

    def online_parameters(self) -> list[nn.Parameter]:
        """The online head (approximator + ``conv1d_approximator``): trained at lr/2 by the official code."""
        return [*self.approximator.parameters(), *self.conv1d_approximator.parameters()]

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, seq_len: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, F) -> ``(logits_P, logits_S)``, both pre-sigmoid (B, T, 1)."""
        pre = conv_time(x, self.conv1d1)
        cos = cosine_similarity(x)
        return self.tail(pre, cos, seq_len)

    def tail(
        self, pre: torch.Tensor, cos: torch.Tensor, seq_len: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Everything after ``conv1d1``: ``pre`` (B, T, 512) pre-activation, ``cos`` (B, T, T)."""
        inplace = not torch.is_grad_enabled()  # inference: no autograd graph needs the pre-activations
        h = self.dropout(F.relu(pre, inplace=inplace))
        h = self.dropout(F.relu(conv_time(h, self.conv1d2), inplace=inplace))  # (B, T, 128)
        a1, a2 = self.approximator[0], self.approximator[2]
        online = F.relu(conv_time(F.relu(conv_time(h, a1), inplace=inplace), a2), inplace=inplace)  # (B, T, 32)
        online = conv_time(online, self.conv1d_approximator, pads=(4, 0))  # causal: (B, T, 1)

        adj = holistic_adjacency(cos, seq_len)
        dis = self.disAdj(h.shape[0], h.shape[1], h.device)
        sadj = score_adjacency(online.detach(), seq_len)

        x1 = self.dropout(F.relu(self.gc1(h, adj)))
        x1 = self.dropout(F.relu(self.gc2(x1, adj)))
        x2 = self.dropout(F.relu(self.gc3(h, dis)))
        x2 = self.dropout(F.relu(self.gc4(x2, dis)))
        x3 = self.dropout(F.relu(self.gc5(h, sadj)))
        x3 = self.dropout(F.relu(self.gc6(x3, sadj)))
        offline = self.classifier(torch.cat((x1, x2, x3), dim=2))
        return offline, online


def load_official_checkpoint(path: str, feature_size: int = 1152, map_location: str = "cpu") -> HLNet:
    """Build :class:`HLNet` and load an official XDVioDet state_dict with ``strict=True`` (eval mode)."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(state).__name__}")
    model = HLNet(feature_size=feature_size)
    model.load_state_dict(state, strict=True)
    return model.eval()


# --------------------------------------------------------------------------- detectors
@DETECTORS.register("hlnet")
class HLNetDetector(Detector):
    """The HL-Net baseline: early fusion, the input of a snippet is ``concat(visual crop, audio)``.

    Training follows the detector's recipe (default ``official``, see
    :mod:`.recipes`): every visual crop of
    every video is one sample paired with its video's audio, sequences are
    capped (by the training set) and zero-padded per batch with ``seq_len``,
    top-k MIL on both heads + 5 x distillation. Scoring runs all crops of a
    video in one forward and averages ``sigmoid`` over crops. A missing
    modality is a zero block in the concatenation (that is what a
    concatenation model sees when a modality is absent).
    """

    modalities = ("visual", "audio")
    fusions = ()
    summary = "HL-Net (XDVioDet): early fusion, input concat(visual crop, audio) per snippet"

    def __init__(self, visual_dim: int = 1024, audio_dim: int = 128, dropout: float = DROPOUT) -> None:
        super().__init__(visual_dim, audio_dim, dropout=float(dropout))
        if self.input_dims[0] < 0 or self.input_dims[1] < 0 or sum(self.input_dims) < 1:
            raise ValueError(f"{self.name}: bad feature dimensions visual={visual_dim} audio={audio_dim}")
        self.net = HLNet(sum(self.input_dims), dropout=float(dropout))

    @property
    def input_dims(self) -> tuple[int, int]:
        """``(visual part, audio part)`` of the network input (0 for a modality it does not use)."""
        return (
            self.visual_dim if "visual" in self.modalities else 0,
            self.audio_dim if "audio" in self.modalities else 0,
        )

    @classmethod
    def from_official_checkpoint(cls, path: str, visual_dim: int = 1024) -> "HLNetDetector":
        """The detector with an official XDVioDet state_dict (``strict=True``); audio = the remaining inputs."""
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "conv1d1.weight" not in state:
            raise ValueError(f"{path}: not an HL-Net state_dict (no 'conv1d1.weight')")
        feature_size = int(state["conv1d1.weight"].shape[1])
        if not 0 < visual_dim < feature_size:
            raise ValueError(f"{path}: input size {feature_size} cannot hold {visual_dim} visual dims plus audio")
        det = cls(visual_dim=visual_dim, audio_dim=feature_size - visual_dim)
        det.net.load_state_dict(state, strict=True)
        det.net.eval()
        det.train_info = {"source": f"official checkpoint {Path(path).name}"}
        return det

    # ----------------------------------------------------------------- training
    def _samples(self, train: TrainSet) -> list[tuple[int, int]]:
        """(video, crop) pairs: each visual crop is a sample; one sample per video without visual input."""
        if self.input_dims[0]:
            return [(i, c) for i, v in enumerate(train.visual) for c in range(v.shape[0])]
        return [(i, 0) for i in range(len(train))]

    def _sample_input(self, train: TrainSet, video: int, crop: int) -> np.ndarray:
        parts = []
        if self.input_dims[0]:
            parts.append(train.visual[video][crop])
        if self.input_dims[1]:
            parts.append(train.audio[video])
        t = min(p.shape[0] for p in parts)
        return np.concatenate([np.asarray(p[:t], dtype=np.float32) for p in parts], axis=1)

    def fit(self, train: TrainSet, cfg: Any, seed: int = 0, progress: bool = False) -> Any:
        """Train on clean features with the recipe ``cfg`` (a :class:`~.train.TrainConfig`); returns the :class:`~.train.TrainLog`."""
        from .mil import cap_length, pad_batch
        from .train import train_network

        used = [m for m, d in zip(("visual", "audio"), self.input_dims) if d]
        train.require(*used)
        for mod, want in zip(("visual", "audio"), self.input_dims):
            have = getattr(train, f"{mod}_dim") if getattr(train, mod) is not None else 0
            if want and have != want:
                raise ValueError(f"{self.name}: {mod} training features are {have}-d, the detector expects {want}")
        items = self._samples(train)
        device = torch.device(cfg.device)
        labels_all = torch.as_tensor(train.labels, dtype=torch.float32)
        width = sum(self.input_dims)

        def batch_fn(idx: np.ndarray, epoch: int):
            seqs = [cap_length(self._sample_input(train, *items[k]), cfg.max_seq_len) for k in idx]
            x, lengths = pad_batch(seqs, width)
            off, on = self.net(x.to(device), lengths.to(device))
            labels = labels_all[[items[k][0] for k in idx]].to(device)
            return off, on, labels, lengths.to(device)

        tlog = train_network(self.net, batch_fn, len(items), cfg, seed, progress=progress, desc=self.name)
        self.train_info = {"seed": int(seed), "config": cfg.to_dict(), "log": tlog.to_dict(), "videos": len(train)}
        return tlog

    # ------------------------------------------------------------------ scoring
    def scorer(self, device: str = "cpu", precision: str = "float32") -> HLNetScorer:
        """A :class:`~.inference.HLNetScorer` on ``device`` (the network is moved there); see
        :mod:`.inference` for ``precision``."""
        self.net.to(device).eval()
        return HLNetScorer(self.net, self.input_dims[0], self.input_dims[1], device, precision)

    # ---------------------------------------------------------------- save/load
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return model_tensors(self.net), {}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        load_model_tensors(self.net, tensors)


@DETECTORS.register("visual-only")
class VisualOnlyDetector(HLNetDetector):
    """Single-modality ablation: HL-Net on the visual features alone (audio is ignored)."""

    modalities = ("visual",)
    summary = "HL-Net on visual features only (single-modality ablation)"


@DETECTORS.register("audio-only")
class AudioOnlyDetector(HLNetDetector):
    """Single-modality ablation: HL-Net on the audio features alone (visual is ignored)."""

    modalities = ("audio",)
    summary = "HL-Net on audio features only (single-modality ablation)"
