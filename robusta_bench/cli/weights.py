"""CLI: ``weights fetch`` / ``weights import`` / ``weights list``."""

from .base import not_built

COMMANDS = [not_built("weights", "fetch / import pretrained extractor weights")]
