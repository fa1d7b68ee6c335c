"""Exact, fast shot-noise sampling by inverse CDF over the 256 grey levels.

Shot noise draws ``K ~ Poisson(x / 255 * c)`` per value and stores
``trunc(clip(K / c, 0, 1) * 255)``. For one severity ``c`` is fixed and ``x``
takes 256 values, so the output of a value ``x`` is a discrete distribution
over at most ``ceil(c) + 1`` grey levels whose CDF can be tabulated once. A
uniform ``u`` in [0, 1) then gives an exact sample as the first outcome whose
CDF exceeds ``u`` (inverse transform sampling).

Two levels make that cheap:

1. ``u``'s top 8 bits ``b`` (one random byte per value) select the bin
   ``[b/256, (b+1)/256)``. Where the whole bin lies inside one outcome's CDF
   interval the outcome is read from a 65536-entry table indexed by
   ``x * 256 + b``: most values are done after one byte and one lookup.
2. For the few values whose bin straddles a CDF step ("ambiguous" bins), the
   rest of ``u`` is drawn as 53 random bits and the outcome found by binary
   search in the CDF of that ``x`` (all 256 CDFs are stored as one sorted array
   ``x + CDF_x(k)``, so one ``searchsorted`` serves every ``x``).

The result has the Poisson distribution with every probability exact to
double precision (the CDF is evaluated in float64); only the random stream
differs from ``Generator.poisson``. The same tables drive the torch path
(:mod:`.torch_ops`), which uses step 2 for every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: bits of the first-level uniform (one byte per sampled value)
LEVEL1_BITS = 8


@dataclass(frozen=True)
class ShotTables:
    """Inverse-CDF tables of shot noise at ``photons`` photons at white (see module docstring).

    - ``grey``: ``(n_out,)`` uint8, the grey level of outcome ``k`` (``K = k``; the
      last outcome is ``K >= ceil(c)``, grey 255)
    - ``keys``: sorted float64 ``x + CDF_x(k)`` for every ``x`` and ``k < n_out - 1``,
      then ``x + 1`` (so ``searchsorted(keys, x + u, 'right') - start[x]`` is the outcome)
    - ``start``: ``(256,)`` int64, where ``x``'s run begins in ``keys``
    - ``level1``: ``(65536,)`` uint8, the grey level of bin ``x * 256 + b``, or
      ``sentinel`` (a grey level no outcome has) where the bin straddles a CDF step
    """

    photons: float
    grey: np.ndarray
    keys: np.ndarray
    start: np.ndarray
    level1: np.ndarray
    sentinel: int

    def outcome(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Outcome index for grey values ``x`` (int) and uniforms ``u`` in [0, 1) (float64)."""
        pos = np.searchsorted(self.keys, x.astype(np.float64) + u, side="right")
        # x + u may round up to x + 1 for u within 2**-45 of 1: that is the last outcome
        return np.minimum(pos - self.start[x], len(self.grey) - 1)


def poisson_cdf(lam: float, kmax: int) -> np.ndarray:
    """``P(K <= k)`` for ``k = 0 .. kmax`` of ``Poisson(lam)``, float64 (exact to rounding)."""
    from scipy.stats import poisson

    return poisson.cdf(np.arange(kmax + 1), lam)


@lru_cache(maxsize=16)
def shot_tables(photons: float) -> ShotTables:
    """Build (and cache) the tables of one severity; ``photons`` > 0."""
    c = float(photons)
    if not c > 0:
        raise ValueError(f"shot noise: photons_at_white must be > 0, got {photons}")
    n_clip = int(np.ceil(c))  # K >= n_clip gives K / c >= 1, i.e. grey 255
    k = np.arange(n_clip + 1, dtype=np.float64)
    grey = (np.clip(k / c, 0.0, 1.0) * 255.0).astype(np.uint8)
    x = np.arange(256, dtype=np.float64)
    # CDF at k = 0 .. n_clip - 1; the last outcome (K >= n_clip) closes at 1
    cdf = np.stack([poisson_cdf(lam, n_clip - 1) for lam in x / 255.0 * c])  # (256, n_clip)
    cdf = np.minimum(np.maximum.accumulate(cdf, axis=1), 1.0)
    steps = np.concatenate([cdf, np.ones((256, 1))], axis=1)  # (256, n_out)
    keys = (x[:, None] + steps).reshape(-1)
    start = np.arange(256, dtype=np.int64) * steps.shape[1]
    # level 1: bin b covers [b/256, (b+1)/256); its outcomes at both ends
    nb = 1 << LEVEL1_BITS
    lo = np.arange(nb, dtype=np.float64) / nb
    hi = (np.arange(nb, dtype=np.float64) + 1) / nb
    first = np.stack([np.searchsorted(steps[i], lo, side="right") for i in range(256)])  # outcome at b/256
    last = np.stack([np.searchsorted(steps[i], hi, side="left") for i in range(256)])  # just below (b+1)/256
    n_out = steps.shape[1]
    first = np.minimum(first, n_out - 1)
    ambiguous = (first != np.minimum(last, n_out - 1)).reshape(-1)
    unused = np.setdiff1d(np.arange(256), grey)
    if not unused.size:
        raise ValueError(f"shot noise: photons_at_white must be < 255, got {photons}")
    sentinel = int(unused[0])
    level1 = np.where(ambiguous, sentinel, grey[first].reshape(-1)).astype(np.uint8)
    for arr in (grey, keys, start, level1):
        arr.flags.writeable = False
    return ShotTables(c, grey, keys, start, level1, sentinel)


def raw_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform random bytes from ``rng``'s bit generator (8 per 64-bit draw)."""
    words = rng.bit_generator.random_raw((n + 7) // 8)
    return words.view(np.uint8)[:n]


def raw_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform float64 in [0, 1) from the top 53 bits of 64-bit draws."""
    return (rng.bit_generator.random_raw(n) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def sample_shot_noise(values: np.ndarray, tables: ShotTables, rng: np.random.Generator) -> np.ndarray:
    """Shot-noise grey levels for the uint8 ``values`` (any shape), drawing from ``rng``.

    Draws ``values.size`` bytes, then 53-bit uniforms for the ambiguous bins only.
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    b = raw_bytes(rng, flat.size)
    idx = flat.astype(np.uint16)
    idx <<= 8
    idx |= b
    out = tables.level1.take(idx)
    amb = np.flatnonzero(out == tables.sentinel)
    if amb.size:
        # within the bin, u = (b + r) / 256 with r uniform in [0, 1)
        u = (b[amb].astype(np.float64) + raw_unit(rng, amb.size)) * (1.0 / 256.0)
        xs = flat[amb].astype(np.intp)
        out[amb] = tables.grey[tables.outcome(xs, u)]
    return out.reshape(values.shape)
