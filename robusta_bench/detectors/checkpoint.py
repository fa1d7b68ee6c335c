"""Detector files: one safetensors file holding tensors and a JSON header (never pickle).

The safetensors metadata (string to string) holds one key, ``robusta_bench``,
whose value is JSON: the detector name, its configuration, training settings
and log, and per-modality GMM scalars. Tensors are the torch state (prefix
``model.``) and the GMM arrays (prefix ``gmm.<modality>.``). The file is
written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_path

FORMAT = "robusta-bench detector"
FORMAT_VERSION = 1
META_KEY = "robusta_bench"


class CheckpointError(ValueError):
    """A detector file that cannot be read (not ours, wrong version, missing tensors)."""


def save_checkpoint(path: str | Path, tensors: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` (numpy arrays or torch tensors) and ``meta`` (JSON-able) to ``path``."""
    import torch
    from safetensors.torch import save_file

    out = {}
    for key, value in tensors.items():
        t = value.detach().cpu() if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
        out[key] = t.contiguous()
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(out, str(tmp), metadata={META_KEY: json.dumps(header, sort_keys=True)})
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a detector file: ``(tensors as torch tensors, meta)``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"detector file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors detector file ({exc})") from exc
    if raw is None:
        raise CheckpointError(f"{path}: safetensors file without robusta-bench metadata")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a robusta-bench detector file")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {meta['format_version']} is newer than this robusta-bench reads")
    return tensors, meta


#: Prefix of the torch network's tensors in a detector file.
MODEL_PREFIX = "model."


def model_tensors(net: Any, clone: bool = False) -> dict[str, Any]:
    """``net``'s state dict under :data:`MODEL_PREFIX` (detached copies with ``clone``, e.g. when one
    tensor is shared by two keys, which safetensors refuses)."""
    return {f"{MODEL_PREFIX}{k}": v.detach().clone() if clone else v for k, v in net.state_dict().items()}


def load_model_tensors(net: Any, tensors: dict[str, Any]) -> None:
    """Load the :data:`MODEL_PREFIX` tensors of a detector file into ``net`` (strictly) and set it to eval mode."""
    sd = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    net.load_state_dict(sd, strict=True)
    net.eval()
