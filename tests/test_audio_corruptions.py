"""The audio corruption suite: each corruption measured against its documented design."""

from __future__ import annotations

import random

import numpy as np
import pytest

from robusta_bench.corruptions import corruption_names, get_corruption
from robusta_bench.seeding import corruption_seed

#: the eight audio corruptions of the benchmark
AUDIO_CORRUPTIONS = ("babble", "bitrate", "hf_channel", "pink_noise", "pitch_shift", "random_dropout", "reverb", "white_noise")

RATE = 48000
SEEDED = ("babble", "hf_channel", "pink_noise", "random_dropout", "reverb", "white_noise")


def speechlike(n: int, rate: int = RATE, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A test programme: harmonic tones with a 4 Hz amplitude envelope, different per channel (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    rows = []
    for c in range(channels):
        f0 = 150.0 + 40.0 * c
        tone = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h for h in range(1, 8))
        env = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + c)
        rows.append(0.08 * tone * env)
    return np.stack(rows).astype(np.float32)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    noise = noisy.astype(np.float64) - clean
    return 10 * np.log10(np.sum(clean**2) / np.sum(noise**2))


def psd(x: np.ndarray, rate: int = RATE, nperseg: int = 8192):
    from scipy.signal import welch

    f, p = welch(np.atleast_2d(x).astype(np.float64), fs=rate, window="hann", nperseg=nperseg, axis=-1)
    return f, p.sum(axis=0)


def test_registry_has_the_eight_audio_corruptions():
    assert sorted(n for n in corruption_names("audio") if not n.startswith("test")) == sorted(AUDIO_CORRUPTIONS)  # other test modules register test-* scaffolding
    assert len(AUDIO_CORRUPTIONS) == 8
    for name in AUDIO_CORRUPTIONS:
        cls = type(get_corruption(name))
        assert cls.modality == "audio" and len(cls.levels) == 5
        assert cls.describe()["levels"] == [dict(lv) for lv in cls.levels]


@pytest.mark.parametrize("name", ["white_noise", "pink_noise", "babble", "hf_channel"])
def test_measured_snr_matches_each_level(name):
    x = speechlike(3 * RATE)
    c = get_corruption(name)
    expected = [40, 30, 20, 10, 0] if name in ("white_noise", "pink_noise") else [20, 15, 10, 5, 0]
    for severity, target in zip(range(1, 6), expected):
        assert c.params(severity)["snr_db"] == target
        y = c.apply(x, severity, corruption_seed("v.mp4", name, severity, 0), rate=RATE)
        assert abs(snr_db(x, y) - target) < 0.5, (severity, snr_db(x, y))


def test_noise_is_independent_per_channel_with_equal_level():
    x = speechlike(2 * RATE, channels=4)
    for name in ("white_noise", "pink_noise"):
        y = get_corruption(name).apply(x, 4, 5, rate=RATE).astype(np.float64)
        noise = y - x
        power = np.mean(noise**2, axis=1)
        assert power.max() / power.min() < 1.1  # same level on every channel
        corr = np.corrcoef(np.diff(noise, axis=1))  # differenced: pink noise's slow drift would dominate
        assert np.max(np.abs(corr - np.eye(4))) < 0.05  # independent realisations


def test_pink_noise_slope_is_minus_3_db_per_octave_and_white_is_flat():
    x = speechlike(8 * RATE, channels=1) * 0.01  # weak programme, so the difference is the noise
    slopes = {}
    for name in ("pink_noise", "white_noise"):
        y = get_corruption(name).apply(x, 5, 3, rate=RATE)
        f, p = psd(y.astype(np.float64) - x)
        band = (f >= 100) & (f <= 10000)
        slopes[name] = np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0]
    assert abs(slopes["pink_noise"] - (-3.01)) < 0.5, slopes
    assert abs(slopes["white_noise"]) < 0.5, slopes


def peak_hz(x: np.ndarray, rate: int) -> float:
    m = x.astype(np.float64).mean(axis=0)
    mag = np.abs(np.fft.rfft(m * np.hanning(len(m)), n=8 * len(m)))
    k = int(np.argmax(mag))
    return k * rate / (8 * len(m))


