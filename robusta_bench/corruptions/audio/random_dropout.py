"""Random dropout: several silent chunks (all channels at once) covering a designed fraction of the track."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from .common import AudioCorruption


@CORRUPTIONS.register("random_dropout", rank=6)
class RandomDropout(AudioCorruption):
    """Silence ``drop_fraction`` of the samples in several chunks at seeded positions.

    The number of chunks is ``round(dropped / mean_chunk_s)`` (at least 1);
    chunk lengths are drawn uniformly in 0.5-1.5 x ``mean_chunk_s`` and then
    scaled so they sum exactly to ``round(drop_fraction * N)`` samples; the
    kept audio is split into random gaps (Dirichlet) so chunks never touch.
    All channels drop out together (a lost stream, not a dead speaker); the
    cut is abrupt, like packet loss. audiomentations' ``TimeMask`` silences
    only one span, hence own code.
    """

    version = 1
    description = "silences a fraction of the track in several seeded chunks (~0.1-0.4 s each)"
    levels = tuple({"drop_fraction": f, "mean_chunk_s": 0.25} for f in (0.1, 0.2, 0.3, 0.4, 0.5))

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Zero the chunks of :func:`dropout_mask`."""
        keep = ~dropout_mask(x.shape[1], rate, params["drop_fraction"], params["mean_chunk_s"], seed)
        return x * keep[None, :]


def dropout_mask(n: int, rate: int, fraction: float, mean_chunk_s: float, seed: int) -> np.ndarray:
    """Boolean ``(n,)`` mask, True where samples are dropped (see :class:`RandomDropout`)."""
    rng = np.random.default_rng(seed)
    drop = int(round(float(fraction) * n))
    mask = np.zeros(n, dtype=bool)
    if drop <= 0:
        return mask
    keep = n - drop
    k = max(1, int(round(drop / max(1.0, mean_chunk_s * rate))))
    k = min(k, drop, keep + 1)  # each chunk >= 1 sample; interior gaps >= 1 sample
    lengths = _partition(drop, rng.uniform(0.5, 1.5, k), minimum=1)
    gaps = _partition(keep, rng.dirichlet(np.ones(k + 1)), minimum=0)
    # interior gaps need >= 1 sample so chunks stay separate: move one sample into each
    interior = gaps[1:-1]
    short = interior == 0
    if short.any():
        interior[short] = 1
        excess = int(short.sum())
        for idx in np.argsort(-gaps):  # take the samples back from the largest gaps
            if excess == 0:
                break
            room = gaps[idx] - (1 if 0 < idx < k else 0)
            take = min(room, excess)
            gaps[idx] -= take
            excess -= take
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    idx = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(drop)
    mask[idx] = True
    return mask


def _partition(total: int, weights: np.ndarray, *, minimum: int) -> np.ndarray:
    """Split the integer ``total`` into ``len(weights)`` integer parts proportional to ``weights``.

    Every part gets at least ``minimum`` (requires ``total >= minimum * len(weights)``).
    """
    k = len(weights)
    spare = total - minimum * k
    cuts = np.round(np.cumsum(weights) / np.sum(weights) * spare).astype(np.int64)
    parts = np.diff(np.concatenate([[0], cuts]))
    return parts + minimum
