"""Lorentz-model operations used by HyperVD: points land on the hyperboloid, distances behave."""

from __future__ import annotations

import math

import pytest
import torch

from robusta_bench.detectors import lorentz

K = torch.tensor(1.0, dtype=torch.float64)


def tangent(n: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, generator=g, dtype=torch.float64)
    u[:, 0] = 0  # tangent at the origin: zero time coordinate
    return u


def test_expmap0_lands_on_the_hyperboloid_at_the_right_distance():
    u = tangent(6, 5) * 0.7
    x = lorentz.project(lorentz.expmap0(u, K), K)
    assert torch.allclose(lorentz.inner(x, x), torch.full((6,), -1.0, dtype=torch.float64), atol=1e-10)
    assert (x[:, 0] > 0).all()
    # distance to the origin = the tangent norm (Euclidean norm of the space part)
    assert torch.allclose(torch.acosh(x[:, 0]), u[:, 1:].norm(dim=1), atol=1e-10)


def test_inner_keepdim_and_cinner_agree():
    x = lorentz.project(lorentz.expmap0(tangent(4, 3, 1), K), K)
    y = lorentz.project(lorentz.expmap0(tangent(5, 3, 2), K), K)
    full = lorentz.cinner(x, y)
    for i in range(4):
        for j in range(5):
            assert float(full[i, j]) == pytest.approx(float(lorentz.inner(x[i], y[j])), abs=1e-12)
    assert torch.allclose(lorentz.inner(x, x, keepdim=True)[:, 0], lorentz.inner(x, x))
    assert x[0, 0] > 0 and lorentz.cinner(x, y).shape == (4, 5)  # cinner does not modify its input


def test_cinner_negates_only_the_first_column():
    x = torch.tensor([[2.0, 3.0, 5.0, 7.0]])
    y = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert float(lorentz.cinner(x, y)) == -2 + 3 + 5 + 7


def test_pairwise_distance_matches_arccosh_and_clamps():
    x = lorentz.project(lorentz.expmap0(tangent(5, 4, 3), K), K)[None]
    d = lorentz.pairwise_distance(x, K)[0]
    for i in range(5):
        for j in range(5):
            ref = math.acosh(max(-float(lorentz.inner(x[0, i], x[0, j])), 1.0))
            assert float(d[i, j]) == pytest.approx(max(ref, 1e-8), abs=1e-6)
    assert torch.all(d.diagonal() <= 1e-4)  # self-distance: clamped near zero
    assert torch.allclose(d, d.T, atol=1e-9)
    far = lorentz.project(lorentz.expmap0(tangent(2, 3, 4) * 120, K), K)[None]
    assert float(lorentz.pairwise_distance(far, K).max()) <= 200.0


def test_normalize_returns_a_point():
    x = lorentz.project(lorentz.expmap0(tangent(7, 6, 5), K), K)
    w = torch.softmax(torch.randn(3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), dim=1)
    s = lorentz.normalize(w @ x)
    assert torch.allclose(lorentz.inner(s, s), torch.full((3,), -1.0, dtype=torch.float64), atol=1e-10)


def test_random_point_is_on_the_manifold_and_seeded():
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    a, b = lorentz.random_point(3, 8, K, g1), lorentz.random_point(3, 8, K, g2)
    assert torch.equal(a, b)
    assert torch.allclose(lorentz.inner(a, a), torch.full((3,), -1.0, dtype=torch.float64), atol=1e-9)


def test_large_tangent_vectors_and_coincident_points_stay_finite():
    """Training inputs that grow past cosh's float32 range, and a point's distance to itself, give finite
    values and gradients (robusta-hypervd once diverged to NaN on the demo set); small norms are exact."""
    from robusta_bench.detectors import lorentz as L

    k = torch.tensor(1.0)
    small = torch.cat([torch.zeros(3, 1), torch.randn(3, 8, generator=torch.Generator().manual_seed(0))], -1)
    n = L.tangent_norm(small, keepdim=True)
    exact = torch.cat((torch.cosh(n) + 0 * small[..., :1], torch.sinh(n) * small[..., 1:] / n), -1)
    assert torch.equal(L.expmap0(small, k), exact)  # below the cap: the formula itself
    big = (small * 40.0).requires_grad_(True)  # tangent norms ~100: cosh overflows float32 without the cap
    pts = L.project(L.expmap0(big, k), k)
    assert torch.isfinite(pts).all()
    assert float(pts[..., 0].max()) == pytest.approx(math.cosh(L.MAX_TANGENT_NORM), rel=1e-3)  # capped, not inf
    d = L.pairwise_distance(pts[None], k)
    d.sum().backward()
    assert torch.isfinite(d).all() and torch.isfinite(big.grad).all()
    same = small[None, :1].repeat(1, 2, 1).requires_grad_(True)  # two equal points: v = 1 exactly
    dd = L.pairwise_distance(L.project(L.expmap0(same, k), k), k)
    dd.sum().backward()
    assert torch.isfinite(same.grad).all() and float(dd.detach().max()) < 0.01  # float32 rounding of <x, x>_L, as before
