"""Conversion of downloaded or user-supplied weights into a checked, cached state dict.

A weight set names its converter (``"module:function"``) and optionally a
``state_shapes`` function; the converted arrays are checked against it, hashed
(:func:`state_sha256`) and saved as safetensors with that hash in the metadata.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..files import atomic_path
from .weight_sets import ZooError

#: Module prefixes of before the package split, still named by the shipped
#: spec files (a spec is hashed into the store keys, so its text stays).
_MOVED_MODULES = {"robusta_bench.features.": "robusta_bench.models."}


def resolve_callable(dotted: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (imported with importlib)."""
    for old, new in _MOVED_MODULES.items():
        if dotted.startswith(old):
            dotted = new + dotted[len(old):]
    mod_name, sep, attr = dotted.partition(":")
    if not sep or not mod_name or not attr:
        raise ZooError(f"bad callable reference {dotted!r} (expected 'package.module:function')")
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ZooError(f"cannot import {dotted}: {exc}") from None
    if not callable(obj):
        raise ZooError(f"{dotted} is not callable")
    return obj


def state_sha256(state: Mapping[str, np.ndarray]) -> str:
    """Content hash of a state dict: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for key in sorted(state):
        a = np.ascontiguousarray(state[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def normalise_state(raw: Any, what: str) -> dict[str, np.ndarray]:
    """A converter's result as contiguous numpy arrays by string name; ZooError naming ``what`` when it is not one."""
    if not isinstance(raw, Mapping) or not raw:
        raise ZooError(f"{what}: the converter returned no weights")
    out: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ZooError(f"{what}: weight name {key!r} is not a string")
        arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        if arr.dtype.hasobject or arr.dtype.kind not in "biuf":
            raise ZooError(f"{what}: weight {key} has unsupported dtype {arr.dtype}")
        out[key] = np.ascontiguousarray(arr)
    return out


def check_state(state: Mapping[str, np.ndarray], ws: Mapping[str, Any], what: str) -> None:
    """Check names and shapes against the set's ``state_shapes`` function (when the spec names one)."""
    ref = ws.get("state_shapes")
    if not ref:
        return
    expected = {k: tuple(v) for k, v in resolve_callable(ref)().items()}
    optional = set(ws.get("optional_keys", ()))
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:4])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:4])})")
    bad = [
        f"{k} {tuple(state[k].shape)} != {expected[k]}"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != expected[k]
    ]
    if bad:
        problems.append(f"{len(bad)} with wrong shape (e.g. {'; '.join(bad[:3])})")
    if problems:
        raise ZooError(f"{what}: weights do not fit the model: " + ", ".join(problems))


def save_state(state: Mapping[str, np.ndarray], target: Path, meta: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``target`` as safetensors, atomically, with ``meta`` and its content hash as metadata."""
    from safetensors.numpy import save_file

    from .. import __version__

    metadata = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in meta.items()}
    metadata["robusta_version"] = __version__
    metadata["state_sha256"] = state_sha256(state)
    metadata["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with atomic_path(target) as tmp:
        save_file(dict(state), str(tmp), metadata=metadata)
    return target


def convert_state(ws: Mapping[str, Any], paths: dict[str, Path], what: str) -> dict[str, np.ndarray]:
    """Run the set's converter on ``paths`` and check the result (names, dtypes, shapes); ZooError when it fails."""
    converter = resolve_callable(ws["converter"])
    try:
        raw = converter(paths)
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - a converter rejecting the file is a user-facing error
        raise ZooError(f"{what}: conversion with {ws['converter']} failed: {exc}") from exc
    state = normalise_state(raw, what)
    check_state(state, ws, what)
    return state
