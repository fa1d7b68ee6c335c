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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..files import atomic_path, atomic_write_json, atomic_write_text, read_json
from .feature_store import FeatureStore, StoreError, Variant, spec_hash

log = logging.getLogger(__name__)

STORE_VIDEOS = "videos.csv"
EXPORT_FILE = "robusta_export.json"
NORMAL_FLAG = "_label_A"
LIST_FILES = {
    ("visual", "train"): "rgb.list",
    ("visual", "test"): "rgb_test.list",
    ("audio", "train"): "audio.list",
    ("audio", "test"): "audio_test.list",
}
_VISUAL_RE = re.compile(r"^(?P<name>.+)__(?P<crop>\d+)\.npy$")


def is_violent(name: str) -> bool:
    """The official labelling rule: ``_label_A`` in the name means normal."""
    return NORMAL_FLAG not in name


def official_order(names: Iterable[str]) -> list[str]:
    """Names in the official list order: violent first, then normal, each sorted by file name."""
    names = list(dict.fromkeys(names))
    key = lambda n: f"{n}__0.npy"  # noqa: E731  (the official script sorts the file paths)
    return sorted((n for n in names if is_violent(n)), key=key) + sorted((n for n in names if not is_violent(n)), key=key)


# ------------------------------------------------------------- store sidecar
def read_store_videos(store_root: str | Path) -> dict[str, dict[str, Any]]:
    """``{name: {"split", "label"}}`` recorded in ``STORE/videos.csv`` (empty if absent)."""
    import pandas as pd

    path = Path(store_root) / STORE_VIDEOS
    if not path.exists():
        return {}
    df = pd.read_csv(path, keep_default_na=False, dtype={"name": str, "split": str})
    out = {}
    for row in df.to_dict("records"):
        label = row.get("label", "")
        out[str(row["name"])] = {"split": str(row.get("split", "")), "label": None if label == "" else int(label)}
    return out


def update_store_videos(store_root: str | Path, videos: Iterable[Any]) -> None:
    """Record the split and label of ``videos`` (objects with ``name``, ``split``, ``label``) in the store."""
    from .commit import LOCK_FILE
    from .locks import file_lock

    with file_lock(Path(store_root) / LOCK_FILE):  # concurrent runs: read-modify-write under the store's lock
        _update_store_videos(store_root, videos)


def _update_store_videos(store_root: str | Path, videos: Iterable[Any]) -> None:
    import pandas as pd

    current = read_store_videos(store_root)
    for v in videos:
        old = current.get(str(v.name), {})
        split = str(getattr(v, "split", "") or "") or old.get("split", "")  # never blank a known split
        label = getattr(v, "label", None)
        current[str(v.name)] = {"split": split, "label": old.get("label") if label is None else label}
    rows = [
        {"name": n, "split": d["split"], "label": "" if d["label"] is None else int(d["label"])}
        for n, d in sorted(current.items())
    ]
    path = Path(store_root) / STORE_VIDEOS
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=["name", "split", "label"]).to_csv(tmp, index=False)


# --------------------------------------------------------------------- export
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

    if manifest is not None:
        from ..records import read_videos

        splits = {x.name: x.split for x in read_videos(manifest)}
    else:
        splits = {n: d["split"] for n, d in read_store_videos(store.root).items()}

    have_v = set(store.names(vis, v)) if vis else None
    have_a = set(store.names(aud, v)) if aud else None
    if have_v is not None and have_a is not None:
        names = have_v & have_a
        for n in sorted(have_v ^ have_a):
            report.skipped[n] = f"only in {'visual' if n in have_v else 'audio'} features"
    else:
        names = have_v if have_v is not None else have_a
    names = official_order(names or [])
    _refuse_empty_lists(names, splits, store.root, manifest)
    root = Path(list_root) if list_root else out.resolve()

    n_crops = store.index(vis, v)["n_crops"] if vis else 1
    groups_meta: dict[str, Any] = {}
    for ext in (vis, aud):
        if ext:
            idx = store.index(ext, v)
            groups_meta[idx["modality"]] = {
                k: idx[k] for k in ("extractor", "modality", "feature_dim", "n_crops", "dtype", "spec_hash", "variant", "meta")
            }

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
    for name in names:
        split = splits.get(name, "")
        if split in ("train", "test"):
            report.videos[split] = report.videos.get(split, 0) + 1
        else:
            report.skipped.setdefault(name, "exported but not listed: split unknown (pass --manifest)")
            report.videos["unknown"] = report.videos.get("unknown", 0) + 1

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


# --------------------------------------------------------------------- import
@dataclass
class ImportReport:
    """What :func:`import_xdviolence` stored."""

    store: Path
    extractor: str
    modality: str
    written: int = 0
    skipped: int = 0
    trimmed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        lines = [
            f"imported {self.written} video(s) of {self.extractor} ({self.modality}) into {self.store}; "
            f"{self.skipped} already there",
        ]
        if self.trimmed:
            lines.append(f"trimmed the last visual row of {len(self.trimmed)} video(s) to match their audio (official rule)")
        for name, err in sorted(self.failures.items()):
            lines.append(f"FAILED {name}: {err}")
        return "\n".join(lines)


def _scan(src: Path, extractor: str, modality: str) -> tuple[dict[str, dict[int, Path]], dict[str, Path]]:
    """Visual files ``{name: {crop: path}}`` and audio files ``{name: path}`` under ``src``."""
    visual: dict[str, dict[int, Path]] = {}
    audio: dict[str, Path] = {}
    audio_re = re.compile(r"^(?P<name>.+)__" + re.escape(extractor) + r"\.npy$") if modality == "audio" else None
    any_audio_re = re.compile(r"^(?P<name>.+)__(?P<tag>[A-Za-z][\w.-]*)\.npy$")
    for p in sorted(src.rglob("*.npy")):
        m = _VISUAL_RE.match(p.name)
        if m:
            visual.setdefault(m["name"], {})[int(m["crop"])] = p
            continue
        m = audio_re.match(p.name) if audio_re else any_audio_re.match(p.name)
        if m:
            audio.setdefault(m["name"], p)
    return visual, audio


