"""The detector registry and the contract every anomaly detector follows.

A detector is registered in :data:`DETECTORS` (``hlnet``, ``robusta`` ...). It
declares the modalities it consumes, is built by a pure builder from a
hyperparameter dataclass, is fitted on clean training features, and scores one
video at a time: per-snippet anomaly scores in [0, 1] for the offline (main)
head and, where the model has one, the online (causal) head.
"""

from __future__ import annotations

from ..registry import Registry

DETECTORS: Registry[type] = Registry("detector")


def get_detector_class(name: str) -> type:
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
