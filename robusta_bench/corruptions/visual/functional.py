"""Pure, vectorised operations shared by the visual corruptions.

Conventions: frames are ``(T, H, W, 3)`` uint8 RGB. The reference code of Yi et
al. (2021) works per frame in float64 on ``x / 255`` and converts the result
back with ``np.array(..., dtype=np.uint8)``, i.e. it *truncates*. The functions
here compute the same formulas directly on the 0..255 scale, in float32 where
that is precise enough, and truncate the same way (:func:`to_uint8`), so the
output equals the reference within one grey level (float rounding can move a
value across an integer boundary).

Nothing here touches global random state: functions that draw take a
``numpy.random.Generator``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .rain_draw import rain_frame, rain_mask, rain_pixels  # noqa: F401  (part of this module's API)

# ---------------------------------------------------------------------------
# helpers


def check_frames(frames: np.ndarray, who: str) -> np.ndarray:
    """Validate a ``(T, H, W, 3)`` uint8 frame array (a single ``(H, W, 3)`` frame is not accepted)."""
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"{who}: frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{who}: frames must have shape (T, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{who}: frames must be uint8, got {frames.dtype}")
    return frames


def channel_max(frame: np.ndarray) -> np.ndarray:
    """Max over the last (RGB) axis; much faster than ``frame.max(axis=-1)`` for 3 channels."""
    if frame.ndim == 3 and frame.dtype == np.uint8:
        import cv2

        r, g, b = cv2.split(np.ascontiguousarray(frame))
        return cv2.max(cv2.max(r, g), b)
    return np.maximum(np.maximum(frame[..., 0], frame[..., 1]), frame[..., 2])


def channel_min(frame: np.ndarray) -> np.ndarray:
    """Min over the last (RGB) axis."""
    if frame.ndim == 3 and frame.dtype == np.uint8:
        import cv2

        r, g, b = cv2.split(np.ascontiguousarray(frame))
        return cv2.min(cv2.min(r, g), b)
    return np.minimum(np.minimum(frame[..., 0], frame[..., 1]), frame[..., 2])


def spread3(plane: np.ndarray) -> np.ndarray:
    """``(H, W)`` -> ``(H, W, 3)`` with the plane in every channel (interleaved, contiguous)."""
    import cv2

    return cv2.merge([plane, plane, plane])


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 255] and truncate to uint8, as the reference's ``np.array(x, dtype=np.uint8)``."""
    return np.clip(x, 0, 255, out=x if x.dtype.kind == "f" else None).astype(np.uint8)


