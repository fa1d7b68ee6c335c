"""Deterministic seeding.

Every random draw in robusta-bench is derived from a hash of the things that
identify it (video name, corruption, severity, user seed, frame index ...), never
from global state, so results do not depend on processing order or worker count.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from typing import Iterator

import numpy as np


def derive_seed(*parts: object) -> int:
    """A 63-bit integer seed from a stable hash of ``parts`` (order matters)."""
    text = "\x1f".join(repr(p) if not isinstance(p, str) else p for p in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def rng_for(*parts: object) -> np.random.Generator:
    """A fresh numpy Generator seeded by :func:`derive_seed` of ``parts``."""
    return np.random.Generator(np.random.PCG64(derive_seed(*parts)))


def corruption_seed(video: str, corruption: str, severity: int, seed: int) -> int:
    """The seed of one (video, corruption, severity, user seed) item."""
    return derive_seed("corruption", video, corruption, int(severity), int(seed))


@contextlib.contextmanager
def isolated_global_rng(seed: int) -> Iterator[None]:
    """Seed Python's ``random`` and ``numpy.random`` for a block, then restore them.

    Third-party code such as audiomentations draws from these global generators;
    this makes such a call reproducible per item without disturbing other code.
    Not thread-safe: use processes for parallel work.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
