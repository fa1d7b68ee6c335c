"""RTFM (Tian et al., ICCV 2021, "Robust Temporal Feature Magnitude learning"), ported layer for layer.

The network of the official ``model.py`` (github.com/tianyu0207/RTFM at
``cf938f4``), with the same module names so an official ``state_dict`` loads
with ``strict=True``, checked against the official outputs in
``tests/test_rtfm.py``. Inputs are ``(bs, ncrops, T, F)``:

- ``Aggregate`` (multi-scale temporal network): three dilated Conv1d branches
  ``F -> 512`` (k=3, dilation 1, 2, 4; each Conv -> ReLU -> BN), a ``1x1``
  Conv ``F -> 512`` (no bias) -> ReLU feeding a dot-product non-local block
  (theta/phi/g to 256 channels, ``f = theta^T phi / N`` without softmax, ``W``
  = Conv 256 -> 512 + BN, residual), the four branches concatenated (2048) ->
  Conv ``2048 -> F`` (k=3, no bias) -> ReLU -> BN, plus the input (residual);
- dropout(0.7), then ``fc1 F->512 -> ReLU -> dropout -> fc2 512->128 -> ReLU ->
  dropout -> fc3 128->1 -> sigmoid``: per-crop snippet **probabilities**,
  averaged over the crops (``scores``, ``(bs, T, 1)``);
- feature magnitudes: the L2 norm of each crop's snippet feature, averaged over
  crops; the top ``k = 32 // 10 = 3`` snippets by magnitude (after multiplying
  by ``dropout(ones)``, a random mask in training) select the scores and
  features that enter the loss, separately for the normal half (the first
  ``n_normal`` videos of the batch) and the abnormal half.

Quirks kept from the official code: ``k`` is the constant 3 whatever ``T``
(``T >= 3`` is needed for the top-k); with exactly one video in the normal half
(inference) the abnormal half *is* the normal half; the selected features are
stacked crop-major. Generalised: the input width ``F`` (the official code
hard-codes 2048; ``conv_4``'s input and ``conv_5``'s output follow ``F`` so the
residual holds) and the number of crops (the official slice ``batch_size * 10``
assumes 10 crops; here ``n_normal * ncrops``, the same for 10 crops).

Training (:func:`rtfm_loss`) is the official objective: BCE of the top-k mean
scores against the video labels + ``alpha`` x the feature-magnitude margin
loss ``mean((|m - ||mean_k f_abn||| + ||mean_k f_nor||)^2)`` (alpha 1e-4,
margin 100) + smoothness ``8e-4 * sum((s[t+1] - s[t])^2)`` + sparsity
``8e-3 * ||s||_2`` on the abnormal videos' flattened scores. Each training video
is first averaged into 32 segments (:func:`segment_average`, the official
``process_feat``); a batch holds ``n`` normal then ``n`` abnormal videos.

Registered detector ``rtfm`` (:class:`RTFMDetector`): early fusion like the
paper's multimodal baseline, each crop's input is ``concat(visual crop,
audio)`` (``audio_dim=0`` for the visual-only original); ``visual_dim`` 2048
(ResNet50-I3D, RTFM's default) or 1024 (I3D Inception). Scores are the
averaged crop probabilities; RTFM has no online head, so ``online`` repeats
``offline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..seeding import rng_for
from .base import DETECTORS, Detector, ScoreOut, TrainSet
from .checkpoint import load_model_tensors, model_tensors
from .graph import as_tensor

#: Official constants: training segments per video, top-k = segments // 10, dropout.
NUM_SEGMENTS = 32
TOP_K = NUM_SEGMENTS // 10
DROPOUT = 0.7
#: Loss weights of the official ``train.py``.
ALPHA = 1e-4
MARGIN = 100.0
LAMBDA_SPARSE = 8e-3
LAMBDA_SMOOTH = 8e-4
#: Official optimiser: Adam lr 1e-3, weight decay 5e-3, 32 normal + 32 abnormal videos per step.
OFFICIAL_TRAIN = {"lr": 1e-3, "weight_decay": 5e-3, "batch_size": 32, "schedule": "none"}


class NonLocalBlock1D(nn.Module):
    """Dot-product non-local block (no softmax, ``f / N``), ``W`` = Conv + BN, with a residual."""

    def __init__(self, in_channels: int = 512) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.inter_channels = max(in_channels // 2, 1)
        self.g = nn.Conv1d(in_channels, self.inter_channels, kernel_size=1)
        self.W = nn.Sequential(nn.Conv1d(self.inter_channels, in_channels, kernel_size=1), nn.BatchNorm1d(in_channels))
        self.theta = nn.Conv1d(in_channels, self.inter_channels, kernel_size=1)
        self.phi = nn.Conv1d(in_channels, self.inter_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, T) -> (B, C, T)."""
        g_x = self.g(x).permute(0, 2, 1)  # (B, T, C')
        theta_x = self.theta(x).permute(0, 2, 1)
        phi_x = self.phi(x)  # (B, C', T)
        f = torch.matmul(theta_x, phi_x)
        y = torch.matmul(f / f.shape[-1], g_x)  # (B, T, C')
        return self.W(y.permute(0, 2, 1).contiguous()) + x


