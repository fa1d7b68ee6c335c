"""The fast numpy samplers: exact shot-noise distribution, rain equal to the reference steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from robusta_bench.corruptions import get_corruption
from robusta_bench.corruptions.visual import functional as F
from robusta_bench.corruptions.visual.poisson import sample_shot_noise, shot_tables
from robusta_bench.seeding import rng_for

LADDER = (60, 25, 12, 5, 3)  # photons_at_white of severities 1..5
LEVELS = (0, 1, 7, 64, 128, 200, 254, 255)


def exact_grey_pmf(x: int, c: float) -> np.ndarray:
    """P(output grey = g), g = 0..255, straight from scipy's Poisson pmf and the reference formula."""
    lam = x / 255.0 * c
    k = np.arange(0, int(np.ceil(c)) + 200)
    pmf = stats.poisson.pmf(k, lam) if lam > 0 else (k == 0).astype(float)
    grey = (np.clip(k / c, 0, 1) * 255).astype(np.uint8)
    out = np.bincount(grey, weights=pmf, minlength=256)
    out[255] += max(0.0, 1.0 - out.sum())  # the far tail, all clipped to white
    return out


def chi2_goodness(counts: np.ndarray, probs: np.ndarray) -> float:
    """p-value of observed ``counts`` against ``probs`` (bins with expected < 5 pooled into one)."""
    n = counts.sum()
    expected = probs * n
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    if len(obs) < 2:
        return 1.0
    stat = float(((obs - exp) ** 2 / exp).sum())
    return float(stats.chi2.sf(stat, len(obs) - 1))