# ---------------------------------------------------------------------------
# HSV (skimage's definitions: hue in [0, 1), S = (max - min) / max, V = max)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """Vectorised RGB -> HSV for float input in [0, 1] (any leading shape, last axis 3).

    Same definition as ``skimage.color.rgb2hsv``: V = max, S = (max - min) / V
    (0 where V = 0), hue in [0, 1) and 0 for grey pixels.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    delta = v - rgb.min(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(v > 0, delta / np.where(v > 0, v, 1), 0.0)
        safe = np.where(delta > 0, delta, 1)
        h = np.where(r == v, (g - b) / safe, 0.0)
        h = np.where(g == v, 2.0 + (b - r) / safe, h)
        h = np.where(b == v, 4.0 + (r - g) / safe, h)
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, the inverse of :func:`rgb_to_hsv` (skimage's ``hsv2rgb``)."""
    hsv = np.asarray(hsv, dtype=np.float64)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    h6 = h * 6.0
    sector = np.floor(h6)
    f = h6 - sector
    sector = sector.astype(np.int64) % 6
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    sectors = [sector == i for i in range(6)]
    r = np.select(sectors, [v, q, p, p, t, v])
    g = np.select(sectors, [t, v, v, q, p, p])
    b = np.select(sectors, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


# ---------------------------------------------------------------------------
# brightness, saturate, contrast


@lru_cache(maxsize=16)
def brightness_lut(value_delta: float) -> np.ndarray:
    """``lut[V * 256 + x]``: the brightened channel value of ``x`` in a pixel whose max channel is ``V``.

    Adding ``value_delta`` to HSV value and converting back scales every channel
    of a pixel by ``V' / V`` with ``V' = min(V + delta, 1)`` (hue and saturation are
    unchanged); a black pixel (V = 0) becomes the grey ``delta``. Computed in
    float64 on the 0..1 scale in the order hsv2rgb uses (``V' * (1 - s)``),
    truncated to uint8.
    """
    v = np.arange(256, dtype=np.float64)[:, None] / 255.0
    x = np.arange(256, dtype=np.float64)[None, :] / 255.0
    v_new = np.minimum(v + value_delta, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (v - x) / np.where(v > 0, v, 1.0)
        out = np.where(v > 0, v_new * (1.0 - s), v_new)
    lut = (np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(-1)
    lut.flags.writeable = False
    return lut


def brightness(frames: np.ndarray, value_delta: float) -> np.ndarray:
    """HSV value + ``value_delta`` (clipped to 1), equal to the skimage round trip within 1 grey level."""
    lut = brightness_lut(float(value_delta))
    out = np.empty_like(frames)
    for t in range(len(frames)):  # per frame: small temporaries, cache friendly
        key = spread3(channel_max(frames[t])).astype(np.uint16)
        key <<= 8
        key |= frames[t]
        lut.take(key, out=out[t])
    return out


@lru_cache(maxsize=16)
def saturation_ratio_lut(scale: float, shift: float) -> np.ndarray:
    """``lut[V * 256 + delta]`` = ``S' / S`` for a pixel with max ``V`` and ``delta = max - min`` (float64).

    ``S = delta / V``, ``S' = clip(S * scale + shift, 0, 1)``; 0 where ``delta = 0``.
    """
    v = np.arange(256, dtype=np.float64)[:, None]
    d = np.arange(256, dtype=np.float64)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(v > 0, d / np.where(v > 0, v, 1.0), 0.0)
        s_new = np.clip(s * scale + shift, 0.0, 1.0)
        ratio = np.where(d > 0, s_new / np.where(d > 0, s, 1.0), 0.0)
    lut = ratio.reshape(-1)
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=16)
def _saturation_ratio_lut32(scale: float, shift: float) -> np.ndarray:
    lut = saturation_ratio_lut(scale, shift).astype(np.float32)
    lut.flags.writeable = False
    return lut


def saturate(frames: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """HSV saturation ``S' = clip(S * scale + shift, 0, 1)`` with hue and value kept.

    In RGB terms each channel moves along the line to the pixel's max:
    ``x' = V - (V - x) * S' / S`` (the ratio comes from a 256x256 table indexed
    by max and max - min, and the product is taken in float32 on the 0..255
    scale: within one grey level of the float64 reference). Grey pixels
    (S = 0) get hue 0 as in skimage, so a positive ``shift`` tints them red:
    ``(V, V (1 - S'), V (1 - S'))``.
    """
    import cv2

    lut = _saturation_ratio_lut32(float(scale), float(shift))
    grey_level = float(np.clip(shift, 0.0, 1.0))
    grey_lut = None
    if grey_level > 0:
        grey_lut = (np.arange(256) / 255.0 * (1.0 - grey_level) * 255.0).astype(np.uint8)
    out = np.empty_like(frames)
    for t in range(len(frames)):
        fr = frames[t]
        r, g, b = cv2.split(fr)
        v = cv2.max(cv2.max(r, g), b)
        delta = cv2.subtract(v, cv2.min(cv2.min(r, g), b))
        key = v.astype(np.uint16)
        key <<= 8
        key |= delta
        ratio = spread3(lut.take(key))
        v3 = spread3(v)
        y = cv2.multiply(cv2.subtract(v3, fr), ratio, dtype=cv2.CV_32F)  # (V - x) * S'/S, in [0, V]
        y = cv2.subtract(v3, y, dtype=cv2.CV_32F)  # >= 0 up to float rounding, so truncation gives 0..V
        out[t] = y  # truncates, like the reference's uint8 conversion
        if grey_lut is not None:
            grey = delta == 0
            if grey.any():
                tinted = grey_lut.take(v[grey])
                out[t, ..., 1][grey] = tinted
                out[t, ..., 2][grey] = tinted
    return out


def contrast(frames: np.ndarray, factor: float) -> np.ndarray:
    """Per frame and channel, ``(x - mean) * factor + mean`` (the mean over the frame's pixels).

    An affine map of each channel, so it is applied as one 256-entry table per
    channel (``cv2.LUT``), built in float64 and truncated like the reference.
    """
    import cv2

    out = np.empty_like(frames)
    ramp = np.arange(256, dtype=np.float64)[:, None]
    for t in range(len(frames)):
        means = np.array(cv2.mean(frames[t])[:3])  # float64 sums, per channel
        lut = np.clip((ramp - means) * factor + means, 0, 255).astype(np.uint8)
        cv2.LUT(frames[t], lut.reshape(256, 1, 3), dst=out[t])
    return out


# ---------------------------------------------------------------------------
# shot noise


def shot_noise(frames: np.ndarray, photons: float, rngs: list[np.random.Generator]) -> np.ndarray:
    """``poisson(x / 255 * photons) / photons``, clipped and truncated; one generator per frame.

    Sampled exactly by inverse CDF from per-severity tables over the 256 grey
    levels (:mod:`.poisson`): same distribution as ``Generator.poisson``, a
    different (and much cheaper) use of the random stream.
    """
    from .poisson import sample_shot_noise, shot_tables

    tables = shot_tables(float(photons))
    out = np.empty_like(frames)
    for t, rng in enumerate(rngs):
        out[t] = sample_shot_noise(frames[t], tables, rng)
    return out


# ---------------------------------------------------------------------------
# fog: the diamond-square plasma fractal


def plasma_fractal(size: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """A ``(size, size)`` diamond-square height map normalised to [0, 1] (``size`` a power of two).

    Follows the reference generator (ImageNet-C / Yi et al.): a toroidal map
    starting at 0; at each step the new points are the mean of their four
    neighbours plus ``wibble * U(-wibble, wibble)``; ``wibble`` starts at 100 and
    is divided by ``wibble_decay`` after each square+diamond step (so the
    noise amplitude decays as ``wibble**2``, a quirk kept for fidelity).
    """
    if size < 2 or size & (size - 1):
        raise ValueError(f"plasma_fractal: size must be a power of two >= 2, got {size}")
    m = np.zeros((size, size), dtype=np.float64)
    step = size
    wibble = 100.0

    def noisy_mean(total: np.ndarray) -> np.ndarray:
        return total / 4.0 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        # squares: centre of each square = mean of its 4 corners
        corners = m[0:size:step, 0:size:step]
        acc = corners + np.roll(corners, -1, axis=0)
        acc = acc + np.roll(acc, -1, axis=1)
        m[half:size:step, half:size:step] = noisy_mean(acc)
        # diamonds: the edge midpoints, from the two corners and two centres
        centres = m[half:size:step, half:size:step]
        corners = m[0:size:step, 0:size:step]
        top = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        m[0:size:step, half:size:step] = noisy_mean(top)
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        m[half:size:step, 0:size:step] = noisy_mean(left)
        step //= 2
        wibble /= wibble_decay
    m -= m.min()
    top_val = m.max()
    return m / top_val if top_val > 0 else m


def next_pow2(n: int) -> int:
    """The smallest power of two >= ``n`` (and >= 2)."""
    return max(2, 1 << (int(n) - 1).bit_length())


@lru_cache(maxsize=8)
def fog_layer(height: int, width: int, strength: float, wibble_decay: float, seed: int) -> np.ndarray:
    """The per-video fog layer ``255 * strength * fractal`` cropped to ``(height, width)``, float32.

    The fractal is generated at the next power of two >= max(H, W) and its
    top-left corner is used (the reference crops ``[:224, :224]`` of a 256 map).
    Cached: every chunk of a video reuses the same layer.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    fractal = plasma_fractal(next_pow2(max(height, width)), wibble_decay, rng)
    layer = (fractal[:height, :width] * (255.0 * strength)).astype(np.float32)
    layer.flags.writeable = False
    return layer


def fog(frames: np.ndarray, layer: np.ndarray, strength: float) -> np.ndarray:
    """``(x + c * fog) * max / (max + c)`` per frame, ``max`` the frame's maximum (0..1 scale)."""
    peak = frames.reshape(len(frames), -1).max(axis=1).astype(np.float32) / 255.0  # (T,)
    gain = (peak / (peak + np.float32(strength))).astype(np.float32)
    layer3 = spread3(np.ascontiguousarray(layer, dtype=np.float32))  # interleaved: no per-pixel broadcast
    out = np.empty_like(frames)
    buf = np.empty(frames.shape[1:], dtype=np.float32)
    for t in range(len(frames)):  # per frame: the float temporary stays in cache
        np.add(frames[t], layer3, out=buf, dtype=np.float32)
        buf *= gain[t]
        np.clip(buf, 0, 255, out=buf)
        out[t] = buf  # truncates
    return out


# ---------------------------------------------------------------------------
# motion blur (temporal mean)


def window_means(padded: np.ndarray, window: int) -> np.ndarray:
    """Means of every ``window`` consecutive frames of ``padded``: output ``k`` = mean(padded[k:k+window]).

    Exact integer arithmetic: sum in uint16/uint32, floor-divide (= the
    reference's float sum / window truncated to uint8). Returns
    ``len(padded) - window + 1`` frames.
    """
    n_out = len(padded) - window + 1
    if n_out <= 0:
        return np.empty((0,) + padded.shape[1:], dtype=np.uint8)
    acc_t = np.uint16 if window * 255 < 65536 else np.uint32
    acc = padded[:window].sum(axis=0, dtype=acc_t)
    out = np.empty((n_out,) + padded.shape[1:], dtype=np.uint8)
    out[0] = acc // window
    for k in range(1, n_out):
        acc += padded[k + window - 1]
        acc -= padded[k - 1]
        out[k] = acc // window
    return out
