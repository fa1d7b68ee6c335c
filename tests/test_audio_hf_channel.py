"""HF channel as a noise overlay, and --noise-dir recordings for every overlay type (issue 17)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.io import wavfile
from scipy.stats import kurtosis

from robusta_bench.cli.main import cli
from robusta_bench.corruptions import get_corruption
from robusta_bench.corruptions.audio.overlay import make_corruption, noise_source
from robusta_bench.media.decode import read_audio
from robusta_bench.seeding import corruption_seed

CLIPS = ("abuse1", "car2", "explosion1", "fighting2", "n1", "n3", "riot1", "shooting1")
LADDER = (20.0, 15.0, 10.0, 5.0, 0.0)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    return float(10 * np.log10(np.sum(clean**2) / np.sum((noisy.astype(np.float64) - clean) ** 2)))


def band_share(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64), axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / rate)
    return float(spec[..., (f >= lo) & (f <= hi)].sum() / spec.sum())


def write_tone(path, freq: float, rate: int = 16000, seconds: float = 1.5, seed: int = 0) -> str:
    """A recording the test can recognise: a tone with a little hiss (16-bit WAV); returns its sha256."""
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    wavfile.write(path, rate, (x * 32767).astype(np.int16))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def peak_hz(x: np.ndarray, rate: int) -> float:
    mag = np.abs(np.fft.rfft(x.astype(np.float64).mean(axis=0)))
    return float(np.argmax(mag) * rate / x.shape[-1])


@pytest.mark.parametrize("clip", CLIPS)
def test_overlay_hits_the_snr_ladder_on_the_shared_clips(clip, clips_dir):
    x, rate = read_audio(clips_dir / f"{clip}.mp4")
    x = x[:, : 4 * rate]
    c = get_corruption("hf_channel")
    for severity, target in zip(range(1, 6), LADDER):
        assert c.params(severity)["snr_db"] == target
        y = c.apply(x, severity, corruption_seed(clip, "hf_channel", severity, 0), rate=rate)
        assert abs(snr_db(x, y) - target) < 0.5, (clip, severity, snr_db(x, y))


def test_generated_noise_is_band_limited_fading_and_crackly():
    """The documented design: >= 95 % of the energy in 300-3000 Hz (+ skirts), slow fading, impulsive static."""
    rate = 16000
    x = np.full((1, 10 * rate), 1e-3, dtype=np.float32)  # a quiet programme: the difference is the noise
    y = get_corruption("hf_channel").apply(x, 5, 7, rate=rate).astype(np.float64) - x
    assert band_share(y, rate, 250, 3500) > 0.95
    assert band_share(y, rate, 4500, 8000) < 0.005
    frames = np.sqrt(np.mean(y[0, : 100 * 1600].reshape(100, 1600) ** 2, axis=1))  # 100 ms RMS
    assert frames.std() / frames.mean() > 0.2  # fading: the level wanders
    assert kurtosis(y[0]) > 4.0  # static crackle: heavier tails than Gaussian hiss (3 -> 0 here)
    white = get_corruption("white_noise").apply(x, 5, 7, rate=rate).astype(np.float64) - x
    assert abs(kurtosis(white[0])) < 0.2


def test_noise_dir_recordings_replace_the_generated_noise(tmp_path):
    sha = write_tone(tmp_path / "hfchannel.wav", 1234.0)
    write_tone(tmp_path / "White.WAV", 555.0)  # any case, any audio extension
    rate = 16000
    x = (0.05 * np.sin(2 * np.pi * 150 * np.arange(5 * rate) / rate))[None].repeat(2, 0).astype(np.float32)
    hf = make_corruption("hf_channel", tmp_path)
    assert hf.noise_source() == f"file:hfchannel.wav:sha256:{sha}" == noise_source("hf_channel", tmp_path)
    for severity, target in zip(range(1, 6), LADDER):
        y = hf.apply(x, severity, 3, rate=rate)
        assert abs(snr_db(x, y) - target) < 0.5
    y = hf.apply(x, 3, 3, rate=rate)
    assert abs(peak_hz(y.astype(np.float64) - x, rate) - 1234.0) < 2.0  # the recording, looped over 5 s
    np.testing.assert_array_equal(y, make_corruption("hf_channel", tmp_path).apply(x, 3, 3, rate=rate))
    assert not np.array_equal(y, hf.apply(x, 3, 4, rate=rate))  # another seed, another offset
    w = make_corruption("white_noise", tmp_path).apply(x, 4, 3, rate=rate)
    assert abs(peak_hz(w.astype(np.float64) - x, rate) - 555.0) < 2.0
    # no pink.* in the folder: pink noise stays generated, and says so
    assert make_corruption("pink_noise", tmp_path).noise_source() == "generated"
    assert noise_source("hf_channel") == "generated" and noise_source("fog", tmp_path) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds none of the NOISEX-92 noise files"):
        make_corruption("hf_channel", empty)


def test_corrupt_cli_uses_the_noise_dir_and_records_its_sha256(tmp_path, clips_dir):
    (tmp_path / "videos").mkdir()
    shutil.copy(clips_dir / "explosion1.mp4", tmp_path / "videos" / "explosion1.mp4")
    pd.DataFrame([{"name": "explosion1", "path": "videos/explosion1.mp4", "split": "test", "label": 1}]).to_csv(
        tmp_path / "m.csv", index=False)
    noise = tmp_path / "noise"
    noise.mkdir()
    sha = write_tone(noise / "hfchannel.wav", 987.0, rate=44100)
    args = ["corrupt", "--type", "hf_channel", "--severity", "4", "--manifest", str(tmp_path / "m.csv"),
            "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(cli, [*args, "--noise-dir", str(noise)])
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(tmp_path / "out" / "corrupt_manifest.csv")
    assert rows["noise_source"].tolist() == [f"file:hfchannel.wav:sha256:{sha}"]
    out = tmp_path / "out" / "hf_channel-s4-seed0" / "explosion1.mp4"
    clean, rate = read_audio(tmp_path / "videos" / "explosion1.mp4")
    got, _ = read_audio(out)
    n = min(clean.shape[1], got.shape[1])
    assert abs(peak_hz(got[:, :n].astype(np.float64) - clean[:, :n], rate) - 987.0) < 3.0
    # the same run without --noise-dir is not "already done": the noise differs
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and "1 written" in res.output, res.output
    assert pd.read_csv(tmp_path / "out" / "corrupt_manifest.csv")["noise_source"].tolist() == ["generated"]
    bad = CliRunner().invoke(cli, [*args, "--noise-dir", str(tmp_path / "videos")])
    assert bad.exit_code == 2 and "none of the NOISEX-92 noise files" in bad.output


def test_store_variant_metadata_records_the_noise_source(tmp_path, clips_dir):
    import test_extract  # noqa: F401  (registers the small test extractors)

    from robusta_bench.extraction.pipeline import extract
    from robusta_bench.store.feature_store import FeatureStore, Variant

    man = tmp_path / "m.csv"
    pd.DataFrame([{"name": "n3", "path": str(clips_dir / "n3.mp4"), "split": "test", "label": 0}]).to_csv(man, index=False)
    noise = tmp_path / "noise"
    noise.mkdir()
    sha = write_tone(noise / "hfchannel.wav", 700.0)
    extract(man, "test-audio", "hf_channel@2,white_noise@2", tmp_path / "s", noise_dir=noise)
    store = FeatureStore(tmp_path / "s")
    meta = store.index("test-audio", Variant("hf_channel", 2, 0))["meta"]
    assert meta["noise_source"] == f"file:hfchannel.wav:sha256:{sha}" and sha in meta["plan"]
    assert store.index("test-audio", Variant("white_noise", 2, 0))["meta"]["noise_source"] == "generated"
