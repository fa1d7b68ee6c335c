"""The visual corruptions as torch operations on a device (CPU tensors, or CUDA).

Every function takes a ``(T, H, W, 3)`` uint8 tensor on any device and returns a
new one on the same device, batched over the ``T`` frames, with the formulas,
tables and float precision of :mod:`.functional`:

- brightness, saturate, contrast, fog, motion blur: the same tables and the
  same float32 / integer arithmetic, so on CPU the result equals the numpy path
  (bit-equal in practice; the guarantee is one grey level, as float sums may be
  ordered differently);
- rain: the streak positions come from the same numpy generators as the numpy
  path (a few hundred integers per frame), so the rain is the same; the blend
  is done on the device;
- shot noise: per-frame ``torch.Generator`` seeded by the same
  ``(item seed, frame index)`` hash; outcomes by inverse CDF from the same
  per-severity tables (:mod:`.poisson`), so equal in distribution to the numpy
  path, not in bytes.

Nothing here touches global random state. Tables move to a device once and
are cached per device.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from ...seeding import derive_seed, rng_for
from . import functional as F
from .poisson import shot_tables

# ---------------------------------------------------------------------------
# helpers


_TABLES: OrderedDict[tuple, torch.Tensor] = OrderedDict()
_TABLES_MAX = 64


def table(device: torch.device | str, name: str, *args, build) -> torch.Tensor:
    """A numpy table built by ``build()`` moved to ``device`` once (cached by name, args and device)."""
    key = (str(torch.device(device)), name, *args)
    hit = _TABLES.get(key)
    if hit is None:
        hit = torch.from_numpy(np.array(build(), copy=True)).to(device)
        _TABLES[key] = hit
        while len(_TABLES) > _TABLES_MAX:
            _TABLES.popitem(last=False)
    else:
        _TABLES.move_to_end(key)
    return hit


def check_tensor(frames: torch.Tensor, who: str) -> torch.Tensor:
    """Validate a ``(T, H, W, 3)`` uint8 tensor."""
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{who}: frames must be a torch tensor, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{who}: frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"{who}: frames must be uint8, got {frames.dtype}")
    return frames


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 255] and truncate to uint8 (as :func:`functional.to_uint8`)."""
    return x.clamp_(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------
# deterministic corruptions


def brightness(frames: torch.Tensor, value_delta: float) -> torch.Tensor:
    """HSV value + ``value_delta``: the (max channel, channel) table of :func:`functional.brightness_lut`."""
    lut = table(frames.device, "brightness", float(value_delta), build=lambda: F.brightness_lut(float(value_delta)))
    v = frames.amax(dim=-1, keepdim=True).to(torch.int32)
    return lut[(v << 8) | frames.to(torch.int32)]


def saturate(frames: torch.Tensor, scale: float, shift: float) -> torch.Tensor:
    """HSV saturation ``clip(S * scale + shift, 0, 1)``: ``x' = V - (V - x) * S'/S`` in float32, grey pixels tinted."""
    key = (float(scale), float(shift))
    lut = table(frames.device, "saturate", *key, build=lambda: F.saturation_ratio_lut(*key).astype(np.float32))
    v = frames.amax(dim=-1, keepdim=True)
    delta = v - frames.amin(dim=-1, keepdim=True)
    ratio = lut[(v.to(torch.int32) << 8) | delta.to(torch.int32)]
    vf = v.to(torch.float32)
    y = vf - (vf - frames.to(torch.float32)) * ratio
    out = y.clamp_(min=0).to(torch.uint8)
    grey_level = float(np.clip(shift, 0.0, 1.0))
    if grey_level > 0:
        grey_lut = table(
            frames.device, "saturate-grey", grey_level,
            build=lambda: (np.arange(256) / 255.0 * (1.0 - grey_level) * 255.0).astype(np.uint8),
        )
        tinted = grey_lut[v[..., 0].to(torch.int64)]
        grey = delta[..., 0] == 0
        out[..., 1] = torch.where(grey, tinted, out[..., 1])
        out[..., 2] = torch.where(grey, tinted, out[..., 2])
    return out


def channel_means(frames: torch.Tensor) -> torch.Tensor:
    """``(T, 3)`` float64 per-frame channel means (exact integer sums, as ``cv2.mean``)."""
    n = frames.shape[1] * frames.shape[2]
    return frames.sum(dim=(1, 2), dtype=torch.int64).to(torch.float64) / n


def contrast(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """Per frame and channel ``(x - mean) * factor + mean``, as one 256-entry table per frame and channel."""
    t = frames.shape[0]
    means = channel_means(frames)  # (T, 3)
    ramp = torch.arange(256, dtype=torch.float64, device=frames.device)[None, :, None]
    lut = ((ramp - means[:, None, :]) * factor + means[:, None, :]).clamp_(0, 255).to(torch.uint8)  # (T, 256, 3)
    base = (torch.arange(t, device=frames.device, dtype=torch.int64) * 768).view(t, 1, 1, 1)
    chan = torch.arange(3, device=frames.device, dtype=torch.int64)
    return lut.reshape(-1)[base + frames.to(torch.int64) * 3 + chan]


def fog(frames: torch.Tensor, layer: np.ndarray | torch.Tensor, strength: float) -> torch.Tensor:
    """``(x + layer) * max / (max + strength)`` per frame (``layer`` = :func:`functional.fog_layer`)."""
    if not isinstance(layer, torch.Tensor):
        layer = torch.from_numpy(np.ascontiguousarray(layer))
    layer = layer.to(frames.device, torch.float32)
    peak = frames.reshape(len(frames), -1).amax(dim=1).to(torch.float32) / 255.0
    gain = peak / (peak + torch.tensor(strength, dtype=torch.float32))
    out = frames.to(torch.float32)
    out += layer[None, :, :, None]
    out *= gain[:, None, None, None]
    return to_uint8(out)


def fog_from_seed(frames: torch.Tensor, strength: float, wibble_decay: float, seed: int) -> torch.Tensor:
    """Fog with the per-video layer of ``seed`` (made once by numpy, cached, moved to the device once)."""
    _, h, w, _ = frames.shape
    args = (h, w, float(strength), float(wibble_decay), int(seed))
    layer = table(frames.device, "fog", *args, build=lambda: F.fog_layer(*args))
    return fog(frames, layer, strength)


def window_means(padded: torch.Tensor, window: int) -> torch.Tensor:
    """Means of every ``window`` consecutive frames, floor-divided exactly (as :func:`functional.window_means`)."""
    n_out = len(padded) - window + 1
    if n_out <= 0:
        return padded[:0].clone()
    acc = torch.cumsum(padded.to(torch.int32), dim=0)
    acc = torch.cat([torch.zeros_like(acc[:1]), acc])
    return torch.div(acc[window:] - acc[:n_out], window, rounding_mode="floor").to(torch.uint8)


# ---------------------------------------------------------------------------
# random corruptions


def shot_noise(frames: torch.Tensor, photons: float, seeds: list[int]) -> torch.Tensor:
    """Exact shot noise by inverse CDF; frame ``i`` draws from a generator seeded with ``seeds[i]``."""
    tabs = shot_tables(float(photons))
    dev = frames.device
    keys = table(dev, "shot-keys", tabs.photons, build=lambda: tabs.keys)
    start = table(dev, "shot-start", tabs.photons, build=lambda: tabs.start)
    grey = table(dev, "shot-grey", tabs.photons, build=lambda: tabs.grey)
    u = torch.empty(frames.shape, dtype=torch.float64, device=dev)
    for i, s in enumerate(seeds):
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(s))
        u[i].uniform_(0.0, 1.0, generator=gen)
    x = frames.to(torch.int64)
    pos = torch.searchsorted(keys, x.to(torch.float64) + u, right=True)
    k = torch.clamp(pos - start[x], max=len(tabs.grey) - 1)
    return grey[k]


def shot_noise_seeds(seed: int, start: int, n: int) -> list[int]:
    """The per-frame seeds of frames ``start .. start + n - 1`` (the numpy path's ``rng_for`` parts)."""
    return [derive_seed(seed, "shot_noise-frame", start + i) for i in range(n)]


def rain(frames: torch.Tensor, params: dict, seed: int, start: int = 0, grey: float = 220.0) -> torch.Tensor:
    """Rain with the streaks of the numpy path (same generators), blended and darkened on the device."""
    t, h, w, _ = frames.shape
    dev = frames.device
    n_drops = (h * w) // params["px_per_drop"]
    pix = [
        F.rain_pixels(h, w, n_drops, params["drop_length_px"], rng_for(seed, "rain-frame", start + i)) + i * h * w
        for i in range(t)
    ]
    mask = torch.zeros(t * h * w, dtype=torch.bool, device=dev)
    if t:
        mask[torch.from_numpy(np.concatenate(pix)).to(dev)] = True
    mask = mask.view(t, h, w, 1)
    return rain_blend(frames, mask, float(params["darken_scale"]), grey)


def box_blur3(frames: torch.Tensor) -> torch.Tensor:
    """3x3 box blur of ``(T, H, W, 3)`` uint8 with reflect-101 borders, rounded (as ``cv2.blur``)."""
    x = frames.to(torch.int32).permute(0, 3, 1, 2)
    x = torch.nn.functional.pad(x.to(torch.float32), (1, 1, 1, 1), mode="reflect").to(torch.int32)
    s = x[:, :, :-2] + x[:, :, 1:-1] + x[:, :, 2:]
    s = s[..., :-2] + s[..., 1:-1] + s[..., 2:]
    return torch.div(2 * s + 9, 18, rounding_mode="floor").to(torch.uint8).permute(0, 2, 3, 1)


def rain_blend(frames: torch.Tensor, mask: torch.Tensor, darken: float, grey: float = 220.0) -> torch.Tensor:
    """The steps of :func:`functional.rain_frame` for a batch; ``mask`` is ``(T, H, W, 1)`` bool."""
    t = frames.shape[0]
    n_px = frames.shape[1] * frames.shape[2]
    x = frames.to(torch.float32)
    c255 = torch.tensor(255.0, dtype=torch.float32, device=frames.device)  # a tensor: true division on CUDA too
    mean = frames.reshape(t, -1).sum(dim=1, dtype=torch.int64).to(torch.float64) / (3 * n_px)  # (T,)
    dim = (1.0 - mean / 255.0).to(torch.float32).view(t, 1, 1, 1)
    lift = (grey * (1.0 - x / c255) * dim).to(torch.uint8)
    bright = torch.where(mask, frames + lift, frames)
    wt = grey / 255.0
    blended = box_blur3(bright).to(torch.float32) * wt + x * (1.0 - wt)
    f = torch.where(mask, blended, x)
    means = f.to(torch.float64).sum(dim=(1, 2)) / n_px  # (T, 3)
    shift = (means * (1.0 - darken)).to(torch.float32)
    return to_uint8(f * darken + shift[:, None, None, :])
