"""The detector registry and the contract every anomaly detector follows.

A detector is registered in :data:`DETECTORS` (``hlnet``, ``robusta``,
``visual-only``, ``audio-only``, ``rtfm``, ``hypervd``, ``robusta-rtfm``,
``robusta-hypervd``, ``robusta-backbone``, and the ablations ``robusta-pad``,
``robusta-average``, ``robusta-rtfm-pad`` ..., registered with their parent and options). It declares the modalities it consumes, is
built from plain keyword options (feature dimensions, ablation flags), is fitted
on clean training features (:class:`TrainSet`) and scores one video at a time:
per-snippet anomaly scores in [0, 1] for the offline (main) head and the online
(causal) head, averaged over crops.

Scoring goes through a :class:`Scorer`, which splits a video's work into a
visual part, an audio part and a cheap combination, so that the evaluation can
score every (visual variant, audio variant) combination of a video without
recomputing either side (see ``robusta_bench.evaluation.scoring``). A missing
modality is passed as ``None``.

Detector files are single safetensors files with a JSON header
(:mod:`.checkpoint`): :meth:`Detector.save` and :func:`load_detector`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ..registry import Registry

#: every module of :mod:`robusta_bench.detectors` is imported on first use, then
#: the ``robusta_bench.detectors`` entry points (see :mod:`robusta_bench.registry`)
DETECTORS: Registry[type] = Registry("detector", packages=("robusta_bench.detectors",), group="robusta_bench.detectors")
MODALITIES = ("visual", "audio")


def get_detector_class(name: str) -> type:
    """The registered detector class ``name`` (an ablation's parent class for an ablation)."""
    return DETECTORS.get(name)


def detector_names() -> list[str]:
    """All registered detector names, ablations last."""
    return DETECTORS.names()


@dataclass
class TrainSet:
    """Clean training features of ``n`` videos, already aligned and capped in length.

    ``visual[i]`` is ``(crops, T_i, visual_dim)`` and ``audio[i]`` is
    ``(T_i, audio_dim)`` (the same ``T_i``); either list may be None when the
    detector does not need that modality. ``labels`` are the video labels (0/1).
    """

    names: list[str]
    labels: np.ndarray
    visual: list[np.ndarray] | None = None
    audio: list[np.ndarray] | None = None
    #: per modality, aligned with ``names``: each video's self-perturbed ``(T, d)`` features
    #: (:mod:`robusta_bench.corruptions.perturbations`), read only by the reliability probe
    perturbed: dict[str, list[list[np.ndarray]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32)
        n = len(self.names)
        if len(self.labels) != n:
            raise ValueError(f"{n} names but {len(self.labels)} labels")
        if self.visual is None and self.audio is None:
            raise ValueError("a training set needs at least one modality")
        for mod in MODALITIES:
            feats = getattr(self, mod)
            if feats is not None and len(feats) != n:
                raise ValueError(f"{n} names but {len(feats)} {mod} feature arrays")
        if self.visual is not None and self.audio is not None:
            for name, v, a in zip(self.names, self.visual, self.audio):
                if v.shape[1] != a.shape[0]:
                    raise ValueError(f"{name}: visual has {v.shape[1]} segments, audio {a.shape[0]}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def visual_dim(self) -> int:
        return int(self.visual[0].shape[-1]) if self.visual else 0

    @property
    def audio_dim(self) -> int:
        return int(self.audio[0].shape[-1]) if self.audio else 0

    def require(self, *modalities: str) -> None:
        """Raise ``ValueError`` when a needed modality is absent."""
        for mod in modalities:
            if getattr(self, mod) is None:
                raise ValueError(f"this detector needs {mod} training features")


@dataclass
class ScoreOut:
    """One video's scores: offline and online heads (T,), and for late fusion the visual weight (T,)."""

    offline: np.ndarray
    online: np.ndarray
    w_visual: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class Scorer(Protocol):
    """Split scoring of one video (see the module docstring)."""

    def visual_state(self, visual: np.ndarray | None, length: int) -> Any:
        """Work that depends on the visual features ``(crops, T, dv)`` only (None: missing)."""

    def audio_state(self, audio: np.ndarray | None, length: int) -> Any:
        """Work that depends on the audio features ``(T, da)`` only (None: missing)."""

    def combine(self, visual_state: Any, audio_state: Any, fusion: str | None = None) -> ScoreOut:
        """The video's scores from the two parts."""


class Detector:
    """Base class: registration name, modalities, save/load. Subclasses implement fit and scorer."""

    name: ClassVar[str] = ""
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    #: fusion rules :meth:`Scorer.combine` accepts (``None`` = the detector's own)
    fusions: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""

    def __init__(self, visual_dim: int = 1024, audio_dim: int = 128, **options: Any) -> None:
        self.visual_dim = int(visual_dim)
        self.audio_dim = int(audio_dim)
        self.options = dict(options)
        self.train_info: dict[str, Any] = {}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Registry information: inputs, late fusion or not, a one-line summary."""
        return {
            "inputs": list(cls.modalities),
            "fusions": list(cls.fusions),
            "summary": cls.summary,
        }

    def info(self) -> dict[str, Any]:
        """This instance: dimensions and options."""
        return {"name": self.name, "visual_dim": self.visual_dim, "audio_dim": self.audio_dim, **self.options}

    # ---------------------------------------------------------------- contract
    def fit(self, train: TrainSet, cfg: Any, seed: int = 0, progress: bool = False) -> Any:
        """Train on clean features; returns a :class:`~robusta_bench.detectors.train.TrainLog`."""
        raise NotImplementedError

    def scorer(self, device: str = "cpu") -> Scorer:
        """A :class:`Scorer` bound to ``device``."""
        raise NotImplementedError

    def score(self, visual: np.ndarray | None, audio: np.ndarray | None, fusion: str | None = None) -> ScoreOut:
        """Scores of one video (convenience): visual ``(crops, T, dv)``, audio ``(T, da)``, either None."""
        lengths = [x.shape[1] for x in (visual,) if x is not None] + [x.shape[0] for x in (audio,) if x is not None]
        if not lengths:
            raise ValueError("both modalities are missing: nothing to score")
        t = min(lengths)
        sc = self.scorer()
        return sc.combine(sc.visual_state(visual, t), sc.audio_state(audio, t), fusion)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Tensors and JSON metadata to save (subclasses extend)."""
        raise NotImplementedError

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved (strict)."""
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write this detector to one safetensors file (atomic)."""
        from .checkpoint import save_checkpoint

        tensors, meta = self.state()
        header = {
            "detector": self.name,
            "visual_dim": self.visual_dim,
            "audio_dim": self.audio_dim,
            "options": self.options,
            "train_info": self.train_info,
            **meta,
        }
        return save_checkpoint(path, tensors, header)


def build_detector(name: str, visual_dim: int = 1024, audio_dim: int = 128, **options: Any) -> Detector:
    """A fresh (untrained) detector ``name``: a registered class, or an ablation (its parent with its options)."""
    parent, fixed = DETECTORS.resolve(name)
    return DETECTORS.get(parent)(visual_dim=visual_dim, audio_dim=audio_dim, **{**fixed, **options})


def load_detector(path: str | Path) -> Detector:
    """Read a detector saved by :meth:`Detector.save`."""
    from .checkpoint import CheckpointError, load_checkpoint

    tensors, meta = load_checkpoint(path)
    name = meta.get("detector")
    if not name:
        raise CheckpointError(f"{path}: no detector name in the file")
    det = build_detector(name, meta["visual_dim"], meta["audio_dim"], **meta.get("options", {}))
    det.load_state(tensors, meta)
    det.train_info = dict(meta.get("train_info", {}))
    return det
