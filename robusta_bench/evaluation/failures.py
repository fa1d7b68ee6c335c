"""Test videos an evaluation could not score, grouped by cause.

The scorer records one message per video (``no features in vis/fog-s3-seed0
(extraction failed: ...)``, ``ground truth: violent video without an annotation
line`` ...). Listing them one by one hides the pattern; :func:`group_failures`
groups videos whose messages differ only in the video name and the detail in parentheses, and
:func:`format_failures` prints every video under its cause.
"""

from __future__ import annotations

import re
from typing import Mapping


def cause_of(message: str, name: str | None = None) -> str:
    """The cause of a failure message: the text up to any parenthesised detail, the video's own name removed."""
    text = str(message)
    if name:
        alone = rf"(?<![\w.#=-]){re.escape(name)}(?![\w.#=-])"  # the name as a token, never inside a word
        text = re.sub(alone + ": ", "", text)
        text = re.sub(alone, "<video>", text)
    return text.split(" (", 1)[0].strip() or "unknown error"


def group_failures(failures: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """``{cause: [(video, full message), ...]}``, causes ordered by how many videos they hit."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, msg in failures.items():
        groups.setdefault(cause_of(msg, str(name)), []).append((str(name), str(msg)))
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def format_failures(failures: Mapping[str, str]) -> list[str]:
    """Lines listing every failed video under its cause (the full message when it adds detail)."""
    lines = []
    for cause, items in group_failures(failures).items():
        lines.append(f"{cause}: {len(items)} video(s)")
        for name, msg in items:
            detail = msg.split(" (", 1)[1].rstrip(")") if " (" in msg else ""
            lines.append(f"  {name}" + (f"  ({detail})" if detail else ""))
    return lines


class NoScorableVideos(RuntimeError):
    """No test video could be scored; ``failures`` maps every video to why."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        lines = format_failures(self.failures)
        super().__init__(f"no test video could be scored ({len(self.failures)} failed):\n" + "\n".join(lines))
