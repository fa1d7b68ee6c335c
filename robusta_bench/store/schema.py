"""What names a feature-store group and its content: the file names and schema version,
the :class:`Variant` a group holds, the spec hash and content key, and :class:`StoreError`.

Shared by the reader (:mod:`.feature_store`), the writer (:mod:`.writer`) and
the repair tools (:mod:`.verify`); the layout is described in :mod:`.feature_store`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..vocabulary import parse_variant_text

SCHEMA_VERSION = 2
STORE_FILE = "store.json"
INDEX_FILE = "index.json"


class StoreError(RuntimeError):
    """A store problem a user must act on (missing group, spec mismatch, bad schema)."""


@dataclass(frozen=True, order=True)
class Variant:
    """Clean media (``corruption=None``) or one corruption at a severity and seed."""

    corruption: str | None = None
    severity: int = 0
    seed: int = 0

    @property
    def is_clean(self) -> bool:
        return self.corruption is None

    @property
    def slug(self) -> str:
        if self.corruption is None:
            return "clean"
        return f"{self.corruption}-s{self.severity}-seed{self.seed}"

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> "Variant":
        """Parse ``clean``, ``fog@3`` (with ``seed``) or a slug ``fog-s3-seed0`` (see :mod:`robusta_bench.vocabulary`)."""
        corruption, severity, vseed, _ = parse_variant_text(text, seed)
        return cls() if corruption is None else cls(corruption, severity, vseed)

    def to_dict(self) -> dict[str, Any]:
        return {"corruption": self.corruption, "severity": self.severity, "seed": self.seed, "slug": self.slug}


def spec_hash(spec: dict[str, Any]) -> str:
    """Short content hash of a spec (first 12 hex of sha256 of its canonical JSON): a group's key."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def content_key(spec_hash: str, variant: Variant, plan: str | None = None) -> str:
    """sha256 over what determines a group's content (extractor spec, variant, plan)."""
    blob = json.dumps({"spec": spec_hash, "variant": variant.to_dict(), "plan": plan}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
