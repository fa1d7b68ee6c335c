"""The torch path of the visual corruptions equals the numpy path (CPU here, CUDA where present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from robusta_bench.corruptions import get_corruption
from robusta_bench.corruptions.visual import device as D
from robusta_bench.corruptions.visual import torch_ops as T
from robusta_bench.seeding import corruption_seed

DETERMINISTIC = ("brightness", "contrast", "fog", "motion_blur", "saturate")


@pytest.fixture(scope="module")
def real_frames():
    """6 frames of the shared 640x360 clip at half resolution."""
    from conftest import CLIPS, need
    from robusta_bench.media.decode import read_frames

    frames = read_frames(need(CLIPS / "explosion1.mp4"), max_frames=6)
    return np.ascontiguousarray(frames[:, ::2, ::2])


@pytest.fixture(scope="module")
def awkward_frames():
    """Random colours plus grey, black, white and tied-max pixels."""
    f = np.random.default_rng(3).integers(0, 256, (3, 30, 40, 3), dtype=np.uint8)
    f[:, :3] = 128
    f[:, 3:5] = 0
    f[:, 5:7] = 255
    f[:, 7, :, :] = [255, 255, 0]
    return f


def max_diff(a: np.ndarray, b: torch.Tensor) -> int:
    return int(np.abs(a.astype(np.int16) - b.cpu().numpy().astype(np.int16)).max())


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_deterministic_and_rain_equal_the_numpy_path_on_cpu(real_frames, awkward_frames, severity):
    for frames in (real_frames, awkward_frames):
        for name in (*DETERMINISTIC, "rain"):
            seed = corruption_seed("v", name, severity, 0)
            ref = get_corruption(name).apply(frames, severity, seed)
            got = D.apply_torch(name, torch.from_numpy(frames), severity, seed)
            assert got.dtype == torch.uint8 and tuple(got.shape) == frames.shape
            assert max_diff(ref, got) <= 1, (name, severity)


def test_rain_uses_the_same_streaks_so_is_bit_equal_on_cpu(real_frames):
    seed = corruption_seed("v", "rain", 4, 0)
    ref = get_corruption("rain").apply(real_frames, 4, seed, start=7)
    got = D.apply_torch("rain", torch.from_numpy(real_frames), 4, seed, start=7)
    assert np.array_equal(ref, got.numpy())


@pytest.mark.parametrize("name", D.TORCH_CORRUPTIONS)
def test_device_stream_chunked_equals_whole_and_uploads_once(real_frames, name):
    corr = get_corruption(name)
    seed = corruption_seed("v", name, 3, 0)
    whole = D.apply_torch(name, torch.from_numpy(real_frames), 3, seed).numpy()
    chunks = [real_frames[:3], real_frames[3:4], real_frames[4:]]
    up = D.ChunkUploader("cpu")
    got = np.concatenate(list(D.device_stream(corr, chunks, 3, seed, uploader=up)))
    assert np.array_equal(got, whole)
    # a second variant of the same chunks reuses the uploads
    list(D.device_stream(get_corruption("brightness"), chunks, 1, 0, uploader=up))
    assert up.uploads == len(chunks)


def test_apply_visual_variants_batches_every_variant(real_frames):
    variants = [("fog", 2, 11), ("shot_noise", 5, 12), ("motion_blur", 1, 0), ("contrast", 4, 0)]
    outs = D.apply_visual_variants(real_frames, variants, device="cpu", start=5)
    assert len(outs) == len(variants)
    for (name, sev, seed), out in zip(variants, outs):
        one = D.apply_torch(name, torch.from_numpy(real_frames), sev, seed, start=5)
        assert torch.equal(out, one), name


def shot_histograms(sample_fn, severity: int, levels=(0, 5, 90, 180, 255), n=30_000) -> dict:
    frames = np.empty((2, len(levels), n // 6, 3), np.uint8)
    frames[:] = np.array(levels, np.uint8)[None, :, None, None]
    out = sample_fn(frames, severity)
    return {x: np.bincount(out[:, i].reshape(-1), minlength=256) for i, x in enumerate(levels)}


def assert_same_distribution(h1: dict, h2: dict) -> None:
    for x in h1:
        both = np.stack([h1[x], h2[x]])
        both = both[:, both.sum(axis=0) > 0]
        if both.shape[1] > 1:
            assert stats.chi2_contingency(both)[1] > 1e-4, x
        else:
            assert both.shape[1] == 1


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_torch_shot_noise_equals_numpy_in_distribution(severity):
    seed = corruption_seed("v", "shot_noise", severity, 0)
    ours = shot_histograms(lambda f, s: get_corruption("shot_noise").apply(f, s, seed), severity)
    torch_h = shot_histograms(lambda f, s: D.apply_torch("shot_noise", torch.from_numpy(f), s, seed).numpy(), severity)
    assert_same_distribution(ours, torch_h)


def test_torch_shot_noise_is_seeded_per_frame(real_frames):
    f = torch.from_numpy(np.repeat(real_frames[:1], 3, axis=0))
    a = D.apply_torch("shot_noise", f, 3, 7, start=2)
    b = D.apply_torch("shot_noise", f[:2], 3, 7, start=2)
    c = D.apply_torch("shot_noise", f[2:], 3, 7, start=4)
    assert torch.equal(a, torch.cat([b, c]))  # chunking does not matter
    assert not torch.equal(a[0], a[1])  # fresh noise per frame
    assert not torch.equal(a, D.apply_torch("shot_noise", f, 3, 8, start=2))  # another item seed


def test_bad_input_and_names_give_clear_errors():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        D.apply_torch("fog", torch.zeros(4, 4, 3, dtype=torch.uint8), 1, 0)
    with pytest.raises(ValueError, match="uint8"):
        D.apply_torch("fog", torch.zeros(1, 4, 4, 3), 1, 0)
    with pytest.raises(ValueError, match="no torch form"):
        D.apply_torch("bit_error", torch.zeros(1, 4, 4, 3, dtype=torch.uint8), 1, 0)
    assert D.corruption_device("cpu") is None and D.corruption_device("cuda:1") == "cuda:1"
    assert T.window_means(torch.zeros(2, 2, 2, 3, dtype=torch.uint8), 4).shape[0] == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_path_equals_the_numpy_path(real_frames):
    dev = "cuda"
    for severity in (1, 3, 5):
        for name in DETERMINISTIC:
            ref = get_corruption(name).apply(real_frames, severity, 21)
            got = D.apply_torch(name, torch.from_numpy(real_frames).to(dev), severity, 21)
            assert got.device.type == "cuda" and max_diff(ref, got) <= 1, (name, severity)
        # rain: same streaks; the blend's float division may round differently on the device
        ref = get_corruption("rain").apply(real_frames, severity, 21)
        got = D.apply_torch("rain", torch.from_numpy(real_frames).to(dev), severity, 21)
        assert max_diff(ref, got) <= 1
        ours = shot_histograms(lambda f, s: get_corruption("shot_noise").apply(f, s, 5), severity)
        cuda = shot_histograms(
            lambda f, s: D.apply_torch("shot_noise", torch.from_numpy(f).to(dev), s, 5).cpu().numpy(), severity
        )
        assert_same_distribution(ours, cuda)
