"""Loading third-party weight files without running their code.

``pickle.load`` executes whatever callables a file names, so a weights file
from the internet must never go through it. This module reads pickles with an
*allow-list* unpickler: the only globals a file may reference are the few numpy
functions and classes needed to rebuild plain numeric arrays (``ndarray``,
``dtype``, ``_reconstruct``, ``_frombuffer``, ``scalar``) and
``collections.OrderedDict``.
Anything else -- ``os.system``, ``builtins.eval``, ``subprocess.Popen``, a
persistent id -- raises :class:`UnsafePickleError` before it is called.
Object-dtype arrays are refused too (they would carry arbitrary objects).

PyTorch ``.pt`` / ``.pth`` files go through ``torch.load(..., weights_only=True)``,
torch's own allow-list loader (tensors, containers, primitive types), see
:func:`load_torch_state`.
"""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np

__all__ = [
    "UnsafePickleError",
    "SafeUnpickler",
    "safe_load",
    "safe_loads",
    "load_torch_state",
    "ALLOWED_GLOBALS",
]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced something outside the allow-list (or is malformed)."""


def _numpy_core() -> Any:
    core = getattr(np, "_core", None)  # numpy >= 2
    return core if core is not None else np.core


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (latin-1 only)."""
    if encoding.replace("-", "").lower() not in ("latin1", "latin_1", "iso88591"):
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _allowed() -> dict[tuple[str, str], Any]:
    multiarray = _numpy_core().multiarray
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    # numpy 1.x pickles name ``numpy.core.multiarray``, numpy 2 ``numpy._core.multiarray``
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = multiarray._reconstruct
        allowed[(mod, "scalar")] = multiarray.scalar
    # pickle protocol 5 rebuilds contiguous arrays with frombuffer(...).reshape(...)
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = _numpy_core().numeric._frombuffer
    # numpy 2 may name the concrete dtype classes (numpy.dtypes.Float32DType ...)
    for code in "?bBhHiIlLqQefdgFDG":
        cls = type(np.dtype(code))
        allowed[("numpy.dtypes", cls.__name__)] = cls
    return allowed


#: ``(module, name)`` pairs a pickle may reference; everything else is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _allowed()


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle hook
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: only numpy arrays, dtypes and basic "
                "containers are allowed in a weights pickle"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a pickle with persistent ids (not a plain array pickle)")


def _check_tree(obj: Any, where: str = "root", depth: int = 0) -> None:
    """Refuse object arrays anywhere in the loaded structure."""
    if depth > 64:
        raise UnsafePickleError("pickle nests containers more than 64 levels deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError(f"{where}: object-dtype array refused")
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            _check_tree(v, f"{where}/{k}", depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            _check_tree(v, f"{where}[{i}]", depth + 1)


def _load(fh: BinaryIO, what: str, encoding: str = "ASCII") -> Any:
    try:
        obj = SafeUnpickler(fh, encoding=encoding).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{what}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - truncated / corrupt data of any kind
        raise UnsafePickleError(f"{what}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    _check_tree(obj)
    return obj


def safe_load(file: str | os.PathLike | BinaryIO, *, encoding: str = "ASCII") -> Any:
    """Unpickle a file (path or binary file object) through the allow-list.

    Returns the nested dicts / lists / numpy arrays it holds. Raises
    :class:`UnsafePickleError` for any reference outside the allow-list.
    ``encoding="latin1"`` reads Python 2 pickles of numpy arrays (e.g. the
    Caffe2 model zoo ``.pkl`` files).
    """
    if hasattr(file, "read"):
        return _load(file, getattr(file, "name", "<stream>"), encoding)  # type: ignore[arg-type]
    path = Path(file)
    with open(path, "rb") as fh:
        return _load(fh, str(path), encoding)


def safe_loads(data: bytes, *, encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` through the allow-list (see :func:`safe_load`)."""
    return _load(io.BytesIO(data), "<bytes>", encoding)


def load_torch_state(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A PyTorch ``.pt``/``.pth`` state dict as ``{name: float array}``.

    Uses ``torch.load(weights_only=True)`` (torch's allow-list loader), so a
    file holding anything but tensors and containers is refused. A checkpoint
    wrapping the weights as ``{"state_dict": {...}}`` or ``{"model": {...}}``
    is unwrapped, and a ``module.`` prefix (DataParallel) is removed. Raises
    ``ValueError`` when the file cannot be read as a state dict.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such weights file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - refused global, bad zip, not a pickle ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a plain PyTorch state dict ({msg[:300]})") from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        name = key[len("module."):] if str(key).startswith("module.") else str(key)
        out[name] = value.detach().cpu().numpy()
    return out
