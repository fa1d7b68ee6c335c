"""CLI: ``corrupt``, ``show`` and ``plan``."""

from .base import not_built

COMMANDS = [
    not_built("corrupt", "write corrupted copies of the planned test videos"),
    not_built("show", "picture of one frame / spectrogram at severities 0-5"),
    not_built("plan", "write the seeded benchmark plans (which videos are corrupted at each fraction)"),
]
