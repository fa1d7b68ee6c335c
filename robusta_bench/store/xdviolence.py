"""Export a feature store to the official XD-Violence ``.npy`` layout, and import it back.

The official layout (what XDVioDet / HL-Net, HyperVD and RTFM read):

- ``<name>__0.npy`` .. ``<name>__{C-1}.npy``: one ``(T, dim)`` float32 array per
  crop of the visual features (crop 0 = centre for the 5-crop I3D features);
- ``<name>__vggish.npy``: the ``(T, dim)`` audio features, one per video (here
  the suffix is the audio extractor's name, e.g. ``__yamnet.npy``);
- list files with one absolute path per line, *violent videos first, then
  normal ones* (``_label_A`` in the name means normal), each group sorted by
  file name as the official ``make_list.py`` does; the RGB lists repeat each
  video once per crop, consecutively, so that ``rgb[i]`` pairs with
  ``audio[i // C]`` exactly as the official training code indexes them.
  ``rgb.list`` / ``audio.list`` hold the train split, ``rgb_test.list`` /
  ``audio_test.list`` the test split.

Export writes ``DIR/rgb/``, ``DIR/audio/``, ``DIR/list/*.list`` and
``DIR/robusta_export.json`` (the groups, spec hashes and metadata exported, so
that :func:`import_xdviolence` restores exactly the same groups).

Import reads ``<name>__<k>.npy`` (visual) or ``<name>__<extractor>.npy`` (audio)
files anywhere under a folder. Official audio files are sometimes one row
shorter than the RGB ones; the official code then drops the last RGB row
(``features1[:-1]``). Import does the same when importing visual features and a
matching audio file one row shorter is found under the folder (``trim=True``),
so the imported modalities have equal ``T``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_path, atomic_write_json, atomic_write_text
from .feature_store import FeatureStore, StoreError, Variant
from .store_videos import STORE_VIDEOS, read_store_videos, update_store_videos
from .xdviolence_import import ImportReport, import_xdviolence
from .xdviolence_layout import EXPORT_FILE, LIST_FILES, NORMAL_FLAG, is_violent, official_order

#: Names defined in :mod:`.store_videos`, :mod:`.xdviolence_layout` and
#: :mod:`.xdviolence_import`, importable from here as before.
__all__ = [
    "EXPORT_FILE", "LIST_FILES", "NORMAL_FLAG", "STORE_VIDEOS", "ExportReport", "ImportReport", "export_xdviolence",
    "import_xdviolence", "is_violent", "official_order", "read_store_videos", "update_store_videos",
]

log = logging.getLogger(__name__)


@dataclass
class ExportReport:
    """What :func:`export_xdviolence` wrote."""

    out_dir: Path
    visual: str | None = None
    audio: str | None = None
    videos: dict[str, int] = field(default_factory=dict)  # split -> count
    files: int = 0
    lists: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason

    def summary(self) -> str:
        lines = [
            f"exported to {self.out_dir}: visual {self.visual or '-'}, audio {self.audio or '-'}, {self.files} file(s)",
            "videos per split: " + (", ".join(f"{k} {v}" for k, v in sorted(self.videos.items())) or "none"),
        ]
        lines += [f"list {p}" for p in self.lists.values()]
        for name, why in sorted(self.skipped.items()):
            lines.append(f"skipped {name}: {why}")
        return "\n".join(lines)


def _pick(store: FeatureStore, variant: Variant, modality: str, wanted: str | None) -> str | None:
    if wanted is not None and wanted.lower() == "none":
        return None
    cands = [e for e, v in store.groups() if v == variant and store.index(e, v)["modality"] == modality]
    if wanted is not None:
        if wanted not in cands:
            raise StoreError(
                f"store {store.root} has no {modality} group {wanted}/{variant.slug} (has: {', '.join(cands) or 'none'})"
            )
        return wanted
    if len(cands) > 1:
        raise ValueError(f"store has several {modality} extractors for {variant.slug} ({', '.join(cands)}): choose one")
    return cands[0] if cands else None


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr, dtype=np.float32))


def export_xdviolence(
    store_dir: str | Path,
    out_dir: str | Path,
    *,
    visual_extractor: str | None = None,
    audio_extractor: str | None = None,
    variant: Variant | str = "clean",
    seed: int = 0,
    manifest: str | Path | None = None,
    list_root: str | None = None,
) -> ExportReport:
    """Write a store's features in the official XD-Violence layout (see module docstring).

    ``visual_extractor`` / ``audio_extractor`` default to the only group of
    that modality (``"none"`` leaves a modality out). With both modalities,
    only videos present in both groups are exported (the lists must pair). Splits come from ``manifest`` if given, else from the
    store's ``videos.csv`` (written by ``extract``); videos of unknown split are
    exported but listed in no list file. ``list_root`` replaces ``DIR`` in the
    list files (for features that will be moved elsewhere).
    """
    store = FeatureStore(store_dir)
    v = variant if isinstance(variant, Variant) else Variant.parse(str(variant), seed=seed)
    vis = _pick(store, v, "visual", visual_extractor)
    aud = _pick(store, v, "audio", audio_extractor)
    if vis is None and aud is None:
        raise StoreError(f"store {store.root} has no features for variant {v.slug}")
    out = Path(out_dir)
    report = ExportReport(out_dir=out, visual=vis, audio=aud)

    splits = _export_splits(store, manifest)
    names = _paired_names(store, v, vis, aud, report)
    _refuse_empty_lists(names, splits, store.root, manifest)
    root = Path(list_root) if list_root else out.resolve()

    n_crops = store.index(vis, v)["n_crops"] if vis else 1
    groups_meta = _groups_meta(store, v, vis, aud)
    _write_features(store, v, vis, aud, names, out, report)
    _write_lists(names, splits, vis, aud, n_crops, root, out, report)
    _count_splits(names, splits, report)

    atomic_write_json(
        out / EXPORT_FILE,
        {
            "type": "robusta_export",
            "format": "xdviolence",
            "store": str(store.root),
            "variant": v.to_dict(),
            "groups": groups_meta,
            "videos": {n: splits.get(n, "") for n in names},
        },
    )
    return report


def _export_splits(store: FeatureStore, manifest: str | Path | None) -> dict[str, str]:
    """``{name: split}`` from ``manifest`` if given, else from the store's ``videos.csv``."""
    if manifest is not None:
        from ..records import read_videos

        return {x.name: x.split for x in read_videos(manifest)}
    return {n: d["split"] for n, d in read_store_videos(store.root).items()}