def test_pitch_shift_moves_a_tone_by_the_set_semitones():
    t = np.arange(2 * RATE) / RATE
    x = np.stack([0.3 * np.sin(2 * np.pi * 440.0 * t)] * 2).astype(np.float32)
    c = get_corruption("pitch_shift")
    signs = set()
    for severity, semis in zip(range(1, 6), (1, 2, 4, 6, 8)):
        for seed in (1, 2, 3):
            y = c.apply(x, severity, seed, rate=RATE)
            assert y.shape == x.shape
            measured = 12 * np.log2(peak_hz(y[:, RATE // 4 : -RATE // 4], RATE) / 440.0)
            expected = c.shift_for(c.params(severity), seed)
            assert abs(expected) == semis
            assert abs(measured - expected) < 0.3, (severity, seed, measured, expected)
            signs.add(np.sign(expected))
    assert signs == {-1.0, 1.0}  # both directions occur


def zero_runs(mask: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean mask."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return list(ends - starts)


def test_random_dropout_silences_the_designed_fraction_in_several_chunks():
    x = speechlike(10 * RATE, channels=3) + 0.01  # no natural zeros
    c = get_corruption("random_dropout")
    for severity, fraction in zip(range(1, 6), (0.1, 0.2, 0.3, 0.4, 0.5)):
        y = c.apply(x, severity, 17, rate=RATE)
        silent = np.all(y == 0, axis=0)
        assert np.array_equal(silent, np.any(y == 0, axis=0))  # all channels together
        assert abs(silent.mean() - fraction) < 0.005
        runs = zero_runs(silent)
        assert len(runs) >= 3
        assert 0.05 * RATE < min(runs) and max(runs) < 0.6 * RATE
        np.testing.assert_array_equal(y[:, ~silent], x[:, ~silent])


def schroeder_rt60(response: np.ndarray, rate: int) -> float:
    """T20 from the backward-integrated energy decay (-5 .. -25 dB), extrapolated to 60 dB."""
    e = np.sum(response.astype(np.float64) ** 2, axis=0)
    edc = np.cumsum(e[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    sel = (edc_db <= -5) & (edc_db >= -25)
    slope = np.polyfit(np.flatnonzero(sel) / rate, edc_db[sel], 1)[0]
    return -60.0 / slope


def test_reverb_decay_time_grows_with_severity_and_matches_rt60():
    x = np.zeros((2, 4 * RATE), dtype=np.float32)
    x[:, 1000] = 0.5  # a click: the output is the room's impulse response
    c = get_corruption("reverb")
    times = []
    for severity in range(1, 6):
        y = c.apply(x, severity, 9, rate=RATE)
        assert y.shape == x.shape
        assert np.max(np.abs(y[:, :1000])) < 1e-6  # causal (FFT convolution leaves ~1e-19)
        rt = schroeder_rt60(y[:, 1000:], RATE)
        assert abs(rt - c.params(severity)["rt60_s"]) / c.params(severity)["rt60_s"] < 0.15, (severity, rt)
        times.append(rt)
    assert all(b > a for a, b in zip(times, times[1:]))


def test_reverb_keeps_loudness():
    x = speechlike(2 * RATE)
    y = get_corruption("reverb").apply(x, 5, 1, rate=RATE)
    assert abs(10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(x.astype(np.float64) ** 2))) < 0.1


def rolloff(x: np.ndarray, rate: int, fraction: float = 0.99) -> float:
    f, p = psd(x, rate, 4096)
    c = np.cumsum(p)
    return float(f[np.searchsorted(c, fraction * c[-1])])


def test_bitrate_changes_the_signal_and_its_bandwidth_shrinks_with_level():
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((2, 3 * RATE))).astype(np.float32)
    c = get_corruption("bitrate")
    widths = []
    for severity in range(1, 6):
        y = c.apply(x, severity, 0, rate=RATE)
        assert y.shape == x.shape
        assert np.max(np.abs(y - x)) > 0.01
        widths.append(rolloff(y, RATE))
    assert all(b < a for a, b in zip(widths, widths[1:])), widths
    assert widths[-1] < 4000  # 8 kbps at 8 kHz: nothing above 4 kHz


def test_bitrate_output_is_time_aligned_with_the_input():
    x = speechlike(2 * RATE, channels=1)
    y = get_corruption("bitrate").apply(x, 1, 0, rate=RATE)
    a, b = x[0].astype(np.float64), y[0].astype(np.float64)
    lags = range(-50, 51)
    corr = [np.dot(a[100 + lag : -100 + lag], b[100:-100]) for lag in lags]
    assert list(lags)[int(np.argmax(corr))] == 0
    assert snr_db(x, y) > 15  # 64 kbps keeps the programme recognisable


@pytest.fixture
def clip_track(clips_dir):
    """The first 3 s of the shared fighting2.mp4 track (48 kHz, 6 channels), decoded once."""
    from robusta_bench.media.decode import read_audio

    key = str(clips_dir / "fighting2.mp4")
    if key not in _TRACKS:
        samples, rate = read_audio(key)
        _TRACKS[key] = (samples[:, : 3 * rate], rate)
    return _TRACKS[key]


_TRACKS: dict = {}


@pytest.mark.parametrize("name", AUDIO_CORRUPTIONS)
def test_real_six_channel_track_keeps_rate_channels_and_length(name, clip_track):
    x, rate = clip_track
    assert rate == 48000 and x.shape[0] == 6
    y = get_corruption(name).apply(x, 3, corruption_seed("fighting2.mp4", name, 3, 0), rate=rate)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0
    assert not np.array_equal(y, x)


@pytest.mark.parametrize("name", AUDIO_CORRUPTIONS)
def test_deterministic_per_seed_and_global_rng_untouched(name):
    x = speechlike(RATE // 2, rate=44100, channels=2)
    c = get_corruption(name)
    random.seed(123)
    np.random.seed(123)
    py_state, np_state = random.getstate(), np.random.get_state()
    a = c.apply(x, 4, 1234, rate=44100)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    random.seed(999)  # other global state must not change the result
    np.random.seed(999)
    b = get_corruption(name).apply(x, 4, 1234, rate=44100)
    np.testing.assert_array_equal(a, b)
    if name in SEEDED:
        assert not np.array_equal(a, c.apply(x, 4, 1235, rate=44100))


@pytest.mark.parametrize("name", AUDIO_CORRUPTIONS)
def test_mono_to_7_1_and_odd_rates(name):
    c = get_corruption(name)
    for channels, rate in ((1, 22050), (8, 44100), (2, 96000)):
        x = speechlike(rate // 4, rate=rate, channels=channels)
        y = c.apply(x, 5, 3, rate=rate)
        assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


@pytest.mark.parametrize("name", AUDIO_CORRUPTIONS)
def test_empty_or_one_sample_audio_is_a_clear_error_and_two_samples_work(name):
    c = get_corruption(name)
    for n in (0, 1):
        with pytest.raises(ValueError, match=rf"{name}: audio has {n} sample"):
            c.apply(np.zeros((2, n), dtype=np.float32), 1, 0, rate=RATE)
    y = c.apply(np.full((2, 2), 0.1, dtype=np.float32), 5, 0, rate=RATE)
    assert y.shape == (2, 2)


def test_bad_input_errors_name_the_problem():
    c = get_corruption("white_noise")
    with pytest.raises(ValueError, match="channels, samples"):
        c.apply(np.zeros(100, dtype=np.float32), 1, 0, rate=RATE)
    with pytest.raises(ValueError, match="sample rate"):
        c.apply(np.zeros((1, 100), dtype=np.float32), 1, 0)
    with pytest.raises(ValueError, match="NaN"):
        c.apply(np.full((1, 100), np.nan, dtype=np.float32), 1, 0, rate=RATE)
    with pytest.raises(ValueError, match="severity"):
        c.apply(np.zeros((1, 100), dtype=np.float32), 6, 0, rate=RATE)


def test_silent_track_stays_silent_under_snr_corruptions():
    x = np.zeros((2, RATE // 4), dtype=np.float32)
    for name in ("white_noise", "pink_noise", "babble", "hf_channel"):
        np.testing.assert_array_equal(get_corruption(name).apply(x, 5, 0, rate=RATE), x)


def test_damage_grows_with_severity_and_level_five_is_clearly_worse():
    """Log-mel distance to the clean input (what audio features see) rises at every level, x2 from 1 to 5."""
    import librosa

    rng = np.random.default_rng(2)
    x = speechlike(2 * RATE) + (0.01 * rng.standard_normal((2, 2 * RATE))).astype(np.float32)

    def logmel(a):
        mel = librosa.feature.melspectrogram(y=a.mean(axis=0), sr=RATE, n_fft=2048, hop_length=480, n_mels=64)
        return 10 * np.log10(mel + 1e-10)

    clean = logmel(x)
    for name in AUDIO_CORRUPTIONS:
        c = get_corruption(name)
        d = [np.mean(np.abs(logmel(c.apply(x, s, 4, rate=RATE)) - clean)) for s in range(1, 6)]
        assert all(b > a for a, b in zip(d, d[1:])), (name, d)
        assert d[4] > 2 * d[0], (name, d)


@pytest.mark.parametrize("name", ["pitch_shift", "bitrate", "reverb"])
def test_channels_are_processed_separately(name):
    """Content never leaks between channels: a silent channel next to a loud one stays silent."""
    t = np.arange(RATE) / RATE
    x = np.zeros((6, RATE), dtype=np.float32)
    x[0] = 0.3 * np.sin(2 * np.pi * 440 * t)
    x[3] = 0.3 * np.sin(2 * np.pi * 700 * t)
    y = get_corruption(name).apply(x, 3, 1, rate=RATE)
    rms = np.sqrt(np.mean(y.astype(np.float64) ** 2, axis=1))
    assert rms[0] > 0.1 and rms[3] > 0.1
    assert np.all(rms[[1, 2, 4, 5]] < 1e-6), rms


def test_stream_corrupts_the_joined_track_once():
    x = speechlike(RATE, channels=2)
    c = get_corruption("random_dropout")
    out = list(c.stream([x[:, :1000], x[:, 1000:20000], x[:, 20000:]], 3, 8, rate=RATE))
    assert len(out) == 1
    np.testing.assert_array_equal(out[0], c.apply(x, 3, 8, rate=RATE))
