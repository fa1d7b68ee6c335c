"""The release index (``release.json``): schema, validation, selection.

A release is a folder laid out exactly like a feature store, plus an index at
its root::

    RELEASE/
      release.json                                   this index
      SHA256SUMS                                     ``sha256sum -c`` compatible list
      store.json                                     feature-store marker
      <extractor>/<variant-slug>/index.json          the group index, verbatim
      <extractor>/<variant-slug>/part-NNNNN.parquet  the shards, verbatim

``release.json`` (schema version :data:`RELEASE_SCHEMA_VERSION`)::

    {
      "type": "robusta_release",
      "schema_version": 1,
      "benchmark_version": "v1",
      "robusta_bench_version": "0.1.3",
      "store_schema_version": 2,
      "extractors": {"<name>": {"modality", "feature_dim", "n_crops", "dtype",
                                "spec_hashes": [...], "spec": {...} | null}},
      "groups": [{"extractor", "variant": {corruption, severity, seed, slug},
                  "variant_key", "index_path", "index_bytes", "index_sha256",
                  "files", "bytes", "videos"}],
      "files":  [{"path", "bytes", "sha256", "extractor", "variant", "rows"}],
      "total_bytes": N
    }

``variant`` / ``variant_key`` is the variant slug (``clean``, ``fog-s3-seed0``).
Every path is checked before anything is written: it must be a plain relative
path ``<extractor>/<variant-slug>/<file>`` made of ``[A-Za-z0-9._-]`` names (no
absolute paths, no ``..``, no backslashes, no empty or hidden components), must
agree with the extractor and variant it claims, and must be unique (also
ignoring case, for case-insensitive file systems).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..store.feature_store import INDEX_FILE, SCHEMA_VERSION as STORE_SCHEMA_VERSION, STORE_FILE, Variant
from .errors import SelectionError, UnsafeReleaseError

RELEASE_FILE = "release.json"
SUMS_FILE = "SHA256SUMS"
RELEASE_TYPE = "robusta_release"
#: Schema version written by :func:`robusta_bench.distribute.publish`.
RELEASE_SCHEMA_VERSION = 1
#: Schema versions :func:`parse_release` understands.
KNOWN_SCHEMA_VERSIONS = (1,)
#: Largest release index a client accepts (guards against a hostile server).
MAX_RELEASE_BYTES = 64 << 20
#: Largest group index a client accepts.
MAX_GROUP_INDEX_BYTES = 64 << 20

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_RESERVED = {INDEX_FILE, STORE_FILE, RELEASE_FILE, SUMS_FILE}


@dataclass(frozen=True)
class ReleaseFile:
    """One shard of a release."""

    path: str
    bytes: int
    sha256: str
    extractor: str
    variant: str
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "extractor": self.extractor,
            "variant": self.variant,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class ReleaseGroup:
    """One (extractor, variant) group of a release: its index file and its shards."""

    extractor: str
    variant: Variant
    index_bytes: int
    index_sha256: str
    files: tuple[ReleaseFile, ...]

    @property
    def slug(self) -> str:
        return self.variant.slug

    @property
    def key(self) -> str:
        """``<extractor>/<variant-slug>``, also the group's folder in the store."""
        return f"{self.extractor}/{self.variant.slug}"

    @property
    def index_path(self) -> str:
        return f"{self.key}/{INDEX_FILE}"

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(frozen=True)
class Release:
    """A validated release index (see module docstring)."""

    schema_version: int
    benchmark_version: str
    robusta_bench_version: str
    store_schema_version: int
    extractors: dict[str, Any]
    groups: tuple[ReleaseGroup, ...]

    @property
    def files(self) -> list[ReleaseFile]:
        return [f for g in self.groups for f in g.files]

    def available(self) -> list[tuple[str, Variant]]:
        """The (extractor, variant) pairs of the release."""
        return [(g.extractor, g.variant) for g in self.groups]

    def group(self, extractor: str, variant: Variant) -> ReleaseGroup:
        for g in self.groups:
            if g.extractor == extractor and g.variant == variant:
                return g
        raise KeyError(f"{extractor}/{variant.slug}")


