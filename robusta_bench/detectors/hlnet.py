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

The tail after ``conv1d1`` is shared with :class:`HLNetScorer`, the fast
evaluation path that exploits the linearity of ``conv1d1`` and of the Gram
matrix to score many (visual, audio) combinations without recomputing the
visual part.

Registered detectors (:class:`HLNetDetector`): ``hlnet`` (early fusion, input
``concat(visual crop, audio)``), ``visual-only`` and ``audio-only`` (the same
network on one modality, single-modality ablations). They train with the
official recipe (:mod:`.train`, :mod:`.mil`) and score through
:class:`HLNetScorer`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import DETECTORS, Detector, ScoreOut, TrainSet

#: Similarity threshold of the holistic adjacency (official value).
SIM_THRESHOLD = 0.7
#: Temperature of the score adjacency's sigmoid (official value).
SCORE_TEMPERATURE = 0.1
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


#: memory one inference pass may take for its (rows, T, T) adjacencies and (rows, T, 512) activations
PASS_BYTES = 128e6


def rows_per_pass(length: int) -> int:
    """Sequences of ``length`` snippets one inference pass may hold within :data:`PASS_BYTES` (at least 1).

    Per sequence: ~6 float32 ``(T, T)`` maps (similarities, three adjacencies,
    temporaries) and ~4 ``(T, 512)`` activations.
    """
    return max(1, int(PASS_BYTES // (4 * length * (6 * length + 2048))))


def as_tensor(arr: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """A float32 tensor of ``arr`` on ``device`` (copied when read-only, e.g. features read zero-copy from Arrow)."""
    x = np.ascontiguousarray(arr, dtype=np.float32)
    if not x.flags.writeable:
        x = x.copy()
    return torch.as_tensor(x, device=device)


def conv_time(x: torch.Tensor, conv: nn.Conv1d, pads: tuple[int, int] | None = None) -> torch.Tensor:
    """``conv`` over time of ``(B, T, C)`` features, returned as ``(B, T', out)``.

    The same function as ``conv(x.permute(0, 2, 1)).permute(0, 2, 1)`` (``pads``:
    explicit (left, right) zero padding instead of the conv's own), computed
    in the ``(B, T, C)`` layout without transposes: a kernel-1 conv is a
    linear layer; a kernel-k conv is one product with all k taps,
    ``Y = x_pad W_taps`` (B, T + pads, k, out), summed along the shifted
    diagonals ``y[t] = sum_j Y[t + j, j]``. On CPU this is 1.5-3x faster than
    ``conv1d`` on transposed tensors.
    """
    w = conv.weight  # (out, in, k)
    out_ch, _, k = w.shape
    left, right = (conv.padding[0], conv.padding[0]) if pads is None else pads
    if k == 1 and left == right == 0:
        return F.linear(x, w[:, :, 0], conv.bias)
    if left or right:
        x = F.pad(x, (0, 0, left, right))
    taps = F.linear(x, w.permute(2, 0, 1).reshape(k * out_ch, -1)).view(x.shape[0], x.shape[1], k, out_ch)
    n = x.shape[1] - k + 1
    y = taps[:, 0:n, 0]
    for j in range(1, k):
        y = y + taps[:, j : j + n, j]
    return y if conv.bias is None else y + conv.bias


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
        idx = torch.arange(length, dtype=torch.float32, device=device)
        dist = (idx[:, None] - idx[None, :]).abs()
        adj = torch.exp(-dist / torch.exp(torch.tensor(1.0, device=device)))
        return adj.unsqueeze(0).expand(batch, length, length)


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

    def reset_parameters(self) -> None:
        """Official initialisation: Xavier-uniform weights and zero biases for convs, GCs and linears."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear, GraphConvolution)):
                nn.init.xavier_uniform_(m.weight)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for w in (self.simAdj.weight0, self.simAdj.weight1):
            bound = 1.0 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)

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


def cosine_similarity(x: torch.Tensor) -> torch.Tensor:
    """Official cosine similarity ``x x^T / (|x| |x|^T + 1e-20)`` of (B, T, F) -> (B, T, T)."""
    gram = x.matmul(x.transpose(1, 2))
    norm = torch.linalg.vector_norm(x, dim=2, keepdim=True)
    return gram / (norm.matmul(norm.transpose(1, 2)) + 1e-20)


def _masked_softmax(a: torch.Tensor, seq_len: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis; with ``seq_len`` only the top-left valid block (zeros elsewhere).

    Equal to the official per-sample ``out[i, :n, :n] = softmax(a[i, :n, :n])``,
    computed for the whole batch at once (invalid columns get ``-inf``, invalid
    rows are zeroed afterwards, so no NaN appears in the forward or backward pass).
    """
    if seq_len is None:
        return torch.softmax(a, dim=-1)
    steps = torch.arange(a.shape[-1], device=a.device)
    valid = steps[None, :] < torch.as_tensor(seq_len, device=a.device)[:, None]  # (B, T)
    out = torch.softmax(a.masked_fill(~valid[:, None, :], float("-inf")), dim=-1)
    return out * valid[:, :, None].to(out.dtype)


def holistic_adjacency(cos: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
    """Thresholded (``<= 0.7`` -> 0) similarity, softmaxed per row over the valid block."""
    return _masked_softmax(F.threshold(cos, SIM_THRESHOLD, 0.0), seq_len)


def score_adjacency(logits: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
    """Adjacency from the online scores: ``sigmoid((1 - |s_i - s_j| - 0.5) / 0.1)``, softmaxed."""
    s = torch.sigmoid(logits)  # (B, T, 1)
    a = 1.0 - (s - s.transpose(1, 2)).abs()
    a = 1.0 / (1.0 + torch.exp(-(a - 0.5) / SCORE_TEMPERATURE))
    return _masked_softmax(a, seq_len)


def load_official_checkpoint(path: str, feature_size: int = 1152, map_location: str = "cpu") -> HLNet:
    """Build :class:`HLNet` and load an official XDVioDet state_dict with ``strict=True`` (eval mode)."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(state).__name__}")
    model = HLNet(feature_size=feature_size)
    model.load_state_dict(state, strict=True)
    return model.eval()


class HLNetScorer:
    """Fast inference for HL-Net on concatenated ``[visual | audio]`` inputs.

    ``conv1d1`` is linear and the cosine similarity is built from the Gram
    matrix, so both split over the concatenation: the visual part
    (``W_v x_v`` and ``x_v x_v^T``) is computed once per visual input and
    combined with any audio input. A missing modality contributes zeros, which
    is what a zero-filled part of the concatenation gives. ``visual_dim`` or
    ``audio_dim`` may be 0 (single-modality HL-Net).
    """

    def __init__(self, model: HLNet, visual_dim: int, audio_dim: int, device: str | torch.device = "cpu") -> None:
        if visual_dim + audio_dim != model.feature_size:
            raise ValueError(f"visual_dim + audio_dim = {visual_dim + audio_dim} != model feature_size {model.feature_size}")
        self.model = model.eval()
        self.visual_dim = int(visual_dim)
        self.audio_dim = int(audio_dim)
        self.device = torch.device(device)
        w = model.conv1d1.weight[:, :, 0]  # (512, F)
        self.w_visual = w[:, : self.visual_dim].T.contiguous()  # (dv, 512)
        self.w_audio = w[:, self.visual_dim :].T.contiguous()  # (da, 512)
        self.bias = model.conv1d1.bias

    @torch.no_grad()
    def visual_state(self, visual: np.ndarray | None, length: int) -> dict[str, Any]:
        """Per-crop ``W_v x_v`` and Gram matrix of visual ``(crops, T, dv)``; None = missing (zeros)."""
        if visual is None or self.visual_dim == 0:
            return {"pre": None, "gram": None, "sq": None, "crops": 1, "T": length}
        if visual.ndim != 3 or visual.shape[2] != self.visual_dim:
            raise ValueError(f"visual features must be (crops, T, {self.visual_dim}), got {visual.shape}")
        x = as_tensor(visual[:, :length], self.device)
        return {
            "pre": x.matmul(self.w_visual),
            "gram": x.matmul(x.transpose(1, 2)),
            "sq": (x * x).sum(-1),
            "crops": x.shape[0],
            "T": length,
        }

    @torch.no_grad()
    def audio_state(self, audio: np.ndarray | None, length: int) -> dict[str, Any]:
        """``W_a x_a`` and Gram matrix of audio ``(T, da)``; None = missing (zeros)."""
        if audio is None or self.audio_dim == 0:
            return {"pre": None, "gram": None, "sq": None, "T": length}
        if audio.ndim != 2 or audio.shape[1] != self.audio_dim:
            raise ValueError(f"audio features must be (T, {self.audio_dim}), got {audio.shape}")
        x = as_tensor(audio[:length], self.device)
        return {"pre": x.matmul(self.w_audio), "gram": x.matmul(x.T), "sq": (x * x).sum(-1), "T": length}

    @torch.no_grad()
    def visual_states(self, inputs: Mapping[Any, np.ndarray | None], length: int) -> dict[Any, dict[str, Any]]:
        """:meth:`visual_state` of several inputs of one video (same ``length``), one matrix product for all."""
        keys = [k for k, v in inputs.items() if v is not None and self.visual_dim]
        out = {k: self.visual_state(None, length) for k in inputs if k not in keys}
        if not keys:
            return out
        for k in keys:
            if inputs[k].ndim != 3 or inputs[k].shape[2] != self.visual_dim:
                raise ValueError(f"visual features must be (crops, T, {self.visual_dim}), got {inputs[k].shape}")
        arrs = [np.ascontiguousarray(inputs[k][:, :length], dtype=np.float32) for k in keys]
        x = torch.as_tensor(np.concatenate(arrs), device=self.device)
        pre = x.matmul(self.w_visual)
        gram = x.matmul(x.transpose(1, 2))
        sq = (x * x).sum(-1)
        start = 0
        for k, a in zip(keys, arrs):
            c = a.shape[0]
            part = slice(start, start + c)
            out[k] = {"pre": pre[part], "gram": gram[part], "sq": sq[part], "crops": c, "T": length}
            start += c
        return out

    def _tail_inputs(self, vs: dict[str, Any], as_: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``conv1d1`` pre-activation (crops, T, 512) and cosine similarity (crops, T, T) of one combination."""
        if vs["pre"] is None and as_["pre"] is None and self.visual_dim and self.audio_dim:
            raise ValueError("both modalities are missing: nothing to score")
        t = vs["T"]
        crops = vs["crops"]
        # fresh tensors (the tail may work in place on ``pre``)
        pre = self.bias.detach().view(1, 1, -1).repeat(crops, t, 1)
        gram = torch.zeros(crops, t, t, device=self.device)
        sq = torch.zeros(crops, t, device=self.device)
        if vs["pre"] is not None:
            pre += vs["pre"]
            gram += vs["gram"]
            sq += vs["sq"]
        if as_["pre"] is not None:
            pre += as_["pre"].unsqueeze(0)
            gram += as_["gram"].unsqueeze(0)
            sq += as_["sq"].unsqueeze(0)
        norm = sq.clamp_min(0).sqrt().unsqueeze(-1)
        cos = gram / (norm.matmul(norm.transpose(1, 2)) + 1e-20)
        return pre, cos

    @torch.no_grad()
    def combine(self, vs: dict[str, Any], as_: dict[str, Any], fusion: str | None = None) -> ScoreOut:
        """Scores of one video: mean over crops of ``sigmoid`` of both heads, each ``(T,)``.

        HL-Net fuses by concatenation, so ``fusion`` must be None. A modality
        whose state is empty (missing, or not an input of this network)
        contributes zeros; both empty is an error.
        """
        return self.combine_many([(vs, as_)], fusion)[0]

    @torch.no_grad()
    def combine_many(
        self, pairs: list[tuple[dict[str, Any], dict[str, Any]]], fusion: str | None = None
    ) -> list[ScoreOut]:
        """:meth:`combine` of several (visual, audio) state pairs of one video: one network pass per ~128 MB."""
        if fusion is not None:
            raise ValueError(f"HL-Net fuses by concatenation; fusion rule {fusion!r} does not apply")
        inputs = [self._tail_inputs(vs, as_) for vs, as_ in pairs]
        out: list[ScoreOut] = []
        i = 0
        while i < len(inputs):
            t = inputs[i][0].shape[1]
            budget = rows_per_pass(t)
            group = [inputs[i]]
            rows = inputs[i][0].shape[0]
            while i + len(group) < len(inputs) and inputs[i + len(group)][0].shape[1] == t:
                nxt = inputs[i + len(group)][0].shape[0]
                if rows + nxt > budget:
                    break
                group.append(inputs[i + len(group)])
                rows += nxt
            pre = torch.cat([g[0] for g in group]) if len(group) > 1 else group[0][0]
            cos = torch.cat([g[1] for g in group]) if len(group) > 1 else group[0][1]
            off, on = self.model.tail(pre, cos, None)
            off = torch.sigmoid(off[..., 0]).cpu().numpy().astype(np.float64)
            on = torch.sigmoid(on[..., 0]).cpu().numpy().astype(np.float64)
            start = 0
            for g in group:
                c = g[0].shape[0]
                out.append(ScoreOut(off[start : start + c].mean(0), on[start : start + c].mean(0)))
                start += c
            i += len(group)
        return out


# --------------------------------------------------------------------------- detectors
@DETECTORS.register("hlnet")
class HLNetDetector(Detector):
    """The HL-Net baseline: early fusion, the input of a snippet is ``concat(visual crop, audio)``.

    Training follows the official recipe (:mod:`.train`): every visual crop of
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
        """Train on clean features with the official recipe; returns the :class:`~.train.TrainLog`."""
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
    def scorer(self, device: str = "cpu") -> HLNetScorer:
        """A :class:`HLNetScorer` on ``device`` (the network is moved there)."""
        self.net.to(device).eval()
        return HLNetScorer(self.net, self.input_dims[0], self.input_dims[1], device)

    # ---------------------------------------------------------------- save/load
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {f"model.{k}": v for k, v in self.net.state_dict().items()}, {}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        self.net.load_state_dict(sd, strict=True)
        self.net.eval()


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
