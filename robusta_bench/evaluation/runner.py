"""``evaluate``: train (or load) detectors, score the corrupted benchmark, write the paper's tables.

Flow (see ``docs/evaluation.md``):

1. inputs: the feature store, the manifest (frame counts, labels), the
   annotations, and the plan (which test videos are corrupted at each level);
2. settings: Table I (and II, V when asked) restricted to ``corruptions``; with
   ``corruptions="all"`` a setting whose store variant is absent is skipped and
   listed, an explicitly named one is an error naming the variant and the
   ``extract`` command that creates it;
3. detectors: for every training seed, every method is trained on the clean
   train features (or loaded from a checkpoint, then shared by all seeds);
4. scoring: every needed (video, combo) once (:mod:`.scoring`);
5. metrics: for each run x setting x level, the official frame AP of the
   offline and online heads, sklearn's AP and ROC-AUC (:mod:`.metrics`), over
   the test videos in plan (official list) order;
6. outputs: ``results.csv``/``results.json``, Markdown tables, PNG plots and
   ``report.html`` in ``out_dir``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..corruptions.plan import Plan, load_plan, make_plan, plan_path
from ..features.store import FeatureStore, StoreError, Variant
from .compose import (
    FIG4_SETTINGS,
    LEVELS,
    TABLE5_SETTING,
    Setting,
    compose,
    corrupted_count,
    needed_combos,
    parse_setting,
    setting_keys,
    table1_settings,
    table2_settings,
)
from .metrics import SnippetCounts, curve_metrics
from .scoring import MethodRun, ScoreBank, check_precision, score_all

log = logging.getLogger(__name__)

TABLES = ("I", "II", "III", "V")
_TABLE_ALIASES = {"1": "I", "2": "II", "3": "III", "5": "V", "i": "I", "ii": "II", "iii": "III", "v": "V"}
RESULT_COLUMNS = (
    "seed", "method", "table", "setting", "display", "modality", "level", "n_videos", "n_corrupted",
    "ap", "ap_online", "ap_sklearn", "ap_sklearn_online", "auc", "auc_online",
)


@dataclass
class EvalResult:
    """What :func:`evaluate` produced (tables are also written to ``out_dir``)."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    info: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    markdown: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    bank: ScoreBank | None = None

    @property
    def ok(self) -> bool:
        """True when every test video was scored."""
        return not self.failures

    @property
    def report(self) -> Path | None:
        return self.files.get("report")


def parse_tables(tables: str | Iterable[str]) -> tuple[str, ...]:
    """``"I,II,V"`` (or 1,2,5) -> ``("I", "II", "V")``; unknown names raise ``ValueError``."""
    items = tables.split(",") if isinstance(tables, str) else list(tables)
    out = []
    for t in items:
        t = str(t).strip()
        if not t:
            continue
        key = _TABLE_ALIASES.get(t.lower(), t.upper())
        if key not in TABLES:
            raise ValueError(
                f"unknown table {t!r}: choose from I, II, III, V"
                + (" (Table IV is the zero-shot UCF-Crime table: --dataset ucf-crime)" if key == "IV" else "")
            )
        if key not in out:
            out.append(key)
    return tuple(out) or ("I",)


def parse_levels(levels: str | Iterable[float]) -> tuple[float, ...]:
    """``"0,10,30"`` -> sorted unique percentages in [0, 100]."""
    items = levels.split(",") if isinstance(levels, str) else list(levels)
    out = set()
    for x in items:
        if isinstance(x, str) and not x.strip():
            continue
        v = float(x)
        if not 0 <= v <= 100 or math.isnan(v):
            raise ValueError(f"level {x!r} is not a percentage in [0, 100]")
        out.add(int(v) if v == int(v) else v)
    if not out:
        raise ValueError("no levels given")
    return tuple(sorted(out))


def default_plan(manifest: pd.DataFrame, seed: int = 0) -> Plan:
    """The shipped v1 plan when the manifest's test videos are exactly its videos, else a plan made from them."""
    test = set(manifest.loc[manifest["split"].astype(str) == "test", "name"].astype(str))
    path = plan_path()
    if path.exists() and seed == 0:
        shipped = load_plan()
        if set(shipped.names) == test:
            return shipped
    return make_plan(manifest, seed=seed)


