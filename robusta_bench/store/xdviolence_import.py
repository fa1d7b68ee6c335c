"""Import official-layout XD-Violence ``.npy`` features into a store group (see :mod:`.xdviolence`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..files import read_json
from .feature_store import FeatureStore, Variant, spec_hash
from .store_videos import update_store_videos
from .xdviolence_layout import EXPORT_FILE, LIST_FILES, VISUAL_FILE_RE, is_violent, official_order


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
        m = VISUAL_FILE_RE.match(p.name)
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
                m = VISUAL_FILE_RE.match(base) or re.match(r"^(?P<name>.+)__[^_].*\.npy$", base)
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

    shash, meta, n_crops, dim = _group_spec(src, extractor, modality, v, visual, files, selected[0], exported, trim)

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
                arr = _read_video(name, modality, visual, audio, files, n_crops, dim, trim, report)
                if arr.shape[1] == 0:
                    raise ValueError("no rows")
                w.write(name, arr)
                report.written += 1
            except Exception as exc:
                msg = f"{type(exc).__name__}: {exc}"
                w.fail(name, msg)
                report.failures[name] = msg
    return report


def _group_spec(
    src: Path, extractor: str, modality: str, v: Variant, visual: dict[str, dict[int, Path]], files: dict[str, Any],
    first_name: str, exported: dict[str, Any] | None, trim: bool,
) -> tuple[str, dict[str, Any], int, int]:
    """``(spec hash, meta, n_crops, dim)`` of the imported group: from the export record when it
    describes this group (an exact round trip), else from the files."""
    first_file = next(iter(files[first_name].values())) if modality == "visual" else files[first_name]
    first = np.load(first_file, mmap_mode="r")
    dim = int(first.shape[1]) if first.ndim == 2 else 0
    n_crops = max(len(c) for c in visual.values()) if modality == "visual" else 1
    record = (exported or {}).get("groups", {}).get(modality)
    if record and record.get("extractor") == extractor and Variant(**{k: record["variant"][k] for k in ("corruption", "severity", "seed")}) == v:
        return record["spec_hash"], dict(record["meta"]), int(record["n_crops"]), int(record["feature_dim"])
    desc = {"imported": "xdviolence", "extractor": extractor, "modality": modality, "n_crops": n_crops, "feature_dim": dim, "trim": bool(trim)}
    meta = {"plan": f"import:xdviolence;trim={bool(trim)}", "source": "import:xdviolence", "imported_from": str(src.resolve()), "spec": desc}
    return spec_hash(desc), meta, n_crops, dim


def _read_video(
    name: str, modality: str, visual: dict[str, dict[int, Path]], audio: dict[str, Path], files: dict[str, Any],
    n_crops: int, dim: int, trim: bool, report: ImportReport,
) -> np.ndarray:
    """One video's ``(crops, T, dim)`` float32 features from its official files; with ``trim``, a
    visual array one row longer than the video's audio loses its last row (the official rule)."""
    if modality == "visual":
        arr = _load_visual(name, visual[name], n_crops, dim)
        if trim and name in audio:
            t_audio = int(np.load(audio[name], mmap_mode="r").shape[0])
            if t_audio == arr.shape[1] - 1:
                arr = arr[:, :-1]
                report.trimmed.append(name)
        return arr
    a = np.load(files[name])
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"{files[name].name}: shape {a.shape}, expected (T, {dim})")
    return a[None].astype(np.float32)


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
