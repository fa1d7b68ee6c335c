"""What an evaluation reads: the manifest, the annotations and the feature store groups.

- :func:`read_eval_manifest`: a manifest with at least ``name``, ``split`` and
  ``label`` (``robusta-bench index`` output, ``manifests/xd_violence_v1.csv``, a
  synthetic one); test videos are taken in list order (``list_index`` when
  present, else file order).
- :func:`pick_extractor` / :func:`corruption_variants`: which store groups hold
  the visual and audio features and which corrupted variants exist.
- :func:`load_train_set`: clean training features, aligned (visual and audio
  cut to the shorter of the two, as the official code drops the last RGB row
  when the audio is one row shorter) and capped at ``max_seq_len`` segments
  with the official ``linspace`` subsampling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..detectors.base import TrainSet
from ..detectors.mil import uniform_indices
from ..store.feature_store import FeatureStore, StoreError, Variant

log = logging.getLogger(__name__)

DEFAULT_EXTRACTORS = {"visual": "i3d-inception", "audio": "vggish"}


class EvaluationError(ValueError):
    """A problem with the evaluation's inputs that the user must fix (message says how)."""


def read_eval_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest (CSV/Parquet) with ``name``, ``split``, ``label``; rows with ``error`` set are dropped."""
    from ..dataset.index import read_manifest

    df = read_manifest(path)
    missing = [c for c in ("name", "split", "label") if c not in df.columns]
    if missing:
        raise EvaluationError(f"manifest {path} lacks column(s) {missing} (needs name, split, label)")
    if "error" in df.columns:
        df = df[df["error"].isna()]
    df = df.copy()
    df["name"] = df["name"].astype(str)
    df["split"] = df["split"].astype(str)
    df["label"] = pd.to_numeric(df["label"], errors="coerce").fillna(-1).astype(int)
    return df.reset_index(drop=True)


def split_rows(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of ``split`` in list order (``list_index`` when present)."""
    part = manifest[manifest["split"] == split]
    if "list_index" in part.columns:
        part = part.sort_values("list_index", kind="stable")
    return part.reset_index(drop=True)


def read_annotations_file(path: str | Path | None) -> dict[str, list[tuple[int, int]]]:
    """Annotations (``{}`` when ``path`` is None: every test video normal)."""
    from ..dataset.annotations import read_annotations

    if path is None:
        return {}
    if not Path(path).exists():
        raise EvaluationError(f"annotations file not found: {path}")
    return read_annotations(path)


def group_modality(store: FeatureStore, extractor: str) -> str | None:
    """The modality recorded in an extractor's clean group (None when the group is absent)."""
    if not store.has(extractor, Variant()):
        return None
    return store.index(extractor, Variant()).get("modality")


def pick_extractor(store: FeatureStore, modality: str, requested: str | None) -> str:
    """The extractor holding ``modality`` features: ``requested``, else the store's only one, else the default."""
    have = sorted({e for e, v in store.groups() if v.is_clean and group_modality(store, e) == modality})
    if requested:
        if not store.has(requested, Variant()):
            raise EvaluationError(
                f"store {store.root} has no clean {requested} features (clean {modality} extractors there: "
                f"{', '.join(have) or 'none'}); run: robusta-bench extract --extractors {requested} --variants clean ..."
            )
        return requested
    if len(have) == 1:
        return have[0]
    if DEFAULT_EXTRACTORS[modality] in have:
        return DEFAULT_EXTRACTORS[modality]
    if not have:
        raise EvaluationError(
            f"store {store.root} has no clean {modality} features; run robusta-bench extract with a {modality} extractor"
        )
    raise EvaluationError(f"store has several {modality} extractors ({', '.join(have)}): choose one with --{modality}-extractor")


