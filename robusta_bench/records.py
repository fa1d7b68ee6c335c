"""Typed manifest records: one row of a manifest file as a dataclass, and one reader that resolves paths.

Two kinds of manifest travel between the stages:

- ``videos`` (:class:`VideoRecord`): the index manifest that ``index`` and
  ``synth`` write and ``corrupt``, ``extract`` and ``evaluate`` read;
- ``corrupted_media`` (:class:`CorruptRecord`): ``OUT/corrupt_manifest.csv``,
  one row per corrupted file, with the parameters its corruption sampled
  (:meth:`~robusta_bench.corruptions.base.Corruption.sample`), so an item can
  be replayed from its row, and the overlay noise it used (``noise_source``).

Every manifest file written carries its ``type`` and ``schema_version``
(columns of :mod:`robusta_bench.manifest`); files of before (without them) are
still read. Relative paths are resolved against the manifest's folder here and
nowhere else.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from .manifest import read_table, write_table

VIDEOS = "videos"
CORRUPTED_MEDIA = "corrupted_media"
#: column aliases of corrupt manifests written by other tools or earlier versions
_OUTPUT_ALIASES = ("output_path", "path", "output", "out_path")


def clean_str(value: Any) -> str:
    """A table cell as text: '' for None/NaN, floats like 3.0 -> '3'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base is None else base / p


@dataclass(frozen=True)
class VideoRecord:
    """One video of an index manifest: name, file, split, label (None: unlabelled) and indexing error."""

    name: str
    path: Path
    split: str = ""
    label: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as written (``path`` as text)."""
        return {"name": self.name, "path": str(self.path), "split": self.split, "label": self.label, "error": self.error}

    @classmethod
    def from_dict(cls, row: dict[str, Any], base: Path | None = None) -> "VideoRecord":
        """A record of a manifest row; a relative ``path`` is taken relative to ``base``."""
        label = clean_str(row.get("label"))
        return cls(
            name=clean_str(row.get("name")),
            path=_resolve(clean_str(row.get("path")), base),
            split=clean_str(row.get("split")),
            label=None if label == "" else int(float(label)),
            error=clean_str(row.get("error")) or None,
        )


@dataclass
class CorruptRecord:
    """One corrupted file (or the error that stopped it) of a ``corrupt`` run."""

    name: str
    corruption: str
    severity: int
    seed: int
    modality: str = ""
    version: int = 0
    source_path: str = ""
    output_path: str = ""
    sha256: str = ""
    error: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    #: the overlay noise used: ``generated``, ``file:<name>:sha256:<hex>`` (``--noise-dir``), "" for other types
    noise_source: str = ""

    def key(self) -> tuple[str, str, int, int]:
        """``(name, corruption, severity, seed)``: one item."""
        return (self.name, self.corruption, int(self.severity), int(self.seed))

    def to_dict(self) -> dict[str, Any]:
        """The row as written (``params`` as sorted JSON)."""
        row = asdict(self)
        row["params"] = json.dumps(self.params, sort_keys=True) if self.params else ""
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "CorruptRecord":
        """A record of a manifest row (older column names and hyphenated corruption names accepted)."""
        out = next((clean_str(row.get(c)) for c in _OUTPUT_ALIASES if clean_str(row.get(c))), "")
        params = clean_str(row.get("params"))
        return cls(
            name=clean_str(row.get("name")),
            corruption=clean_str(row.get("corruption")).replace("-", "_"),
            severity=int(float(clean_str(row.get("severity")) or 0)),
            seed=int(float(clean_str(row.get("seed")) or 0)),
            modality=clean_str(row.get("modality")),
            version=int(float(clean_str(row.get("version")) or 0)),
            source_path=clean_str(row.get("source_path")),
            output_path=out,
            sha256=clean_str(row.get("sha256")),
            error=clean_str(row.get("error")),
            params=json.loads(params) if params else {},
            noise_source=clean_str(row.get("noise_source")),
        )

    def output(self, base: Path | None) -> Path:
        """The output file, a relative ``output_path`` taken relative to ``base`` (the run's folder)."""
        return _resolve(self.output_path, base)


CORRUPT_COLUMNS = tuple(f.name for f in fields(CorruptRecord))


def read_videos(path: str | Path, limit: int | None = None) -> list[VideoRecord]:
    """The videos of an index manifest (CSV or Parquet with at least ``name`` and ``path``).

    Relative paths are resolved against the manifest's folder; rows without a
    name are left out; a name listed twice is an error (features are
    addressed by name).
    """
    path = Path(path)
    df = read_table(path, kind=VIDEOS)
    missing = [c for c in ("name", "path") if c not in df.columns]
    if missing:
        raise ValueError(f"manifest {path} lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, df.columns))})")
    seen: set[str] = set()
    out: list[VideoRecord] = []
    for row in df.to_dict("records"):
        rec = VideoRecord.from_dict(row, path.parent)
        if not rec.name:
            continue
        if rec.name in seen:
            raise ValueError(f"manifest {path} lists video {rec.name!r} twice")
        seen.add(rec.name)
        out.append(rec)
    return out if limit is None else out[: int(limit)]


def read_corrupt_records(path: str | Path) -> list[CorruptRecord]:
    """The rows of a corrupt manifest (empty when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    df = read_table(path, kind=CORRUPTED_MEDIA)
    need = [c for c in ("name", "corruption", "severity") if c not in df.columns]
    if need or not any(c in df.columns for c in _OUTPUT_ALIASES):
        raise ValueError(f"{path} lacks column(s) {', '.join(need or ['output_path'])}")
    return [CorruptRecord.from_dict(row) for row in df.to_dict("records")]


def write_corrupt_records(path: str | Path, records: Iterable[CorruptRecord]) -> Path:
    """Write a corrupt manifest (sorted by corruption, severity, seed, name), atomically."""
    import pandas as pd

    rows = sorted(records, key=lambda r: (r.corruption, int(r.severity), int(r.seed), r.name))
    df = pd.DataFrame([r.to_dict() for r in rows], columns=list(CORRUPT_COLUMNS))
    return write_table(df, path, kind=CORRUPTED_MEDIA)
