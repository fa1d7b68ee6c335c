"""Where the project's versioned definitions live.

``manifests/`` (video lists, corruption tables, plans) and ``extractors/``
(extractor specs) sit at the top of the project checkout; ``make install``
installs the package in editable mode, so they are found next to it. Both can be
overridden with ``ROBUSTA_MANIFESTS`` / ``ROBUSTA_EXTRACTORS``. The weights cache
is ``ROBUSTA_CACHE`` (default ``~/.cache/robusta-bench``).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def manifests_dir() -> Path:
    """The folder of versioned benchmark definitions."""
    return Path(os.environ.get("ROBUSTA_MANIFESTS", PROJECT_ROOT / "manifests"))


def extractors_dir() -> Path:
    """The folder of extractor spec files."""
    return Path(os.environ.get("ROBUSTA_EXTRACTORS", PROJECT_ROOT / "extractors"))


def cache_dir() -> Path:
    """The weights cache (created on demand)."""
    return Path(os.environ.get("ROBUSTA_CACHE", Path.home() / ".cache" / "robusta-bench"))
