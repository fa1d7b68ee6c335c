"""On CPU, `corrupt` and the fused extraction path corrupt a video into identical frames for a seed.

The corrupted media a user inspects (``robusta-bench corrupt``) must be the
media whose features ``extract`` computes in memory. Both sides are run on a
real 24 fps clip; the encoder of ``corrupt`` and the resize of the fused path
are replaced by captures so the frames themselves are compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robusta_bench.corruptions import get_corruption
from robusta_bench.media.decode import read_frames
from robusta_bench.seeding import corruption_seed

CLIP = "riot1.mp4"  # 160x120, 24 fps, 322 frames


def corrupt_frames(monkeypatch, tmp_path: Path, clip: Path, name: str, severity: int, seed: int) -> np.ndarray:
    """The frames ``corrupt`` hands to its encoder for one video."""
    import robusta_bench.media.video_out as video_out
    from robusta_bench.corruptions import runner

    captured: list[np.ndarray] = []

    def capture(src, dst, chunks, **kw):
        captured.extend(chunks)
        Path(dst).write_bytes(b"captured")

    monkeypatch.setattr(video_out, "encode_with_audio", capture)
    out = tmp_path / f"{name}.mp4"
    job = runner.Job(clip.stem, str(clip), name, severity, seed, str(out), str(tmp_path))
    row = runner.corrupt_one(job)
    assert not row.error, row.error
    return np.concatenate(captured)


def fused_frames(monkeypatch, clip: Path, name: str, severity: int, seed: int, **produce_kw) -> np.ndarray:
    """The corrupted frames of the fused path (``produce``), snippet by snippet, before resizing."""
    from robusta_bench.extraction import producer
    from robusta_bench.extraction.protocol import OFFICIAL
    from robusta_bench.store.feature_store import Variant
    from robusta_bench.extraction.variants import VideoItem, VideoJob

    monkeypatch.setattr(producer, "resize_frames", lambda frames, short_side: frames)
    v = Variant(name, severity, seed)
    job = VideoJob(video=VideoItem(name=clip.stem, path=clip), visual={v: ["i3d"]})
    snippets = {}
    for item in producer.produce(
        job,
        proto=OFFICIAL,
        seed_of=lambda video, var: corruption_seed(video, var.corruption, var.severity, var.seed),
        corruption_of=get_corruption,
        chunk_size=64,
        **produce_kw,
    ):
        if item[0] == "visual":
            snippets[item[2]] = item[3]
        elif item[0] == "visual_end":
            assert item[3] is None, item[3]
    return np.concatenate([snippets[i] for i in range(len(snippets))])


@pytest.mark.parametrize("name", ["shot_noise", "rain", "motion_blur", "fog"])
def test_corrupt_and_fused_path_make_identical_frames(monkeypatch, tmp_path, clips_dir, name):
    clip = clips_dir / CLIP
    written = corrupt_frames(monkeypatch, tmp_path, clip, name, 4, 3)
    fused = fused_frames(monkeypatch, clip, name, 4, 3)
    n = len(fused)  # whole snippets only: floor((N - 1) / 16) * 16 frames
    assert n == (len(written) - 1) // 16 * 16 and n > 0
    assert np.array_equal(fused, written[:n])


@pytest.mark.parametrize("name", ["rain", "motion_blur", "saturate"])
def test_fused_path_on_the_torch_path_equals_corrupt(monkeypatch, tmp_path, clips_dir, name):
    """The device path of ``extract`` (here on CPU tensors) makes the frames ``corrupt`` writes."""
    clip = clips_dir / CLIP
    written = corrupt_frames(monkeypatch, tmp_path, clip, name, 5, 1)
    fused = fused_frames(monkeypatch, clip, name, 5, 1, corrupt_device="cpu")
    n = len(fused)
    assert n == (len(written) - 1) // 16 * 16
    assert np.abs(fused.astype(np.int16) - written[:n]).max() <= 1


def test_fused_torch_shot_noise_has_the_numpy_paths_law(monkeypatch, tmp_path, clips_dir):
    clip = clips_dir / "car2.mp4"  # 154 frames: the torch path on CPU is the slow one
    written = corrupt_frames(monkeypatch, tmp_path, clip, "shot_noise", 2, 1)
    fused = fused_frames(monkeypatch, clip, "shot_noise", 2, 1, corrupt_device="cpu")
    n = len(fused)
    assert not np.array_equal(fused, written[:n])  # other random draws ...
    # ... from the same law: same mean per frame, same spread of the noise
    clean = read_frames(clip, max_frames=n)
    d_fused = fused.astype(np.float64) - clean
    d_written = written[:n].astype(np.float64) - clean
    assert abs(d_fused.mean() - d_written.mean()) < 0.05
    assert abs(d_fused.std() / d_written.std() - 1) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fused_path_on_cuda_equals_corrupt(monkeypatch, tmp_path, clips_dir):
    clip = clips_dir / CLIP
    for name in ("fog", "motion_blur", "rain"):
        written = corrupt_frames(monkeypatch, tmp_path, clip, name, 3, 0)
        fused = fused_frames(monkeypatch, clip, name, 3, 0, corrupt_device="cuda")
        assert np.abs(fused.astype(np.int16) - written[: len(fused)]).max() <= 1, name
