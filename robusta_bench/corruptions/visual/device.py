"""Visual corruptions on a torch device: one call per corruption, batches of variants, chunk streams.

- :func:`apply_torch` applies one registered visual corruption to a ``(T, H, W, 3)``
  uint8 tensor on its device, with the parameters of the registry's severity
  table and the same per-frame seeding as ``Corruption.apply``
  (``start`` = index of the first frame in the video).
- :func:`apply_visual_variants` moves a batch of frames to a device ONCE and
  makes every requested ``(name, severity, item seed)`` variant there.
- :func:`device_stream` is the chunked form used by the fused extraction path:
  like ``corruption.stream(chunks, severity, seed)``, numpy chunks in and out,
  but computed on ``device``; a :class:`ChunkUploader` shared by all variants
  of a video uploads each decoded chunk once.

Corruptions without a torch form (bit error works on the compressed stream,
and test scaffolding) fall back to their numpy ``apply`` / ``stream``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..base import CORRUPTIONS
from . import torch_ops as T

#: the visual corruptions with a torch form
TORCH_CORRUPTIONS = ("brightness", "contrast", "fog", "motion_blur", "rain", "saturate", "shot_noise")


def has_torch_op(name: str) -> bool:
    """Whether the visual corruption ``name`` has a torch form."""
    return name in TORCH_CORRUPTIONS


def corruption_device(model_device: str | torch.device | None) -> str | None:
    """The device the fused path corrupts on for a model on ``model_device``: CUDA devices, else ``None`` (numpy)."""
    if model_device is None:
        return None
    dev = torch.device(model_device)
    return str(dev) if dev.type == "cuda" else None


def apply_torch(name: str, frames: torch.Tensor, severity: int, seed: int, *, start: int = 0) -> torch.Tensor:
    """Corrupt ``frames`` (uint8 tensor, any device) like ``get_corruption(name).apply(frames, severity, seed, start=start)``.

    Motion blur treats ``frames`` as the whole video (edges replicated), as its
    numpy ``apply`` does; use :func:`torch_stream` for a video in chunks.
    """
    if not has_torch_op(name):
        raise ValueError(f"{name}: no torch form (torch forms: {', '.join(TORCH_CORRUPTIONS)})")
    frames = T.check_tensor(frames, name)
    p = CORRUPTIONS.get(name).params(severity)
    if name == "brightness":
        return T.brightness(frames, p["hsv_value_delta"])
    if name == "saturate":
        return T.saturate(frames, p["saturation_scale"], p["saturation_shift"])
    if name == "contrast":
        return T.contrast(frames, p["contrast_scale"])
    if name == "fog":
        return T.fog_from_seed(frames, float(p["fog_strength"]), float(p["wibble_decay"]), int(seed))
    if name == "shot_noise":
        return T.shot_noise(frames, float(p["photons_at_white"]), T.shot_noise_seeds(seed, start, len(frames)))
    if name == "rain":
        return T.rain(frames, p, seed, start)
    # motion blur, whole clip
    if len(frames) == 0:
        return frames.clone()
    c = int(p["half_window_frames"])
    padded = torch.cat([frames[:1].expand(c, -1, -1, -1), frames, frames[-1:].expand(c - 1, -1, -1, -1)])
    return T.window_means(padded, 2 * c)


def to_device(frames: np.ndarray | torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """A ``(T, H, W, 3)`` uint8 batch on ``device`` (numpy arrays are copied once, pinned for CUDA)."""
    if isinstance(frames, torch.Tensor):
        return frames.to(device)
    arr = np.ascontiguousarray(frames)
    t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if torch.device(device).type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def apply_visual_variants(
    frames: np.ndarray | torch.Tensor,
    variants: Sequence[tuple[str, int, int]],
    *,
    device: str | torch.device = "cpu",
    start: int = 0,
) -> list[torch.Tensor]:
    """Every ``(name, severity, item seed)`` variant of one batch of frames, made on ``device``.

    The frames go to ``device`` once; each variant is one batched call of
    :func:`apply_torch` (the numpy ``apply`` for corruptions without a torch
    form). ``start`` is the video index of the first frame. Returns one uint8
    tensor per variant, on ``device``, in order.
    """
    batch = to_device(frames, device)
    out: list[torch.Tensor] = []
    for name, severity, seed in variants:
        if has_torch_op(name):
            out.append(apply_torch(name, batch, severity, seed, start=start))
        else:
            host = batch.cpu().numpy()
            out.append(to_device(CORRUPTIONS.get(name)().apply(host, severity, seed, start=start), device))
    return out


def torch_stream(name: str, chunks: Iterable[torch.Tensor], severity: int, seed: int) -> Iterator[torch.Tensor]:
    """Corrupt a video given as consecutive device chunks (chunked == whole, as ``Corruption.stream``)."""
    if name != "motion_blur":
        start = 0
        for chunk in chunks:
            yield apply_torch(name, chunk, severity, seed, start=start)
            start += len(chunk)
        return
    c = int(CORRUPTIONS.get(name).params(severity)["half_window_frames"])
    window = 2 * c
    buf: torch.Tensor | None = None  # frames e-c .. last read, e = next frame to emit
    for chunk in chunks:
        chunk = T.check_tensor(chunk, name)
        if len(chunk) == 0:
            continue
        buf = chunk[:1].expand(c, -1, -1, -1) if buf is None else buf
        buf = torch.cat([buf, chunk])
        ready = len(buf) - window + 1
        if ready > 0:
            yield T.window_means(buf[: ready + window - 1], window)
            buf = buf[ready:]
    if buf is None:
        return
    rest = T.window_means(torch.cat([buf, buf[-1:].expand(c - 1, -1, -1, -1)]), window)
    if len(rest):
        yield rest


class ChunkUploader:
    """Moves numpy chunks to ``device``, each chunk object once, whoever asks for it.

    The fused path hands the same decoded chunk object to every variant of a
    video; the variants that run on the device share one copy of it. The last
    ``keep`` chunks are remembered (variants advance nearly in lockstep).
    """

    def __init__(self, device: str | torch.device, keep: int = 4) -> None:
        self.device = torch.device(device)
        self.keep = keep
        self.uploads = 0
        self._cache: OrderedDict[int, tuple[np.ndarray, torch.Tensor]] = OrderedDict()

    def __call__(self, chunk: np.ndarray) -> torch.Tensor:
        hit = self._cache.get(id(chunk))
        if hit is not None and hit[0] is chunk:
            return hit[1]
        tensor = to_device(chunk, self.device)
        self.uploads += 1
        self._cache[id(chunk)] = (chunk, tensor)  # holding the array keeps its id unique
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return tensor


def device_stream(
    corruption: Any,
    chunks: Iterable[np.ndarray],
    severity: int,
    seed: int,
    *,
    uploader: ChunkUploader,
) -> Iterator[np.ndarray]:
    """``corruption.stream(chunks, severity, seed)`` computed on ``uploader.device``; numpy uint8 chunks out.

    Corruptions without a torch form run their numpy ``stream``.
    """
    if not has_torch_op(corruption.name):
        yield from corruption.stream(chunks, severity, seed)
        return
    for out in torch_stream(corruption.name, (uploader(c) for c in chunks), severity, seed):
        yield out.cpu().numpy()
