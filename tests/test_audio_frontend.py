"""Log-mel front ends of YAMNet / VGGish against hand-computed values and TF's output."""

from __future__ import annotations

import numpy as np
import pytest

from robusta_bench.models import audio_frontend as af

SR = 16000


def mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def band_centres_hz() -> np.ndarray:
    """Centres of the 64 bands, from the HTK formula (independent of the module)."""
    m = np.linspace(mel(125.0), mel(7500.0), 66)[1:-1]
    return 700.0 * (np.exp(m / 1127.0) - 1.0)


def reference_frame(x: np.ndarray, j: int, offset: float) -> np.ndarray:
    """Log-mel of STFT frame ``j`` computed directly from the formula, band by band."""
    seg = x[j * 160 : j * 160 + 400].astype(np.float64)
    win = np.hanning(401)[:-1]  # periodic Hann = symmetric Hann of N+1 without its last point
    spec = np.abs(np.fft.rfft(seg * win, 512))
    freqs = np.arange(257) * (SR / 2) / 256
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    out = np.empty(64)
    for b in range(64):
        lo, c, hi = edges[b], edges[b + 1], edges[b + 2]
        fm = mel(freqs)
        w = np.clip(np.minimum((fm - lo) / (c - lo), (hi - fm) / (hi - c)), 0.0, None)
        w[0] = 0.0
        out[b] = np.log(spec @ w + offset)
    return out


def test_periodic_hann_and_mel_matrix_properties():
    np.testing.assert_allclose(af.periodic_hann(400), np.hanning(401)[:-1], atol=1e-15)
    w = af.mel_matrix()
    assert w.shape == (257, 64)
    assert (w >= 0).all() and (w <= 1).all()
    assert (w[0] == 0).all()  # DC never contributes
    freqs = np.arange(257) * 31.25
    assert (w[freqs < 125.0] == 0).all() and (w[freqs > 7500.0] == 0).all()
    # each band peaks at the bin nearest its centre
    centres = band_centres_hz()
    for b in (10, 30, 63):
        assert abs(freqs[np.argmax(w[:, b])] - centres[b]) <= 31.25
    with pytest.raises(ValueError):
        af.mel_matrix(fmin=8000.0, fmax=7000.0)


@pytest.mark.parametrize("band", [20, 35, 48, 60])
def test_pure_tone_lands_in_its_band(band):
    f = band_centres_hz()[band]
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)
    for offset in (af.YAMNET_LOG_OFFSET, af.VGGISH_LOG_OFFSET):
        lm = af.log_mel(x, offset)
        assert lm.shape == (1 + (SR - 400) // 160, 64)
        assert (np.argmax(lm, axis=1) == band).all()


def test_one_frame_matches_hand_computation():
    rng = np.random.default_rng(11)
    x = rng.uniform(-0.5, 0.5, 4000).astype(np.float32)
    for offset in (0.001, 0.01):
        lm = af.log_mel(x, offset)
        for j in (0, 7, lm.shape[0] - 1):
            np.testing.assert_allclose(lm[j], reference_frame(x, j, offset), atol=2e-5, rtol=0)
        lm32 = af.log_mel(x, offset, dtype=np.float32)
        np.testing.assert_allclose(lm32, lm, atol=1e-3)


def test_silence_is_log_offset():
    z = np.zeros((2, af.WINDOW_SAMPLES), np.float32)
    np.testing.assert_allclose(af.window_patches(z, 0.001), np.log(0.001), rtol=1e-6)
    np.testing.assert_allclose(af.window_patches(z, 0.01), np.log(0.01), rtol=1e-6)


@pytest.mark.parametrize(
    "n, frames, patches",
    [(48000, 336, 6), (80000, 528, 10), (15360, 96, 1), (15600, 96, 1), (15601, 144, 2), (10, 96, 1)],
)
def test_yamnet_padding_frame_counts(n, frames, patches):
    lm, p = af.yamnet_patches(np.zeros(n, np.float32))
    assert lm.shape == (frames, 64)
    assert p.shape == (patches, 96, 64)


def test_yamnet_patches_are_48_frame_hops_of_the_log_mel():
    x = np.random.default_rng(2).standard_normal(40000).astype(np.float32) * 0.1
    lm, p = af.yamnet_patches(x)
    for i in range(p.shape[0]):
        np.testing.assert_array_equal(p[i], lm[48 * i : 48 * i + 96])


def test_vggish_examples_do_not_pad():
    assert af.vggish_examples(np.zeros(15599, np.float32)).shape == (0, 96, 64)
    assert af.vggish_examples(np.zeros(15600, np.float32)).shape == (1, 96, 64)
    x = np.random.default_rng(4).standard_normal(48000).astype(np.float32) * 0.1
    ex = af.vggish_examples(x)
    lm = af.log_mel(x, 0.01)
    assert ex.shape == (lm.shape[0] // 96, 96, 64) == (3, 96, 64)
    np.testing.assert_array_equal(ex[2], lm[192:288])


def test_window_patches_equal_model_padding_of_each_window():
    rng = np.random.default_rng(5)
    batch = rng.uniform(-1, 1, (3, af.WINDOW_SAMPLES)).astype(np.float32)
    p = af.window_patches(batch, af.YAMNET_LOG_OFFSET)
    assert p.shape == (3, 96, 64) and p.dtype == np.float32
    for i in range(3):
        _lm, single = af.yamnet_patches(batch[i])
        assert single.shape == (1, 96, 64)
        np.testing.assert_array_equal(p[i], single[0])
    # the last ~1.5 frames see the zero padding; the first 94 frames only real audio
    lm_nopad = af.log_mel(batch[0], af.YAMNET_LOG_OFFSET)
    assert lm_nopad.shape == (94, 64)
    np.testing.assert_array_equal(p[0, :94], lm_nopad)


def test_window_patches_reject_bad_input():
    with pytest.raises(ValueError, match="15360"):
        af.window_patches(np.zeros((2, 16000), np.float32), 0.01)
    with pytest.raises(ValueError, match="batch"):
        af.window_patches(np.zeros(15360, np.float32), 0.01)
    bad = np.zeros((3, 15360), np.float32)
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"\[1\].*NaN"):
        af.window_patches(bad, 0.01)
    with pytest.raises(TypeError, match="floating"):
        af.window_patches(np.zeros((1, 15360), np.int16), 0.01)


def test_yamnet_log_mel_matches_tensorflow_fixture(fixtures_dir):
    f = np.load(fixtures_dir / "yamnet_reference.npz")
    for case, n_frames in (("sine", 336), ("clip", 528)):
        ref = f[f"{case}_log_mel"]
        for dtype in (np.float64, np.float32):
            lm, patches = af.yamnet_patches(f[f"{case}_waveform"], dtype=dtype)
            assert lm.shape == ref.shape == (n_frames, 64)
            assert np.abs(lm - ref).max() < 5e-3, (case, dtype)
            loud = ref > -5.0  # away from the spectral-leakage floor the match is much tighter
            assert np.abs(lm - ref)[loud].max() < 2e-4, (case, dtype)
