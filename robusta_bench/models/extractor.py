"""The extractor registry and the contract every feature extractor follows.

An extractor is a class registered in :data:`EXTRACTORS` under its CLI name
(``i3d-inception``, ``i3d-resnet50``, ``yamnet``, ``vggish``) with

- ``modality``     ``"visual"`` or ``"audio"``
- ``feature_dim``  size of one pooled feature
- ``n_crops``      spatial crops per snippet (visual; 1 for audio)
- ``version``      bumped whenever features change for the same input

Its spec file ``extractors/<name>.json`` records the weights source, sha256 and
preprocessing. The model is built by a pure builder and bound to weights by the
verified loader in :mod:`robusta_bench.models.zoo`.

Batch contract of :meth:`Extractor.embed`:
- visual: ``(B, 16, 224, 224, 3)`` uint8 RGB clips (already resized/cropped by the
  protocol) -> ``(B, feature_dim)`` float32.
- audio: ``(B, 15360)`` float32 mono windows at 16 kHz (0.96 s) ->
  ``(B, feature_dim)`` float32.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping

import numpy as np

from ..paths import extractors_dir
from ..registry import Registry

#: every module of :mod:`robusta_bench.models` is imported on first use, then the
#: ``robusta_bench.extractors`` entry points (see :mod:`robusta_bench.registry`)
EXTRACTORS: Registry[type["Extractor"]] = Registry("extractor", packages=("robusta_bench.models",), group="robusta_bench.extractors")


def load_spec(name: str) -> dict[str, Any]:
    """Read ``extractors/<name>.json``.

    Raises FileNotFoundError (naming the known specs) when there is none, and
    ValueError for a file that is not valid JSON.
    """
    path = extractors_dir() / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in extractors_dir().glob("*.json"))
        raise FileNotFoundError(f"no extractor spec {path} (known extractors: {', '.join(known) or 'none'})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None


def check_state_shapes(
    state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], what: str, network: str, *, hint: str = ""
) -> None:
    """Raise ValueError unless ``state`` has exactly the names and shapes of ``expected``.

    ``what`` names the source in the message (a file, "weights"), ``network``
    the model the weights should fit; ``hint`` is appended when names differ.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{what} does not fit {network}: missing {missing[:4]} ({len(missing)}), "
            f"unexpected {unexpected[:4]} ({len(unexpected)}){hint}"
        )
    for k, shape in expected.items():
        if tuple(np.shape(state[k])) != tuple(shape):
            raise ValueError(f"{what}: {k} has shape {tuple(np.shape(state[k]))}, expected {tuple(shape)}")


class Extractor(ABC):
    """Base class of all feature extractors (see module docstring)."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    feature_dim: ClassVar[int] = 0
    n_crops: ClassVar[int] = 1
    version: ClassVar[int] = 1

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "modality": cls.modality,
            "feature_dim": cls.feature_dim,
            "n_crops": cls.n_crops,
            "version": cls.version,
        }

    @abstractmethod
    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Features of a batch (see module docstring for shapes)."""


def get_extractor_class(name: str) -> type[Extractor]:
    """The registered extractor class ``name`` (the registry imports the extractor modules)."""
    return EXTRACTORS.get(name)
