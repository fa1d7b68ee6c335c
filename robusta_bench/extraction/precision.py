"""Reduced-precision inference (TF32 / bfloat16), allowed only after a measured check.

fp32 is the reference. ``tf32`` enables TensorFloat-32 matmuls/convolutions on
CUDA; ``bf16`` runs the extractor under ``torch.autocast(dtype=bfloat16)`` (on
CUDA, or on CPU where it is slow but lets the check run without a GPU). Before a
reduced mode is used for real, :func:`calibrate_precision` runs a calibration
batch (the first snippets of the run) in fp32 and in the reduced mode and compares: the relative error
``max|reduced - fp32| / max|fp32|`` must stay within the tolerance, else the
pipeline falls back to fp32 and says so. The mode is part of the store key, so
reduced-precision features never mix with fp32 ones.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ..vocabulary import PRECISIONS

__all__ = ["PRECISIONS", "TOLERANCES", "PrecisionCheck", "PrecisionEmbed", "calibrate_precision", "precision_mode"]

#: Default relative tolerances (max |diff| / max |fp32|) of the check.
TOLERANCES = {"fp32": 0.0, "tf32": 5e-3, "bf16": 2e-2}


@dataclass(frozen=True)
class PrecisionCheck:
    """Result of comparing a reduced precision against fp32 on one batch."""

    precision: str
    max_abs_diff: float
    max_abs_ref: float
    tolerance: float

    @property
    def rel_diff(self) -> float:
        return self.max_abs_diff / max(self.max_abs_ref, 1e-12)

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.rel_diff <= self.tolerance

    def describe(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"{self.precision} vs fp32: max |diff| {self.max_abs_diff:.3g} "
            f"(relative {self.rel_diff:.3g}, tolerance {self.tolerance:.3g}): {verdict}"
        )


@contextlib.contextmanager
def precision_mode(precision: str, device: str = "cpu") -> Iterator[None]:
    """Run the block in ``precision`` (``fp32``, ``tf32`` or ``bf16``) on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        yield
        return
    import torch

    if precision == "tf32":
        old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
        return
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
        yield


def calibrate_precision(
    embed: Callable[[np.ndarray], Any],
    batch: np.ndarray,
    precision: str,
    *,
    device: str = "cpu",
    tolerance: float | None = None,
) -> PrecisionCheck:
    """Compare ``embed(batch)`` in ``precision`` against fp32 (works on CPU too)."""
    tol = TOLERANCES[precision] if tolerance is None else float(tolerance)
    with precision_mode("fp32", device):
        ref = np.asarray(embed(batch), dtype=np.float64)
    with precision_mode(precision, device):
        low = np.asarray(embed(batch), dtype=np.float64)
    diff = float(np.max(np.abs(low - ref))) if ref.size else 0.0
    return PrecisionCheck(precision, diff, float(np.max(np.abs(ref))) if ref.size else 0.0, tol)


class PrecisionEmbed:
    """An extractor's ``embed`` run in a fixed precision mode (decided by a prior check)."""

    def __init__(self, embed: Callable[[np.ndarray], Any], precision: str, device: str = "cpu") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self._embed = embed
        self.precision = precision
        self.device = device

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with precision_mode(self.precision, self.device):
            return np.asarray(self._embed(batch), dtype=np.float32)
