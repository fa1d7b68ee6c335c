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

PRECISIONS = ("fp32", "tf32", "bf16")
#: spellings of before, still accepted (``evaluate --precision float32|bfloat16``)
LEGACY_PRECISIONS = {"float32": "fp32", "bfloat16": "bf16", "tfloat32": "tf32"}


def canonical_precision(text: str) -> str:
    """``fp32``/``tf32``/``bf16`` for any accepted spelling; ValueError naming the choices otherwise."""
    value = LEGACY_PRECISIONS.get(str(text), str(text))
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {text!r}")
    return value
