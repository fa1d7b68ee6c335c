"""Rain: the streak pixels of a frame and their blend (the reference's steps, vectorised).

Part of :mod:`.functional`'s API (re-exported there).
"""

from __future__ import annotations

import numpy as np


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Clip float to [0, 255] and truncate to uint8 (as the reference's ``np.array(x, dtype=np.uint8)``)."""
    return np.clip(x, 0, 255, out=x).astype(np.uint8)



def rain_mask(height: int, width: int, n_drops: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean ``(H, W)`` mask of rain streaks for one frame (the pixels of :func:`rain_pixels`)."""
    mask = np.zeros((height, width), dtype=bool)
    mask.reshape(-1)[rain_pixels(height, width, n_drops, length, rng)] = True
    return mask


def rain_pixels(height: int, width: int, n_drops: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices ``row * width + col`` of the rain streak pixels of one frame (may repeat).

    As the reference: a random slant in [-10, 10) shifts where drops may start
    (x in [slant, W) for a negative slant, [0, W - slant) otherwise; y in
    [0, H - length)), and every streak is drawn as a 1-pixel line from (x, y) to
    (x - 1, y + length) (the reference passes its fixed slant of -1 to the line
    drawing). Rows ``k < length / 2`` of a streak lie in column x, the rest in
    x - 1, exactly the pixels OpenCV's 8-connected ``cv2.line`` draws (which
    clips the segment to the frame first, so a streak starting in column 0
    keeps only its first pixel).
    """
    slant = int(rng.integers(-10, 10))
    if slant < 0:
        xs = rng.integers(slant, width, n_drops) if width > slant else np.zeros(n_drops, np.int64)
    else:
        xs = rng.integers(0, max(width - slant, 1), n_drops)
    ys = rng.integers(0, max(height - length, 1), n_drops)
    k = np.arange(length + 1)
    rows = ys[:, None] + k[None, :]
    cols = xs[:, None] - (2 * k[None, :] >= length).astype(np.int64)
    ok = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    # cv2.line clips the segment to the frame first: a streak starting in column 0
    # (heading to column -1) keeps only its first pixel
    ok &= ~((xs == 0)[:, None] & (k > 0)[None, :])
    return rows[ok] * width + cols[ok]


def rain_frame(frame: np.ndarray, mask: np.ndarray, darken: float, grey: float = 220.0) -> np.ndarray:
    """Blend the streaks of ``mask`` into one ``(H, W, 3)`` frame, then lower its contrast by ``darken``.

    The reference's steps: streak pixels are brightened by
    ``grey * (1 - x/255) * (1 - mean/255)`` (truncated), the brightened image is
    3x3 box-blurred, streak pixels become ``blur * grey/255 + x * (1 - grey/255)``,
    and the whole frame is contrast-scaled about its per-channel mean by
    ``darken``.

    Only the streak pixels (a few % of the frame) are computed one by one; the
    rest of the frame goes through one 256-entry table per channel (the final
    contrast step is affine), with the same float32 arithmetic, so the result
    is bit-identical to applying every step to the whole frame.
    """
    import cv2

    px = np.flatnonzero(mask.reshape(-1))
    idx = (px[:, None] * 3 + np.arange(3)).reshape(-1)  # channel values of the streak pixels
    flat = frame.reshape(-1)
    n_px = flat.size // 3
    sums = np.array(cv2.sumElems(frame)[:3], dtype=np.float64)  # exact integer sums
    x = flat.take(idx)
    sel = x.astype(np.float32)
    new_sel = sel
    if idx.size:
        mean = float(sums.sum()) / flat.size
        bright = frame.copy()
        bright.reshape(-1)[idx] = x + (grey * (1.0 - sel / 255.0) * (1.0 - mean / 255.0)).astype(np.uint8)
        blurred = cv2.blur(bright, (3, 3))
        w = grey / 255.0
        new_sel = blurred.reshape(-1).take(idx).astype(np.float32) * np.float32(w) + sel * np.float32(1.0 - w)
        # float32 values summed in float64 are exact, so these equal the whole-frame sums
        sums = sums + (new_sel.astype(np.float64) - sel).reshape(-1, 3).sum(axis=0)
    means = sums / n_px
    shift = (means * (1.0 - darken)).astype(np.float32)
    ramp = np.arange(256, dtype=np.float32)[:, None]
    lut = _to_uint8(ramp * np.float32(darken) + shift[None, :])
    out = cv2.LUT(frame, lut.reshape(256, 1, 3))
    if idx.size:
        out.reshape(-1)[idx] = _to_uint8(new_sel.reshape(-1, 3) * np.float32(darken) + shift[None, :]).reshape(-1)
    return out
