"""XD-Violence temporal annotations (``annotations.txt``).

One line per violent test video: ``name s1 e1 [s2 e2 ...]``, frame numbers at
the video's own frame rate (24 fps), each pair an anomalous interval ``[s, e)``
(end exclusive, as the official ground-truth builder uses it). Normal videos
have no line. In the official file 14 names carry a trailing ``.mp4``; it is
stripped here so names match the video list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

from ..files import atomic_write_text
from .names import strip_video_ext

Segment = tuple[int, int]
Annotations = dict[str, list[Segment]]
T = TypeVar("T")


def parse_annotation_line(line: str) -> tuple[str, list[Segment]]:
    """``"name s1 e1 s2 e2"`` -> ``(name, [(s1, e1), (s2, e2)])``; ``ValueError`` for a malformed line."""
    parts = line.split()
    if not parts:
        raise ValueError("empty annotation line")
    name = strip_video_ext(parts[0])
    try:
        nums = [int(p) for p in parts[1:]]
    except ValueError as exc:
        raise ValueError(f"{name}: non-integer frame number ({exc})") from None
    if not nums or len(nums) % 2:
        raise ValueError(f"{name}: expected pairs of frame numbers 's e', got {len(nums)} number(s)")
    segments = list(zip(nums[0::2], nums[1::2]))
    for s, e in segments:
        if s < 0 or e <= s:
            raise ValueError(f"{name}: bad interval [{s}, {e}) (need 0 <= s < e)")
    return name, segments


def parse_named_lines(
    lines: Iterable[str], parse_line: Callable[[str], tuple[str, T]], source: str = "<annotations>"
) -> dict[str, T]:
    """``{name: value}`` in file order from ``parse_line`` over the non-blank lines.

    A ``ValueError`` of ``parse_line``, or a name given twice, is raised again
    with the source and line number in front.
    """
    out: dict[str, T] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            name, value = parse_line(line)
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: {exc}") from None
        if name in out:
            raise ValueError(f"{source}:{lineno}: {name} annotated twice")
        out[name] = value
    return out


def parse_annotations(lines: Iterable[str], source: str = "<annotations>") -> Annotations:
    """Parse annotation lines (blank lines skipped) into ``{name: [(s, e), ...]}`` in file order.

    Raises ``ValueError`` with the source and line number for a malformed line or
    a name given twice.
    """
    return parse_named_lines(lines, parse_annotation_line, source)


def read_annotations(path: str | os.PathLike) -> Annotations:
    """Read an ``annotations.txt`` file into ``{name: [(s, e), ...]}`` (names without ``.mp4``)."""
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        return parse_annotations(fh, source=str(path))


def format_annotations(annotations: Mapping[str, Sequence[Segment]]) -> str:
    """The official text form: one ``name s1 e1 ...`` line per video, in mapping order."""
    lines = []
    for name, segments in annotations.items():
        nums = " ".join(f"{int(s)} {int(e)}" for s, e in segments)
        lines.append(f"{name} {nums}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_annotations(path: str | os.PathLike, annotations: Mapping[str, Sequence[Segment]]) -> Path:
    """Write annotations in the official format, atomically. Returns the path."""
    for name, segments in annotations.items():
        parse_annotation_line(f"{name} " + " ".join(f"{s} {e}" for s, e in segments))
    atomic_write_text(path, format_annotations(annotations))
    return Path(path)
