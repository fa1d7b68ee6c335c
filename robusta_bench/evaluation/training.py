"""Training detectors on clean training features of a store (the library side of ``robusta-bench train``).

Training always uses the CLEAN group of the ``train`` split: each video's visual
features ``(crops, T, dv)`` and audio features ``(T, da)`` are cut to their
common length and, when longer than ``max_len`` snippets, subsampled at the
official ``floor(linspace(0, T - 1, max_len))`` indices.

Method names are registered detector names (``hlnet``, ``robusta`` ...) or
registered ablations (``robusta-pad``: zero-padding instead of the projection;
``robusta-average``: 0.5/0.5 fusion; ``robusta-<weighting>``, e.g. ``robusta-gmm-paper``:
fused by that weighting option, a test-time rule), listed by ``robusta-bench list detectors``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..store.feature_store import FeatureStore, StoreError, Variant

log = logging.getLogger(__name__)

def resolve_method(label: str) -> tuple[str, dict[str, Any]]:
    """``(registered detector name, options)`` of a method label: a detector, or an ablation's parent and options."""
    from ..detectors.base import DETECTORS
    from ..registry import RegistryError

    try:
        return DETECTORS.resolve(label)
    except RegistryError:
        raise ValueError(f"unknown method {label!r}; registered detectors and ablations: {', '.join(DETECTORS.names())}") from None


def store_extractors(store: FeatureStore) -> dict[str, list[str]]:
    """Extractors with a clean group in ``store``, per modality."""
    out: dict[str, list[str]] = {"visual": [], "audio": []}
    for ext, var in store.groups():
        if var.is_clean:
            mod = store.index(ext, var).get("modality")
            if mod in out and ext not in out[mod]:
                out[mod].append(ext)
    return out


def resolve_extractors(
    store: FeatureStore, visual: str | None = None, audio: str | None = None, *, need: Sequence[str] = ("visual", "audio")
) -> tuple[str | None, str | None]:
    """The visual and audio extractors to use.

    Default visual: ``i3d-inception`` when the store has it, else the store's
    only visual extractor; default audio: the store's only audio extractor.
    An explicit name must have a clean group in the store.
    """
    have = store_extractors(store)
    out = []
    for mod, given, preferred in (("visual", visual, "i3d-inception"), ("audio", audio, None)):
        names = have[mod]
        if given:
            if given not in names:
                raise StoreError(
                    f"store {store.root} has no clean {mod} features of {given!r} "
                    f"({mod} extractors there: {', '.join(names) or 'none'}); create them with: "
                    f"robusta-bench extract --manifest MANIFEST --out {store.root} --extractors {given} --variants clean"
                )
            out.append(given)
        elif preferred in names:
            out.append(preferred)
        elif len(names) == 1:
            out.append(names[0])
        elif not names:
            if mod in need:
                raise StoreError(
                    f"store {store.root} has no clean {mod} features; extract them with "
                    f"robusta-bench extract --manifest MANIFEST --out {store.root} --extractors <{mod} extractor> --variants clean"
                )
            out.append(None)
        else:
            raise StoreError(f"store {store.root} has several {mod} extractors ({', '.join(names)}): choose one with --{mod}-extractor")
    return out[0], out[1]


def load_train_set(
    store: FeatureStore,
    manifest: pd.DataFrame,
    *,
    visual_extractor: str | None,
    audio_extractor: str | None,
    max_len: int = 200,
    split: str = "train",
) -> tuple[Any, dict[str, str]]:
    """The clean :class:`~robusta_bench.detectors.base.TrainSet` of ``split`` and the videos left out (name -> why)."""
    from ..detectors.base import TrainSet
    from ..detectors.mil import uniform_indices
    from .manifest_checks import check_eval_manifest

    check_eval_manifest(manifest, splits=())
    rows = manifest.loc[manifest["split"].astype(str) == split]
    if "error" in rows:
        rows = rows.loc[rows["error"].isna()]
    if rows.empty:
        counts = manifest["split"].astype(str).value_counts().to_dict()
        raise ValueError(
            f"the manifest has no usable {split!r} videos to train on (splits: {counts}); give your videos splits "
            "with 'robusta-bench split VIDEOS --out split.csv ...' and 'robusta-bench index VIDEOS --out MANIFEST "
            "--split-list split.csv'"
        )
    names = rows["name"].astype(str).tolist()
    labels = dict(zip(names, rows["label"].astype(int)))
    vis = dict(store.iter_videos(visual_extractor, Variant(), names=names)) if visual_extractor else None
    aud = dict(store.iter_videos(audio_extractor, Variant(), names=names)) if audio_extractor else None
    keep, vlist, alist, skipped = [], [], [], {}
    for n in names:
        v = None if vis is None else vis.get(n)
        a = None if aud is None else aud.get(n)
        if (vis is not None and v is None) or (aud is not None and a is None):
            skipped[n] = "no clean features in the store"
            continue
        if labels[n] not in (0, 1):
            skipped[n] = f"label {labels[n]} is not 0/1"
            continue
        a2 = None if a is None else (a[0] if a.shape[0] == 1 else a.mean(0))
        t = min([x for x in (None if v is None else v.shape[1], None if a2 is None else a2.shape[0]) if x is not None])
        if t < 1:
            skipped[n] = "no snippets"
            continue
        idx = uniform_indices(t, max_len)
        keep.append(n)
        vlist.append(None if v is None else np.ascontiguousarray(v[:, idx]))
        alist.append(None if a2 is None else np.ascontiguousarray(a2[idx]))
    if not keep:
        raise StoreError(f"no {split} video has clean features in {store.root} ({len(skipped)} skipped)")
    if skipped:
        log.warning("training without %d video(s) that lack clean features, e.g. %s", len(skipped), next(iter(skipped)))
    ts = TrainSet(
        names=keep,
        labels=np.array([labels[n] for n in keep], dtype=np.float32),
        visual=vlist if vis is not None else None,
        audio=alist if aud is not None else None,
    )
    for mod, ext in (("visual", visual_extractor if vis is not None else None), ("audio", audio_extractor if aud is not None else None)):
        got = load_perturbed(store, ext, mod, keep) if ext else {}
        if got:
            ts.perturbed[mod] = [got.get(n, []) for n in keep]
    return ts, skipped