# --------------------------------------------------------------------- paths
def check_relpath(path: Any, what: str = "path") -> str:
    """Return ``path`` if it is a plain relative file path, else raise :class:`UnsafeReleaseError`.

    A plain path is ``/``-separated names matching ``[A-Za-z0-9][A-Za-z0-9._-]*``:
    so no absolute path, drive letter, backslash, ``.``/``..``, empty component,
    hidden file, URL escape or control character.
    """
    if not isinstance(path, str):
        raise UnsafeReleaseError(f"{what} {path!r} is not a string")
    if not path:
        raise UnsafeReleaseError(f"{what} is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise UnsafeReleaseError(f"{what} {path!r} contains control characters")
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise UnsafeReleaseError(f"{what} {path!r} is an absolute path")
    if "\\" in path:
        raise UnsafeReleaseError(f"{what} {path!r} contains a backslash")
    for part in path.split("/"):
        if part in ("..", "."):
            raise UnsafeReleaseError(f"{what} {path!r} contains a {part!r} component")
        if part == "":
            raise UnsafeReleaseError(f"{what} {path!r} has an empty component")
        if not _NAME_RE.match(part):
            raise UnsafeReleaseError(f"{what} {path!r}: {part!r} is not a plain file name ([A-Za-z0-9._-])")
    return path


def check_name(name: Any, what: str) -> str:
    """A single plain path component (an extractor name, a shard file name)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UnsafeReleaseError(f"{what} {name!r} is not a plain name ([A-Za-z0-9._-], not starting with '.')")
    return name


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnsafeReleaseError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _sha(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SHA_RE.match(value):
        raise UnsafeReleaseError(f"{what} must be 64 lowercase hex digits, got {value!r}")
    return value


def _variant(obj: Any, what: str) -> Variant:
    if not isinstance(obj, dict):
        raise UnsafeReleaseError(f"{what}: variant must be an object")
    corruption = obj.get("corruption")
    try:
        if corruption is None:
            v = Variant()
        else:
            check_name(corruption, f"{what}: corruption")
            v = Variant(corruption, _int(obj.get("severity"), f"{what}: severity"), _int(obj.get("seed"), f"{what}: seed"))
            if Variant.parse(v.slug) != v:
                raise ValueError(v.slug)
    except ValueError:
        raise UnsafeReleaseError(f"{what}: bad variant {obj!r}") from None
    if obj.get("slug", v.slug) != v.slug:
        raise UnsafeReleaseError(f"{what}: variant slug {obj.get('slug')!r} does not match {v.slug!r}")
    return v


# ------------------------------------------------------------------- parsing
def parse_release(obj: Any) -> Release:
    """Validate a decoded ``release.json`` and return a :class:`Release`.

    Raises :class:`UnsafeReleaseError` for an unknown schema version, a malformed
    entry, an unsafe or inconsistent path, or duplicates. Nothing is written.
    """
    if not isinstance(obj, dict) or obj.get("type") != RELEASE_TYPE:
        raise UnsafeReleaseError(f"not a robusta-bench release index (expected \"type\": \"{RELEASE_TYPE}\")")
    version = obj.get("schema_version")
    if isinstance(version, bool) or version not in KNOWN_SCHEMA_VERSIONS:
        raise UnsafeReleaseError(
            f"release index schema_version {version!r} is not known to this robusta-bench "
            f"(it reads {', '.join(map(str, KNOWN_SCHEMA_VERSIONS))}): upgrade robusta-bench"
        )
    store_version = _int(obj.get("store_schema_version"), "store_schema_version")
    if store_version > STORE_SCHEMA_VERSION:
        raise UnsafeReleaseError(
            f"release holds feature-store schema {store_version}, this robusta-bench reads up to "
            f"{STORE_SCHEMA_VERSION}: upgrade robusta-bench"
        )
    extractors = obj.get("extractors", {})
    if not isinstance(extractors, dict):
        raise UnsafeReleaseError("'extractors' must be an object")

    raw_groups = obj.get("groups")
    raw_files = obj.get("files")
    if not isinstance(raw_groups, list) or not isinstance(raw_files, list):
        raise UnsafeReleaseError("release index needs 'groups' and 'files' lists")

    groups: dict[str, dict[str, Any]] = {}
    for i, g in enumerate(raw_groups):
        what = f"groups[{i}]"
        if not isinstance(g, dict):
            raise UnsafeReleaseError(f"{what} must be an object")
        extractor = check_name(g.get("extractor"), f"{what}: extractor")
        variant = _variant(g.get("variant"), what)
        if g.get("variant_key", variant.slug) != variant.slug:
            raise UnsafeReleaseError(f"{what}: variant_key {g.get('variant_key')!r} does not match {variant.slug!r}")
        key = f"{extractor}/{variant.slug}"
        if g.get("index_path", f"{key}/{INDEX_FILE}") != f"{key}/{INDEX_FILE}":
            raise UnsafeReleaseError(f"{what}: index_path {g.get('index_path')!r} must be {key}/{INDEX_FILE}")
        if key in groups:
            raise UnsafeReleaseError(f"duplicate group {key} in release index")
        groups[key] = {
            "extractor": extractor,
            "variant": variant,
            "index_bytes": _int(g.get("index_bytes"), f"{what}: index_bytes"),
            "index_sha256": _sha(g.get("index_sha256"), f"{what}: index_sha256"),
            "files": [],
        }

    seen: set[str] = {k.casefold() + "/" + INDEX_FILE for k in groups}
    for i, f in enumerate(raw_files):
        if not isinstance(f, dict):
            raise UnsafeReleaseError(f"files[{i}] must be an object")
        path = check_relpath(f.get("path"), f"files[{i}] path")
        extractor, variant = f.get("extractor"), f.get("variant")
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != extractor or parts[1] != variant:
            raise UnsafeReleaseError(
                f"file {path!r} must lie at <extractor>/<variant>/<file> = {extractor}/{variant}/<file>"
            )
        if parts[2] in _RESERVED:
            raise UnsafeReleaseError(f"file {path!r} uses a reserved name")
        key = f"{extractor}/{variant}"
        if key not in groups:
            raise UnsafeReleaseError(f"file {path!r} belongs to no group listed in the release index")
        folded = path.casefold()
        if folded in seen:
            raise UnsafeReleaseError(f"duplicate path {path!r} in release index")
        seen.add(folded)
        rows = f.get("rows")
        groups[key]["files"].append(
            ReleaseFile(
                path=path,
                bytes=_int(f.get("bytes"), f"file {path!r}: bytes"),
                sha256=_sha(f.get("sha256"), f"file {path!r}: sha256"),
                extractor=extractor,
                variant=variant,
                rows=None if rows is None else _int(rows, f"file {path!r}: rows"),
            )
        )

    return Release(
        schema_version=version,
        benchmark_version=str(obj.get("benchmark_version", "")),
        robusta_bench_version=str(obj.get("robusta_bench_version", "")),
        store_schema_version=store_version,
        extractors=extractors,
        groups=tuple(
            ReleaseGroup(g["extractor"], g["variant"], g["index_bytes"], g["index_sha256"], tuple(g["files"]))
            for g in groups.values()
        ),
    )


# ----------------------------------------------------------------- selection
def _split(values: Iterable[str] | str | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = [v.strip() for text in values for v in str(text).split(",") if v.strip()]
    return out or None


def describe_available(available: Sequence[tuple[str, Variant]]) -> str:
    """``extractor: slug, slug; extractor: slug`` for error messages."""
    by_ext: dict[str, list[str]] = {}
    for extractor, variant in sorted(available, key=lambda ev: (ev[0], ev[1].slug)):
        by_ext.setdefault(extractor, []).append(variant.slug)
    return "; ".join(f"{e}: {', '.join(slugs)}" for e, slugs in by_ext.items()) or "nothing"


def select_groups(
    available: Sequence[tuple[str, Variant]],
    variants: Iterable[str] | str | None = None,
    extractors: Iterable[str] | str | None = None,
    what: str = "release",
) -> list[tuple[str, Variant]]:
    """The groups of ``available`` chosen by ``variants`` and ``extractors`` (None: all).

    Variants are ``clean``, a slug (``fog-s3-seed0``, exact) or ``NAME@SEVERITY``
    (any seed of that corruption and severity). Comma-separated lists are split.
    A name that matches nothing raises :class:`SelectionError` listing what
    ``available`` holds. A variant present for only some of the chosen
    extractors is taken where it exists (audio features have no visual
    corruption variants).
    """
    ext_list = _split(extractors)
    var_list = _split(variants)
    have_ext = sorted({e for e, _ in available})
    if ext_list is not None:
        unknown = [e for e in ext_list if e not in have_ext]
        if unknown:
            raise SelectionError(
                f"{what} has no extractor {', '.join(map(repr, unknown))}; it has: {', '.join(have_ext) or 'nothing'}"
            )
    pool = [(e, v) for e, v in available if ext_list is None or e in ext_list]
    if var_list is None:
        chosen = pool
    else:
        chosen_set: set[tuple[str, Variant]] = set()
        for text in var_list:
            try:
                want = Variant.parse(text)
            except ValueError as exc:
                raise SelectionError(str(exc)) from None
            exact = "@" not in text
            hits = [
                (e, v)
                for e, v in pool
                if (v == want if exact else (v.corruption == want.corruption and v.severity == want.severity))
            ]
            if not hits:
                raise SelectionError(
                    f"{what} has no variant {text!r}"
                    + (f" for {', '.join(ext_list)}" if ext_list else "")
                    + f"; it has: {describe_available(available)}"
                )
            chosen_set.update(hits)
        chosen = [ev for ev in pool if ev in chosen_set]
    return sorted(chosen, key=lambda ev: (ev[0], ev[1].slug))
