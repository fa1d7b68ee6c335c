"""CLI: ``train``, ``evaluate`` and ``modality-health``."""

from .base import not_built

COMMANDS = [
    not_built("train", "train a detector on clean training features"),
    not_built("evaluate", "score detectors on the corrupted benchmark and write tables/plots/report"),
    not_built("modality-health", "per-video GMM corruption estimate for each modality"),
]
