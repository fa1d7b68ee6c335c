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

__all__ = ["PRECISIONS", "TOLERANCES", "PrecisionCheck", "PrecisionEmbed", "calibrate_precision", "calibrate_run", "precision_mode"]

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


def calibrate_run(videos, run, precision, device, proto, report, chunk_size) -> dict[str, str]:
    """The precision of every extractor of ``run``: ``precision`` where it passes :func:`calibrate_precision`
    on the first clean snippets of the run, else fp32 (``report.precision_checks`` says why)."""
    from ..corruptions.base import get_corruption
    from ..store.feature_store import Variant
    from .producer import produce
    from .protocol import crop_clip
    from .variants import VideoJob

    by_name, crop_orders = run.by_name, run.crop_orders
    visual_names, audio_names = run.visual_names, run.audio_names

    want = 8
    samples: dict[str, list[np.ndarray]] = {n: [] for n in by_name}
    clean = Variant()
    for video in videos[:5]:
        job = VideoJob(video, visual={clean: list(visual_names)} if visual_names else {}, audio={clean: list(audio_names)} if audio_names else {})
        gen = produce(job, proto=proto, seed_of=lambda *a: 0, corruption_of=get_corruption, chunk_size=chunk_size)
        try:
            for item in gen:
                if item[0] == "visual":
                    for n in visual_names:
                        if len(samples[n]) < want:
                            samples[n].append(crop_clip(item[3], crop_orders[n][0], proto.crop_size).copy())
                elif item[0] == "audio":
                    for n in audio_names:
                        for w in item[3]:
                            if len(samples[n]) < want:
                                samples[n].append(w.copy())
                if all(len(s) >= want for s in samples.values()):
                    break
        finally:
            gen.close()
        if all(len(s) >= want for s in samples.values()):
            break
    out: dict[str, str] = {}
    for n, obj in by_name.items():
        if not samples[n]:
            out[n] = "fp32"
            report.precision_checks[n] = f"{precision}: no calibration data, using fp32"
            continue
        check = calibrate_precision(obj.embed, np.stack(samples[n]), precision, device=device)
        out[n] = precision if check.ok else "fp32"
        report.precision_checks[n] = check.describe() + ("" if check.ok else " -> using fp32")
    return out
