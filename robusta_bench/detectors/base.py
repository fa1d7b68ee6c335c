"""The detector registry and the contract every anomaly detector follows.

A detector is registered in :data:`DETECTORS` (``hlnet``, ``robusta`` ...). It
declares the modalities it consumes, is built from a hyperparameter dataclass,
is fitted on clean training features, and scores ONE video at a time (the
official test protocol): per-snippet anomaly scores in [0, 1] for the offline
(main) head and the online (causal) head.

Feature layout (as stored in a :class:`robusta_bench.features.store.FeatureStore`):
``visual`` is ``(crops_v, T, Dv)``, ``audio`` is ``(crops_a, T, Da)`` float32
(audio usually has 1 crop, shared by all visual crops). ``None`` means the
modality is MISSING for that video. Scores of a video are the mean over crops.

Late-fusion detectors (RobustA) score each modality alone and fuse; they expose
:meth:`Detector.modality_scores` and :meth:`Detector.fuse`, so an evaluation can
score every (video, modality variant) once and compose the grid of settings at
the score level. Early-fusion detectors (HL-Net) only implement :meth:`score`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from ..registry import Registry

DETECTORS: Registry[type["Detector"]] = Registry("detector")


@dataclass
class VideoScores:
    """Per-snippet scores of one video: ``offline`` and ``online`` are ``(T,)`` in [0, 1]."""

    offline: np.ndarray
    online: np.ndarray


@dataclass
class ModalityScores:
    """One modality of one video scored alone by a late-fusion detector.

    ``weight`` is the per-snippet fusion weight *before* normalisation across
    modalities (RobustA: lambda = 0.5 / (1 + exp(c (NLL + x0)))), ``nll`` the
    per-snippet GMM negative log-likelihood it came from (may be None).
    """

    offline: np.ndarray
    online: np.ndarray
    weight: np.ndarray
    nll: np.ndarray | None = None


@dataclass
class TrainSet:
    """Clean training features: ``{name: array}`` per modality plus video labels (0/1)."""

    visual: Mapping[str, np.ndarray]
    audio: Mapping[str, np.ndarray]
    labels: Mapping[str, int]


class Detector(ABC):
    """Base class of all detectors (see module docstring)."""

    name: ClassVar[str] = ""
    #: modalities consumed: ("visual", "audio") for multimodal detectors
    modalities: ClassVar[tuple[str, ...]] = ("visual", "audio")
    late_fusion: ClassVar[bool] = False

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"modalities": list(cls.modalities), "late_fusion": cls.late_fusion}

    @abstractmethod
    def fit(self, train: TrainSet, *, seed: int = 0, device: str = "cpu", progress: bool = False) -> "Detector":
        """Train on clean training features (video-level labels only)."""

    @abstractmethod
    def score(self, visual: np.ndarray | None, audio: np.ndarray | None) -> VideoScores:
        """Score one video; ``None`` marks a missing modality."""

    def modality_scores(self, features: np.ndarray, modality: str) -> ModalityScores:
        """Late-fusion detectors: score one modality of one video alone."""
        raise NotImplementedError(f"{self.name} is not a late-fusion detector")

    def fuse(self, parts: Mapping[str, ModalityScores | None]) -> VideoScores:
        """Late-fusion detectors: fuse per-modality scores (``None`` = missing)."""
        raise NotImplementedError(f"{self.name} is not a late-fusion detector")

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Save everything needed to score (weights, config, GMMs) without pickle."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Detector":
        """Load a detector written by :meth:`save`."""


def get_detector_class(name: str) -> type[Detector]:
    """The registered detector class ``name`` (imports the detector modules)."""
    _ensure_loaded()
    return DETECTORS.get(name)


def _ensure_loaded() -> None:
    import importlib

    for mod in ("hlnet", "robusta"):
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(mod):
                continue
            raise
