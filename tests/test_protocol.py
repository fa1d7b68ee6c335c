"""The XD-Violence protocol: snippet counts, resize rule, crop geometry, audio windows."""

from __future__ import annotations

import numpy as np
import pytest

from robusta_bench.extraction import protocol as P
from robusta_bench.media.decode import iter_frames, read_audio


# ---------------------------------------------------------------- snippets
@pytest.mark.parametrize("n,t", [(0, 0), (1, 0), (16, 0), (17, 1), (32, 1), (33, 2), (172, 10), (598, 37)])
def test_snippet_count_formula(n, t):
    # T = floor((N - 1) / 16): the last frame never starts/ends a snippet
    assert P.n_snippets(n) == t


@pytest.mark.parametrize("n", [5, 16, 17, 33, 100, 161])
def test_snippetizer_matches_slicing_for_any_chunking(n):
    rng = np.random.default_rng(n)
    frames = np.arange(n, dtype=np.int32).reshape(n, 1, 1, 1) * np.ones((1, 2, 3, 1), np.int32)
    bounds = np.sort(rng.choice(np.arange(1, n), size=min(6, n - 1), replace=False)) if n > 1 else []
    chunks = np.split(frames, bounds)
    cutter = P.Snippetizer(16)
    got = [s for c in chunks for s in cutter.push(c)]
    expected_t = (n - 1) // 16
    assert len(got) == expected_t == cutter.n_snippets
    assert cutter.n_frames == n
    for i, s in enumerate(got):
        np.testing.assert_array_equal(s[:, 0, 0, 0], np.arange(16 * i, 16 * i + 16))


# ---------------------------------------------------------------- resizing
@pytest.mark.parametrize(
    "hw,expected",
    [((360, 640), (256, 455)), ((120, 160), (256, 341)), ((268, 640), (256, 611)), ((640, 360), (455, 256)), ((256, 256), (256, 256))],
)
def test_resize_rule(hw, expected):
    # short side 256, long side round(long * 256 / short): 640*256/360 = 455.1 -> 455
    assert P.resized_size(*hw) == expected
    out = P.resize_frames(np.zeros((2, *hw, 3), np.uint8))
    assert out.shape == (2, *expected, 3)


def test_decode_resize_centre_crop_reproduces_i3d_fixture(clips_dir, fixtures_dir):
    """The fixture's clip: explosion1 frames 16..31, resized to 256x455 (INTER_LINEAR), centre crop at (16, 116)."""
    ref = np.load(fixtures_dir / "i3d_inception_k400_reference.npz")["clip_uint8"]
    chunks = iter_frames(clips_dir / "explosion1.mp4", chunk_size=64, fps=24)
    frames = next(chunks)[16:32]
    small = P.resize_frames(frames, 256)
    assert small.shape[1:3] == (256, 455)
    assert P.crop_box(256, 455, "center") == (16, 116)
    clip = P.crop_clip(small, "center")
    np.testing.assert_array_equal(clip, ref)