def corruption_variants(
    store: FeatureStore, extractor: str, severity: int | None = None, seed: int = 0
) -> dict[str, Variant]:
    """``{corruption: Variant}`` of the corrupted groups of ``extractor`` (one severity per corruption).

    With several severities of a corruption in the store, ``severity`` must
    choose one (error otherwise).
    """
    found: dict[str, list[Variant]] = {}
    for ext, v in store.groups():
        if ext != extractor or v.is_clean or v.seed != seed:
            continue
        if severity is not None and v.severity != severity:
            continue
        found.setdefault(v.corruption, []).append(v)
    out = {}
    for name, vs in sorted(found.items()):
        if len(vs) > 1:
            sev = ", ".join(str(v.severity) for v in vs)
            raise EvaluationError(f"{extractor} has {name} at severities {sev}: choose one with --severity")
        out[name] = vs[0]
    return out


def variant_hint(extractor: str, corruption: str, severity: int | None) -> str:
    """The extract command that would add a missing variant."""
    sev = severity if severity is not None else 3
    return f"robusta-bench extract --extractors {extractor} --variants {corruption}@{sev} --variant-split test ..."


@dataclass
class TrainLoad:
    """The clean training set and the videos that could not be used."""

    train: TrainSet
    skipped: dict[str, str] = field(default_factory=dict)


def load_train_set(
    store: FeatureStore,
    manifest: pd.DataFrame,
    visual_extractor: str | None,
    audio_extractor: str | None,
    *,
    max_seq_len: int = 200,
    progress: bool = False,
) -> TrainLoad:
    """Clean training features of the manifest's ``train`` videos (see the module docstring).

    A video absent from a needed group, or with no segments, is skipped and
    reported; an empty result is an error.
    """
    from ..progress import progress_bar as tqdm

    rows = split_rows(manifest, "train")
    rows = rows[rows["label"].isin([0, 1])]
    if rows.empty:
        raise EvaluationError("the manifest has no labelled train videos")
    names = rows["name"].tolist()
    labels = dict(zip(rows["name"], rows["label"]))
    skipped: dict[str, str] = {}
    audio: dict[str, np.ndarray] = {}
    if audio_extractor:
        for name, a in _iter_group(store, audio_extractor, Variant(), names):
            audio[name] = a[0]
    visual: dict[str, np.ndarray] = {}
    keep_names: list[str] = []
    out_v: list[np.ndarray] = []
    out_a: list[np.ndarray] = []
    if visual_extractor:
        it = _iter_group(store, visual_extractor, Variant(), names)
        for name, v in tqdm(it, total=len(names), desc="train features", unit="video", disable=not progress):
            visual[name] = v
    for name in names:
        if visual_extractor and name not in visual:
            skipped[name] = f"no clean {visual_extractor} features"
            continue
        if audio_extractor and name not in audio:
            skipped[name] = f"no clean {audio_extractor} features"
            continue
        lengths = [x.shape[1] for x in ([visual[name]] if visual_extractor else [])]
        lengths += [x.shape[0] for x in ([audio[name]] if audio_extractor else [])]
        t = min(lengths)
        if t < 1:
            skipped[name] = "no segments"
            continue
        idx = uniform_indices(t, max_seq_len)
        if visual_extractor:
            out_v.append(np.ascontiguousarray(visual.pop(name)[:, idx]))
        if audio_extractor:
            out_a.append(np.ascontiguousarray(audio.pop(name)[idx]))
        keep_names.append(name)
    if not keep_names:
        raise EvaluationError(f"no usable training videos in {store.root} (e.g. {list(skipped.items())[:3]})")
    for name, why in list(skipped.items())[:20]:
        log.warning("train video %s skipped: %s", name, why)
    train = TrainSet(
        names=keep_names,
        labels=np.array([labels[n] for n in keep_names], dtype=np.float32),
        visual=out_v if visual_extractor else None,
        audio=out_a if audio_extractor else None,
    )
    return TrainLoad(train, skipped)


def _iter_group(store: FeatureStore, extractor: str, variant: Variant, names: Iterable[str]):
    try:
        yield from store.iter_videos(extractor, variant, names)
    except StoreError as exc:
        raise EvaluationError(str(exc)) from exc
