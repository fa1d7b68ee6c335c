"""Babble: the synthetic talkers look like speech; --babble-dir recordings are used as documented."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from robusta_bench.corruptions import CORRUPTIONS
from robusta_bench.corruptions.audio.babble import Babble, babble_files
from robusta_bench.corruptions.audio.speech_synth import SYNTH_RATE, synth_babble_sources, synth_talker

RATE = 48000


def frame_rms(x: np.ndarray, rate: int, hop_s: float = 0.01) -> np.ndarray:
    hop = int(rate * hop_s)
    n = len(x) // hop * hop
    return np.sqrt(np.mean(x[:n].reshape(-1, hop) ** 2, axis=1))


def test_synthetic_talker_has_speech_rhythm_pauses_and_spectrum():
    x = synth_talker(SYNTH_RATE * 20, np.random.default_rng(3))
    assert np.all(np.isfinite(x)) and abs(np.sqrt(np.mean(x**2)) - 1.0) < 1e-6
    env = frame_rms(x, SYNTH_RATE)
    quiet = np.mean(env < 0.05 * env.max())
    assert 0.1 < quiet < 0.6  # pauses between phrases and syllables, but mostly talking
    # syllabic modulation: the envelope spectrum has more energy at 2-8 Hz than at 10-40 Hz
    e = env - env.mean()
    spec = np.abs(np.fft.rfft(e)) ** 2
    fm = np.fft.rfftfreq(len(e), 0.01)
    assert spec[(fm >= 2) & (fm <= 8)].mean() > 3 * spec[(fm >= 10) & (fm <= 40)].mean()
    # long-term spectrum: most energy below 1 kHz, some above 2 kHz (formants, fricatives)
    f, p = np.fft.rfftfreq(len(x), 1 / SYNTH_RATE), np.abs(np.fft.rfft(x)) ** 2
    low, high = p[f < 1000].sum() / p.sum(), p[f > 2000].sum() / p.sum()
    assert low > 0.6 and 0.005 < high < 0.3


def test_talkers_are_independent_and_voiced():
    src = synth_babble_sources(4, RATE * 4, RATE, np.random.default_rng(1))
    assert src.shape == (4, RATE * 4)
    corr = np.corrcoef(src)
    assert np.max(np.abs(corr - np.eye(4))) < 0.1
    # voiced: in the loudest 60 ms of each talker, the normalised autocorrelation has a
    # strong peak at a pitch period between 1/260 s and 1/70 s
    win = int(0.06 * RATE)
    for talker in src:
        env = frame_rms(talker, RATE, 0.06)
        k = int(np.argmax(env)) * win
        seg = talker[k : k + win] - talker[k : k + win].mean()
        lags = np.arange(RATE // 260, RATE // 70)
        ac = np.array([np.dot(seg[:-lag], seg[lag:]) for lag in lags]) / np.dot(seg, seg)
        assert ac.max() > 0.3, ac.max()


def write_speech_wav(path, seconds: float, rate: int = 16000, seed: int = 0) -> None:
    """A mono WAV of synthetic speech written with PyAV (a stand-in for a user's recording)."""
    x = synth_talker(int(seconds * rate), np.random.default_rng(seed), rate=rate)
    x = (0.2 * x / np.max(np.abs(x))).astype(np.float32)
    with av.open(str(path), "w") as out:
        st = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(x[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for p in st.encode(frame):
            out.mux(p)
        for p in st.encode(None):
            out.mux(p)


def test_babble_dir_recordings_are_mixed_at_the_level_snr(tmp_path):
    for i in range(3):
        write_speech_wav(tmp_path / f"talker{i}.wav", 1.5, seed=i)
    (tmp_path / "notes.txt").write_text("not audio")
    assert [p.name for p in babble_files(tmp_path)] == ["talker0.wav", "talker1.wav", "talker2.wav"]
    c = Babble(babble_dir=tmp_path)
    t = np.arange(RATE * 3) / RATE
    x = np.stack([0.1 * np.sin(2 * np.pi * 200 * t)] * 2).astype(np.float32)
    for severity, snr in ((1, 20.0), (5, 0.0)):  # 3 and 8 talkers from 3 files (looped, with replacement)
        y = c.apply(x, severity, 11, rate=RATE)
        noise = y.astype(np.float64) - x
        assert abs(10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(noise**2)) - snr) < 0.5
    a = c.apply(x, 3, 11, rate=RATE)
    np.testing.assert_array_equal(a, Babble(babble_dir=tmp_path).apply(x, 3, 11, rate=RATE))
    assert not np.array_equal(a, c.apply(x, 3, 12, rate=RATE))
    assert Babble().source_id() == "synthetic"
    assert c.source_id().startswith("dir:") and c.source_id() == Babble(babble_dir=tmp_path).source_id()
    # recordings differ from the synthetic default
    assert not np.array_equal(a, CORRUPTIONS.get("babble")().apply(x, 3, 11, rate=RATE))


def test_babble_dir_accepts_video_files(tmp_path, clips_dir):
    shutil.copy(clips_dir / "n3.mp4", tmp_path / "crowd.mp4")
    x = (0.05 * np.random.default_rng(0).standard_normal((6, RATE))).astype(np.float32)
    y = Babble(babble_dir=tmp_path).apply(x, 2, 0, rate=RATE)
    assert y.shape == x.shape and not np.array_equal(x, y)


def test_babble_dir_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        Babble(babble_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="no audio or video files"):
        Babble(babble_dir=tmp_path)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not a wav")
    c = Babble(babble_dir=tmp_path)
    with pytest.raises(ValueError, match="broken.wav"):
        c.apply(np.full((1, 1000), 0.1, np.float32), 1, 0, rate=RATE)
