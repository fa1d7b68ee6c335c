"""Cross-video batching for the extractors, and per-video feature assembly.

A :class:`Batcher` owns one extractor and a preallocated input buffer of
``batch_size`` samples. Samples from any video, variant and crop are copied
into it; when it is full (or flushed at the end) the extractor runs once and
each output row goes back to the :class:`VideoFeatures` it came from. A
:class:`VideoFeatures` knows its video's snippet count once the decoder has
reached the end, and is complete when every (crop, snippet) row has arrived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(eq=False)
class VideoFeatures:
    """Features of one (extractor, variant, video) being assembled: ``(crops, T, dim)``."""

    group: Any
    name: str
    n_crops: int
    dim: int
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    filled: int = 0
    n_snippets: int | None = None
    error: str | None = None
    finished: bool = False

    def put(self, index: int, crop: int, feature: np.ndarray) -> None:
        """Store the feature of snippet ``index``, crop ``crop``."""
        if self.error is not None or self.finished:
            return
        row = self.rows.get(index)
        if row is None:
            row = self.rows[index] = np.empty((self.n_crops, self.dim), dtype=np.float32)
        row[crop] = feature
        self.filled += 1

    @property
    def complete(self) -> bool:
        """All rows present and the snippet count known."""
        return (
            self.error is None
            and not self.finished
            and self.n_snippets is not None
            and self.filled == self.n_snippets * self.n_crops
        )

    def array(self) -> np.ndarray:
        """The assembled ``(crops, T, dim)`` float32 array."""
        t = int(self.n_snippets or 0)
        out = np.empty((self.n_crops, t, self.dim), dtype=np.float32)
        for i in range(t):
            out[:, i] = self.rows[i]
        return out


class Batcher:
    """Run ``embed`` on full batches of samples gathered across videos (see module docstring).

    ``on_done(features)`` is called for every :class:`VideoFeatures` that became
    complete; ``on_error(features, message)`` for those whose batch failed. An
    ``Exception`` from the extractor fails the videos of that batch only;
    anything else (``KeyboardInterrupt`` ...) propagates.
    """

    def __init__(
        self,
        name: str,
        embed: Callable[[np.ndarray], np.ndarray],
        sample_shape: tuple[int, ...],
        dtype: Any,
        batch_size: int,
        dim: int,
        on_done: Callable[[VideoFeatures], None],
        on_error: Callable[[VideoFeatures, str], None],
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch size must be >= 1")
        self.name = name
        self.embed = embed
        self.batch_size = int(batch_size)
        self.dim = int(dim)
        self.buf = np.empty((self.batch_size, *sample_shape), dtype=dtype)
        self.tags: list[tuple[VideoFeatures, int, int]] = []
        self.on_done = on_done
        self.on_error = on_error
        self.model_seconds = 0.0
        self.samples = 0
        self.calls = 0

    def add(self, sample: np.ndarray, target: VideoFeatures, index: int, crop: int) -> None:
        """Copy one sample into the batch (runs the model when the batch is full)."""
        if target.error is not None:
            return
        self.buf[len(self.tags)] = sample
        self.tags.append((target, index, crop))
        if len(self.tags) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Run the model on what is buffered."""
        n = len(self.tags)
        if n == 0:
            return
        tags, self.tags = self.tags, []
        t0 = time.perf_counter()
        try:
            out = np.asarray(self.embed(self.buf[:n]))
            if out.shape != (n, self.dim):
                raise ValueError(f"extractor {self.name} returned shape {out.shape}, expected {(n, self.dim)}")
            if not np.isfinite(out).all():
                raise ValueError(f"extractor {self.name} returned non-finite features")
        except Exception as exc:
            self.model_seconds += time.perf_counter() - t0
            msg = f"extractor {self.name}: {type(exc).__name__}: {exc}"
            for target in {id(t): t for t, _, _ in tags}.values():
                self.on_error(target, msg)
            return
        self.model_seconds += time.perf_counter() - t0
        self.samples += n
        self.calls += 1
        touched: dict[int, VideoFeatures] = {}
        for row, (target, index, crop) in zip(out, tags):
            target.put(index, crop, row)
            touched[id(target)] = target
        for target in touched.values():
            if target.complete:
                self.on_done(target)
