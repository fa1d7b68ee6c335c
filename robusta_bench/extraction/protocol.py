"""The XD-Violence feature protocol: snippets, resizing, crops and audio windows.

Everything here is a pure function of its inputs (plus the small streaming
:class:`Snippetizer`), so that the pipeline, the tests and the benchmark all
share one definition of "the official protocol":

- video resampled to 24 fps (done by :func:`robusta_bench.media.decode.iter_frames`);
- every frame resized so that its short side is 256 (OpenCV ``INTER_LINEAR``,
  the long side ``round(long * 256 / short)``);
- non-overlapping 16-frame snippets; a video of ``N`` frames has
  ``T = floor((N - 1) / 16)`` snippets (the last frame is never used);
- spatial crops of 224 x 224: 5 crops *centre first, then top-left, top-right,
  bottom-left, bottom-right* (the official I3D features, crop 0 = centre), or the
  10 crops of torchvision's ``TenCrop`` (TL, TR, BL, BR, centre, then the same
  five mirrored), as used by RTFM's ResNet50-I3D features;
- audio mixed to mono, resampled to 16 kHz, and one 0.96 s window (15360
  samples) per snippet whose *end* is the snippet's end time ``(i + 1) * 16 / 24``
  seconds; samples before the start of the track (or after its end) are zeros,
  so the audio has exactly as many windows as the video has snippets.

Crop orders are written as a sequence of crop names: ``center``, ``top_left``,
``top_right``, ``bottom_left``, ``bottom_right``, each optionally followed by
``_flip`` (horizontal mirror). An extractor spec can declare its order under
``preprocessing.crop_order`` (a list of such names, or one of the named orders
``five_center_first`` / ``ten_crop``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

#: Bumped whenever the protocol's output for the same input changes.
PROTOCOL_VERSION = 1

CENTER = "center"
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
BASE_CROPS = (CENTER, *CORNERS)

#: The official XD-Violence I3D order: crop 0 is the centre, then the corners.
FIVE_CENTER_FIRST: tuple[str, ...] = (CENTER, *CORNERS)
#: torchvision ``TenCrop`` (RTFM's ResNet50-I3D features): corners, centre, then mirrored.
TEN_CROP: tuple[str, ...] = (*CORNERS, CENTER, *(f"{c}_flip" for c in (*CORNERS, CENTER)))

NAMED_ORDERS: dict[str, tuple[str, ...]] = {
    "center": (CENTER,),
    "five_center_first": FIVE_CENTER_FIRST,
    "ten_crop": TEN_CROP,
}

_ALIASES = {
    "c": CENTER,
    "centre": CENTER,
    "center": CENTER,
    "tl": "top_left",
    "tr": "top_right",
    "bl": "bottom_left",
    "br": "bottom_right",
}


@dataclass(frozen=True)
class Protocol:
    """Parameters of the feature protocol (defaults: the official XD-Violence one)."""

    fps: float = 24.0
    snippet_len: int = 16
    short_side: int = 256
    crop_size: int = 224
    audio_rate: int = 16000
    audio_window: int = 15360
    version: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (recorded in group metadata and hashed into the store key)."""
        return asdict(self)

    @property
    def snippet_seconds(self) -> float:
        """Duration of one snippet in seconds (16 / 24 = 0.667 s)."""
        return self.snippet_len / self.fps


OFFICIAL = Protocol()


