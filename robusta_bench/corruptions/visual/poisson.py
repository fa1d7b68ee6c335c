"""Exact, fast shot-noise sampling by inverse CDF over the 256 grey levels.

Shot noise draws ``K ~ Poisson(x / 255 * c)`` per value and stores
``trunc(clip(K / c, 0, 1) * 255)``. For one severity ``c`` is fixed and ``x``
takes 256 values, so the output of a value ``x`` is a discrete distribution
over ``ceil(c) + 1`` grey levels whose CDF can be tabulated once. A uniform
``u`` in [0, 1) then gives an exact sample as the first outcome whose CDF
exceeds ``u`` (inverse transform sampling).

``u`` is drawn a byte at a time, only as far as needed:

1. byte ``b1`` selects the bin ``[b1/256, (b1+1)/256)``. Where the whole bin
   lies inside one outcome's CDF interval, the outcome is read from a
   65536-entry table indexed by ``x * 256 + b1``: most values are done after
   one random byte and one lookup.
2. Bins that straddle a CDF step ("ambiguous") draw a second byte ``b2`` and
   look up the sub-bin ``[(b1 + b2/256)/256, ...)`` in a second table (one row of
   256 per ambiguous bin).
3. The rare sub-bins that still straddle a step draw the rest of ``u`` as 53
   random bits and find the outcome by binary search in the CDF of that ``x``
   (all 256 CDFs are stored as one sorted array ``x + CDF_x(k)``, so one
   ``searchsorted`` serves every ``x``).

The result has the Poisson distribution with every probability exact to
double precision (the CDF is evaluated in float64); only the random stream
differs from ``Generator.poisson``. The torch path (:mod:`.torch_ops`) uses
step 3 for every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class ShotTables:
    """Inverse-CDF tables of shot noise at ``photons`` photons at white (see module docstring).

    - ``grey``: ``(n_out,)`` uint8, the grey level of outcome ``k`` (``K = k``; the
      last outcome is ``K >= ceil(c)``, grey 255)
    - ``keys``: sorted float64 ``x + CDF_x(k)`` for every ``x`` and ``k < n_out - 1``,
      then ``x + 1``; ``start[x]`` is where ``x``'s run begins
    - ``level1``: ``(65536,)`` uint8, the grey level of bin ``x * 256 + b1``, or
      ``sentinel`` (a grey level no outcome has) where the bin is ambiguous
    - ``row``: ``(65536,)`` int32, the ``level2`` row of an ambiguous bin (-1 elsewhere)
    - ``level2``: ``(n_ambiguous * 256,)`` uint8, the grey level of sub-bin ``row * 256 + b2``, or ``sentinel``
    """

    photons: float
    grey: np.ndarray
    keys: np.ndarray
    start: np.ndarray
    level1: np.ndarray
    row: np.ndarray
    level2: np.ndarray
    sentinel: int

    def outcome(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Outcome index for grey values ``x`` (int) and uniforms ``u`` in [0, 1) (float64)."""
        pos = np.searchsorted(self.keys, x.astype(np.float64) + u, side="right")
        # x + u may round up to x + 1 for u within 2**-45 of 1: that is the last outcome
        return np.minimum(pos - self.start[x], len(self.grey) - 1)

    def bin_outcomes(self, x: np.ndarray, lo: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
        """Outcomes at both ends of the bins ``[lo, lo + width)`` of values ``x``: (at ``lo``, just below the end)."""
        first = self.outcome(x, lo)
        end = np.searchsorted(self.keys, x.astype(np.float64) + lo + width, side="left") - self.start[x]
        return first, np.minimum(end, len(self.grey) - 1)


def poisson_cdf_table(lams: np.ndarray, kmax: int) -> np.ndarray:
    """``P(K <= k)`` of ``Poisson(lam)`` for every ``lam`` (rows) and ``k = 0 .. kmax`` (float64)."""
    from scipy.stats import poisson

    return poisson.cdf(np.arange(kmax + 1)[None, :], np.asarray(lams, dtype=np.float64)[:, None])


@lru_cache(maxsize=16)
def shot_tables(photons: float) -> ShotTables:
    """Build (and cache) the tables of one severity; 0 < ``photons`` < 255."""
    c = float(photons)
    if not 0 < c < 255:
        raise ValueError(f"shot noise: photons_at_white must be in (0, 255), got {photons}")
    n_clip = int(np.ceil(c))  # K >= n_clip gives K / c >= 1, i.e. grey 255
    grey = (np.clip(np.arange(n_clip + 1) / c, 0.0, 1.0) * 255.0).astype(np.uint8)
    sentinel = int(np.setdiff1d(np.arange(256), grey)[0])
    x = np.arange(256)
    cdf = poisson_cdf_table(x / 255.0 * c, n_clip - 1)  # (256, n_clip)
    cdf = np.minimum(np.maximum.accumulate(cdf, axis=1), 1.0)
    steps = np.concatenate([cdf, np.ones((256, 1))], axis=1)  # the last outcome closes at 1
    keys = (x[:, None] + steps).reshape(-1)
    start = x.astype(np.int64) * steps.shape[1]
    partial = ShotTables(c, grey, keys, start, np.empty(0, np.uint8), np.empty(0, np.int32), np.empty(0, np.uint8), sentinel)

    # level 1: bin b1 of value x
    xs1 = np.repeat(x, 256)
    lo1 = np.tile(np.arange(256), 256) / 256.0
    first, last = partial.bin_outcomes(xs1, lo1, 1 / 256)
    amb1 = first != last
    level1 = np.where(amb1, sentinel, grey[first]).astype(np.uint8)
    row = np.full(65536, -1, np.int32)
    row[amb1] = np.arange(int(amb1.sum()), dtype=np.int32)

    # level 2: sub-bin b2 of every ambiguous bin
    xs2 = np.repeat(xs1[amb1], 256)
    lo2 = np.repeat(lo1[amb1], 256) + np.tile(np.arange(256), int(amb1.sum())) / 65536.0
    first2, last2 = partial.bin_outcomes(xs2, lo2, 1 / 65536)
    level2 = np.where(first2 != last2, sentinel, grey[first2]).astype(np.uint8)
    for arr in (grey, keys, start, level1, row, level2):
        arr.flags.writeable = False
    return ShotTables(c, grey, keys, start, level1, row, level2, sentinel)


def raw_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform random bytes from ``rng``'s bit generator (8 per 64-bit draw)."""
    words = rng.bit_generator.random_raw((n + 7) // 8)
    return words.view(np.uint8)[:n]


def raw_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform float64 in [0, 1) from the top 53 bits of 64-bit draws."""
    return (rng.bit_generator.random_raw(n) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def sample_shot_noise(values: np.ndarray, tables: ShotTables, rng: np.random.Generator) -> np.ndarray:
    """Shot-noise grey levels for the uint8 ``values`` (any shape), drawing from ``rng``.

    Draws ``values.size`` bytes, one more byte per ambiguous bin, then 53-bit
    uniforms for the ambiguous sub-bins only.
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    b1 = raw_bytes(rng, flat.size)
    idx = flat.astype(np.uint16)
    idx <<= 8
    idx |= b1
    out = tables.level1.take(idx)
    amb = np.flatnonzero(out == tables.sentinel)
    if amb.size:
        b2 = raw_bytes(rng, amb.size)
        sub = tables.row.take(idx.take(amb)).astype(np.intp)
        sub <<= 8
        sub |= b2
        got = tables.level2.take(sub)
        amb2 = np.flatnonzero(got == tables.sentinel)
        if amb2.size:
            where = amb.take(amb2)
            # within the sub-bin, u = (b1 + (b2 + r) / 256) / 256 with r uniform in [0, 1)
            u = (b1.take(where) + (b2.take(amb2) + raw_unit(rng, amb2.size)) / 256.0) / 256.0
            got[amb2] = tables.grey[tables.outcome(flat.take(where).astype(np.intp), u)]
        out[amb] = got
    return out.reshape(values.shape)
