"""Per-frame reference formulations of the visual corruptions, for ``benchmarks/corruptions.py``.

Written the way the reference code of Yi et al. / ImageNet-C works: one frame
at a time, float64 numpy on ``x / 255``, skimage ``rgb2hsv``/``hsv2rgb``,
``Generator.poisson``, ``cv2.line`` streaks, truncation to uint8.
"""

from __future__ import annotations

import numpy as np


def ref_brightness(frames, c):
    from skimage.color import hsv2rgb, rgb2hsv

    out = []
    for img in frames:
        x = rgb2hsv(img / 255.0)
        x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
        out.append(np.array(np.clip(hsv2rgb(x), 0, 1) * 255, dtype=np.uint8))
    return np.stack(out)


def ref_saturate(frames, a, b):
    from skimage.color import hsv2rgb, rgb2hsv

    out = []
    for img in frames:
        x = rgb2hsv(img / 255.0)
        x[:, :, 1] = np.clip(x[:, :, 1] * a + b, 0, 1)
        out.append(np.array(np.clip(hsv2rgb(x), 0, 1) * 255, dtype=np.uint8))
    return np.stack(out)


def ref_contrast(frames, c):
    out = []
    for img in frames:
        x = img / 255.0
        m = np.mean(x, axis=(0, 1), keepdims=True)
        out.append(np.array(np.clip((x - m) * c + m, 0, 1) * 255, dtype=np.uint8))
    return np.stack(out)


def ref_shot_noise(frames, c, rngs):
    out = []
    for img, rng in zip(frames, rngs):
        x = img / 255.0
        out.append(np.array(np.clip(rng.poisson(x * c) / float(c), 0, 1) * 255, dtype=np.uint8))
    return np.stack(out)


def ref_plasma(size, decay, rng):
    """Diamond-square as in the reference, one element-block at a time (float64)."""
    m = np.empty((size, size))
    m[0, 0] = 0
    step, wibble = size, 100.0
    while step >= 2:
        h = step // 2
        c = m[0:size:step, 0:size:step]
        s = c + np.roll(c, -1, axis=0)
        s = s + np.roll(s, -1, axis=1)
        m[h:size:step, h:size:step] = s / 4 + wibble * rng.uniform(-wibble, wibble, s.shape)
        d = m[h:size:step, h:size:step]
        u = m[0:size:step, 0:size:step]
        t = d + np.roll(d, 1, axis=0) + u + np.roll(u, -1, axis=1)
        m[0:size:step, h:size:step] = t / 4 + wibble * rng.uniform(-wibble, wibble, t.shape)
        t = d + np.roll(d, 1, axis=1) + u + np.roll(u, -1, axis=0)
        m[h:size:step, 0:size:step] = t / 4 + wibble * rng.uniform(-wibble, wibble, t.shape)
        step //= 2
        wibble /= decay
    m -= m.min()
    return m / m.max()


def ref_fog(frames, c0, decay, seed, per_frame=True):
    size = 1 << (max(frames.shape[1:3]) - 1).bit_length()
    h, w = frames.shape[1:3]
    layer = None
    out = []
    for img in frames:
        if per_frame or layer is None:
            layer = c0 * ref_plasma(size, decay, np.random.Generator(np.random.PCG64(seed)))
        x = img / 255.0
        mx = x.max()
        x = x + layer[:h, :w][..., None]
        out.append(np.array(np.clip(x * mx / (mx + c0), 0, 1) * 255, dtype=np.uint8))
    return np.stack(out)


def ref_motion_blur(frames, c):
    padded = np.concatenate([np.repeat(frames[:1], c, 0), frames, np.repeat(frames[-1:], c - 1, 0)])
    out = []
    for i in range(len(frames)):
        out.append(np.array(np.sum(padded[i : i + 2 * c], axis=0, dtype=np.float64) / (2.0 * c), dtype=np.uint8))
    return np.stack(out)


def ref_rain(frames, p, seed):
    """The reference's rain steps with cv2.line, drawing drops from the same generators as ours."""
    import cv2

    from robusta_bench.seeding import rng_for

    out = []
    h, w = frames.shape[1:3]
    n_drops = (h * w) // p["px_per_drop"]
    length = p["drop_length_px"]
    for i, img in enumerate(frames):
        rng = rng_for(seed, "rain-frame", i)
        slant = int(rng.integers(-10, 10))
        xs = rng.integers(slant, w, n_drops) if slant < 0 else rng.integers(0, w - slant, n_drops)
        ys = rng.integers(0, h - length, n_drops)
        mask = np.zeros((h, w))
        for x, y in zip(xs, ys):
            cv2.line(mask, (int(x), int(y)), (int(x) - 1, int(y) + length), (220, 220, 220), 1)
        mask3 = np.stack([mask] * 3, axis=2)
        rainy = img + np.array(mask3 * (1 - img / 255.0) * (1 - np.mean(img) / 255.0), dtype=np.uint8)
        blur = cv2.blur(rainy, (3, 3))
        x = np.array(blur * mask3 / 255.0 + img * (1 - mask3 / 255.0)) / 255.0
        m = np.mean(x, axis=(0, 1), keepdims=True)
        out.append(np.array(np.clip((x - m) * p["darken_scale"] + m, 0, 1) * 255, dtype=np.uint8))
    return np.stack(out)
