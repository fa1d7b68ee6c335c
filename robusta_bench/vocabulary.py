"""The project's words, defined once (code, CLI, docs and outputs use them so).

- **severity**: how strong a corruption is, 1..5 (the rows of ``Corruption.levels``);
- **fraction**: the share of test videos whose modality is corrupted, 0..1
  (shown as a percentage, 0 .. 100 %, in tables and on the ``evaluate`` command
  line); the paper calls it the "corruption level";
- **variant**: the clean media or one corruption at one severity with one
  corruption seed; written ``fog@3`` on the command line (the seed given by
  ``--corruption-seed``) and ``fog-s3-seed0`` as a store folder;
- **corruption seed**: the user seed of the corrupted media (``--corruption-seed``),
  as opposed to the **training seed** of a detector (``--seed``/``--seeds``);
- **precision**: ``fp32``, ``tf32`` or ``bf16`` (:func:`canonical_precision`).
"""

from __future__ import annotations

import re

PRECISIONS = ("fp32", "tf32", "bf16")
#: spellings of before, still accepted (``evaluate --precision float32|bfloat16``)
LEGACY_PRECISIONS = {"float32": "fp32", "bfloat16": "bf16", "tfloat32": "tf32"}


def canonical_precision(text: str) -> str:
    """``fp32``/``tf32``/``bf16`` for any accepted spelling; ValueError naming the choices otherwise."""
    value = LEGACY_PRECISIONS.get(str(text), str(text))
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {text!r}")
    return value


_SLUG_RE = re.compile(r"^(?P<c>[a-z0-9_]+)-s(?P<s>[1-5])-seed(?P<seed>\d+)$")


def parse_variant_text(text: str, seed: int = 0) -> tuple[str | None, int, int, bool]:
    """``(corruption, severity, seed, is_slug)`` of ``clean`` / ``fog@3`` (seed: ``seed``) / a slug ``fog-s3-seed0``.

    ``clean`` gives ``(None, 0, 0, False)``. ``is_slug`` tells a store-folder
    spelling, which the command line accepts with a deprecation note.
    """
    text = text.strip()
    if text == "clean":
        return None, 0, 0, False
    m = _SLUG_RE.match(text)
    if m:
        return m["c"], int(m["s"]), int(m["seed"]), True
    if "@" in text:
        name, sev = text.split("@", 1)
        try:
            severity = int(sev)
        except ValueError:
            raise ValueError(f"bad variant {text!r}: severity must be an integer 1..5") from None
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"bad variant {text!r}: severity must be 1..5")
        return name.strip().replace("-", "_"), severity, int(seed), False
    raise ValueError(f"bad variant {text!r}: use 'clean', 'perturbations' or NAME@SEVERITY (e.g. fog@3)")
