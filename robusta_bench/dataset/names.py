"""XD-Violence video names: binary label and violence categories.

A name looks like ``Movie.Name.Year__#00-01-02_00-03-04_label_B2-G-0`` (a movie
excerpt, with its time span) or ``v=abc__#1_label_A`` (a YouTube video). The part
after the last ``_label_`` lists up to three category codes joined by ``-``;
``0`` pads the list. ``A`` means normal; every other code is a kind of violence,
so the binary label is 0 for ``_label_A`` and 1 otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Category code -> readable name (XD-Violence paper, Table 1).
CATEGORY_NAMES: dict[str, str] = {
    "A": "normal",
    "B1": "fighting",
    "B2": "shooting",
    "B4": "riot",
    "B5": "abuse",
    "B6": "car accident",
    "G": "explosion",
}

#: The violent category codes, in a fixed order.
VIOLENT_CODES: tuple[str, ...] = ("B1", "B2", "B4", "B5", "B6", "G")

#: Extensions stripped from names (annotation lines and file names carry ``.mp4``).
_EXT_RE = re.compile(r"\.(mp4|avi|mkv|webm|mov|m4v|mpg|mpeg|flv|wmv|ts|3gp)$", re.IGNORECASE)
LABEL_MARK = "_label_"


@dataclass(frozen=True)
class XDName:
    """A parsed XD-Violence name."""

    name: str
    """The name without extension."""
    source: str
    """The part before ``__`` (movie title or ``v=<youtube id>``)."""
    span: str
    """The part between ``__#`` and ``_label_`` (``00-01-02_00-03-04`` or ``1``)."""
    label: int
    """1 for violent, 0 for normal."""
    categories: tuple[str, ...]
    """Category codes without the ``0`` padding (``("A",)`` for normal videos)."""

    @property
    def category_names(self) -> tuple[str, ...]:
        """Readable category names."""
        return tuple(CATEGORY_NAMES[c] for c in self.categories)


def strip_video_ext(name: str) -> str:
    """``name`` without a trailing video extension such as ``.mp4`` (and without surrounding spaces)."""
    return _EXT_RE.sub("", name.strip())


def parse_name(name: str) -> XDName:
    """Parse an XD-Violence name (a trailing ``.mp4`` is ignored).

    Raises ``ValueError`` naming the input when it has no ``_label_`` part, an
    unknown category code, ``A`` mixed with violent codes, or more than three codes.
    """
    clean = strip_video_ext(name)
    if LABEL_MARK not in clean:
        raise ValueError(f"not an XD-Violence name (no '{LABEL_MARK}'): {name!r}")
    head, tail = clean.rsplit(LABEL_MARK, 1)
    codes = [c for c in tail.split("-")]
    if not tail or len(codes) > 3:
        raise ValueError(f"bad category list {tail!r} in {name!r} (1 to 3 codes joined by '-')")
    unknown = [c for c in codes if c != "0" and c not in CATEGORY_NAMES]
    if unknown:
        raise ValueError(f"unknown category code(s) {unknown} in {name!r}; known: {sorted(CATEGORY_NAMES)}")
    cats = tuple(c for c in codes if c != "0")
    if not cats:
        raise ValueError(f"no category code in {name!r}")
    if "A" in cats and len(cats) > 1:
        raise ValueError(f"'A' (normal) mixed with violent codes in {name!r}")
    source, _, span = head.partition("__")
    span = span[1:] if span.startswith("#") else span
    return XDName(name=clean, source=source, span=span, label=0 if cats == ("A",) else 1, categories=cats)


def label_of(name: str) -> int:
    """1 if the name is of a violent video, 0 if normal; ``ValueError`` if it is not an XD name."""
    return parse_name(name).label


def categories_of(name: str) -> list[str]:
    """The category codes of a name, without ``0`` padding."""
    return list(parse_name(name).categories)


def try_parse_name(name: str) -> XDName | None:
    """:func:`parse_name`, or None for a name that does not follow the XD-Violence scheme."""
    try:
        return parse_name(name)
    except ValueError:
        return None


def format_span(start_s: float, end_s: float) -> str:
    """``HH-MM-SS_HH-MM-SS`` for a time span in seconds (rounded to whole seconds)."""

    def hms(t: float) -> str:
        t = int(round(t))
        return f"{t // 3600:02d}-{(t % 3600) // 60:02d}-{t % 60:02d}"

    return f"{hms(start_s)}_{hms(end_s)}"


def make_name(source: str, span: str, categories: list[str] | tuple[str, ...]) -> str:
    """Build an XD-Violence name; violent category lists are padded with ``0`` to three codes.

    ``make_name("Synth.Scene.0007", "00-00-00_00-00-08", ["B2"])`` ->
    ``Synth.Scene.0007__#00-00-00_00-00-08_label_B2-0-0``; ``["A"]`` -> ``..._label_A``.
    The result is checked with :func:`parse_name`.
    """
    cats = list(categories)
    if cats == ["A"]:
        tail = "A"
    else:
        if not 1 <= len(cats) <= 3:
            raise ValueError(f"1 to 3 violent categories expected, got {cats}")
        tail = "-".join(cats + ["0"] * (3 - len(cats)))
    name = f"{source}__#{span}{LABEL_MARK}{tail}"
    parse_name(name)
    return name
