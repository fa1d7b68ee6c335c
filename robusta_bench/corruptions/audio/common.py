"""The shared skeleton of the audio corruptions: validate, corrupt in float64, clip to float32."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Iterable, Iterator

import numpy as np

from ..base import Corruption
from . import functional as F


class AudioCorruption(Corruption):
    """An audio corruption: ``apply`` validates ``(C, N)`` input and calls :meth:`corrupt`.

    Audio tracks are corrupted whole (``start`` is accepted for the common
    signature and ignored). The output keeps rate, channel count and sample
    count; it is float32 clipped to [-1, 1].
    """

    modality = "audio"

    def apply(
        self,
        data: np.ndarray,
        severity: int,
        seed: int,
        *,
        rate: int | None = None,
        start: int = 0,
    ) -> np.ndarray:
        """Corrupt ``(C, N)`` float audio at ``rate`` Hz with the parameters of ``severity``.

        All randomness derives from ``seed``; global RNG state is left untouched.
        Raises :class:`ValueError` for bad input (wrong shape, < 2 samples, no rate).
        """
        params = self.params(severity)
        x, rate = F.check_audio(data, rate, self.name)
        y = self.corrupt(x, rate, params, int(seed))
        if y.shape != x.shape:  # a bug, never user error
            raise RuntimeError(f"{self.name}: produced shape {y.shape} for input {x.shape}")
        return F.finish(y)

    def stream(
        self, chunks: Iterable[np.ndarray], severity: int, seed: int, *, rate: int | None = None
    ) -> Iterator[np.ndarray]:
        """Audio is corrupted whole: ``(C, n_i)`` chunks are joined along time, corrupted once, yielded as one array.

        (Per-chunk corruption would change SNRs, dropout positions and reverb
        tails at chunk borders; an audio track is small enough to hold.)
        """
        parts = [np.asarray(c) for c in chunks]
        if not parts:
            return
        yield self.apply(np.concatenate(parts, axis=1), severity, seed, rate=rate)

    @abstractmethod
    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Corrupt float64 ``x`` (C, N); return an array of the same shape (float, unclipped)."""
