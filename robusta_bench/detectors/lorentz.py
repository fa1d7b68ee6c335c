"""The Lorentz (hyperboloid) model operations HyperVD uses, written out in torch.

Points of the hyperboloid of curvature ``-1/k`` are ``x = (x_0, x_1..x_d)`` with
``<x, x>_L = -k`` and ``x_0 > 0``, where ``<u, v>_L = -u_0 v_0 + sum_i u_i v_i``
is the Minkowski inner product. Only the handful of operations HyperVD's
network calls are needed, with the numerical details of the implementation it
runs on (HyboNet's copy of geoopt's ``lorentz/math.py``):

- :func:`inner` (``keepdim`` sums the signed products in one reduction),
- :func:`tangent_norm` ``sqrt(max(<u, u>_L, 1e-8))`` (clamped, so zero vectors stay finite),
- :func:`expmap0` from the origin ``(sqrt(k), 0, ..., 0)`` and :func:`project`
  (recompute ``x_0 = sqrt(k + |x_1..d|^2)``),
- :func:`cinner` (pairwise inner products ``x' y^T`` with ``x'`` the points with
  their **first** column negated),
- :func:`normalize` (a Lorentz centroid's rescaling ``s / sqrt(|<s, s>_L|)``),
- :func:`pairwise_distance` (HyperVD's ``lorentz_similarity``: the distance
  ``sqrt(k) arccosh(max(-<x, y>_L, 1) / k)`` clamped to ``[eps, 200]``).

geoopt is not needed: these few formulas are all the network uses, and its
parameters are trained with plain Adam (as the official code does), so
geoopt's Riemannian optimisers play no part. ``tests/test_lorentz.py``
checks the identities (points on the manifold, distance to the origin, etc.).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Lower clamp of the distance per dtype (official ``lorentz_similarity``).
DIST_EPS = {torch.float32: 1e-6, torch.float64: 1e-8}
DIST_MAX = 200.0


class LorentzManifold(nn.Module):
    """Holds the curvature parameter ``k`` as a buffer (as geoopt's manifold does, so checkpoints load strictly)."""

    def __init__(self, k: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor(float(k)))


def inner(u: torch.Tensor, v: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Minkowski inner product over the last axis."""
    uv = u * v
    if keepdim:
        return torch.cat((-uv[..., :1], uv[..., 1:]), dim=-1).sum(dim=-1, keepdim=True)
    return -uv[..., 0] + uv[..., 1:].sum(dim=-1)


def tangent_norm(u: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """``sqrt(max(<u, u>_L, 1e-8))``."""
    return torch.sqrt(torch.clamp_min(inner(u, u, keepdim=keepdim), 1e-8))


#: Largest tangent norm / sqrt(k) that :func:`expmap0` maps exactly. Beyond it the direction is kept and
#: the norm capped: float32 ``cosh`` overflows to inf near 89, and products of points with coordinates
#: near ``cosh(45)`` overflow in :func:`pairwise_distance`, after which training only yields NaN
#: (robusta-hypervd on the demo set, whose learned inputs grew past that). HyperVD's inputs stay far below.
MAX_TANGENT_NORM = 32.0


def expmap0(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Exponential map at the origin of a tangent vector ``u`` (last axis ``d + 1``); norms capped at
    :data:`MAX_TANGENT_NORM` ``* sqrt(k)`` (direction kept)."""
    sqrt_k = torch.sqrt(k)
    n = tangent_norm(u, keepdim=True)
    capped = torch.clamp_max(n, MAX_TANGENT_NORM * sqrt_k)
    u = u * (capped / n)
    n = capped
    left = torch.cosh(n / sqrt_k) * sqrt_k
    right = sqrt_k * torch.sinh(n / sqrt_k) * u / n
    return torch.cat((left + right[..., :1], right[..., 1:]), dim=-1)


def project(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Onto the hyperboloid: keep the space part, set ``x_0 = sqrt(k + |x_1..d|^2)``."""
    space = x[..., 1:]
    return torch.cat((torch.sqrt(k + (space * space).sum(dim=-1, keepdim=True)), space), dim=-1)


def cinner(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise ``<x_i, y_j>`` as ``x' @ y^T`` with the first column of ``x`` negated (only that one)."""
    x = x.clone()
    x[..., 0].mul_(-1)
    return x @ y.transpose(-1, -2)


def normalize(s: torch.Tensor) -> torch.Tensor:
    """``s / sqrt(max(|<s, s>_L|, 1e-8))``: a weighted sum of points back onto the hyperboloid (k = 1)."""
    denom = (-inner(s, s, keepdim=True)).abs().clamp_min(1e-8).sqrt()
    return s / denom


def pairwise_distance(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """HyperVD's ``lorentz_similarity(x, x, k)``: pairwise distances ``(B, T, T)`` of points ``(B, T, d + 1)``.

    ``-<x_i, x_j>_L`` is computed as ``-(x diag(-1, 1, ..) x^T)``, values
    ``<= 1`` become 1, then ``sqrt(k) * arccosh(v / k)`` with
    ``arccosh(v) = log(v + sqrt(v^2 - 1))``, clamped to ``[eps, 200]``
    (``v^2 - 1`` is floored at ``(eps / 10)^2`` so that its gradient stays finite).
    """
    sign = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
    sign[0] = -1
    neg_inner = -((x * sign) @ x.transpose(-1, -2))
    v = F.threshold(neg_inner, 1, 1) / k
    eps = DIST_EPS.get(x.dtype, 1e-8)
    # sqrt(v^2 - 1) has an infinite gradient at v = 1 (a point and itself, or two equal points): a NaN
    # in training (robusta-hypervd diverged at step ~250 of make demo). Clamped at (eps / 10)^2, the
    # distance there is below eps and clamped to eps as before: the forward values do not change.
    dist = torch.sqrt(k) * torch.log(v + torch.sqrt(torch.clamp_min(v.pow(2) - 1, (eps / 10) ** 2)))
    return torch.clamp(dist, min=eps, max=DIST_MAX)


def random_point(n: int, dim: int, k: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Points as geoopt's ``Lorentz.random_normal`` draws them: a unit Gaussian direction, ``expmap0``, projected."""
    u = torch.randn(n, dim, generator=generator, dtype=k.dtype)
    u = u / u.norm(dim=-1, keepdim=True)
    return project(expmap0(u, k), k)