def _paired_names(store: FeatureStore, v: Variant, vis: str | None, aud: str | None, report: ExportReport) -> list[str]:
    """The videos to export, in the official order: with both modalities, those in both groups
    (the others are recorded in ``report.skipped``)."""
    have_v = set(store.names(vis, v)) if vis else None
    have_a = set(store.names(aud, v)) if aud else None
    if have_v is not None and have_a is not None:
        names = have_v & have_a
        for n in sorted(have_v ^ have_a):
            report.skipped[n] = f"only in {'visual' if n in have_v else 'audio'} features"
    else:
        names = have_v if have_v is not None else have_a
    return official_order(names or [])


def _groups_meta(store: FeatureStore, v: Variant, vis: str | None, aud: str | None) -> dict[str, Any]:
    """What ``export.json`` records of each exported group, by modality."""
    groups_meta: dict[str, Any] = {}
    for ext in (vis, aud):
        if ext:
            idx = store.index(ext, v)
            groups_meta[idx["modality"]] = {
                k: idx[k] for k in ("extractor", "modality", "feature_dim", "n_crops", "dtype", "spec_hash", "variant", "meta")
            }
    return groups_meta


def _write_features(
    store: FeatureStore, v: Variant, vis: str | None, aud: str | None, names: list[str], out: Path, report: ExportReport
) -> None:
    """One ``rgb/<name>__<crop>.npy`` per visual crop and one ``audio/<name>__<extractor>.npy`` per video."""
    vis_feats = store.iter_videos(vis, v, names) if vis else None
    aud_feats = store.iter_videos(aud, v, names) if aud else None
    for ext, feats, modality in ((vis, vis_feats, "visual"), (aud, aud_feats, "audio")):
        if feats is None:
            continue
        sub = out / ("rgb" if modality == "visual" else "audio")
        for name, arr in feats:
            if name not in names:
                continue
            if modality == "visual":
                for c in range(arr.shape[0]):
                    _save_npy(sub / f"{name}__{c}.npy", arr[c])
                    report.files += 1
            else:
                _save_npy(sub / f"{name}__{ext}.npy", arr[0])
                report.files += 1


def _write_lists(
    names: list[str], splits: dict[str, str], vis: str | None, aud: str | None, n_crops: int, root: Path, out: Path,
    report: ExportReport,
) -> None:
    """The official list files (paths under ``root``), one per modality and split; the test list always."""
    for (modality, split), fname in LIST_FILES.items():
        ext = vis if modality == "visual" else aud
        if not ext:
            continue
        lines = []
        for name in names:
            if splits.get(name, "") != split:
                continue
            if modality == "visual":
                lines += [str(root / "rgb" / f"{name}__{c}.npy") for c in range(n_crops)]
            else:
                lines.append(str(root / "audio" / f"{name}__{ext}.npy"))
        if lines or split == "test":
            path = out / "list" / fname
            atomic_write_text(path, "".join(f"{line}\n" for line in lines))
            report.lists[fname] = path


def _count_splits(names: list[str], splits: dict[str, str], report: ExportReport) -> None:
    """Count the exported videos per split in ``report.videos``; note those of unknown split."""
    for name in names:
        split = splits.get(name, "")
        if split in ("train", "test"):
            report.videos[split] = report.videos.get(split, 0) + 1
        else:
            report.skipped.setdefault(name, "exported but not listed: split unknown (pass --manifest)")
            report.videos["unknown"] = report.videos.get("unknown", 0) + 1


def _refuse_empty_lists(names: list[str], splits: dict[str, str], store_root: Path, manifest: Any) -> None:
    """Raise ``StoreError`` before writing anything when the list files would be empty."""
    listed = {s: sum(1 for n in names if splits.get(n, "") == s) for s in ("train", "test")}
    if not names:
        raise StoreError(f"store {store_root}: no video has features in every exported group; nothing to export")
    if listed["train"] + listed["test"] == 0:
        where = f"manifest {manifest}" if manifest is not None else f"{Path(store_root) / STORE_VIDEOS}"
        fix = ("index the videos with a split list ('robusta-bench split', then 'index --split-list')"
               if manifest is not None else "pass --manifest MANIFEST (from 'robusta-bench index ... --split-list split.csv')")
        raise StoreError(
            f"none of the {len(names)} videos has a train/test split in {where}: the list files would be empty; {fix}"
        )
