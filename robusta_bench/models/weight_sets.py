"""The weight sets of an extractor spec and where each is cached (see :mod:`.zoo`).

Reads the ``weights`` entry of ``extractors/<name>.json``, resolves a set by
name, names its cache file, and spells the command that fills the cache. All
errors of the weights zoo are :class:`ZooError`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

from ..paths import cache_dir

BUNDLED_SOURCES = ("pypi",)


class ZooError(RuntimeError):
    """Weights cannot be fetched, imported, verified or loaded (message says why and what to do)."""


class WeightsNotCached(ZooError):
    """The requested weights are not in the cache yet; :attr:`command` fixes that."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


def load_zoo_spec(name: str) -> dict[str, Any]:
    """:func:`~.extractor.load_spec`, its errors as :class:`ZooError`."""
    from .extractor import load_spec

    try:
        return load_spec(name)
    except (FileNotFoundError, ValueError) as exc:
        raise ZooError(str(exc)) from None


def weight_sets(spec: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """``(default set name, {set name: set spec})`` of an extractor spec.

    A spec whose ``weights`` is a single set (it has a ``source`` key) is read
    as one set called ``"default"``.
    """
    weights = spec.get("weights")
    name = spec.get("name", "?")
    if not isinstance(weights, Mapping) or not weights:
        raise ZooError(f"extractor spec {name!r} has no 'weights' entry")
    if "source" in weights:
        return "default", {"default": dict(weights)}
    sets = {k: dict(v) for k, v in weights.items() if k != "default" and isinstance(v, Mapping)}
    if not sets:
        raise ZooError(f"extractor spec {name!r} defines no weight sets")
    default = weights.get("default", next(iter(sets)))
    if default not in sets:
        raise ZooError(f"extractor spec {name!r}: default weight set {default!r} is not defined")
    return str(default), sets


def resolve_weight_set(name: str, weights_set: str | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(set name, set spec, extractor spec)`` for ``name`` (default set when ``None``)."""
    spec = load_zoo_spec(name)
    default, sets = weight_sets(spec)
    set_name = default if weights_set is None else weights_set
    if set_name not in sets:
        raise ZooError(f"extractor {name!r} has no weight set {set_name!r} (sets: {', '.join(sets)})")
    ws = sets[set_name]
    if ws.get("source") not in (*BUNDLED_SOURCES, "user"):
        raise ZooError(f"{name}/{set_name}: unknown weights source {ws.get('source')!r}")
    if not ws.get("converter"):
        raise ZooError(f"{name}/{set_name}: the spec names no converter")
    return set_name, ws, spec


def set_members(ws: Mapping[str, Any]) -> list[str]:
    """The archive member(s) a bundled weight set names (``member`` or ``members``)."""
    members = ws.get("members")
    if members is None and ws.get("member") is not None:
        members = [ws["member"]]
    if not members or not all(isinstance(m, str) for m in members):
        raise ZooError("bundled weight set lists no 'member' / 'members'")
    return list(members)


def member_sha(ws: Mapping[str, Any], member: str) -> str:
    """The expected sha256 (lower-case hex) of one archive member of a bundled set."""
    shas = ws.get("member_sha256")
    if isinstance(shas, str) and len(set_members(ws)) == 1:
        return shas.lower()
    if not isinstance(shas, Mapping) or member not in shas:
        raise ZooError(f"spec gives no member_sha256 for {member!r}")
    return str(shas[member]).lower()


def bundled_key(ws: Mapping[str, Any]) -> str:
    """The 12-hex key of a bundled set's cache file name (see :mod:`.zoo`)."""
    members = set_members(ws)
    if len(members) == 1:
        return member_sha(ws, members[0])[:12]
    lines = "".join(f"{m}:{member_sha(ws, m)}\n" for m in sorted(members))
    return hashlib.sha256(lines.encode()).hexdigest()[:12]


def cache_root(cache: str | os.PathLike | None) -> Path:
    """``cache`` as a path, or the default cache folder when None."""
    return Path(cache) if cache is not None else cache_dir()


def cache_file(name: str, weights_set: str | None = None, cache: str | os.PathLike | None = None) -> Path:
    """Where a *bundled* weight set is cached (whether or not it exists yet)."""
    set_name, ws, _ = resolve_weight_set(name, weights_set)
    if ws["source"] == "user":
        raise ZooError(f"{name}/{set_name} is user-supplied: its file name depends on the imported file")
    return cache_root(cache) / name / f"{set_name}-{bundled_key(ws)}.safetensors"


def cached_path(name: str, weights_set: str | None = None, cache: str | os.PathLike | None = None) -> Path | None:
    """The cached safetensors of a weight set, or ``None`` when it is not cached."""
    set_name, ws, _ = resolve_weight_set(name, weights_set)
    if ws["source"] != "user":
        path = cache_file(name, set_name, cache)
        return path if path.is_file() else None
    found = sorted(
        (cache_root(cache) / name).glob(f"{set_name}-*.safetensors"),
        key=lambda p: p.stat().st_mtime,
    )
    return found[-1] if found else None


def fetch_command(name: str, set_name: str, default: str) -> str:
    """The command line that fetches a bundled set (``--set`` only for a non-default one)."""
    extra = "" if set_name == default else f" --set {set_name}"
    return f"robusta-bench weights fetch {name}{extra}"


def import_command(name: str, set_name: str, default: str) -> str:
    """The command line that imports a user-supplied set (``--set`` only for a non-default one)."""
    extra = "" if set_name == default else f" --set {set_name}"
    return f"robusta-bench weights import {name} FILE{extra}"