def evaluate(
    store: FeatureStore | str | Path,
    manifest: pd.DataFrame | str | Path,
    annotations: Mapping[str, Sequence[tuple[int, int]]] | str | Path,
    *,
    methods: Sequence[str] = ("robusta",),
    baseline: str | None = "hlnet",
    visual_extractor: str | None = None,
    audio_extractor: str | None = None,
    corruptions: str | Sequence[str] = "all",
    levels: Sequence[float] = LEVELS,
    severity: int = 3,
    seeds: Sequence[int] = (0,),
    plan: Plan | str | Path | None = None,
    tables: str | Sequence[str] = ("I",),
    epochs: int | None = None,
    checkpoints: Mapping[str, str | Path] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    device: str = "cpu",
    variant_seed: int = 0,
    precision: str = "float32",
    fig4: Sequence[str] = FIG4_SETTINGS,
    table5: str = TABLE5_SETTING,
    detector_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> EvalResult:
    """Train/load, score and tabulate (see the module docstring). Returns an :class:`EvalResult`.

    ``severity`` and ``variant_seed`` pick the store variant of every corruption
    (``<corruption>-s<severity>-seed<variant_seed>``); ``seeds`` are training
    seeds (results are averaged over them); ``checkpoints`` maps a method label
    to a detector file used instead of training.
    """
    from .training import load_train_set, resolve_extractors, resolve_method, train_config, build_for

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    if not isinstance(manifest, pd.DataFrame):
        from ..dataset.index import read_manifest

        manifest = read_manifest(manifest)
    if not isinstance(annotations, Mapping):
        from ..dataset.annotations import read_annotations

        annotations = read_annotations(annotations)
    tables = parse_tables(tables)
    levels = parse_levels(levels)
    from .table3 import config_for, prepare as table3_prepare  # Table III: its methods, settings and levels

    methods, baseline, corruptions, levels = table3_prepare(tables, methods, baseline, corruptions, levels)
    seeds = tuple(dict.fromkeys(int(s) for s in seeds)) or (0,)
    checkpoints = dict(checkpoints or {})
    detector_options = dict(detector_options or {})
    if int(severity) not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be 1..5, got {severity}")
    labels = list(dict.fromkeys([*([baseline] if baseline else []), *methods]))
    if not methods:
        raise ValueError("at least one method is needed")
    for lb in labels:
        resolve_method(lb)
    if precision != "float32":  # refuse before any training, naming the detector that cannot
        from ..detectors.base import get_detector_class

        for lb in labels:
            check_precision(get_detector_class(resolve_method(lb)[0]), precision)
    vext, aext = resolve_extractors(store, visual_extractor, audio_extractor)
    if isinstance(plan, (str, Path)):
        plan = Plan.from_file(plan)
    elif plan is None:
        plan = default_plan(manifest, seed=variant_seed)

    # ---------------------------------------------------------------- settings
    settings, skipped = _select_settings(
        store, plan, tables, corruptions, levels, vext, aext, int(severity), int(variant_seed), table5
    )
    main = methods[0]
    main_name, _ = resolve_method(main)
    if "V" in tables:
        resolve_method(f"{main}-pad")
    from ..detectors.base import get_detector_class

    main_cls = get_detector_class(main_name)
    fig4_settings = [s for s in settings if s.table == "I" and s.name in fig4]
    want_fig4 = bool(fig4_settings) and {"gmm", "average"} <= set(getattr(main_cls, "fusions", ()))
    t5 = next((s for s in settings if s.table == "I" and s.name == table5), None) if "V" in tables else None
    if "V" in tables and t5 is None:
        skipped.setdefault(f"table V ({table5})", "its setting is not evaluated")

    # ------------------------------------------------------------ ground truth
    rows_by_name = {str(n): r for n, r in zip(manifest["name"].astype(str), manifest.to_dict("records"))}
    names = plan.names
    caps = {}
    for n in names:
        r = rows_by_name.get(n)
        f = None if r is None else r.get("frames")
        if f is not None and not (isinstance(f, float) and math.isnan(f)) and int(f) > 0:
            from ..dataset.ground_truth import n_segments

            caps[n] = n_segments(int(f))

    # --------------------------------------------------------------- detectors
    t_train = time.perf_counter()
    runs: list[MethodRun] = []
    run_settings: dict[tuple[str, int], list[Setting]] = {}
    loaded: dict[str, Any] = {}
    train_set = None
    pad = f"{main}-pad"
    train_labels = labels + ([pad] if t5 is not None and pad not in labels else [])
    for lb, path in checkpoints.items():
        if lb not in train_labels:
            raise ValueError(f"checkpoint given for {lb!r}, which is not evaluated (methods: {', '.join(train_labels)})")
        from ..detectors.base import load_detector

        det = load_detector(path)
        fixed = {k: v for k, v in resolve_method(lb)[1].items() if k != "fusion"}
        wrong = {k: det.options.get(k) for k, v in fixed.items() if det.options.get(k) != v}
        if wrong:
            raise ValueError(f"checkpoint {path} for {lb!r} was trained with {wrong}, but {lb!r} means {fixed}")
        loaded[lb] = det
    main_settings = [s for s in settings]
    for seed in seeds:
        for lb in train_labels:
            if lb in loaded:
                det = loaded[lb]
            else:
                if train_set is None:
                    train_set, _ = load_train_set(store, manifest, visual_extractor=vext, audio_extractor=aext)
                det = build_for(lb, train_set, detector_options.get(lb))
                log.info("training %s (seed %d)", lb, seed)
                det.fit(train_set, config_for(lb, epochs, device), seed=seed, progress=progress)
                det.train_info.setdefault("seed", seed)
            if lb == pad and lb not in labels:
                run = MethodRun(lb, det, None, seed)
                runs.append(run)
                run_settings[run.key] = [t5]
                continue
            # a fusion ablation label (robusta-average) is a test-time rule: it applies to a loaded detector too
            fusion = resolve_method(lb)[1].get("fusion") if lb in loaded else None
            run = MethodRun(lb, det, fusion, seed)
            runs.append(run)
            run_settings[run.key] = main_settings
            if lb == main and want_fig4 and f"{main}-average" not in train_labels:
                avg = MethodRun(f"{main}-average", det, "average", seed)
                runs.append(avg)
                run_settings[avg.key] = fig4_settings
    timings["train_s"] = time.perf_counter() - t_train

    # ----------------------------------------------------------------- scoring
    needs = needed_combos(plan, settings, levels, names)
    run_needs = {}
    for r in runs:
        if run_settings[r.key] is not main_settings:
            run_needs[r.key] = needed_combos(plan, run_settings[r.key], levels, names)
    bank = score_all(
        store, names, needs, runs, visual_extractor=vext, audio_extractor=aext, severity=int(severity),
        variant_seed=int(variant_seed), max_segments=caps, device=device, progress=progress, run_needs=run_needs,
        precision=precision,
    )
    timings.update(bank.timings)

    # ------------------------------------------------------------------ metrics
    t_metrics = time.perf_counter()
    counts: dict[str, SnippetCounts] = {}
    gt: dict[str, np.ndarray] = {}
    for n in bank.scored_names(names):
        try:
            gt[n] = _video_gt(n, rows_by_name.get(n), annotations, plan, bank.lengths[n])
            counts[n] = SnippetCounts.from_frames(gt[n])
        except ValueError as exc:
            bank.failures[n] = f"ground truth: {exc}"
    ok_names = [n for n in bank.scored_names(names) if n in counts]
    if not ok_names:
        raise RuntimeError(f"no test video could be scored; first failures: {dict(list(bank.failures.items())[:3])}")
    all_counts = SnippetCounts.concat([counts[n] for n in ok_names])
    rows = []
    for r in runs:
        store_r = bank.scores[r.key]
        for s in run_settings[r.key]:
            for lv in levels:
                combos = compose(plan, s, lv, ok_names)
                off = np.concatenate([store_r[n][c].offline for n, c in zip(ok_names, combos)])
                on = np.concatenate([store_r[n][c].online for n, c in zip(ok_names, combos)])
                m_off = curve_metrics(off, all_counts)
                m_on = curve_metrics(on, all_counts)
                rows.append({
                    "seed": r.seed, "method": r.label, "table": s.table, "setting": s.name, "display": s.display,
                    "modality": s.modality, "level": lv, "n_videos": len(ok_names),
                    "n_corrupted": corrupted_count(plan, lv, ok_names),
                    "ap": m_off.ap, "ap_online": m_on.ap, "ap_sklearn": m_off.ap_sklearn,
                    "ap_sklearn_online": m_on.ap_sklearn, "auc": m_off.auc, "auc_online": m_on.auc,
                })
    result_rows = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    summary = summarize(result_rows)
    timings["metrics_s"] = time.perf_counter() - t_metrics

    info = {
        "store": str(store.root),
        "visual_extractor": vext,
        "audio_extractor": aext,
        "severity": int(severity),
        "variant_seed": int(variant_seed),
        "seeds": list(seeds),
        "methods": list(methods),
        "baseline": baseline,
        "levels": list(levels),
        "tables": list(tables),
        "plan": {"seed": plan.seed, "version": plan.version, "videos": len(plan.names)},
        "test_videos": len(ok_names),
        "checkpoints": {k: str(v) for k, v in checkpoints.items()},
        "epochs": epochs,
        "device": device,
        "precision": precision,
        "fig4": [s.name for s in fig4_settings] if want_fig4 else [],
        "table5": t5.name if t5 is not None else None,
        "train_info": {r.label: _jsonable(getattr(r.detector, "train_info", {})) for r in runs if r.seed == seeds[0]},
    }
    result = EvalResult(
        rows=result_rows, summary=summary, info=info, skipped=skipped, failures=dict(bank.failures),
        timings=timings, bank=bank,
    )
    from .tables import render_tables

    result.markdown = render_tables(summary, info, rows=result_rows)
    if out_dir is not None:
        t_out = time.perf_counter()
        from .report import write_outputs

        result.files = write_outputs(result, Path(out_dir), plan=plan, gt=gt, names=ok_names)
        timings["outputs_s"] = time.perf_counter() - t_out
    timings["total_s"] = time.perf_counter() - t0
    if result.files.get("json"):
        _patch_timings(result.files["json"], timings)
    return result


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1; 0 for one seed) over seeds per method x setting x level."""
    keys = ["method", "table", "setting", "display", "modality", "level"]
    metrics = ["ap", "ap_online", "ap_sklearn", "auc"]
    if rows.empty:
        return pd.DataFrame(columns=keys + ["n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
    g = rows.groupby(keys, sort=False)
    out = g[metrics].mean().add_suffix("_mean")
    std = g[metrics].std(ddof=1).fillna(0.0).add_suffix("_std")
    out = out.join(std)
    out["n_seeds"] = g.size()
    out["n_videos"] = g["n_videos"].first()
    out["n_corrupted"] = g["n_corrupted"].first()
    return out.reset_index()


def _select_settings(
    store: FeatureStore,
    plan: Plan,
    tables: Sequence[str],
    corruptions: str | Sequence[str],
    levels: Sequence[float],
    vext: str | None,
    aext: str | None,
    severity: int,
    vseed: int,
    table5: str,
) -> tuple[list[Setting], dict[str, str]]:
    """The settings to evaluate and the ones skipped (name -> reason)."""
    all1 = table1_settings(plan.visual_types, plan.audio_types)
    all2 = table2_settings(plan.visual_types, plan.audio_types)
    explicit = not (isinstance(corruptions, str) and corruptions.strip().lower() == "all")
    if explicit:
        wanted = [c.strip() for c in (corruptions.split(",") if isinstance(corruptions, str) else corruptions) if c.strip()]
        if not wanted:
            raise ValueError("no corruptions given (use 'all' or a comma-separated list)")
        by_name = {s.name: s for s in all1}
        chosen: list[Setting] = []
        for w in wanted:
            s = by_name.get(w) or parse_setting(w)
            if s.table == "II":
                chosen.append(s)
            elif s not in chosen:
                chosen.append(s)
        cand = [s for s in chosen if s.table == "I"]
        if "II" in tables:
            plain = {s.plan_setting for s in cand} | set(wanted)
            cand += [s for s in all2 if s.plan_setting in plain]
        cand += [s for s in chosen if s.table == "II" and s not in cand]
    else:
        cand = list(all1) + (list(all2) if "II" in tables else [])
    if "V" in tables and not any(s.table == "I" and s.name == table5 for s in cand):
        cand.append(parse_setting(table5))
    # clean groups are always needed (level 0 and the uncorrupted videos)
    for ext, mod in ((vext, "visual"), (aext, "audio")):
        if ext is not None and not store.has(ext, Variant()):
            raise StoreError(_missing_message(store, ext, Variant(), mod))
    out, skipped = [], {}
    for s in cand:
        vis, aud = setting_keys(plan, s, levels)
        lacking = [(vext, Variant(c, severity, vseed), "visual") for c in sorted(vis)]
        lacking += [(aext, Variant(c, severity, vseed), "audio") for c in sorted(aud)]
        lacking = [x for x in lacking if x[0] is None or not store.has(x[0], x[1])]
        if not lacking:
            out.append(s)
            continue
        if explicit:
            ext, var, mod = lacking[0]
            raise StoreError(_missing_message(store, ext, var, mod, setting=s.name))
        skipped[s.name] = "store lacks " + ", ".join(f"{e or mod}/{v.slug}" for e, v, mod in lacking)
    if not out:
        raise StoreError(
            f"none of the requested settings can be evaluated with store {store.root}: "
            + "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:5])
        )
    return out, skipped


def _missing_message(store: FeatureStore, ext: str | None, var: Variant, modality: str, setting: str | None = None) -> str:
    have = sorted({v.slug for e, v in store.groups() if e == ext}) if ext else []
    what = f"{ext}/{var.slug}" if ext else f"{modality} features ({var.slug})"
    arg = "clean" if var.is_clean else f"{var.corruption}@{var.severity}"
    return (
        f"store {store.root} has no {what}"
        + (f" (needed by setting {setting!r})" if setting else "")
        + f"; it has: {', '.join(have) or 'nothing for this extractor'}. Create it with: "
        f"robusta-bench extract --manifest MANIFEST --out {store.root} --extractors {ext or '<' + modality + ' extractor>'} "
        f"--variants {arg} --seed {var.seed}"
    )


def _video_gt(name: str, row: Mapping[str, Any] | None, annotations: Mapping, plan: Plan, t: int) -> np.ndarray:
    """Frame-level ground truth of one video (official rule), for its first ``t`` snippets."""
    from ..dataset.ground_truth import SNIPPET_FRAMES, frame_labels

    frames = None if row is None else row.get("frames")
    if frames is not None and not (isinstance(frames, float) and math.isnan(frames)) and int(frames) > 0:
        gt = frame_labels({"frames": int(frames), "name": name, "label": _label(row, plan, name)}, annotations)
    else:
        gt = frame_labels({"frames": SNIPPET_FRAMES * t + 1, "name": name, "label": _label(row, plan, name)}, annotations)
    if gt.shape[0] < SNIPPET_FRAMES * t:
        raise ValueError(f"{gt.shape[0]} frames of ground truth for {t} scored snippets")
    return gt[: SNIPPET_FRAMES * t]


def _label(row: Mapping[str, Any] | None, plan: Plan, name: str) -> int | None:
    if row is not None and row.get("label") is not None:
        try:
            return int(row["label"])
        except (TypeError, ValueError):
            pass
    hit = plan.table.loc[plan.table["name"] == name, "label"]
    return int(hit.iloc[0]) if len(hit) else None


def _jsonable(x: Any) -> Any:
    try:
        json.dumps(x)
        return x
    except TypeError:
        if isinstance(x, dict):
            return {str(k): _jsonable(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [_jsonable(v) for v in x]
        return str(x)


def _patch_timings(path: Path, timings: Mapping[str, float]) -> None:
    from ..files import atomic_write_json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["timings"] = {k: round(float(v), 3) for k, v in timings.items()}
    atomic_write_json(path, data)
