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

from robusta_bench.corruptions import get_corruption
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
    assert not row["error"], row["error"]
    return np.concatenate(captured)


def fused_frames(monkeypatch, clip: Path, name: str, severity: int, seed: int, **produce_kw) -> np.ndarray:
    """The corrupted frames of the fused path (``produce``), snippet by snippet, before resizing."""
    from robusta_bench.features import producer
    from robusta_bench.features.protocol import OFFICIAL
    from robusta_bench.features.store import Variant
    from robusta_bench.features.variants import VideoItem, VideoJob

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
