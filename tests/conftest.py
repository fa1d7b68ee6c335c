"""Shared test fixtures: where the shared data lives, and skipping without it.

``../shared`` (next to the checkout) holds the real XD-Violence clips, the
official lists and the fixtures of the official implementations. CI has it;
a user's checkout may not, and then the tests that need it skip with a reason.
Override the location with ``ROBUSTA_SHARED``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROBUSTA_SHARED", ROOT.parent / "shared")).resolve()
XD = SHARED / "data" / "xd-violence"
CLIPS = XD / "clips"
FIXTURES = SHARED / "data" / "fixtures"


def need(path: Path) -> Path:
    """Return ``path`` or skip the test, naming what is missing."""
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set ROBUSTA_SHARED)")
    return path


@pytest.fixture
def clips_dir() -> Path:
    return need(CLIPS)


@pytest.fixture
def fixtures_dir() -> Path:
    return need(FIXTURES)


@pytest.fixture
def xd_dir() -> Path:
    return need(XD)
