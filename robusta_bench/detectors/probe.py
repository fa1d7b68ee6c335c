"""A degradation probe: a linear classifier of clean vs self-perturbed training features.

The paper's reliability score is a density (Eq. 4): it flags features that
are *rare* under the clean training distribution. Corruptions that flatten
the input (fog, contrast, blur) move features *towards* the clean mean, and a
density calls them more typical, not less (issue 18). The probe learns the
direction of degradation instead: a balanced, L2-regularised logistic
regression (scikit-learn) on standardised segment features, trained to tell
CLEAN TRAINING segments (label 0) from the same videos degraded by the
self-made perturbations of :mod:`robusta_bench.corruptions.perturbations`
(label 1). Those are other families than the benchmark's corruptions, and only
training videos are read, so the benchmark stays honest.

The probe's score is its logit (higher: more like a degraded input). It is
stored as plain arrays (standardisation and weights) and scored in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: default inverse L2 strength of the logistic regression (chosen on the shared
#: clips' perturbations of TRAINING clips only, see BENCHMARKS.md, issue 18)
DEFAULT_PROBE_C = 0.01


@dataclass
class DegradationProbe:
    """Standardisation and logistic-regression weights: ``logit = ((x - mean) / scale) . coef + intercept``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Per-row degradation logit of features ``x`` ``(n, d)`` (float64)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features must be (n, {self.mean.shape[0]}), got {x.shape}")
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_arrays(self, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (for safetensors) and JSON metadata of the probe."""
        arrays = {
            f"{prefix}.probe_mean": self.mean.astype(np.float64),
            f"{prefix}.probe_scale": self.scale.astype(np.float64),
            f"{prefix}.probe_coef": self.coef.astype(np.float64),
        }
        return arrays, {"probe_intercept": float(self.intercept)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str) -> "DegradationProbe | None":
        """Inverse of :meth:`to_arrays`; None when the file holds no probe."""
        if f"{prefix}.probe_coef" not in arrays:
            return None
        return cls(
            mean=np.asarray(arrays[f"{prefix}.probe_mean"], dtype=np.float64),
            scale=np.asarray(arrays[f"{prefix}.probe_scale"], dtype=np.float64),
            coef=np.asarray(arrays[f"{prefix}.probe_coef"], dtype=np.float64),
            intercept=float(meta["probe_intercept"]),
        )


def fit_probe(clean: np.ndarray, perturbed: np.ndarray, c: float = DEFAULT_PROBE_C, seed: int = 0) -> DegradationProbe:
    """Fit the probe on clean rows (label 0) and self-perturbed rows (label 1), classes weighted equally.

    Raises :class:`ValueError` when either side is empty or the widths differ.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    clean = np.asarray(clean, dtype=np.float64)
    perturbed = np.asarray(perturbed, dtype=np.float64)
    if clean.ndim != 2 or perturbed.ndim != 2 or not len(clean) or not len(perturbed):
        raise ValueError("the probe needs clean and perturbed training segments, (n, d) each")
    if clean.shape[1] != perturbed.shape[1]:
        raise ValueError(f"clean features are {clean.shape[1]}-d, perturbed {perturbed.shape[1]}-d")
    x = np.concatenate([clean, perturbed])
    y = np.r_[np.zeros(len(clean)), np.ones(len(perturbed))]
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-8] = 1.0
    lr = LogisticRegression(C=float(c), class_weight="balanced", max_iter=5000, random_state=int(seed % (2**31)))
    with threadpool_limits(limits=1):
        lr.fit((x - mean) / scale, y)
    return DegradationProbe(mean=mean, scale=scale, coef=lr.coef_[0].astype(np.float64), intercept=float(lr.intercept_[0]))
