"""Inference fast path of the HL-Net-based detectors: fused tail, shared inputs, the HL-Net scorer.

Scoring a Table I grid runs an HL-Net over ~20 inputs of every video, for two
or three detectors. Three things make that cheaper without changing the
function the network computes:

- :class:`FusedTail` is :meth:`HLNet.tail <robusta_bench.detectors.hlnet.HLNet.tail>`
  at inference (no dropout, no padding) with its weights regrouped once: the
  four layers that read the 128-d hidden state (the online head's first
  conv, the three graph branches' ``x W`` and their kernel-5 residual convs)
  become ONE matrix product with a ``128 x 640`` matrix, and the localized
  adjacency is one ``(T, T)`` product for the whole batch.
- :class:`SharedInputs` stacks one video's visual inputs into one tensor and
  computes their Gram matrices (the cosine similarity of the holistic
  adjacency) once for every detector that reads them (HL-Net's visual part
  and RobustA's visual pass use the same raw features).
- :class:`HLNetScorer` exploits the linearity of ``conv1d1`` and of the Gram
  matrix over the concatenation ``[visual | audio]``: the visual part is
  computed once per visual input and combined with every audio input.

``precision="bfloat16"`` (opt-in) runs the large matrix products (first
layers, ``conv1d2`` and the fused 128 x 640 product) with bfloat16 inputs and
float32 accumulation, ~2.5x faster on CPUs with AVX-512 BF16; the Gram
matrices (thresholded at 0.7, so sensitive to rounding), the adjacencies and
everything elementwise stay float32. Its effect on the scores and APs is
measured in BENCHMARKS.md; the default is float32.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .base import ScoreOut
from .graph import as_tensor, cosine_from_gram, distance_adjacency, holistic_adjacency, score_adjacency

#: memory one inference pass may take for its (rows, T, T) adjacencies and (rows, T, 512) activations
PASS_BYTES = 128e6
#: precisions a scorer accepts (see the module docstring)
PRECISIONS = ("float32", "bfloat16")


def rows_per_pass(length: int) -> int:
    """Sequences of ``length`` snippets one inference pass may hold within :data:`PASS_BYTES` (at least 1).

    Per sequence: ~6 float32 ``(T, T)`` maps (similarities, three adjacencies,
    temporaries) and ~4 ``(T, 512)`` activations.
    """
    return max(1, int(PASS_BYTES // (4 * length * (6 * length + 2048))))


def compute_dtype(precision: str) -> torch.dtype:
    """The dtype of the large matrix products for ``precision`` (``fp32`` or ``bf16``; ``float32``/``bfloat16`` accepted)."""
    from ..vocabulary import LEGACY_PRECISIONS

    legacy = {v: k for k, v in LEGACY_PRECISIONS.items()}
    name = legacy.get(precision, precision)
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of fp32, bf16, got {precision!r}")
    return torch.float32 if name == "float32" else torch.bfloat16


def product(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ w (+ bias)`` as float32, the product computed in ``w``'s dtype (``x`` is cast to it)."""
    y = x.matmul(w) if x.dtype == w.dtype else x.to(w.dtype).matmul(w).float()
    return y if bias is None else y.add_(bias)


