"""When to draw progress bars: only on a terminal (never in CI logs or pipes)."""

from __future__ import annotations

import sys


def progress_enabled() -> bool:
    """True when standard error is a terminal, so progress bars are worth drawing."""
    return sys.stderr.isatty()