def _list_splits(src: Path) -> dict[str, str]:
    """``{name: split}`` from official list files found under ``src``."""
    out: dict[str, str] = {}
    for (_modality, split), fname in LIST_FILES.items():
        for lst in src.rglob(fname):
            for line in lst.read_text(encoding="utf-8").splitlines():
                base = Path(line.strip()).name
                m = _VISUAL_RE.match(base) or re.match(r"^(?P<name>.+)__[^_].*\.npy$", base)
                if m:
                    out[m["name"]] = split
    return out


def import_xdviolence(
    src_dir: str | Path,
    store_dir: str | Path,
    extractor: str,
    *,
    variant: Variant | str = "clean",
    seed: int = 0,
    trim: bool = True,
    dtype: str = "float32",
    names: Sequence[str] | None = None,
) -> ImportReport:
    """Read official-layout ``.npy`` features under ``src_dir`` into a store group.

    ``extractor`` names the group (``i3d-inception``, ``vggish`` ...); visual
    or audio is taken from the extractor registry, else from the files found.
    With ``robusta_export.json`` present (a folder written by
    :func:`export_xdviolence`), the group gets the exported spec hash and
    metadata back, so export then import is an exact round trip. Resumable;
    a bad file is recorded by name and the others are imported.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder")
    v = variant if isinstance(variant, Variant) else Variant.parse(str(variant), seed=seed)
    modality = _modality_of(extractor, src)
    visual, audio = _scan(src, extractor, modality)
    exported = read_json(src / EXPORT_FILE) if (src / EXPORT_FILE).exists() else None
    files = visual if modality == "visual" else audio
    if not files:
        want = "<name>__<crop>.npy" if modality == "visual" else f"<name>__{extractor}.npy"
        raise FileNotFoundError(f"no {want} files under {src}")
    selected = official_order(files if names is None else [n for n in names if n in files])

    # the shape of the group, from the files (or the export record)
    first = np.load(next(iter(files[selected[0]].values())) if modality == "visual" else files[selected[0]], mmap_mode="r")
    dim = int(first.shape[1]) if first.ndim == 2 else 0
    n_crops = max(len(c) for c in visual.values()) if modality == "visual" else 1
    record = (exported or {}).get("groups", {}).get(modality)
    if record and record.get("extractor") == extractor and Variant(**{k: record["variant"][k] for k in ("corruption", "severity", "seed")}) == v:
        shash, meta, n_crops, dim = record["spec_hash"], dict(record["meta"]), int(record["n_crops"]), int(record["feature_dim"])
    else:
        desc = {"imported": "xdviolence", "extractor": extractor, "modality": modality, "n_crops": n_crops, "feature_dim": dim, "trim": bool(trim)}
        shash = spec_hash(desc)
        meta = {"plan": f"import:xdviolence;trim={bool(trim)}", "source": "import:xdviolence", "imported_from": str(src.resolve()), "spec": desc}

    store = FeatureStore(store_dir, create=True)
    report = ImportReport(store=store.root, extractor=extractor, modality=modality)
    splits = _list_splits(src)
    if exported:
        for n, s in exported.get("videos", {}).items():
            splits.setdefault(n, s)

    class _Row:
        def __init__(self, name: str) -> None:
            self.name, self.split, self.label = name, splits.get(name, ""), 0 if not is_violent(name) else 1

    update_store_videos(store.root, [_Row(n) for n in selected])

    with store.writer(extractor, v, spec_hash=shash, modality=modality, feature_dim=dim, n_crops=n_crops, meta=meta, dtype=dtype) as w:
        for name in selected:
            if name in w.done:
                report.skipped += 1
                continue
            try:
                if modality == "visual":
                    arr = _load_visual(name, visual[name], n_crops, dim)
                    if trim and name in audio:
                        t_audio = int(np.load(audio[name], mmap_mode="r").shape[0])
                        if t_audio == arr.shape[1] - 1:
                            arr = arr[:, :-1]
                            report.trimmed.append(name)
                else:
                    a = np.load(files[name])
                    if a.ndim != 2 or a.shape[1] != dim:
                        raise ValueError(f"{files[name].name}: shape {a.shape}, expected (T, {dim})")
                    arr = a[None].astype(np.float32)
                if arr.shape[1] == 0:
                    raise ValueError("no rows")
                w.write(name, arr)
                report.written += 1
            except Exception as exc:
                msg = f"{type(exc).__name__}: {exc}"
                w.fail(name, msg)
                report.failures[name] = msg
    return report


def _load_visual(name: str, crops: dict[int, Path], n_crops: int, dim: int) -> np.ndarray:
    if sorted(crops) != list(range(n_crops)):
        raise ValueError(f"crops {sorted(crops)} found, expected 0..{n_crops - 1}")
    arrays = [np.load(crops[c]) for c in range(n_crops)]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"crops have different shapes {sorted(shapes)}")
    shape = arrays[0].shape
    if len(shape) != 2 or shape[1] != dim:
        raise ValueError(f"shape {shape}, expected (T, {dim})")
    return np.stack(arrays).astype(np.float32, copy=False)


def _modality_of(extractor: str, src: Path) -> str:
    from ..registry import RegistryError
    from ..models.extractor import get_extractor_class

    try:
        return get_extractor_class(extractor).modality
    except RegistryError:
        pass
    if any(src.rglob(f"*__{extractor}.npy")):
        return "audio"
    return "visual"
