"""Say *which* setting differs when an existing store group cannot be resumed.

A group's key (``spec_hash``) covers the extractor spec, the model description,
the weights, the protocol, the crops and the precision (``pipeline.group_spec``).
Two hashes say only that something differs; :func:`spec_difference` compares the
group spec recorded in the index with the one of this run and names the settings.
"""

from __future__ import annotations

from typing import Any, Mapping

_WHAT = {
    "crops": "crops (--crops)",
    "precision": "model precision (--precision)",
    "protocol": "extraction protocol",
    "spec": "extractor spec file (extractors/<name>.json)",
    "weights_sha256": "weights",
    "describe": "model description",
    "extractor": "extractor",
}


def _crops_text(value: Any) -> str:
    if value is None:
        return "the extractor's default"
    return f"{len(value)} ({', '.join(map(str, value))})" if isinstance(value, (list, tuple)) else str(value)


def spec_difference(recorded: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str:
    """``crops (--crops): stored 1 (center), now 5 (...)``-style text; '' when nothing recorded differs."""
    if not recorded:
        return ""
    parts = []
    for key, what in _WHAT.items():
        old, new = recorded.get(key), current.get(key)
        if old == new:
            continue
        if key == "crops":
            parts.append(f"{what}: stored {_crops_text(old)}, now {_crops_text(new)}")
        elif key == "precision":
            parts.append(f"{what}: stored {old}, now {new}")
        elif key == "protocol" and isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            parts.append(f"{what}: " + ", ".join(f"{k} stored {old.get(k)!r}, now {new.get(k)!r}" for k in keys))
        else:
            parts.append(f"{what} changed")
    return "; ".join(parts)