# --------------------------------------------------------------------- snippets
def n_snippets(n_frames: int, snippet_len: int = 16) -> int:
    """Number of snippets of a video of ``n_frames`` frames: ``floor((N - 1) / 16)``, at least 0."""
    return max(0, (int(n_frames) - 1) // int(snippet_len))


class Snippetizer:
    """Cut a stream of frame chunks into non-overlapping snippets, in bounded memory.

    A snippet is emitted only once a frame *after* it has been seen, which gives
    exactly ``floor((N - 1) / snippet_len)`` snippets for ``N`` frames without
    knowing ``N`` in advance. Feed chunks with :meth:`push`; :attr:`n_frames` and
    :attr:`n_snippets` count what was seen and emitted. At most one snippet plus
    one chunk of frames is held.
    """

    def __init__(self, snippet_len: int = 16) -> None:
        self.snippet_len = int(snippet_len)
        self._pieces: deque[np.ndarray] = deque()
        self._buffered = 0
        self.n_frames = 0
        self.n_snippets = 0

    def push(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Add ``(t, H, W, C)`` frames; return the snippets ``(snippet_len, H, W, C)`` now complete."""
        if len(chunk) == 0:
            return []
        self._pieces.append(chunk)
        self._buffered += len(chunk)
        self.n_frames += len(chunk)
        out: list[np.ndarray] = []
        while self._buffered > self.snippet_len:
            out.append(self._take(self.snippet_len))
            self.n_snippets += 1
        return out

    def _take(self, n: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        need = n
        while need:
            head = self._pieces[0]
            if len(head) <= need:
                parts.append(self._pieces.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                self._pieces[0] = head[need:]
                need = 0
        self._buffered -= n
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def iter_snippets(chunks: Iterable[np.ndarray], snippet_len: int = 16) -> Iterator[np.ndarray]:
    """Snippets of a chunked frame stream (see :class:`Snippetizer`)."""
    cutter = Snippetizer(snippet_len)
    for chunk in chunks:
        yield from cutter.push(chunk)


# --------------------------------------------------------------------- resizing
def resized_size(height: int, width: int, short_side: int = 256) -> tuple[int, int]:
    """``(new_h, new_w)`` with the short side ``short_side`` and the long side rounded.

    The long side is ``round(long * short_side / short)`` (Python rounding), as
    the reference I3D fixture did: 640x360 -> 455x256, 160x120 -> 341x256.
    """
    h, w = int(height), int(width)
    if h <= 0 or w <= 0:
        raise ValueError(f"bad frame size {w}x{h}")
    if h <= w:
        return short_side, int(round(w * short_side / h))
    return int(round(h * short_side / w)), short_side


def resize_frames(frames: np.ndarray, short_side: int = 256) -> np.ndarray:
    """Resize ``(T, H, W, 3)`` uint8 frames to short side ``short_side`` (cv2 INTER_LINEAR)."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, C), got shape {frames.shape}")
    t, h, w = frames.shape[:3]
    nh, nw = resized_size(h, w, short_side)
    if (nh, nw) == (h, w):
        return frames
    out = np.empty((t, nh, nw, frames.shape[3]), dtype=frames.dtype)
    for i in range(t):
        out[i] = cv2.resize(frames[i], (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out


# ------------------------------------------------------------------------ crops
def normalize_crop_name(name: str) -> str:
    """Canonical crop name (``tl`` -> ``top_left``, ``flip_tl``/``tl_flip`` -> ``top_left_flip``)."""
    text = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    flip = False
    for prefix in ("hflip:", "flip:", "flip_", "hflip_"):
        if text.startswith(prefix):
            text, flip = text[len(prefix) :], True
    for suffix in ("_hflip", "_flip", "_flipped"):
        if text.endswith(suffix):
            text, flip = text[: -len(suffix)], True
    base = _ALIASES.get(text, text)
    if base not in BASE_CROPS:
        raise ValueError(f"unknown crop {name!r}: use one of {', '.join(BASE_CROPS)} (optionally + '_flip')")
    return f"{base}_flip" if flip else base


def parse_crop_order(value: Any = None, n_crops: int | None = None) -> tuple[str, ...]:
    """A crop order from a spec value: a list of names, a named order, or None (default by ``n_crops``)."""
    if value is None:
        if n_crops in (None, 5):
            return FIVE_CENTER_FIRST
        if n_crops == 1:
            return (CENTER,)
        if n_crops == 10:
            return TEN_CROP
        raise ValueError(f"no default crop order for {n_crops} crops: declare preprocessing.crop_order in the spec")
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        key = {"5crop": "five_center_first", "five_crop": "five_center_first", "tencrop": "ten_crop", "10crop": "ten_crop"}.get(key, key)
        if key not in NAMED_ORDERS:
            raise ValueError(f"unknown crop order {value!r}: use one of {', '.join(NAMED_ORDERS)} or a list of crop names")
        order = NAMED_ORDERS[key]
    else:
        order = tuple(normalize_crop_name(v) for v in value)
    if len(set(order)) != len(order):
        raise ValueError(f"crop order {order} repeats a crop")
    if n_crops is not None and len(order) != n_crops:
        raise ValueError(f"crop order has {len(order)} crops but the extractor declares n_crops={n_crops}")
    return tuple(order)


def select_crops(order: Sequence[str], n: int | None) -> tuple[str, ...]:
    """Override the number of crops (``--crops N``).

    ``None`` or ``len(order)`` keeps the declared order; 1 is the centre crop
    only; a smaller ``n`` keeps the first ``n`` declared crops; 10 is the
    ``TenCrop`` order. Anything else is an error.
    """
    order = tuple(order)
    if n is None or n == len(order):
        return order
    n = int(n)
    if n == 1:
        return (CENTER,)
    if 1 < n < len(order):
        return order[:n]
    if n == 10:
        return TEN_CROP
    if n == 5:
        return FIVE_CENTER_FIRST
    raise ValueError(f"--crops {n}: use 1 (centre), 5, 10 or at most the declared {len(order)}")


def crop_box(height: int, width: int, name: str, size: int = 224) -> tuple[int, int]:
    """``(top, left)`` of crop ``name`` in a ``height x width`` frame.

    The centre offsets are ``round((H - size) / 2)`` and ``round((W - size) / 2)``
    with Python's rounding (455 -> left 116), as in the reference fixture.
    """
    base = normalize_crop_name(name).removesuffix("_flip")
    if height < size or width < size:
        raise ValueError(f"frame {width}x{height} is smaller than the {size}x{size} crop")
    if base == CENTER:
        return int(round((height - size) / 2)), int(round((width - size) / 2))
    top = 0 if base.startswith("top") else height - size
    left = 0 if base.endswith("left") else width - size
    return top, left


def crop_clip(clip: np.ndarray, name: str, size: int = 224) -> np.ndarray:
    """One crop of a ``(T, H, W, C)`` clip: ``(T, size, size, C)`` (a view unless mirrored)."""
    canon = normalize_crop_name(name)
    top, left = crop_box(clip.shape[1], clip.shape[2], canon, size)
    out = clip[:, top : top + size, left : left + size]
    if canon.endswith("_flip"):
        out = out[:, :, ::-1]
    return out


def crop_clips(clip: np.ndarray, order: Sequence[str], size: int = 224) -> np.ndarray:
    """All crops of a clip, stacked in ``order``: ``(len(order), T, size, size, C)``."""
    return np.stack([crop_clip(clip, name, size) for name in order])


# ------------------------------------------------------------------------ audio
def window_bounds(index: int, proto: Protocol = OFFICIAL) -> tuple[int, int]:
    """Sample range ``[start, end)`` at ``proto.audio_rate`` of snippet ``index``'s audio window.

    ``end = round((index + 1) * snippet_len / fps * rate)``; ``start = end - window``
    (negative near the start of the video: those samples are zeros).
    """
    end = int(round((int(index) + 1) * proto.snippet_len * proto.audio_rate / proto.fps))
    return end - proto.audio_window, end


def audio_windows(signal: np.ndarray, n: int, proto: Protocol = OFFICIAL) -> np.ndarray:
    """``(n, window)`` float32 windows of a mono signal at ``proto.audio_rate``, one per snippet.

    Window ``i`` ends at the end of snippet ``i`` (see :func:`window_bounds`);
    parts that fall before the start or after the end of ``signal`` are zeros.
    """
    x = np.asarray(signal, dtype=np.float32).reshape(-1)
    out = np.zeros((int(n), proto.audio_window), dtype=np.float32)
    for i in range(int(n)):
        start, end = window_bounds(i, proto)
        a, b = max(start, 0), min(end, len(x))
        if b > a:
            out[i, a - start : b - start] = x[a:b]
    return out


def to_model_audio(samples: np.ndarray, rate: int, proto: Protocol = OFFICIAL) -> np.ndarray:
    """Mix ``(C, N)`` audio to mono (mean in float64) and resample to ``proto.audio_rate``: ``(N',)`` float32.

    The same steps as ``read_audio(path, mono=True, rate=16000)``, so a corrupted
    track (corrupted at its native rate and channel count) goes through exactly
    the conversion a clean one does.
    """
    from ..media.decode import resample_audio

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    mono = x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    if int(rate) != int(proto.audio_rate):
        mono = resample_audio(mono, int(rate), int(proto.audio_rate))
    return np.ascontiguousarray(mono[0], dtype=np.float32)