@pytest.mark.parametrize("photons", LADDER)
def test_shot_tables_follow_the_poisson_cdf(photons):
    tabs = shot_tables(photons)
    n_out = len(tabs.grey)
    assert n_out == int(np.ceil(photons)) + 1 and tabs.grey[-1] == 255
    assert tabs.sentinel not in set(tabs.grey.tolist())
    for x in LEVELS:
        cdf = stats.poisson.cdf(np.arange(n_out - 1), x / 255.0 * photons)
        run = tabs.keys[tabs.start[x] : tabs.start[x] + n_out] - x
        np.testing.assert_allclose(run[:-1], cdf, atol=1e-12)
        assert run[-1] == 1.0
        lower = np.concatenate([[0.0], cdf])  # outcome k covers [lower[k], upper[k])
        upper = np.concatenate([cdf, [1.0]])
        outcome_of = {int(g): k for k, g in enumerate(tabs.grey)}
        # every bin / sub-bin not marked ambiguous lies inside its outcome's CDF interval
        for b1 in range(256):
            g = int(tabs.level1[x * 256 + b1])
            if g != tabs.sentinel:
                k = outcome_of[g]
                assert lower[k] - 1e-12 <= b1 / 256 and (b1 + 1) / 256 <= upper[k] + 1e-12, (x, b1)
                continue
            sub = tabs.level2[tabs.row[x * 256 + b1] * 256 :][:256]
            assert len(sub) == 256
            for b2 in np.flatnonzero(sub != tabs.sentinel):
                k = outcome_of[int(sub[b2])]
                lo = (b1 * 256 + b2) / 65536
                assert lower[k] - 1e-12 <= lo and lo + 1 / 65536 <= upper[k] + 1e-12, (x, b1, b2)
            # an ambiguous bin really straddles a step
            assert np.any((cdf > b1 / 256) & (cdf < (b1 + 1) / 256))


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_shot_noise_has_the_exact_poisson_distribution(severity):
    corr = get_corruption("shot_noise")
    c = corr.params(severity)["photons_at_white"]
    n = 40_000
    frames = np.empty((2, len(LEVELS), n // 2, 3), np.uint8)
    frames[:] = np.array(LEVELS, np.uint8)[None, :, None, None]
    ours = corr.apply(frames, severity, 1234)
    rng = np.random.default_rng(severity)
    for i, x in enumerate(LEVELS):
        got = ours[:, i].reshape(-1)
        ref = (np.clip(rng.poisson(np.full(got.size, x / 255.0 * c)) / c, 0, 1) * 255).astype(np.uint8)
        pmf = exact_grey_pmf(x, c)
        h_ours = np.bincount(got, minlength=256)
        h_ref = np.bincount(ref, minlength=256)
        # goodness of fit to the exact law, and the same test for numpy's own sampler
        assert chi2_goodness(h_ours, pmf) > 1e-4, (severity, x)
        assert chi2_goodness(h_ref, pmf) > 1e-4, (severity, x)
        # two-sample test: ours vs numpy's Generator.poisson
        both = np.stack([h_ours, h_ref])
        both = both[:, both.sum(axis=0) > 0]
        if both.shape[1] > 1:
            assert stats.chi2_contingency(both)[1] > 1e-4, (severity, x)
        # per-level mean and variance against the exact moments (5 standard errors)
        g = np.arange(256)
        mean = (pmf * g).sum()
        var = (pmf * (g - mean) ** 2).sum()
        if var > 0:
            assert abs(got.mean() - mean) < 5 * np.sqrt(var / got.size), (severity, x)
            assert abs(got.var() / var - 1) < 5 * np.sqrt(2.0 / got.size) * 3, (severity, x)
        else:
            assert np.all(got == got[0])


def test_shot_noise_sampler_is_seeded_and_uses_its_generator_only():
    tabs = shot_tables(12)
    values = np.arange(256, dtype=np.uint8).repeat(50)
    a = sample_shot_noise(values, tabs, np.random.default_rng(5))
    b = sample_shot_noise(values, tabs, np.random.default_rng(5))
    c = sample_shot_noise(values, tabs, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.uint8 and a.shape == values.shape
    assert np.all(a[values == 0] == 0)  # no photons: always black
    with pytest.raises(ValueError, match="photons_at_white"):
        shot_tables(0)
    with pytest.raises(ValueError, match="photons_at_white"):
        shot_tables(300)


# -- rain: one vectorised pass equals the reference's steps -----------------------------


def reference_rain_frame(frame, xs, ys, length, darken, grey=220.0):
    """The reference's rain on one frame: cv2.line streaks, then the whole-frame float steps."""
    import cv2

    mask = np.zeros(frame.shape[:2], np.float64)
    for x, y in zip(xs, ys):
        cv2.line(mask, (int(x), int(y)), (int(x) - 1, int(y) + length), 1.0, 1)
    m = mask > 0
    f = frame.astype(np.float32)
    mean = float(frame.mean(dtype=np.float64))
    bright = frame.copy()
    sel = f[m]
    bright[m] = frame[m] + (grey * (1.0 - sel / 255.0) * (1.0 - mean / 255.0)).astype(np.uint8)
    blurred = cv2.blur(bright, (3, 3))
    w = grey / 255.0
    f[m] = blurred[m].astype(np.float32) * np.float32(w) + sel * np.float32(1.0 - w)
    means = np.array(cv2.mean(f)[:3], dtype=np.float64)
    f *= np.float32(darken)
    f += (means * (1.0 - darken)).astype(np.float32)
    return m, np.clip(f, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_rain_equals_the_reference_steps(severity):
    from conftest import CLIPS, need
    from robusta_bench.media.decode import read_frames

    frames = read_frames(need(CLIPS / "explosion1.mp4"), max_frames=3)  # full 640x360
    p = get_corruption("rain").params(severity)
    h, w = frames.shape[1:3]
    n_drops = (h * w) // p["px_per_drop"]
    length = p["drop_length_px"]
    for i, frame in enumerate(frames):
        # the same draws as rain_pixels, replayed for the reference
        rng = rng_for(9, "rain-frame", i)
        slant = int(rng.integers(-10, 10))
        xs = rng.integers(slant, w, n_drops) if slant < 0 else rng.integers(0, w - slant, n_drops)
        ys = rng.integers(0, h - length, n_drops)
        ref_mask, ref = reference_rain_frame(frame, xs, ys, length, p["darken_scale"])
        mask = F.rain_mask(h, w, n_drops, length, rng_for(9, "rain-frame", i))
        assert np.array_equal(mask, ref_mask)
        ours = F.rain_frame(frame, mask, p["darken_scale"])
        assert np.array_equal(ours, ref)
