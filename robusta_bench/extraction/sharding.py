"""``--shard K/N``: a deterministic partition of a manifest's videos for array jobs.

Video ``name`` belongs to shard ``int(sha1(name)[:8], 16) % N``: the same
whatever the manifest's row order, the machine or the Python version, so N
array tasks (Slurm ``--array=0-(N-1)``, each ``--shard $SLURM_ARRAY_TASK_ID/N``)
cover every video exactly once and can all write into one store (each task is
its own writer, see :mod:`robusta_bench.store.commit`).
"""

from __future__ import annotations

import hashlib
from typing import Sequence, TypeVar

T = TypeVar("T")


def parse_shard(text: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"K/N"`` (0 <= K < N) as ``(K, N)``; None passes through. ValueError names the problem."""
    if text is None or isinstance(text, tuple):
        if text is not None and not (0 <= text[0] < text[1]):
            raise ValueError(f"bad shard {text[0]}/{text[1]}: need 0 <= K < N")
        return text
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"bad --shard {text!r}: use K/N, e.g. 0/4 (K counts from 0)") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"bad --shard {text!r}: need N >= 1 and 0 <= K < N")
    return k, n


def shard_of(name: str, n: int) -> int:
    """The shard (0..n-1) video ``name`` belongs to."""
    return int(hashlib.sha1(str(name).encode()).hexdigest()[:8], 16) % int(n)


def select_shard(items: Sequence[T], shard: tuple[int, int] | None, name_of=lambda x: x.name) -> list[T]:
    """The items of shard ``(K, N)`` (all of them for None), in their original order."""
    if shard is None:
        return list(items)
    k, n = shard
    return [x for x in items if shard_of(name_of(x), n) == k]


def describe(shard: tuple[int, int] | None) -> str:
    return "all videos" if shard is None else f"shard {shard[0]}/{shard[1]}"
