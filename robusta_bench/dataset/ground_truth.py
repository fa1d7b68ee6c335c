"""Frame- and snippet-level ground truth, following the official XD-Violence rule.

A video of ``N`` frames has ``T = floor((N - 1) / 16)`` non-overlapping 16-frame
snippets (the feature extractors' windows). Its frame-level ground truth is
built as the official code does: ``zeros(N)``, set every annotated ``[s, e)`` to
1, drop the last frame, keep the first ``16 * T`` frames. Normal videos (no
annotation line) are all zeros. Snippet scores are compared to these labels after
being repeated 16 times.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .names import strip_video_ext, try_parse_name

SNIPPET_FRAMES = 16


def n_segments(n_frames: int) -> int:
    """Number of 16-frame snippets of a video of ``n_frames`` frames: ``floor((N - 1) / 16)`` (>= 0)."""
    n = int(n_frames)
    return max(0, (n - 1) // SNIPPET_FRAMES)


def _frames_and_name(video: Any) -> tuple[int, str | None, int | None]:
    if isinstance(video, (int, np.integer)):
        return int(video), None, None
    try:
        frames = int(video["frames"])
    except (KeyError, TypeError, IndexError):
        raise TypeError("video must be a frame count or a manifest row with a 'frames' field") from None
    name = video.get("name") if hasattr(video, "get") else None
    label = video.get("label") if hasattr(video, "get") else None
    label = None if label is None or (isinstance(label, float) and np.isnan(label)) else int(label)
    return frames, (strip_video_ext(str(name)) if name is not None else None), label


def frame_labels(
    video: int | Mapping[str, Any],
    annotations: Mapping[str, Sequence[tuple[int, int]]] | Sequence[tuple[int, int]] | None = None,
    *,
    name: str | None = None,
) -> np.ndarray:
    """Frame-level 0/1 ground truth of one video, length ``16 * n_segments(N)`` (float32).

    ``video`` is the frame count ``N`` or a manifest row (mapping / pandas row with
    ``frames`` and ``name``, optionally ``label``). ``annotations`` is either the
    mapping returned by :func:`~robusta_bench.dataset.annotations.read_annotations`
    (the video is looked up by name: from the row, or ``name=``), or this video's
    own list of ``(start, end)`` frame intervals, or None (a normal video).

    A name absent from the mapping is a normal video (all zeros), except when the
    row's label (or the name itself) says violent: then ``ValueError``, because
    the frame labels of that video are unknown (e.g. a training video).
    Intervals past the end of the video are clipped.
    """
    n, row_name, label = _frames_and_name(video)
    if n < 0:
        raise ValueError(f"negative frame count {n}")
    name = strip_video_ext(name) if name is not None else row_name
    if annotations is None:
        segments: Sequence[tuple[int, int]] = ()
    elif isinstance(annotations, Mapping):
        if name is None:
            raise ValueError("an annotations mapping needs the video name (a manifest row or name=)")
        if name in annotations:
            segments = annotations[name]
        else:
            if label is None:
                parsed = try_parse_name(name)
                label = parsed.label if parsed is not None else None
            if label == 1:
                raise ValueError(f"{name}: violent video without an annotation line; its frame labels are unknown")
            segments = ()
    else:
        segments = annotations
    gt = np.zeros(n, dtype=np.float32)
    for s, e in segments:
        s, e = int(s), int(e)
        if e <= s:
            raise ValueError(f"{name or 'video'}: bad interval [{s}, {e})")
        gt[max(0, s) : max(0, min(e, n))] = 1.0
    gt = gt[:-1] if n > 0 else gt
    return gt[: SNIPPET_FRAMES * n_segments(n)]


def snippet_labels_from_frames(labels: np.ndarray) -> np.ndarray:
    """Snippet-level labels: 1 where any of the snippet's 16 frames is anomalous.

    ``labels`` is a frame-level array; a trailing partial snippet is ignored.
    """
    labels = np.asarray(labels)
    t = labels.shape[0] // SNIPPET_FRAMES
    if t == 0:
        return np.zeros(0, dtype=np.float32)
    return labels[: t * SNIPPET_FRAMES].reshape(t, SNIPPET_FRAMES).max(axis=1).astype(np.float32)


def snippet_labels(
    video: int | Mapping[str, Any],
    annotations: Mapping[str, Sequence[tuple[int, int]]] | Sequence[tuple[int, int]] | None = None,
    *,
    name: str | None = None,
) -> np.ndarray:
    """Snippet-level 0/1 ground truth (length ``n_segments(N)``); arguments as :func:`frame_labels`."""
    return snippet_labels_from_frames(frame_labels(video, annotations, name=name))


def concat_frame_labels(rows: Iterable[Mapping[str, Any]], annotations: Mapping[str, Sequence[tuple[int, int]]]) -> np.ndarray:
    """Frame labels of several videos concatenated in the given order (the official AP input).

    Pass the test rows sorted by ``list_index`` to match the official evaluation.
    """
    parts = [frame_labels(row, annotations) for row in rows]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
