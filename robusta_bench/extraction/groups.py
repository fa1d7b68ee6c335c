"""Feature groups of a run: what keys a group (the spec hash), how its media is made, resuming it safely.

A group is one (extractor, variant) of the store. Its spec hash covers the
extractor spec, the class description, the weights, the protocol, the crops
and the precision (:func:`group_spec`); its content key adds where the media
comes from and the corruption version (:func:`variant_plan`). Appending to an
existing group with other settings is refused (:func:`check_resume`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .. import BENCHMARK_VERSION
from ..store.feature_store import FeatureStore, GroupWriter, StoreError, Variant, content_key
from .protocol import OFFICIAL, Protocol, parse_crop_order, select_crops


def extractor_name(obj: Any) -> str:
    """The registry name of an extractor instance."""
    name = getattr(obj, "name", "") or type(obj).__name__
    return str(name)


def crop_order_for(obj: Any, spec: dict[str, Any] | None, crops: int | None) -> tuple[str, ...]:
    """The crop order of a visual extractor (spec's ``preprocessing.crop_order``), after ``--crops``."""
    declared = None
    if spec:
        pre = spec.get("preprocessing") or {}
        declared = pre.get("crop_order", spec.get("crop_order"))
    order = parse_crop_order(declared, int(getattr(obj, "n_crops", 5) or 5))
    return select_crops(order, crops)


def load_spec_or_none(name: str) -> dict[str, Any] | None:
    from ..models.extractor import load_spec

    try:
        return load_spec(name)
    except FileNotFoundError:
        return None


def group_spec(
    obj: Any,
    *,
    spec: dict[str, Any] | None,
    crops: Sequence[str] | None,
    proto: Protocol = OFFICIAL,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Everything that determines an extractor's features: hashed into the store key.

    The extractor spec file, its class description, the weights checksum when
    the instance exposes ``weights_sha256``, the protocol, the crop order (so a
    ``--crops 1`` store never mixes with a 5-crop one) and the precision.
    """
    describe = obj.describe() if hasattr(obj, "describe") else {}
    return {
        "extractor": extractor_name(obj),
        "spec": spec,
        "describe": describe,
        "weights_sha256": getattr(obj, "weights_sha256", None),
        "protocol": proto.to_dict(),
        "crops": list(crops) if crops is not None else None,
        "precision": precision,
    }


def variant_plan(variant: Variant, source: str, noise: str | None = None) -> str:
    """The plan string of a group's content key: source, corruption and its version (and a user noise file)."""
    if variant.is_clean:
        return f"benchmark={BENCHMARK_VERSION};source=clean"
    from ..corruptions.base import CORRUPTIONS

    version = getattr(CORRUPTIONS.get(variant.corruption), "version", 1)
    plan = f"benchmark={BENCHMARK_VERSION};source={source};corruption={variant.corruption};version={version}"
    return plan + (f";noise={noise}" if noise and noise != "generated" else "")


@dataclass
class Group:
    extractor: str
    variant: Variant
    modality: str
    crops: tuple[str, ...]
    writer: GroupWriter

    @property
    def label(self) -> str:
        return f"{self.extractor}/{self.variant.slug}"


def check_resume(store: FeatureStore, extractor: str, variant: Variant, shash: str, plan: str, dtype: str,
                 gspec: dict[str, Any] | None = None) -> None:
    """Refuse to append to a group made with other settings (corruption version, dtype ...), naming the setting."""
    if not store.has(extractor, variant):
        return
    idx = store.index(extractor, variant)
    if idx.get("spec_hash") != shash:
        from .resume_diff import spec_difference

        diff = spec_difference((idx.get("meta") or {}).get("spec"), gspec or {})
        raise StoreError(
            f"{extractor}/{variant.slug} in {store.root} was extracted with other settings: "
            + (diff or f"extractor spec, protocol, crops or precision (spec hash {idx.get('spec_hash')} != {shash})")
            + ". Rerun with the store's settings to resume it, or use a new --out store"
        )
    expected = content_key(shash, variant, plan)
    if idx.get("content_key") != expected:
        raise StoreError(
            f"{extractor}/{variant.slug} in {store.root} was made from other media "
            f"({idx.get('meta', {}).get('plan')!r}, now {plan!r}): use a new --out store"
        )
    if idx.get("dtype", "float32") != dtype:
        raise StoreError(f"{extractor}/{variant.slug} in {store.root} is stored as {idx.get('dtype')}, not {dtype}")
