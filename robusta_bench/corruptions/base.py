"""The corruption registry and the contract every corruption follows.

A corruption is a class registered in :data:`CORRUPTIONS` with

- ``name``       stable snake_case name (``fog``, ``babble`` ...)
- ``modality``   ``"visual"`` or ``"audio"``
- ``version``    bumped whenever the output for the same inputs changes
- ``levels``     five dicts, the parameters of severities 1..5; parameter
                 names carry their unit (``snr_db``, ``cutoff_hz``, ``drop_s``)
- ``packet_level`` True for corruptions that work on the compressed stream
                 (bit error) rather than on decoded samples
- ``perturbation`` True for the self-made perturbations of
                 :mod:`robusta_bench.corruptions.perturbations` (reliability
                 training only; never part of the benchmark, left out of
                 :func:`corruption_names` unless asked for)
- ``rank``       its place among its modality's corruptions in the benchmark
                 tables and plans (the paper's order), given at registration
                 (``@CORRUPTIONS.register("fog", rank=4)``); None (the default)
                 registers a corruption that is not part of the benchmark suite

The contract, in three parts:

- :meth:`Corruption.sample` ``(severity, seed, video) -> params``: everything
  that determines one corrupted item (the level's parameters, the severity,
  the user seed and the item seed every random draw derives from, see
  :func:`robusta_bench.seeding.corruption_seed`); the corrupt manifest records
  it, so an item can be replayed from its row;
- the pure :meth:`Corruption.apply` over decoded frames or audio (all
  randomness from the integer ``seed`` passed in, never from global state),
  and :meth:`Corruption.stream` over consecutive frame chunks;
- the media-level entry points, used by both ``corrupt`` (files) and the
  fused extraction (in memory): :meth:`Corruption.frames` (the corrupted frames
  of a video file, sharing an ongoing clean decode when given one) and
  :meth:`Corruption.write` (the corrupted copy of a file). A packet-level
  corruption (bit error) overrides both and works on the compressed stream.

Data layouts:
- visual: ``(T, H, W, 3)`` uint8 RGB frames -> same shape and dtype.
  ``start`` is the index of ``frames[0]`` within the whole video, so that a video
  processed in chunks gives exactly the same output as in one call.
- audio: ``(C, N)`` float32 in [-1, 1] at ``rate`` Hz -> same shape and dtype.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

import numpy as np

from ..registry import Registry
from ..seeding import corruption_seed

#: every module of the visual and audio suites is imported on first use, then
#: the ``robusta_bench.corruptions`` entry points (see :mod:`robusta_bench.registry`)
CORRUPTIONS: Registry[type["Corruption"]] = Registry(
    "corruption",
    packages=(
        "robusta_bench.corruptions.visual",
        "robusta_bench.corruptions.audio",
        "robusta_bench.corruptions.perturbations",
    ),
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
    perturbation: ClassVar[bool] = False

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
            **({"perturbation": True} if cls.perturbation else {}),
            "description": cls.description,
            "levels": [dict(lv) for lv in cls.levels],
        }

    def sample(self, severity: int, seed: int, video: str) -> dict[str, Any]:
        """The parameters of one item: ``video`` corrupted at ``severity`` with user ``seed``.

        The level's parameters, ``severity``, ``seed`` and ``item_seed``, the
        seed from which every random draw of :meth:`apply` derives; with the
        corruption's ``version`` they determine the output.
        """
        return {
            **self.params(severity),
            "severity": int(severity),
            "seed": int(seed),
            "item_seed": corruption_seed(video, self.name, int(severity), int(seed)),
        }

    def frames(
        self,
        source: str | Path,
        severity: int,
        seed: int,
        *,
        decoded: Iterable[np.ndarray] | None = None,
        chunk_size: int | None = None,
        fps: float | None = None,
    ) -> Iterator[np.ndarray]:
        """The corrupted frames of the video file ``source`` (visual), in chunks; ``seed`` is the item seed.

        ``decoded`` are the clean frame chunks of ``source`` when a decode is
        already under way (the fused extraction shares one among variants);
        otherwise ``source`` is decoded here (at ``fps`` when given).
        """
        if decoded is None:
            from ..media.decode import iter_frames

            decoded = iter_frames(source, fps=fps, **({} if chunk_size is None else {"chunk_size": int(chunk_size)}))
        return iter(self.stream(decoded, severity, seed))

    def write(self, source: str | Path, dest: str | Path, severity: int, seed: int) -> None:
        """Write the corrupted copy of the video file ``source`` to ``dest``; ``seed`` is the item seed.

        Visual: the frames of :meth:`frames` re-encoded (libx264), every audio
        stream copied bit-exactly. Audio: the track decoded at its own rate and
        channel count, corrupted whole, written with the video stream copied.
        """
        if self.modality == "visual":
            from ..media.video_out import encode_with_audio

            encode_with_audio(source, dest, self.frames(source, severity, seed))
            return
        from ..media.decode import NoAudioStream, read_audio

        try:
            from ..media.audio_out import write_with_audio
        except ImportError as exc:
            raise RuntimeError("audio corruption support not installed (robusta_bench.media.audio_out is missing)") from exc
        try:
            samples, rate = read_audio(source)
        except NoAudioStream as exc:
            raise RuntimeError(f"{Path(source).stem}: no audio stream") from exc
        write_with_audio(source, dest, self.apply(samples, severity, seed, rate=rate), rate)

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


def corruption_names(modality: str | None = None, *, perturbations: bool = False) -> list[str]:
    """Registered corruption names, optionally only those of one modality.

    The self-made perturbations (``perturbation = True``) are left out unless ``perturbations``.
    """
    return [
        n
        for n in CORRUPTIONS.names()
        if (modality is None or CORRUPTIONS.get(n).modality == modality)
        and (perturbations or not getattr(CORRUPTIONS.get(n), "perturbation", False))
    ]


def benchmark_corruptions(modality: str) -> tuple[str, ...]:
    """The corruptions of ``modality`` in the benchmark suite (those with a ``rank``), in rank order."""
    ranked = [(CORRUPTIONS.get(n).rank, n) for n in corruption_names(modality)]
    return tuple(n for r, n in sorted((r, n) for r, n in ranked if r is not None))
