"""Zero-shot UCF-Crime (paper Sec. V-C, Table IV): detectors trained on XD-Violence, scored on UCF-Crime without audio.

``evaluate --dataset ucf-crime --tables IV``:

1. detectors: each method is loaded from ``--checkpoint`` or trained on the
   clean train features of an XD-Violence store (``--train-store``,
   ``--train-manifest``) with its backbone's recipe
   (:func:`.table3.config_for`), per training seed;
2. the UCF-Crime test videos (manifest ``test`` split, official list order
   ``list_index``) are scored with the audio **missing** (a concatenation
   baseline sees zeros in the audio part; RobustA gives the audio weight 0);
3. metric: the official pooled frame-level ROC-AUC
   (:func:`~.metrics.pooled_frame_auc`): each video's snippet scores repeated
   16 times, concatenated in list order, one AUC; frame ground truth from the
   official annotations mapped by time onto the protocol's 24 fps frames
   (:func:`~robusta_bench.dataset.ucf_crime.video_frame_labels`), cut to the
   scored snippets;
4. corruptions and fractions apply as on XD-Violence: every visual corruption
   the UCF-Crime store has (or those named) at every level, plus
   ``mixed_visual``, from a plan of the UCF-Crime test videos; the audio stays
   missing. So a visual-only corruption benchmark on UCF-Crime is one command.

Outputs in ``out_dir``: ``results.csv``/``results.json`` (one row per seed x
method x setting x level), ``table4.md`` (+ ``tables.md``) and ``report.html``.
Table IV shows the clean AUC with the paper's numbers in a separate, labelled
column (:data:`PAPER_TABLE4`); a second table the corrupted settings.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..corruptions.plan import VISUAL_TYPES, Plan, make_plan
from ..store.feature_store import FeatureStore, StoreError, Variant
from .compose import CLEAN, MISSING, Setting, compose, corrupted_count
from .scoring import MethodRun, score_all
from .table3 import PAIRS, config_for

log = logging.getLogger(__name__)

#: The paper's Table IV (frame ROC-AUC %, UCF-Crime test set, trained on XD-Violence); HyperVD was not reported.
PAPER_TABLE4: dict[str, float] = {"rtfm": 59.6, "robusta-rtfm": 68.9, "hlnet": 63.3, "robusta": 68.4}
CLEAN_SETTING = Setting("clean", "IV", "visual", "clean", drop="audio")
COLUMNS = ("seed", "method", "table", "setting", "display", "modality", "level", "n_videos", "n_corrupted", "auc", "auc_online")


@dataclass
class ZeroShotResult:
    """Rows (per seed), Markdown tables, written files and the videos left out."""

    rows: pd.DataFrame
    markdown: dict[str, str]
    info: dict[str, Any]
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def _settings(store: FeatureStore, vext: str, corruptions: str | Sequence[str], severity: int, vseed: int
              ) -> tuple[list[Setting], dict[str, str]]:
    """Visual settings to score (audio dropped everywhere) and the ones skipped for lack of store variants."""
    have = {v.corruption for e, v in store.groups() if e == vext and not v.is_clean and v.severity == severity and v.seed == vseed}
    explicit = not (isinstance(corruptions, str) and corruptions.strip().lower() in ("all", "none", ""))
    if isinstance(corruptions, str) and corruptions.strip().lower() in ("none", ""):
        return [], {}
    if explicit:
        wanted = [c.strip() for c in (corruptions.split(",") if isinstance(corruptions, str) else corruptions) if c.strip()]
    else:
        wanted = [*VISUAL_TYPES, "mixed_visual"]
    out, skipped = [], {}
    for c in wanted:
        if c != "mixed_visual" and c not in VISUAL_TYPES:
            raise ValueError(f"{c!r}: UCF-Crime has no audio, only visual corruptions (and mixed_visual) apply")
        need = set(VISUAL_TYPES) if c == "mixed_visual" else {c}
        lacking = sorted(need - have)
        if lacking:
            msg = "store lacks " + ", ".join(f"{vext}/{Variant(x, severity, vseed).slug}" for x in lacking)
            if explicit:
                raise StoreError(f"{store.root}: {msg} (needed by setting {c!r}); create it with robusta-bench extract")
            skipped[c] = msg
            continue
        out.append(Setting(c, "IV", "visual", c, drop="audio"))
    return out, skipped


def _detectors(labels, seeds, checkpoints, train_store, train_manifest, visual_extractor, audio_extractor, epochs,
               device, progress) -> list[MethodRun]:
    from .runs import load_checkpoints
    from .training import load_train_set, resolve_extractors, train_detector

    loaded = load_checkpoints(checkpoints, labels)
    missing = [lb for lb in labels if lb not in loaded]
    train_set = None
    if missing:
        if train_store is None or train_manifest is None:
            raise ValueError(
                f"zero-shot needs detectors trained on XD-Violence: give --train-store and --train-manifest, "
                f"or --checkpoint METHOD=FILE for {', '.join(missing)}"
            )
        from ..dataset.index import read_manifest

        tstore = train_store if isinstance(train_store, FeatureStore) else FeatureStore(train_store)
        tman = train_manifest if isinstance(train_manifest, pd.DataFrame) else read_manifest(train_manifest)
        vx, ax = resolve_extractors(tstore, visual_extractor, audio_extractor)
        train_set, _ = load_train_set(tstore, tman, visual_extractor=vx, audio_extractor=ax)
    runs = []
    for seed in seeds:
        for lb in labels:
            if lb in loaded:
                det = loaded[lb]
            else:
                log.info("training %s (seed %d) on %s", lb, seed, train_store)
                det = train_detector(lb, tstore, tman, seed=seed, epochs=epochs, device=device, progress=progress,
                                     train_set=train_set, config=config_for(lb, epochs, device))
            runs.append(MethodRun(lb, det, None, seed))
    return runs


def evaluate_zero_shot(
    store: FeatureStore | str | Path,
    manifest: pd.DataFrame | str | Path,
    annotations: Mapping | str | Path,
    *,
    methods: Sequence[str] = tuple(m for _, b, r in PAIRS for m in (b, r)),
    train_store: FeatureStore | str | Path | None = None,
    train_manifest: pd.DataFrame | str | Path | None = None,
    visual_extractor: str | None = None,
    audio_extractor: str | None = None,
    corruptions: str | Sequence[str] = "all",
    levels: Sequence[float] = (0, 100),
    severity: int = 3,
    variant_seed: int = 0,
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,
    checkpoints: Mapping[str, str | Path] | None = None,
    plan: Plan | str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> ZeroShotResult:
    """Score XD-trained detectors on UCF-Crime with the audio missing (see the module docstring)."""
    from ..dataset.index import read_manifest
    from ..dataset.ucf_crime import is_ucf_annotation_file, read_ucf_annotations, ucf_n_segments
    from .settings import parse_levels
    from .training import resolve_extractors, resolve_method

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    manifest = manifest if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    if not isinstance(annotations, Mapping):
        if not is_ucf_annotation_file(annotations):
            raise ValueError(f"{annotations}: not a UCF-Crime temporal annotation file (<video>.mp4 <Class> s1 e1 s2 e2)")
        annotations = read_ucf_annotations(annotations)
    labels = list(dict.fromkeys(methods))
    if not labels:
        raise ValueError("at least one method is needed")
    for lb in labels:
        resolve_method(lb)
    levels = parse_levels(levels)
    seeds = tuple(dict.fromkeys(int(s) for s in seeds)) or (0,)
    vext, _ = resolve_extractors(store, visual_extractor, None, need=("visual",))
    settings, skipped = _settings(store, vext, corruptions, int(severity), int(variant_seed))
    if isinstance(plan, (str, Path)):
        plan = Plan.from_file(plan)
    elif plan is None:
        plan = make_plan(manifest, seed=int(variant_seed))
    names = plan.names
    rows_by_name = {str(r["name"]): r for r in manifest.to_dict("records")}
    caps = {n: ucf_n_segments(int(rows_by_name[n]["frames"]), float(rows_by_name[n].get("fps") or 30.0))
            for n in names if n in rows_by_name and _has_frames(rows_by_name[n])}

    runs = _detectors(labels, seeds, dict(checkpoints or {}), train_store, train_manifest, visual_extractor,
                      audio_extractor, epochs, device, progress)
    dim = int(store.index(vext, Variant()).get("feature_dim") or 0)
    for r in runs:
        if dim and r.detector.visual_dim != dim:
            raise ValueError(f"{r.label} takes {r.detector.visual_dim}-d visual features, {store.root}/{vext} has {dim}-d")
    needs = {n: {(CLEAN, MISSING)} for n in names}
    for s in settings:
        for lv in levels:
            for n, c in zip(names, compose(plan, s, lv, names)):
                needs[n].add(c)
    bank = score_all(store, names, needs, runs, visual_extractor=vext, audio_extractor=None, severity=int(severity),
                     variant_seed=int(variant_seed), max_segments=caps, device=device, progress=progress)
    gts, failures = _ground_truth(bank, names, rows_by_name, annotations)
    ok = [n for n in names if n in gts]
    if not ok:
        raise RuntimeError(f"no UCF-Crime test video could be scored; first failures: {dict(list(failures.items())[:3])}")
    rows = _metric_rows(bank, runs, settings, levels, plan, ok, gts)
    info = {
        "dataset": "ucf-crime", "store": str(store.root), "visual_extractor": vext, "methods": labels,
        "seeds": list(seeds), "levels": list(levels), "severity": int(severity), "variant_seed": int(variant_seed),
        "test_videos": len(ok), "train_store": None if train_store is None else str(train_store),
        "checkpoints": {k: str(v) for k, v in (checkpoints or {}).items()}, "epochs": epochs,
    }
    result = ZeroShotResult(rows, {}, info, failures, skipped)
    result.markdown = render_table4(rows, info)
    if out_dir is not None:
        result.files = write_zero_shot(result, Path(out_dir))
    return result


def _has_frames(row: Mapping) -> bool:
    f = row.get("frames")
    return f is not None and not (isinstance(f, float) and math.isnan(f)) and int(f) > 0


def _ground_truth(bank, names, rows_by_name, annotations) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from ..dataset.ucf_crime import video_frame_labels

    failures = dict(bank.failures)
    gts = {}
    for n in bank.scored_names(names):
        row = rows_by_name.get(n)
        try:
            if row is None or not _has_frames(row):
                raise ValueError("the manifest has no frame count for it")
            gts[n] = video_frame_labels(row, annotations)[: 16 * bank.lengths[n]]
        except ValueError as exc:
            failures[n] = f"ground truth: {exc}"
    return gts, failures


def _metric_rows(bank, runs, settings, levels, plan, names, gts) -> pd.DataFrame:
    from .metrics import pooled_frame_auc

    labels = [gts[n] for n in names]
    recs = []
    for r in runs:
        scores = bank.scores[r.key]
        grid = [(CLEAN_SETTING, 0)] + [(s, lv) for s in settings for lv in levels]
        for s, lv in grid:
            combos = [(CLEAN, MISSING)] * len(names) if s is CLEAN_SETTING else compose(plan, s, lv, names)
            off = [scores[n][c].offline for n, c in zip(names, combos)]
            on = [scores[n][c].online for n, c in zip(names, combos)]
            recs.append({
                "seed": r.seed, "method": r.label, "table": "IV", "setting": s.name,
                "display": "Clean" if s is CLEAN_SETTING else s.display, "modality": "visual", "level": lv,
                "n_videos": len(names), "n_corrupted": 0 if s is CLEAN_SETTING else corrupted_count(plan, lv, names),
                "auc": pooled_frame_auc(off, labels), "auc_online": pooled_frame_auc(on, labels),
            })
    return pd.DataFrame(recs, columns=list(COLUMNS))


def render_table4(rows: pd.DataFrame, info: Mapping[str, Any]) -> dict[str, str]:
    """``{"IV": clean zero-shot table with the paper's column, "IV-corrupted": settings x levels}``."""
    from .tables import _cell, markdown_grid, table_rows

    clean = rows[rows["setting"] == "clean"]
    lines = ["| Method | Zero-shot AUC (%), ours | paper: AUC (%) |", "|---|---:|---:|"]
    for method in info["methods"]:
        vals = clean.loc[clean["method"] == method, "auc"].tolist()
        paper = PAPER_TABLE4.get(method)
        lines.append(f"| {method} | {_cell(vals).text()} | {'' if paper is None else f'{paper:.1f}'} |")
    lines += ["", "Pooled frame-level ROC-AUC of the offline head on the UCF-Crime test videos (audio missing), mean ± std "
              "over training seeds. The `paper:` column is the RobustA paper's Table IV (models trained on real "
              "XD-Violence), for reference only; HyperVD is not in the paper's table."]
    out = {"IV": "\n".join(lines)}
    corr = rows[rows["setting"] != "clean"]
    if not corr.empty:
        out["IV-corrupted"] = markdown_grid(table_rows(corr, "IV", info["methods"], metric="auc"), info["levels"], info["methods"])
    return out


TITLES = {
    "IV": "Table IV: zero-shot on UCF-Crime (trained on XD-Violence, audio missing)",
    "IV-corrupted": "Table IV under visual corruption: pooled frame ROC-AUC (%) per setting and level (audio missing)",
}


def write_zero_shot(result: ZeroShotResult, out_dir: Path) -> dict[str, Path]:
    """``results.csv``, ``results.json``, ``table4.md``, ``tables.md`` and ``report.html`` in ``out_dir``."""
    import html

    from ..files import atomic_write_json, atomic_write_text
    from .report import markdown_table_html

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"csv": out_dir / "results.csv", "json": out_dir / "results.json", "table_IV": out_dir / "table4.md",
             "tables_md": out_dir / "tables.md", "report": out_dir / "report.html"}
    atomic_write_text(files["csv"], result.rows.to_csv(index=False))
    payload = {"info": result.info, "rows": json.loads(result.rows.to_json(orient="records")),
               "skipped": result.skipped, "failures": result.failures}
    atomic_write_json(files["json"], payload)
    md = "\n".join(f"## {TITLES[k]}\n\n{v}\n" for k, v in result.markdown.items())
    atomic_write_text(files["table_IV"], md)
    atomic_write_text(files["tables_md"], md)
    parts = [f"<h1>robusta-bench: zero-shot UCF-Crime</h1><p>{html.escape(json.dumps(result.info))}</p>"]
    for key, table in result.markdown.items():
        body, _, note = table.partition("\n\n")
        parts.append(f"<h2>{html.escape(TITLES[key])}</h2>{markdown_table_html(body)}<p>{html.escape(note)}</p>")
    if result.failures:
        parts.append("<h2>Videos left out</h2><ul>" + "".join(
            f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in result.failures.items()) + "</ul>")
    atomic_write_text(files["report"], "<!doctype html><meta charset='utf-8'><body>" + "".join(parts) + "</body>")
    return files