def _branch(in_ch: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_ch, 512, kernel_size=3, stride=1, dilation=dilation, padding=dilation), nn.ReLU(), nn.BatchNorm1d(512)
    )


class Aggregate(nn.Module):
    """RTFM's multi-scale temporal network (MTN) on ``(B, T, F)`` features, residual output ``(B, T, F)``."""

    def __init__(self, len_feature: int = 2048) -> None:
        super().__init__()
        self.conv_1 = _branch(len_feature, 1)
        self.conv_2 = _branch(len_feature, 2)
        self.conv_3 = _branch(len_feature, 4)
        self.conv_4 = nn.Sequential(nn.Conv1d(len_feature, 512, kernel_size=1, bias=False), nn.ReLU())
        self.conv_5 = nn.Sequential(
            nn.Conv1d(2048, len_feature, kernel_size=3, padding=1, bias=False), nn.ReLU(), nn.BatchNorm1d(len_feature)
        )
        self.non_local = NonLocalBlock1D(512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.permute(0, 2, 1)
        residual = out
        out_d = torch.cat((self.conv_1(out), self.conv_2(out), self.conv_3(out)), dim=1)
        out = self.non_local(self.conv_4(out))
        out = self.conv_5(torch.cat((out_d, out), dim=1))
        return (out + residual).permute(0, 2, 1)


@dataclass
class RTFMOutput:
    """The distinct outputs of the official forward (its 10-tuple repeats ``feat_select_abn``)."""

    score_abnormal: torch.Tensor  # (n_abn, 1)
    score_normal: torch.Tensor  # (n_normal, 1)
    feat_select_abn: torch.Tensor  # (ncrops * n, k, F), crop-major
    feat_select_normal: torch.Tensor
    scores: torch.Tensor  # (bs, T, 1) probabilities averaged over crops
    feat_magnitudes: torch.Tensor  # (bs, T)
    idx_abn: torch.Tensor  # (n_abn, k)
    idx_normal: torch.Tensor  # (n_normal, k)


class RTFMNet(nn.Module):
    """The official RTFM ``Model`` for ``feature_size``-d inputs; ``batch_size`` = videos in the normal half."""

    def __init__(self, feature_size: int = 2048, batch_size: int = 32, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.feature_size = int(feature_size)
        self.batch_size = int(batch_size)
        self.k_abn = self.k_nor = TOP_K
        self.Aggregate = Aggregate(self.feature_size)
        self.fc1 = nn.Linear(self.feature_size, 512)
        self.fc2 = nn.Linear(512, 128)
        self.fc3 = nn.Linear(128, 1)
        self.drop_out = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official initialisation: BN defaults, the non-local ``W`` BN at 0, Xavier-uniform convs/linears, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()
        nn.init.zeros_(self.Aggregate.non_local.W[1].weight)
        nn.init.zeros_(self.Aggregate.non_local.W[1].bias)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features_and_scores(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs`` (bs, ncrops, T, F) -> per-crop features (bs*ncrops, T, F) and crop-averaged scores (bs, T, 1)."""
        bs, ncrops, t, f = inputs.shape
        features = self.drop_out(self.Aggregate(inputs.reshape(-1, t, f)))
        s = self.drop_out(F.relu(self.fc1(features)))
        s = self.drop_out(F.relu(self.fc2(s)))
        s = torch.sigmoid(self.fc3(s))
        return features, s.view(bs, ncrops, -1).mean(1).unsqueeze(2)

    def forward(self, inputs: torch.Tensor, n_normal: int | None = None) -> RTFMOutput:
        """The official forward; the first ``n_normal`` (default ``batch_size``) videos are the normal half."""
        bs, ncrops, t, f = inputs.shape
        n_normal = self.batch_size if n_normal is None else int(n_normal)
        features, scores = self.features_and_scores(inputs)
        magnitudes = torch.linalg.vector_norm(features, ord=2, dim=2).view(bs, ncrops, -1).mean(1)
        nfeat, afeat = features[: n_normal * ncrops], features[n_normal * ncrops :]
        nscore, ascore = scores[:n_normal], scores[n_normal:]
        nmag, amag = magnitudes[:n_normal], magnitudes[n_normal:]
        n_size = nmag.shape[0]
        if n_size == 1:  # inference layout: the abnormal half is the normal half
            amag, ascore, afeat = nmag, nscore, nfeat
        idx_abn, score_abn, sel_abn = self._select(amag, ascore, afeat, n_size, ncrops, self.k_abn)
        idx_nor, score_nor, sel_nor = self._select(nmag, nscore, nfeat, n_size, ncrops, self.k_nor)
        return RTFMOutput(score_abn, score_nor, sel_abn, sel_nor, scores, magnitudes, idx_abn, idx_nor)

    def _select(
        self, mags: torch.Tensor, scores: torch.Tensor, feats: torch.Tensor, n_size: int, ncrops: int, k: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-k snippets by (dropout-masked) magnitude: indices, mean score there, features there (crop-major)."""
        mask = self.drop_out(torch.ones_like(mags))
        idx = torch.topk(mags * mask, k, dim=1)[1]
        t, f = feats.shape[1], feats.shape[2]
        per_crop = feats.view(n_size, ncrops, t, f).permute(1, 0, 2, 3)
        gather_idx = idx.unsqueeze(2).expand(-1, -1, f)
        selected = torch.cat([torch.gather(crop, 1, gather_idx) for crop in per_crop])
        score = torch.mean(torch.gather(scores, 1, idx.unsqueeze(2).expand(-1, -1, scores.shape[2])), dim=1)
        return idx, score, selected


def rtfm_loss(
    out: RTFMOutput,
    n_normal: int,
    *,
    alpha: float = ALPHA,
    margin: float = MARGIN,
    lambda_sparse: float = LAMBDA_SPARSE,
    lambda_smooth: float = LAMBDA_SMOOTH,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The official RTFM objective of a batch of ``n_normal`` normal then as many abnormal videos."""
    score = torch.cat((out.score_normal, out.score_abnormal), 0).squeeze()
    label = torch.cat((torch.zeros(out.score_normal.shape[0]), torch.ones(out.score_abnormal.shape[0]))).to(score)
    loss_cls = F.binary_cross_entropy(score, label)
    loss_abn = torch.abs(margin - torch.linalg.vector_norm(out.feat_select_abn.mean(1), ord=2, dim=1))
    loss_nor = torch.linalg.vector_norm(out.feat_select_normal.mean(1), ord=2, dim=1)
    loss_rtfm = torch.mean((loss_abn + loss_nor) ** 2)
    abn_scores = out.scores[n_normal:].reshape(-1)
    sparse = lambda_sparse * torch.linalg.vector_norm(abn_scores, ord=2)
    shifted = torch.cat((abn_scores[1:], abn_scores[-1:]))
    smooth = lambda_smooth * torch.sum((shifted - abn_scores) ** 2)
    total = loss_cls + alpha * loss_rtfm + smooth + sparse
    parts = {
        "cls": float(loss_cls.detach()),
        "magnitude": float(loss_rtfm.detach()),
        "smooth": float(smooth.detach()),
        "sparse": float(sparse.detach()),
    }
    return total, parts


def segment_average(feat: np.ndarray, length: int = NUM_SEGMENTS) -> np.ndarray:
    """The official ``process_feat``: ``(T, F)`` -> ``(length, F)`` means over ``linspace(0, T, length + 1)`` bounds.

    A segment whose bounds coincide (``T < length``) copies the feature at its start.
    """
    feat = np.asarray(feat, dtype=np.float32)
    if feat.shape[0] < 1:
        raise ValueError("cannot average an empty feature sequence")
    bounds = np.linspace(0, len(feat), length + 1).astype(np.int64)
    out = np.zeros((length, feat.shape[1]), dtype=np.float32)
    for i in range(length):
        lo, hi = bounds[i], bounds[i + 1]
        out[i] = feat[lo:hi].mean(0) if lo != hi else feat[min(lo, len(feat) - 1)]
    return out


class RTFMScorer:
    """Scores one video: each crop's ``[visual | audio]`` through the network, probabilities averaged over crops.

    A missing modality is a zero block of the concatenation (one crop when
    the visual part is missing).
    """

    def __init__(self, det: "RTFMDetector", device: str = "cpu") -> None:
        self.det = det
        self.device = torch.device(device)
        self.net = det.net.to(self.device).eval()

    def visual_state(self, visual: np.ndarray | None, length: int) -> np.ndarray | None:
        if visual is None or not self.det.input_dims[0]:
            return None
        if visual.ndim != 3 or visual.shape[2] != self.det.input_dims[0]:
            raise ValueError(f"visual features must be (crops, T, {self.det.input_dims[0]}), got {visual.shape}")
        return np.ascontiguousarray(visual[:, :length], dtype=np.float32)

    def audio_state(self, audio: np.ndarray | None, length: int) -> np.ndarray | None:
        if audio is None or not self.det.input_dims[1]:
            return None
        return np.ascontiguousarray(audio[:length], dtype=np.float32)

    @torch.no_grad()
    def combine(self, vs: np.ndarray | None, as_: np.ndarray | None, fusion: str | None = None) -> ScoreOut:
        if fusion is not None:
            raise ValueError(f"{self.det.name} is an early-fusion detector: no fusion rule to choose")
        x = self.det.network_input(vs, as_)
        _, scores = self.net.features_and_scores(as_tensor(x, self.device)[None])
        s = scores[0, :, 0].double().cpu().numpy()
        return ScoreOut(s, s.copy())


@DETECTORS.register("rtfm")
class RTFMDetector(Detector):
    """RTFM: early fusion of each visual crop with the audio, feature-magnitude top-k MIL training."""

    modalities = ("visual", "audio")
    fusions = ()
    summary = "RTFM: feature-magnitude top-k MIL (multi-scale temporal network), input concat(visual crop, audio)"

    def __init__(self, visual_dim: int = 2048, audio_dim: int = 128, dropout: float = DROPOUT) -> None:
        super().__init__(visual_dim, audio_dim, dropout=float(dropout))
        if self.visual_dim < 0 or self.audio_dim < 0 or self.visual_dim + self.audio_dim < 1:
            raise ValueError(f"{self.name}: bad feature dimensions visual={visual_dim} audio={audio_dim}")
        self.net = RTFMNet(self.visual_dim + self.audio_dim, dropout=float(dropout))

    @property
    def input_dims(self) -> tuple[int, int]:
        """``(visual part, audio part)`` of each crop's input."""
        return self.visual_dim, self.audio_dim

    def network_input(self, visual: np.ndarray | None, audio: np.ndarray | None) -> np.ndarray:
        """``(crops, T, dv + da)`` of visual ``(crops, T, dv)`` and audio ``(T, da)``; a missing part is zeros."""
        dv, da = self.input_dims
        if visual is None and audio is None:
            raise ValueError("both modalities are missing: nothing to score")
        t = min(x.shape[-2] for x in (visual, audio) if x is not None)
        crops = visual.shape[0] if visual is not None else 1
        out = np.zeros((crops, t, dv + da), dtype=np.float32)
        if visual is not None and dv:
            out[:, :, :dv] = visual[:, :t]
        if audio is not None and da:
            out[:, :, dv:] = audio[None, :t]
        return out

    # ----------------------------------------------------------------- training
    def fit(self, train: TrainSet, cfg: Any, seed: int = 0, progress: bool = False) -> Any:
        """The official objective (:func:`rtfm_loss`): each step ``n`` abnormal and ``n`` normal videos, 32 segments each.

        An epoch visits every abnormal video once (in batches of
        ``cfg.batch_size``); each batch is paired with as many normal videos
        from a seeded permutation of the normal ones (cycled when fewer).
        ``cfg.max_seq_len`` is not used (every video becomes 32 segments).
        """
        from .loss_loop import train_with_loss

        dv, da = self.input_dims
        train.require(*[m for m, d in zip(("visual", "audio"), (dv, da)) if d])
        for mod, want in zip(("visual", "audio"), (dv, da)):
            if want and getattr(train, f"{mod}_dim") != want:
                raise ValueError(f"{self.name}: {mod} training features are {getattr(train, f'{mod}_dim')}-d, expected {want}")
        abnormal = np.flatnonzero(train.labels > 0.5)
        normal = np.flatnonzero(train.labels <= 0.5)
        if len(abnormal) == 0 or len(normal) == 0:
            raise ValueError(f"{self.name}: training needs normal and abnormal videos ({len(normal)} / {len(abnormal)})")
        device = torch.device(cfg.device)
        cursor = {"epoch": -1, "pos": 0, "order": normal}

        def video_input(i: int) -> np.ndarray:
            v = train.visual[i] if dv else None
            a = train.audio[i] if da else None
            x = self.network_input(v, a)
            return np.stack([segment_average(crop) for crop in x])

        def step_fn(idx: np.ndarray, epoch: int):
            if cursor["epoch"] != epoch:
                perm = rng_for("rtfm-normals", int(seed), epoch).permutation(normal)
                cursor.update(epoch=epoch, pos=0, order=np.resize(perm, len(abnormal)))
            n = len(idx)
            nor = cursor["order"][cursor["pos"] : cursor["pos"] + n]
            cursor["pos"] += n
            vids = list(nor) + list(abnormal[idx])
            x = torch.as_tensor(np.stack([video_input(i) for i in vids])).to(device)
            out = self.net(x, n_normal=n)
            return rtfm_loss(out, n)

        tlog = train_with_loss(self.net, step_fn, len(abnormal), cfg, seed, progress=progress, desc=self.name)
        self.train_info = {"seed": int(seed), "config": cfg.to_dict(), "log": tlog.to_dict(), "videos": len(train)}
        return tlog

    # ------------------------------------------------------------------ scoring
    def scorer(self, device: str = "cpu") -> RTFMScorer:
        """A :class:`RTFMScorer` on ``device``."""
        return RTFMScorer(self, device)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return model_tensors(self.net), {}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        load_model_tensors(self.net, tensors)