def perturbation_variants(store: FeatureStore, extractor: str, modality: str) -> list[Variant]:
    """The store's groups of ``extractor`` made by self-made perturbations of ``modality`` (sorted)."""
    from ..corruptions.base import CORRUPTIONS, corruption_names

    corruption_names()  # load the registry
    out = []
    for ext, var in store.groups():
        if ext != extractor or var.is_clean or var.corruption not in CORRUPTIONS:
            continue
        cls = CORRUPTIONS.get(var.corruption)
        if getattr(cls, "perturbation", False) and cls.modality == modality:
            out.append(var)
    return out


def load_perturbed(store: FeatureStore, extractor: str, modality: str, names: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """Each of ``names``' self-perturbed ``(T, d)`` features (crops averaged) under ``extractor``; videos without any are absent."""
    out: dict[str, list[np.ndarray]] = {}
    for var in perturbation_variants(store, extractor, modality):
        for n, arr in store.iter_videos(extractor, var, names=names):
            out.setdefault(n, []).append(np.asarray(arr, dtype=np.float64).mean(0))
    return out


def build_for(label: str, train_set: Any, options: Mapping[str, Any] | None = None) -> Any:
    """A fresh detector for method ``label`` sized to ``train_set``'s feature dimensions."""
    from ..detectors.base import build_detector

    name, opts = resolve_method(label)
    opts.update(options or {})
    dims = {}
    if train_set.visual is not None:
        dims["visual_dim"] = train_set.visual_dim
    if train_set.audio is not None:
        dims["audio_dim"] = train_set.audio_dim
    return build_detector(name, **dims, **opts)


def train_config(
    epochs: int | None = None,
    device: str = "cpu",
    *,
    method: str = "hlnet",
    recipe: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    **kw: Any,
) -> Any:
    """The :class:`~robusta_bench.detectors.train.TrainConfig` of ``method`` (see :mod:`robusta_bench.detectors.recipes`).

    ``recipe``: a named recipe (``paper``, ``official``, ``demo``) or a TOML
    file; None is the detector's default (``robusta``: paper, HL-Net and the
    single-modality ablations: official). ``overrides`` (``["lr=1e-4"]`` or a
    dict) and keyword overrides replace single hyper-parameters; ``epochs`` last.
    """
    from ..detectors.recipes import parse_overrides, resolve_recipe

    name, _ = resolve_method(method)
    extra = {**parse_overrides(overrides), **parse_overrides(kw)}
    return resolve_recipe(name, recipe, extra, epochs=epochs, device=device)


def train_detector(
    method: str,
    store: FeatureStore | str | Path,
    manifest: pd.DataFrame | str | Path,
    *,
    visual_extractor: str | None = None,
    audio_extractor: str | None = None,
    seed: int = 0,
    epochs: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
    train_set: Any = None,
    out: str | Path | None = None,
    recipe: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    config: Any = None,
) -> Any:
    """Train ``method`` on the store's clean ``train`` features with ``recipe``; save it to ``out`` when given.

    Returns the trained detector (its ``train_info`` holds the seed, the
    recipe's config and the loss log). See :func:`train_config` for the recipe;
    ``config``, an already resolved :class:`~robusta_bench.detectors.train.TrainConfig`,
    is used as is instead (``evaluate`` resolves every method's recipe before
    training; e.g. a backbone's upstream recipe, :func:`.table3.config_for`).
    """
    cfg = config if config is not None else train_config(epochs, device, method=method, recipe=recipe, overrides=overrides)
    if train_set is None:
        from .manifest_checks import check_eval_manifest

        source = "the manifest" if isinstance(manifest, pd.DataFrame) else str(manifest)
        if not isinstance(manifest, pd.DataFrame):
            from ..dataset.index import read_manifest

            manifest = read_manifest(manifest)
        check_eval_manifest(manifest, source, splits=("train",))
        store = store if isinstance(store, FeatureStore) else FeatureStore(store)
        vext, aext = resolve_extractors(store, visual_extractor, audio_extractor, need=_needs(method))
        train_set, _ = load_train_set(store, manifest, visual_extractor=vext, audio_extractor=aext)
    det = build_for(method, train_set, options)
    det.fit(train_set, cfg, seed=int(seed), progress=progress)
    det.train_info.setdefault("seed", int(seed))
    det.train_info["method"] = method
    if out is not None:
        det.save(out)
    return det


def _needs(method: str) -> tuple[str, ...]:
    from ..detectors.base import get_detector_class

    name, _ = resolve_method(method)
    return tuple(getattr(get_detector_class(name), "modalities", ("visual", "audio")))