# ------------------------------------------------------------------- crops
def _coordinate_frame(h, w):
    """A frame whose pixel (y, x) stores y, x % 256 and x // 256 so crops can be located exactly."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y % 256, x % 256, x // 256], axis=-1).astype(np.uint8)


def test_five_crops_pixel_exact_against_manual_slicing():
    h, w = 256, 455
    clip = np.repeat(_coordinate_frame(h, w)[None], 3, axis=0)
    order = P.parse_crop_order(None, 5)
    assert order == ("center", "top_left", "top_right", "bottom_left", "bottom_right")
    crops = P.crop_clips(clip, order, 224)
    assert crops.shape == (5, 3, 224, 224, 3)
    # offsets by hand: centre round(32/2)=16, round(231/2)=116 (115.5 rounds to even 116)
    manual = [clip[:, 16:240, 116:340], clip[:, 0:224, 0:224], clip[:, 0:224, 231:455], clip[:, 32:256, 0:224], clip[:, 32:256, 231:455]]
    for got, want in zip(crops, manual):
        np.testing.assert_array_equal(got, want)
    # top-left pixel of the centre crop is (y=16, x=116)
    assert tuple(crops[0, 0, 0, 0]) == (16, 116, 0)


def test_ten_crop_order_and_flips():
    h, w = 256, 341
    clip = np.repeat(_coordinate_frame(h, w)[None], 2, axis=0)
    order = P.parse_crop_order("ten_crop", 10)
    assert order[:5] == ("top_left", "top_right", "bottom_left", "bottom_right", "center")
    assert order[5:] == tuple(f"{c}_flip" for c in order[:5])
    crops = P.crop_clips(clip, order, 224)
    left_c = int(round((341 - 224) / 2))  # 58.5 -> 58 (Python rounds half to even)
    assert left_c == 58
    np.testing.assert_array_equal(crops[4], clip[:, 16:240, 58:282])
    np.testing.assert_array_equal(crops[1], clip[:, 0:224, 117:341])
    for k in range(5):
        np.testing.assert_array_equal(crops[5 + k], crops[k][:, :, ::-1])
    # a mirrored crop's first column is the unmirrored crop's last column
    assert crops[5][0, 0, 0, 1] == 223


def test_crop_order_parsing_and_override():
    assert P.parse_crop_order(["c", "tl", "tr", "bl", "br"], 5) == P.FIVE_CENTER_FIRST
    assert P.normalize_crop_name("flip_tl") == "top_left_flip"
    assert P.normalize_crop_name("centre-hflip") == "center_flip"
    with pytest.raises(ValueError):
        P.parse_crop_order(["c", "tl"], 5)
    with pytest.raises(ValueError):
        P.normalize_crop_name("middle")
    assert P.select_crops(P.FIVE_CENTER_FIRST, 1) == ("center",)
    assert P.select_crops(P.TEN_CROP, 1) == ("center",)
    assert P.select_crops(P.TEN_CROP, 5) == P.TEN_CROP[:5]
    assert P.select_crops(P.FIVE_CENTER_FIRST, None) == P.FIVE_CENTER_FIRST
    with pytest.raises(ValueError):
        P.select_crops(P.FIVE_CENTER_FIRST, 7)
    with pytest.raises(ValueError):
        P.crop_box(200, 300, "center")


# ------------------------------------------------------------------- audio
def test_window_bounds_end_aligned_with_snippet_end():
    # snippet i ends at (i + 1) * 16 / 24 s = (i + 1) * 32000 / 3 samples at 16 kHz
    for i in range(50):
        start, end = P.window_bounds(i)
        assert end == round((i + 1) * 32000 / 3)
        assert end - start == 15360
    assert P.window_bounds(0) == (10667 - 15360, 10667)


def test_click_lands_in_the_right_window():
    rate = 16000
    x = np.zeros(5 * rate, np.float32)
    click = 32000 + 5  # just after 2.0 s
    x[click] = 1.0
    w = P.audio_windows(x, 7)
    assert w.shape == (7, 15360) and w.dtype == np.float32
    hits = [i for i in range(7) if w[i].max() > 0]
    # window i covers [end_i - 15360, end_i); only i = 3 (27307 .. 42667) holds sample 32005
    assert hits == [3]
    assert w[3].argmax() == click - (round(4 * 32000 / 3) - 15360)


def test_windows_zero_padded_at_start_and_end():
    x = np.ones(20000, np.float32)
    w = P.audio_windows(x, 3)
    pad = 15360 - 10667
    assert np.all(w[0, :pad] == 0) and np.all(w[0, pad:] == 1)
    # window 1 ends at 21333 > 20000: the tail past the signal is zero
    assert np.all(w[1, -(21333 - 20000):] == 0) and w[1, 0] == 1


def test_model_audio_equals_decoder_mono_16k(clips_dir):
    """The fused path (native audio -> mono -> 16 kHz) equals read_audio(mono, rate) on a 6-channel 48 kHz clip."""
    path = clips_dir / "fighting2.mp4"
    native, rate = read_audio(path)
    assert native.shape[0] == 6 and rate == 48000
    ours = P.to_model_audio(native, rate)
    ref, r16 = read_audio(path, mono=True, rate=16000)
    assert r16 == 16000
    np.testing.assert_array_equal(ours, ref[0])
