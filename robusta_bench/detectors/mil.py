"""The HL-Net multiple-instance-learning loss and the official sequence preparation.

- :func:`topk_mil_loss`: per video ``k = floor(len / 16) + 1``; the mean of the
  top-k *logits* of the valid steps, then ``sigmoid``, then binary cross-entropy
  with the video label (averaged over the batch);
- :func:`distillation_loss`: ``mean_t(-sigmoid(logits_P).detach() * log sigmoid(logits_S))``
  per video, averaged over the batch (the offline head teaches the online one);
- :func:`hlnet_loss`: top-k MIL on both heads + ``distill_weight`` x distillation
  (5 in the official code);
- :func:`uniform_indices` / :func:`pad_batch`: sequences longer than ``max_len``
  are subsampled at ``floor(linspace(0, T - 1, max_len))`` (the official
  ``np.linspace(..., dtype=uint16)``), shorter ones zero-padded.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F


def topk_k(length: int) -> int:
    """The official ``k`` for a sequence of ``length`` valid steps: ``length // 16 + 1``."""
    return int(length) // 16 + 1


def valid_mask(seq_len: Sequence[int] | torch.Tensor, length: int, device: torch.device | None = None) -> torch.Tensor:
    """``(B, length)`` boolean mask of the valid steps of each sequence."""
    n = torch.as_tensor(seq_len, device=device).reshape(-1, 1)
    return torch.arange(length, device=device)[None, :] < n


def video_logits(logits: torch.Tensor, seq_len: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Mean of the top-k logits of each video's valid steps: (B, T) -> (B,), ``k = len // 16 + 1``.

    Vectorised: the valid steps are sorted in decreasing order (padding goes
    last as ``-inf``) and the mean of the first ``k`` is read from a cumulative sum.
    """
    n = torch.as_tensor(seq_len, device=logits.device).reshape(-1).to(torch.int64)
    if bool((n < 1).any()) or int(n.max()) > logits.shape[1]:
        raise ValueError(f"seq_len must be in [1, {logits.shape[1]}], got {n.tolist()}")
    mask = valid_mask(n, logits.shape[1], logits.device)
    ordered = torch.sort(logits.masked_fill(~mask, float("-inf")), dim=1, descending=True).values
    k = torch.minimum(n // 16 + 1, n)
    csum = torch.cumsum(ordered.masked_fill(torch.isinf(ordered), 0.0), dim=1)
    return csum.gather(1, (k - 1)[:, None])[:, 0] / k.to(logits.dtype)


def topk_mil_loss(logits: torch.Tensor, labels: torch.Tensor, seq_len: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """BCE between ``sigmoid(mean top-k logits)`` and the video labels; ``logits`` (B, T) or (B, T, 1)."""
    if logits.dim() == 3:
        logits = logits[..., 0]
    probs = torch.sigmoid(video_logits(logits, seq_len))
    return F.binary_cross_entropy(probs, labels.to(probs.dtype))


def distillation_loss(
    logits_p: torch.Tensor, logits_s: torch.Tensor, seq_len: Sequence[int] | torch.Tensor
) -> torch.Tensor:
    """Per video ``mean_t(-sigmoid(P).detach() * log sigmoid(S))`` over valid steps, averaged over the batch."""
    if logits_p.dim() == 3:
        logits_p, logits_s = logits_p[..., 0], logits_s[..., 0]
    n = torch.as_tensor(seq_len, device=logits_s.device).reshape(-1)
    mask = valid_mask(n, logits_s.shape[1], logits_s.device).to(logits_s.dtype)
    term = -torch.sigmoid(logits_p).detach() * F.logsigmoid(logits_s)
    return ((term * mask).sum(1) / n.to(logits_s.dtype)).mean()


def hlnet_loss(
    logits_p: torch.Tensor,
    logits_s: torch.Tensor,
    labels: torch.Tensor,
    seq_len: Sequence[int] | torch.Tensor,
    distill_weight: float = 5.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The official objective: MIL(offline) + MIL(online) + ``distill_weight`` x distillation."""
    mil_p = topk_mil_loss(logits_p, labels, seq_len)
    mil_s = topk_mil_loss(logits_s, labels, seq_len)
    dist = distillation_loss(logits_p, logits_s, seq_len)
    total = mil_p + mil_s + distill_weight * dist
    parts = {"mil_offline": float(mil_p.detach()), "mil_online": float(mil_s.detach()), "distill": float(dist.detach())}
    return total, parts


def uniform_indices(length: int, max_len: int) -> np.ndarray:
    """Indices keeping a sequence of ``length`` steps: all of them, or ``floor(linspace(0, length-1, max_len))``."""
    if length <= max_len:
        return np.arange(length)
    return np.floor(np.linspace(0, length - 1, max_len)).astype(np.int64)


def cap_length(seq: np.ndarray, max_len: int) -> np.ndarray:
    """``seq`` (T, ...) itself, or its rows at :func:`uniform_indices` when ``T > max_len``."""
    return seq if seq.shape[0] <= max_len else seq[uniform_indices(seq.shape[0], max_len)]


def pad_batch(seqs: Sequence[np.ndarray | torch.Tensor], dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad (T_i, D) sequences to (B, max T_i, D); returns the batch and the lengths (int64)."""
    lengths = [int(s.shape[0]) for s in seqs]
    d = dim if dim is not None else int(seqs[0].shape[1])
    out = torch.zeros(len(seqs), max(lengths), d)
    for i, s in enumerate(seqs):
        out[i, : lengths[i]] = torch.as_tensor(s)
    return out, torch.tensor(lengths, dtype=torch.int64)
