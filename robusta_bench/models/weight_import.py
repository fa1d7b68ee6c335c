"""Importing user-supplied weight files: verify, convert and cache (see :mod:`.zoo`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from ..files import sha256_file
from .weight_convert import convert_state, save_state
from .weight_sets import ZooError, cache_root, fetch_command, load_zoo_spec, resolve_weight_set, weight_sets

def file_digest(path: Path) -> tuple[str, list[Path]]:
    """sha256 of a user file; for a TF checkpoint prefix, of its ``.index``/``.data`` files."""
    if path.is_file():
        return sha256_file(path), [path]
    parts = sorted(p for p in path.parent.glob(f"{path.name}.*") if p.is_file())
    if not parts:
        raise ZooError(f"no such weights file: {path}")
    lines = "".join(f"{p.name}:{sha256_file(p)}\n" for p in parts)
    return hashlib.sha256(lines.encode()).hexdigest(), parts


def import_weights(
    name: str,
    file: str | os.PathLike | Sequence[str | os.PathLike],
    weights_set: str | None = None,
    cache: str | os.PathLike | None = None,
) -> Path:
    """Convert a user-supplied weights file (or several) and cache it; return the safetensors path.

    The converter gets ``{"file": path}`` (further files as ``"file2"``, ...).
    ``weights_set`` defaults to the spec's default set when that one is
    user-supplied, else to its only user-supplied set. When the set lists
    accepted ``sha256`` digests, every file must match one. The file's sha256
    is recorded in the cache metadata either way.
    """
    spec = load_zoo_spec(name)
    default, sets = weight_sets(spec)
    if weights_set is None:
        user_sets = [k for k, v in sets.items() if v.get("source") == "user"]
        if sets[default].get("source") == "user":
            weights_set = default
        elif len(user_sets) == 1:
            weights_set = user_sets[0]
        else:
            raise ZooError(
                f"extractor {name!r} has {len(user_sets)} user-supplied weight sets"
                f"{' (' + ', '.join(user_sets) + ')' if user_sets else ''}: choose one with --set"
            )
    set_name, ws, _ = resolve_weight_set(name, weights_set)
    if ws["source"] != "user":
        raise ZooError(
            f"weights {name}/{set_name} are bundled, not user-supplied: run '{fetch_command(name, set_name, default)}'"
        )
    files = [Path(file)] if isinstance(file, (str, os.PathLike)) else [Path(f) for f in file]
    if not files:
        raise ZooError("no weights file given")
    accepted = ws.get("sha256")
    accepted_set = {accepted.lower()} if isinstance(accepted, str) else {str(a).lower() for a in accepted or ()}
    digests = []
    for f in files:
        digest, _parts = file_digest(f)
        if accepted_set and digest not in accepted_set:
            raise ZooError(
                f"{f}: sha256 {digest} is not one of the known files for {name}/{set_name} "
                f"({', '.join(sorted(accepted_set))})"
            )
        digests.append(digest)
    paths = {("file" if i == 0 else f"file{i + 1}"): f for i, f in enumerate(files)}
    what = f"{name}/{set_name} from {', '.join(str(f) for f in files)}"
    state = convert_state(ws, paths, what)
    key = digests[0] if len(digests) == 1 else hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()
    root = cache_root(cache) / name
    target = root / f"{set_name}-{key[:12]}.safetensors"
    meta = {
        "extractor": name,
        "weights_set": set_name,
        "source": "user",
        "files": [f.name for f in files],
        "file_sha256": digests,
        "converter": ws["converter"],
    }
    save_state(state, target, meta)
    for old in root.glob(f"{set_name}-*.safetensors"):
        if old != target:
            old.unlink(missing_ok=True)
    return target
