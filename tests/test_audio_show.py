"""spectrogram_grid: a PNG with one row per audio corruption and severities 0-5."""

from __future__ import annotations

import numpy as np
import pytest

from robusta_bench.corruptions.audio.show import log_mel, spectrogram_grid


def test_spectrogram_grid_writes_a_png(clips_dir, tmp_path):
    out = spectrogram_grid(clips_dir / "abuse1.mp4", ["hf_channel", "random_dropout"], tmp_path / "spec.png", max_seconds=2)
    assert out == tmp_path / "spec.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[1] > img.shape[0] > 200  # a wide grid: 6 columns, 2 rows
    assert img[..., :3].std() > 0.05  # not blank


def test_spectrogram_grid_rejects_non_audio_types(clips_dir, tmp_path):
    with pytest.raises(ValueError, match="not audio corruptions: fog"):
        spectrogram_grid(clips_dir / "abuse1.mp4", ["fog"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one"):
        spectrogram_grid(clips_dir / "abuse1.mp4", [], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_log_mel_shows_a_tone_in_the_right_band():
    rate = 16000
    t = np.arange(rate) / rate
    low = log_mel(np.sin(2 * np.pi * 300 * t), rate)
    high = log_mel(np.sin(2 * np.pi * 5000 * t), rate)
    assert low.shape[0] == 80
    assert np.argmax(low.mean(axis=1)) < np.argmax(high.mean(axis=1))
