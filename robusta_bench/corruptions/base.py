"""The corruption registry and the contract every corruption follows.

A corruption is a class registered in :data:`CORRUPTIONS` with

- ``name``       stable snake_case name (``fog``, ``babble`` ...)
- ``modality``   ``"visual"`` or ``"audio"``
- ``version``    bumped whenever the output for the same inputs changes
- ``levels``     five dicts, the parameters of severities 1..5; parameter
                 names carry their unit (``snr_db``, ``cutoff_hz``, ``drop_s``)
- ``packet_level`` True for corruptions that work on the compressed stream
                 (bit error) rather than on decoded samples
- ``rank``       its place among its modality's corruptions in the benchmark
                 tables and plans (the paper's order), given at registration
                 (``@CORRUPTIONS.register("fog", rank=4)``); None (the default)
                 registers a corruption that is not part of the benchmark suite

and a pure :meth:`Corruption.apply`. All randomness comes from the integer
``seed`` passed in (see :func:`robusta_bench.seeding.corruption_seed`), never
from global state.

Data layouts:
- visual: ``(T, H, W, 3)`` uint8 RGB frames -> same shape and dtype.
  ``start`` is the index of ``frames[0]`` within the whole video, so that a video
  processed in chunks gives exactly the same output as in one call.
- audio: ``(C, N)`` float32 in [-1, 1] at ``rate`` Hz -> same shape and dtype.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterable, Iterator

import numpy as np

from ..registry import Registry

#: every module of the visual and audio suites is imported on first use, then
#: the ``robusta_bench.corruptions`` entry points (see :mod:`robusta_bench.registry`)
CORRUPTIONS: Registry[type["Corruption"]] = Registry(
    "corruption",
    packages=("robusta_bench.corruptions.visual", "robusta_bench.corruptions.audio"),
    group="robusta_bench.corruptions",
)

MODALITIES = ("visual", "audio")
SEVERITIES = (1, 2, 3, 4, 5)


class Corruption(ABC):
    """Base class of all corruptions (see module docstring for the contract)."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    version: ClassVar[int] = 1
    levels: ClassVar[tuple[dict[str, Any], ...]] = ()
    packet_level: ClassVar[bool] = False
    description: ClassVar[str] = ""
    rank: ClassVar[int | None] = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if getattr(cls, "__abstractmethods__", None):
            return
        if cls.modality and cls.modality not in MODALITIES:
            raise ValueError(f"{cls.__name__}: modality must be one of {MODALITIES}")
        if cls.levels and len(cls.levels) != len(SEVERITIES):
            raise ValueError(f"{cls.__name__}: needs exactly 5 severity levels, got {len(cls.levels)}")

    @classmethod
    def params(cls, severity: int) -> dict[str, Any]:
        """The parameters of ``severity`` (1..5)."""
        if int(severity) not in SEVERITIES:
            raise ValueError(f"{cls.name}: severity must be 1..5, got {severity!r}")
        return dict(cls.levels[int(severity) - 1])

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Registry description: modality, version, description and the level table."""
        return {
            "modality": cls.modality,
            "version": cls.version,
            "packet_level": cls.packet_level,
            "rank": cls.rank,
            "description": cls.description,
            "levels": [dict(lv) for lv in cls.levels],
        }

    @abstractmethod
    def apply(
        self,
        data: np.ndarray,
        severity: int,
        seed: int,
        *,
        rate: int | None = None,
        start: int = 0,
    ) -> np.ndarray:
        """Corrupt ``data`` at ``severity`` with randomness derived from ``seed``."""

    def stream(
        self, chunks: Iterable[np.ndarray], severity: int, seed: int, *, rate: int | None = None
    ) -> Iterator[np.ndarray]:
        """Corrupt a video given as consecutive frame chunks, in bounded memory.

        The default works for corruptions whose output frame depends only on the
        same input frame (and ``start``); temporal corruptions override it.
        """
        start = 0
        for chunk in chunks:
            yield self.apply(chunk, severity, seed, rate=rate, start=start)
            start += len(chunk)


def get_corruption(name: str) -> Corruption:
    """Instantiate the registered corruption ``name``."""
    return CORRUPTIONS.get(name)()


def corruption_names(modality: str | None = None) -> list[str]:
    """Registered corruption names, optionally only those of one modality."""
    return [n for n in CORRUPTIONS.names() if modality is None or CORRUPTIONS.get(n).modality == modality]


def benchmark_corruptions(modality: str) -> tuple[str, ...]:
    """The corruptions of ``modality`` in the benchmark suite (those with a ``rank``), in rank order."""
    ranked = [(CORRUPTIONS.get(n).rank, n) for n in corruption_names(modality)]
    return tuple(n for r, n in sorted((r, n) for r, n in ranked if r is not None))
