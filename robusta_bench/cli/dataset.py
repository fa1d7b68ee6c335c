"""CLI: ``index`` and ``synth``."""

from .base import not_built

COMMANDS = [
    not_built("index", "probe a folder of videos into a manifest"),
    not_built("synth", "generate a synthetic XD-Violence-style dataset"),
]
