"""Visual corruptions: parameter tables, reference equivalence, statistics, chunking, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from robusta_bench.corruptions import CORRUPTIONS, corruption_names, get_corruption

#: the eight visual corruptions of the benchmark, in the paper's order
VISUAL_CORRUPTIONS = ("bit_error", "brightness", "contrast", "fog", "rain", "motion_blur", "saturate", "shot_noise")
from robusta_bench.corruptions.visual import functional as F
from robusta_bench.corruptions.visual.bit_error import PacketLevelError
from robusta_bench.seeding import corruption_seed

skimage_color = pytest.importorskip("skimage.color")

FRAME_WISE = ("brightness", "contrast", "fog", "rain", "saturate", "shot_noise")


@pytest.fixture(scope="module")
def real_frames():
    """12 frames of the shared 640x360 clip, cropped to keep the test fast."""
    from conftest import CLIPS, need
    from robusta_bench.media.decode import read_frames

    frames = read_frames(need(CLIPS / "explosion1.mp4"), max_frames=12)
    return np.ascontiguousarray(frames[:, 60:300:2, 100:500:2])  # (12, 120, 200, 3)


@pytest.fixture(scope="module")
def synthetic_frames():
    """Random colours plus the awkward cases: grey, black, white, saturated primaries."""
    rng = np.random.default_rng(7)
    f = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    f[:, :4] = 128
    f[:, 4:6] = 0
    f[:, 6:8] = 255
    f[:, 8, :, :] = [255, 0, 0]
    f[:, 9, :, :] = [0, 255, 0]
    f[:, 10, :, :] = [0, 0, 255]
    f[:, 11, :, :] = [255, 255, 0]  # two channels tie for the max
    return f


# -- registry and parameter tables ------------------------------------------------


def test_registry_lists_the_eight_visual_corruptions():
    assert sorted(n for n in corruption_names("visual") if not n.startswith("test")) == sorted(VISUAL_CORRUPTIONS)  # other test modules register test-* scaffolding
    for name in VISUAL_CORRUPTIONS:
        cls = CORRUPTIONS.get(name)
        assert cls.modality == "visual" and len(cls.levels) == 5
        desc = cls.describe()
        assert desc["levels"] == [dict(lv) for lv in cls.levels] and desc["description"]


def test_parameter_tables_match_yi_et_al():
    table = {
        "shot_noise": ("photons_at_white", [60, 25, 12, 5, 3]),
        "contrast": ("contrast_scale", [0.5, 0.4, 0.3, 0.2, 0.1]),
        "brightness": ("hsv_value_delta", [0.1, 0.2, 0.3, 0.4, 0.5]),
        "saturate": ("saturation_scale", [0.3, 0.1, 2, 5, 20]),
        "motion_blur": ("half_window_frames", [3, 5, 7, 9, 11]),
        "fog": ("fog_strength", [1.5, 2.0, 2.5, 2.5, 3.0]),
        "bit_error": ("bytes_per_error", [100000, 50000, 30000, 20000, 10000]),
        "rain": ("drop_length_px", [10, 30, 60, 60, 80]),
    }
    for name, (key, values) in table.items():
        cls = CORRUPTIONS.get(name)
        assert [cls.params(s)[key] for s in range(1, 6)] == values, name
    assert [CORRUPTIONS.get("saturate").params(s)["saturation_shift"] for s in range(1, 6)] == [0, 0, 0, 0.1, 0.2]
    assert [CORRUPTIONS.get("fog").params(s)["wibble_decay"] for s in range(1, 6)] == [2, 2, 1.7, 1.5, 1.4]
    rain = CORRUPTIONS.get("rain")
    assert [rain.params(s)["px_per_drop"] for s in range(1, 6)] == [770, 770, 770, 500, 400]
    assert [rain.params(s)["darken_scale"] for s in range(1, 6)] == [0.8, 0.8, 0.7, 0.6, 0.5]
    assert CORRUPTIONS.get("bit_error").packet_level
    with pytest.raises(ValueError):
        CORRUPTIONS.get("fog").params(6)


# -- the deterministic corruptions equal the skimage reference formulas ----------------


def _ref_hsv(img: np.ndarray, channel: int, fn) -> np.ndarray:
    x = skimage_color.rgb2hsv(img / 255.0)
    x[..., channel] = np.clip(fn(x[..., channel]), 0, 1)
    return np.array(np.clip(skimage_color.hsv2rgb(x), 0, 1) * 255, dtype=np.uint8)


def _ref_contrast(img: np.ndarray, c: float) -> np.ndarray:
    x = img / 255.0
    m = x.mean(axis=(0, 1), keepdims=True)
    return np.array(np.clip((x - m) * c + m, 0, 1) * 255, dtype=np.uint8)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_brightness_saturate_contrast_equal_reference(real_frames, synthetic_frames, severity):
    for frames in (real_frames[:4], synthetic_frames):
        b = get_corruption("brightness")
        c = b.params(severity)["hsv_value_delta"]
        ours = b.apply(frames, severity, 0)
        ref = np.stack([_ref_hsv(f, 2, lambda v: v + c) for f in frames])
        assert np.abs(ours.astype(int) - ref).max() <= 1

        s = get_corruption("saturate")
        p = s.params(severity)
        ours = s.apply(frames, severity, 0)
        ref = np.stack(
            [_ref_hsv(f, 1, lambda v: v * p["saturation_scale"] + p["saturation_shift"]) for f in frames]
        )
        assert np.abs(ours.astype(int) - ref).max() <= 1

        k = get_corruption("contrast")
        ours = k.apply(frames, severity, 0)
        ref = np.stack([_ref_contrast(f, k.params(severity)["contrast_scale"]) for f in frames])
        assert np.abs(ours.astype(int) - ref).max() <= 1


def test_hsv_conversions_match_skimage(synthetic_frames):
    x = synthetic_frames[0] / 255.0
    ref = skimage_color.rgb2hsv(x)
    np.testing.assert_allclose(F.rgb_to_hsv(x), ref, atol=1e-12)
    np.testing.assert_allclose(F.hsv_to_rgb(ref), skimage_color.hsv2rgb(ref), atol=1e-12)


def test_grey_pixels_get_a_red_tint_when_saturation_is_shifted():
    grey = np.full((1, 2, 2, 3), 200, np.uint8)
    out = get_corruption("saturate").apply(grey, 5, 0)  # shift 0.2
    ref = _ref_hsv(grey[0], 1, lambda v: v * 20 + 0.2)  # skimage: hue 0 -> (V, V(1-S'), V(1-S'))
    assert np.abs(out[0].astype(int) - ref).max() <= 1
    assert out[0, 0, 0, 0] == 200 and abs(int(out[0, 0, 0, 1]) - 160) <= 1 and out[0, 0, 0, 1] == out[0, 0, 0, 2]
    assert np.array_equal(get_corruption("saturate").apply(grey, 1, 0), grey)


# -- random corruptions: statistics ------------------------------------------------------


def test_shot_noise_variance_matches_poisson():
    frames = np.zeros((4, 64, 64, 3), np.uint8)
    frames[..., :] = [40, 128, 200]
    corr = get_corruption("shot_noise")
    checked = 0
    for severity in (1, 3):
        c = corr.params(severity)["photons_at_white"]
        out = corr.apply(frames, severity, 11)
        for ch, x in enumerate((40, 128, 200)):
            lam = x / 255 * c
            if lam + 4 * np.sqrt(lam) >= c:  # clipping at white would bias the moments
                continue
            # out = floor(255 k / c) with k ~ Poisson(lam): recover k exactly (c < 255)
            counts = np.ceil(out[..., ch].astype(np.float64) * c / 255 - 1e-9)
            assert abs(counts.mean() - lam) / lam < 0.03
            assert abs(counts.var() - lam) / lam < 0.06
            checked += 1
    assert checked >= 3


def test_rain_lowers_contrast_by_the_darken_factor(real_frames):
    corr = get_corruption("rain")
    frame = real_frames[:1]
    for severity in (1, 3, 5):
        p = corr.params(severity)
        out = corr.apply(frame, severity, 3)[0].astype(np.float64)
        x = frame[0].astype(np.float64)
        m_out = out.mean(axis=(0, 1))
        # most pixels carry no streak: there out - mean = darken * (x - mean)
        dev = x - m_out
        sel = np.abs(dev) > 30
        ratio = (out - m_out)[sel] / dev[sel]
        assert abs(np.median(ratio) - p["darken_scale"]) < 0.03
        # streak pixels are brighter than the darkened frame around them
        assert out.max() > x.max() * p["darken_scale"]


def test_rain_streaks_follow_the_level_geometry():
    rng = np.random.default_rng(0)
    mask = F.rain_mask(120, 160, 25, 30, rng)
    cols_per_row = mask.sum(axis=1)
    assert 0 < mask.sum() <= 25 * 31
    assert cols_per_row.max() <= 25  # each streak covers one pixel per row
    # a single streak: 31 pixels in two adjacent columns
    one = F.rain_mask(200, 50, 1, 30, np.random.default_rng(1))
    ys, xs = np.nonzero(one)
    if len(ys) == 31:
        assert set(np.unique(xs)) <= {xs.max(), xs.max() - 1}
        assert ys.max() - ys.min() == 30


def test_fog_layer_is_identical_on_every_frame_and_chunk(real_frames):
    corr = get_corruption("fog")
    frames = np.repeat(real_frames[:1], 6, axis=0)
    out = corr.apply(frames, 4, 99)
    assert all(np.array_equal(out[0], out[i]) for i in range(1, 6))
    whole = corr.apply(real_frames, 4, 99)
    chunked = np.concatenate(list(corr.stream([real_frames[:5], real_frames[5:7], real_frames[7:]], 4, 99)))
    assert np.array_equal(whole, chunked)
    F.fog_layer.cache_clear()
    assert np.array_equal(corr.apply(real_frames, 4, 99), whole)  # recomputed layer: same bytes
    assert not np.array_equal(corr.apply(real_frames, 4, 100), whole)  # another video: another layer


def test_fog_matches_the_reference_formula():
    corr = get_corruption("fog")
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 200, (2, 37, 53, 3), dtype=np.uint8)
    p = corr.params(2)
    out = corr.apply(frames, 2, 5)
    layer = F.plasma_fractal(64, p["wibble_decay"], np.random.Generator(np.random.PCG64(5)))[:37, :53]
    for t in range(2):
        x = frames[t] / 255.0
        mx = x.max()
        ref = np.array(np.clip((x + p["fog_strength"] * layer[..., None]) * mx / (mx + p["fog_strength"]), 0, 1) * 255, np.uint8)
        assert np.abs(out[t].astype(int) - ref).max() <= 1


def test_plasma_fractal_properties():
    m = F.plasma_fractal(64, 2.0, np.random.default_rng(0))
    assert m.shape == (64, 64) and m.min() == 0.0 and m.max() == 1.0
    assert F.next_pow2(360) == 512 and F.next_pow2(640) == 1024 and F.next_pow2(1) == 2
    # a smooth field: neighbours are much closer than random pairs
    assert np.abs(np.diff(m, axis=1)).mean() < 0.25 * np.abs(m - m[::-1, ::-1]).mean()
    with pytest.raises(ValueError):
        F.plasma_fractal(100, 2.0, np.random.default_rng(0))


# -- motion blur ---------------------------------------------------------------------------


def test_motion_blur_keeps_frame_count_and_matches_reference_inside(real_frames):
    corr = get_corruption("motion_blur")
    frames = real_frames
    c = corr.params(1)["half_window_frames"]  # 3
    out = corr.apply(frames, 1, 0)
    assert out.shape == frames.shape
    for i in range(c, len(frames) - c):  # the reference's own frames
        ref = np.array(np.sum(frames[i - c : i + c], axis=0, dtype=np.float64) / (2.0 * c), dtype=np.uint8)
        assert np.array_equal(out[i], ref)
    # edges: the first / last frame is replicated
    first = np.array(
        (np.sum(frames[0:c], axis=0, dtype=np.float64) + c * frames[0].astype(np.float64)) / (2 * c), dtype=np.uint8
    )
    assert np.array_equal(out[0], first)


@pytest.mark.parametrize("sizes", [[12], [1] * 12, [5, 7], [2, 3, 4, 3], [11, 1]])
def test_motion_blur_chunked_equals_whole(real_frames, sizes):
    corr = get_corruption("motion_blur")
    whole = corr.apply(real_frames, 2, 0)
    chunks, i = [], 0
    for n in sizes:
        chunks.append(real_frames[i : i + n])
        i += n
    got = np.concatenate(list(corr.stream(chunks, 2, 0)))
    assert got.shape == whole.shape and np.array_equal(got, whole)


def test_motion_blur_on_a_video_shorter_than_the_window():
    frames = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (0, 100)])
    out = get_corruption("motion_blur").apply(frames, 5, 0)  # window 22 frames
    assert out.shape == frames.shape
    # frame 0: 11 copies of frame 0 + frame 0 + frame 1 x 10 -> (10 * 100) / 22 = 45.45
    assert out[0, 0, 0, 0] == 45


# -- determinism and chunking of every frame-wise corruption -------------------------------


@pytest.mark.parametrize("name", FRAME_WISE)
def test_frame_wise_corruptions_are_chunk_invariant_and_seeded(real_frames, name):
    corr = get_corruption(name)
    seed = corruption_seed("some_video", name, 3, 0)
    whole = corr.apply(real_frames, 3, seed)
    assert whole.shape == real_frames.shape and whole.dtype == np.uint8
    again = get_corruption(name).apply(real_frames, 3, seed)
    assert np.array_equal(whole, again)
    chunked = np.concatenate(list(corr.stream([real_frames[:4], real_frames[4:9], real_frames[9:]], 3, seed)))
    assert np.array_equal(whole, chunked)
    # reverse order with explicit start: same frames
    back = [corr.apply(real_frames[i : i + 1], 3, seed, start=i) for i in reversed(range(len(real_frames)))]
    assert np.array_equal(np.concatenate(back[::-1]), whole)
    assert not np.array_equal(whole, real_frames)
    if name in ("rain", "shot_noise"):
        other = corr.apply(real_frames, 3, seed + 1)
        assert not np.array_equal(whole, other)
        # fresh draws per frame: identical input frames give different noise
        same = np.repeat(real_frames[:1], 2, axis=0)
        out = corr.apply(same, 3, seed)
        assert not np.array_equal(out[0], out[1])


def test_no_global_random_state_is_used(real_frames):
    state = np.random.get_state()
    for name in FRAME_WISE:
        get_corruption(name).apply(real_frames[:2], 5, 1)
    assert np.array_equal(np.random.get_state()[1], state[1])


def test_bad_input_gives_clear_errors():
    corr = get_corruption("fog")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        corr.apply(np.zeros((10, 10, 3), np.uint8), 1, 0)
    with pytest.raises(ValueError, match="uint8"):
        corr.apply(np.zeros((1, 10, 10, 3), np.float32), 1, 0)
    with pytest.raises(PacketLevelError, match="iter_damaged_frames"):
        get_corruption("bit_error").apply(np.zeros((1, 8, 8, 3), np.uint8), 1, 0)


def test_odd_sizes_and_single_frames():
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (1, 7, 5, 3), dtype=np.uint8)
    for name in (*FRAME_WISE, "motion_blur"):
        out = get_corruption(name).apply(frames, 5, 1)
        assert out.shape == frames.shape, name