class FusedTail:
    """:meth:`HLNet.tail` at inference on unpadded batches, returning both heads' sigmoid ``(N, T)``.

    A snapshot of ``net``'s weights (build a new one after training). The
    inputs are consumed: ``pre`` (N, T, 512) and ``cos`` (N, T, T) are
    overwritten in place.
    """

    def __init__(self, net: "torch.nn.Module", precision: str = "float32") -> None:  # an HLNet
        dt = compute_dtype(precision)
        self.precision = precision
        with torch.no_grad():
            self.w2 = net.conv1d2.weight[:, :, 0].T.contiguous().to(dt)  # (512, 128)
            self.b2 = net.conv1d2.bias.detach().clone()
            a1, a2 = net.approximator[0], net.approximator[2]
            first, second = (net.gc1, net.gc3, net.gc5), (net.gc2, net.gc4, net.gc6)
            # residual conv (out, in, k): tap j acts as x @ weight[:, :, j].T; columns tap-major per branch
            taps = [gc.residual.weight.permute(1, 2, 0).reshape(gc.in_features, -1) for gc in first]
            cols = [a1.weight[:, :, 0].T] + [gc.weight for gc in first] + taps
            self.wf = torch.cat(cols, dim=1).contiguous().to(dt)  # (128, 64 + 3 * 32 + 3 * 5 * 32)
            self.a1_b = a1.bias.detach().clone()
            self.a2_w = a2.weight[:, :, 0].T.contiguous()  # (64, 32)
            self.a2_b = a2.bias.detach().clone()
            self.online_w = net.conv1d_approximator.weight[0].contiguous()  # (32, 5): column j = tap j
            self.online_b = net.conv1d_approximator.bias.detach().clone()
            self.res_b = torch.stack([gc.residual.bias for gc in first])  # (3, 32)
            self.w_second = [gc.weight.detach().clone() for gc in second]  # 3 x (32, 32)
            cw = net.classifier.weight[0]
            self.cls_w = [cw[32 * b : 32 * (b + 1)].clone() for b in range(3)]
            self.cls_b = net.classifier.bias.detach().clone()
        self.n_online = a1.out_channels
        self.width = self.w_second[0].shape[0]

    @torch.no_grad()
    def __call__(self, pre: torch.Tensor, cos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, _ = pre.shape
        w, k = self.width, self.n_online
        h = product(F.relu(pre, inplace=True), self.w2, self.b2).relu_()  # (N, T, 128)
        y = product(h, self.wf)  # (N, T, 640)
        # online (causal) head: conv 128->64 -> relu -> 64->32 -> relu -> causal kernel-5 conv -> logit
        o = product((y[..., :k] + self.a1_b).relu_(), self.a2_w, self.a2_b).relu_()
        taps = o.matmul(self.online_w)  # (N, T, 5)
        online = taps[..., 4] + self.online_b
        for j in range(4):  # y[t] += taps[t + j - 4, j]
            d = 4 - j
            if d < t:
                online[:, d:] += taps[:, : t - d, j]
        # residual convs (kernel 5, padding 2) of the three first-layer graph convolutions
        r = y[..., k + 3 * w :].view(n, t, 3, 5, w)
        res = r[:, :, :, 2] + self.res_b  # (N, T, 3, 32)
        for j in (0, 1, 3, 4):  # res[t] += r[t + j - 2, j]
            d = j - 2
            if abs(d) >= t:
                continue
            if d < 0:
                res[:, -d:] += r[:, : t + d, :, j]
            else:
                res[:, : t - d] += r[:, d:, :, j]
        support = y[..., k : k + 3 * w].view(n, t, 3, w)
        # adjacencies: holistic (thresholded cosine), localized (distance), score-based
        holistic = holistic_adjacency(cos, inplace=True)
        score = score_adjacency(online.unsqueeze(-1))
        dist = distance_adjacency(t, pre.device)

        def propagate(b: int, x: torch.Tensor) -> torch.Tensor:
            if b == 1:  # the same (T, T) matrix for every sequence: one product
                return dist.matmul(x.transpose(0, 1).reshape(t, -1)).view(t, n, -1).transpose(0, 1)
            return (holistic if b == 0 else score).bmm(x)

        offline = self.cls_b.expand(n, t).clone()
        for b in range(3):
            x1 = propagate(b, support[:, :, b]).add_(res[:, :, b]).relu_()
            x2 = propagate(b, x1.matmul(self.w_second[b])).add_(x1).relu_()
            offline += x2.matmul(self.cls_w[b])
        return torch.sigmoid(offline), torch.sigmoid(online)


class SharedInputs:
    """One video's visual inputs stacked into one tensor, and their Gram matrices, computed once for all scorers.

    Scorers of several detectors that read the same raw features of a video
    (HL-Net's visual part and RobustA's visual pass) share the stacking copy
    and the ``x x^T`` products. Build one per video; entries are keyed by the
    inputs' identity and the length.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple, tuple[tuple, Any]] = {}

    def _key(self, what: str, inputs: Mapping[Any, np.ndarray], keys: Sequence[Any], length: int, device) -> tuple:
        return (what, tuple((k, id(inputs[k])) for k in keys), int(length), str(device))

    def stack(self, inputs: Mapping[Any, np.ndarray], keys: Sequence[Any], length: int, device) -> torch.Tensor:
        """``inputs[k][:, :length]`` of every key, concatenated along the first axis, float32 on ``device``."""
        key = self._key("stack", inputs, keys, length, device)
        if key not in self._memo:
            arrs = [np.ascontiguousarray(inputs[k][:, :length], dtype=np.float32) for k in keys]
            x = torch.as_tensor(arrs[0].copy() if len(arrs) == 1 else np.concatenate(arrs), device=device)
            self._memo[key] = (tuple(inputs[k] for k in keys), x)  # holding the arrays keeps their ids unique
        return self._memo[key][1]

    def gram(
        self, inputs: Mapping[Any, np.ndarray], keys: Sequence[Any], length: int, device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x x^T (N, T, T), |x|^2 (N, T))`` of :meth:`stack`'s tensor (float32)."""
        key = self._key("gram", inputs, keys, length, device)
        if key not in self._memo:
            x = self.stack(inputs, keys, length, device)
            self._memo[key] = (tuple(inputs[k] for k in keys), (x.matmul(x.transpose(1, 2)), (x * x).sum(-1)))
        return self._memo[key][1]


def check_visual(inputs: Mapping[Any, np.ndarray | None], dim: int) -> list[Any]:
    """The keys of the present visual inputs, each checked to be ``(crops, T, dim)``."""
    keys = [k for k, v in inputs.items() if v is not None]
    for k in keys:
        if inputs[k].ndim != 3 or inputs[k].shape[2] != dim:
            raise ValueError(f"visual features must be (crops, T, {dim}), got {inputs[k].shape}")
    return keys


class HLNetScorer:
    """Fast inference for HL-Net on concatenated ``[visual | audio]`` inputs.

    ``conv1d1`` is linear and the cosine similarity is built from the Gram
    matrix, so both split over the concatenation: the visual part
    (``W_v x_v`` and ``x_v x_v^T``) is computed once per visual input and
    combined with any audio input. A missing modality contributes zeros, which
    is what a zero-filled part of the concatenation gives (without visual
    input every crop sees the same input, so one crop is computed).
    ``visual_dim`` or ``audio_dim`` may be 0 (single-modality HL-Net).
    """

    def __init__(
        self, model: "torch.nn.Module", visual_dim: int, audio_dim: int, device: str | torch.device = "cpu",
        precision: str = "float32",
    ) -> None:
        if visual_dim + audio_dim != model.feature_size:
            raise ValueError(f"visual_dim + audio_dim = {visual_dim + audio_dim} != model feature_size {model.feature_size}")
        self.model = model.eval()
        self.visual_dim = int(visual_dim)
        self.audio_dim = int(audio_dim)
        self.device = torch.device(device)
        self.precision = precision
        dt = compute_dtype(precision)
        with torch.no_grad():
            w = model.conv1d1.weight[:, :, 0]  # (512, F)
            self.w_visual = w[:, : self.visual_dim].T.contiguous().to(dt)  # (dv, 512)
            self.w_audio = w[:, self.visual_dim :].T.contiguous()  # (da, 512), small: float32
            self.bias = model.conv1d1.bias.detach().clone()
        self.tail = FusedTail(model, precision)

    def _empty_visual(self, length: int) -> dict[str, Any]:
        return {"pre": None, "gram": None, "sq": None, "crops": 1, "T": length}

    @torch.no_grad()
    def visual_state(self, visual: np.ndarray | None, length: int) -> dict[str, Any]:
        """Per-crop ``W_v x_v`` and Gram matrix of visual ``(crops, T, dv)``; None = missing (zeros)."""
        return self.visual_states({0: visual}, length)[0]

    @torch.no_grad()
    def visual_states(
        self, inputs: Mapping[Any, np.ndarray | None], length: int, shared: SharedInputs | None = None
    ) -> dict[Any, dict[str, Any]]:
        """:meth:`visual_state` of several inputs of one video (same ``length``), one matrix product for all."""
        if self.visual_dim == 0:
            return {k: self._empty_visual(length) for k in inputs}
        keys = check_visual(inputs, self.visual_dim)
        out = {k: self._empty_visual(length) for k in inputs if k not in keys}
        if not keys:
            return out
        shared = shared if shared is not None else SharedInputs()
        x = shared.stack(inputs, keys, length, self.device)
        gram, sq = shared.gram(inputs, keys, length, self.device)
        pre = product(x, self.w_visual)
        start = 0
        for k in keys:
            c = inputs[k].shape[0]
            part = slice(start, start + c)
            out[k] = {"pre": pre[part], "gram": gram[part], "sq": sq[part], "crops": c, "T": length}
            start += c
        return out

    @torch.no_grad()
    def audio_state(self, audio: np.ndarray | None, length: int) -> dict[str, Any]:
        """``W_a x_a + b`` and Gram matrix of audio ``(T, da)``; None = missing (zeros)."""
        if audio is None or self.audio_dim == 0:
            return {"pre": None, "gram": None, "sq": None, "T": length}
        if audio.ndim != 2 or audio.shape[1] != self.audio_dim:
            raise ValueError(f"audio features must be (T, {self.audio_dim}), got {audio.shape}")
        x = as_tensor(audio[:length], self.device)
        return {"pre": x.matmul(self.w_audio), "gram": x.matmul(x.T), "sq": (x * x).sum(-1), "T": length}

    def _fill(self, vs: dict[str, Any], as_: dict[str, Any], pre: torch.Tensor, gram: torch.Tensor, sq: torch.Tensor):
        """Write one combination's ``conv1d1`` pre-activation, Gram matrix and squared norms into the slices."""
        if vs["pre"] is None and as_["pre"] is None and self.visual_dim and self.audio_dim:
            raise ValueError("both modalities are missing: nothing to score")
        parts = [(vs["pre"], vs["gram"], vs["sq"]), (as_["pre"], as_["gram"], as_["sq"])]
        parts = [p for p in parts if p[0] is not None]
        if not parts:  # a single-modality network without its modality: the all-zero input
            pre.copy_(self.bias)
            gram.zero_()
            sq.zero_()
            return
        pre.copy_(parts[0][0])
        pre += self.bias
        gram.copy_(parts[0][1])
        sq.copy_(parts[0][2])
        for p, g, s in parts[1:]:
            pre += p
            gram += g
            sq += s

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
        out: list[ScoreOut] = []
        i = 0
        while i < len(pairs):
            t = pairs[i][0]["T"]
            budget = rows_per_pass(t)
            group = [pairs[i]]
            rows = pairs[i][0]["crops"]
            while i + len(group) < len(pairs) and pairs[i + len(group)][0]["T"] == t:
                nxt = pairs[i + len(group)][0]["crops"]
                if rows + nxt > budget:
                    break
                group.append(pairs[i + len(group)])
                rows += nxt
            pre = torch.empty(rows, t, self.bias.shape[0], device=self.device)
            gram = torch.empty(rows, t, t, device=self.device)
            sq = torch.empty(rows, t, device=self.device)
            start = 0
            for vs, as_ in group:
                part = slice(start, start + vs["crops"])
                self._fill(vs, as_, pre[part], gram[part], sq[part])
                start += vs["crops"]
            off, on = self.tail(pre, cosine_from_gram(gram, sq))
            off, on = off.cpu().numpy().astype(np.float64), on.cpu().numpy().astype(np.float64)
            start = 0
            for vs, _ in group:
                c = vs["crops"]
                out.append(ScoreOut(off[start : start + c].mean(0), on[start : start + c].mean(0)))
                start += c
            i += len(group)
        return out
