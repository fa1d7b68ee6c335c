"""``evaluate``: train (or load) detectors, score the corrupted benchmark, write the paper's tables.

Flow (see ``docs/evaluation.md``), one function per step:

1. inputs: the feature store, the manifest (frame counts, labels), the
   annotations, and the plan (which test videos are corrupted at each level);
2. settings (:func:`.settings.select_settings`): Table I (and II, V when asked)
   restricted to ``corruptions`` (Table III, :func:`.table3.prepare`, adds its
   six methods, the mixed settings and the levels 0 and 100); with
   ``corruptions="all"`` a setting whose store variant is absent is skipped and
   listed, an explicitly named one is an error naming the variant and the
   ``extract`` command that creates it;
3. runs -> train (:mod:`.runs`): for every training seed, every method is
   trained on the clean train features by :func:`.training.train_detector`
   with its recipe (``recipe``/``overrides``, resolved per method before any
   training; :mod:`robusta_bench.detectors.recipes`; without ``recipe``, RTFM,
   HyperVD and their RobustA versions use their backbone's upstream recipe,
   :func:`.table3.config_for`), or loaded from a
   checkpoint, then shared by all seeds;
4. score: every needed (video, combo) once (:mod:`.scoring`);
5. tabulate (:func:`metric_rows`, :func:`summarize`): for each run x setting x level, the official frame AP of the
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
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..corruptions.plan import Plan
from ..store.feature_store import FeatureStore
from ..vocabulary import canonical_precision
from .compose import FIG4_SETTINGS, LEVELS, TABLE5_SETTING, Setting, compose, corrupted_count, needed_combos
from .metrics import SnippetCounts, curve_metrics
from .runs import RunPlan, load_checkpoints, make_runs
from .scoring import MethodRun, ScoreBank, check_scoring_precision, score_all
from .settings import default_plan, parse_levels, parse_tables, select_settings
from .table3 import config_for, recipe_for
from .table3 import prepare as table3_prepare
from .training import resolve_extractors, resolve_method, train_config

log = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "seed", "method", "table", "setting", "display", "modality", "level", "n_videos", "n_violent", "n_normal",
    "n_train", "n_corrupted",
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
    precision: str = "fp32",
    fig4: Sequence[str] = FIG4_SETTINGS,
    table5: str = TABLE5_SETTING,
    detector_options: Mapping[str, Mapping[str, Any]] | None = None,
    recipe: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
) -> EvalResult:
    """Train/load, score and tabulate (see the module docstring). Returns an :class:`EvalResult`.

    ``severity`` and ``variant_seed`` pick the store variant of every corruption
    (``<corruption>-s<severity>-seed<variant_seed>``); ``seeds`` are training
    seeds (results are averaged over them); ``checkpoints`` maps a method label
    to a detector file used instead of training. ``recipe`` and ``overrides``
    choose the training hyper-parameters of every trained method (each
    detector's own version of a named recipe; default: the detector's default
    recipe, see :mod:`robusta_bench.detectors.recipes`).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    checkpoints = dict(checkpoints or {})
    # the manifest is checked (columns, splits) before the store is opened
    manifest, annotations = _read_inputs(manifest, annotations, splits=("test",) if checkpoints else ("test", "train"))
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    tables, levels = parse_tables(tables), parse_levels(levels)
    # Table III: its six methods, the mixed settings and the levels 0 and 100
    methods, baseline, corruptions, levels = table3_prepare(tables, methods, baseline, corruptions, levels)
    seeds = tuple(dict.fromkeys(int(s) for s in seeds)) or (0,)
    precision = canonical_precision(precision)
    labels = _check_methods(methods, baseline, severity, precision)
    # the recipe of every trained method, resolved (and a bad recipe or --set refused) before any training
    recipes = {
        lb: config_for(lb, epochs, device) if recipe is None and not overrides and recipe_for(lb)
        else train_config(epochs, device, method=lb, recipe=recipe, overrides=overrides)
        for lb in labels
    }
    vext, aext = resolve_extractors(store, visual_extractor, audio_extractor)
    if isinstance(plan, (str, Path)):
        plan = Plan.from_file(plan)
    elif plan is None:
        plan = default_plan(manifest, seed=variant_seed)
    settings, skipped = select_settings(
        store, plan, tables, corruptions, levels, vext, aext, int(severity), int(variant_seed), table5
    )
    runplan = _run_plan(labels, methods[0], settings, tables, fig4, table5, skipped)
    for lb in runplan.train_labels():
        if lb not in recipes:
            recipes[lb] = train_config(epochs, device, method=lb, recipe=recipe, overrides=overrides)

    # ----------------------------------------------------------- runs -> train
    t_train = time.perf_counter()
    loaded = load_checkpoints(checkpoints, runplan.train_labels())
    runs, run_settings, train_set = make_runs(
        runplan, seeds, loaded, store=store, manifest=manifest, extractors=(vext, aext), epochs=epochs, device=device,
        progress=progress, detector_options=dict(detector_options or {}), recipes=recipes,
    )
    # the recipe each method was trained with (a loaded detector: the one its file records, if any)
    used_recipes = {
        lb: (getattr(loaded[lb], "train_info", {}) or {}).get("config") if lb in loaded else recipes[lb].to_dict()
        for lb in runplan.train_labels()
    }
    timings["train_s"] = time.perf_counter() - t_train

    # ----------------------------------------------------------------- score
    names = plan.names
    needs = needed_combos(plan, settings, levels, names)
    run_needs = {r.key: needed_combos(plan, run_settings[r.key], levels, names)
                 for r in runs if run_settings[r.key] is not runplan.settings}
    bank = score_all(
        store, names, needs, runs, visual_extractor=vext, audio_extractor=aext, severity=int(severity),
        variant_seed=int(variant_seed), max_segments=_segment_caps(manifest, names), device=device, progress=progress,
        run_needs=run_needs, precision=precision,
    )
    timings.update(bank.timings)

    # -------------------------------------------------------------- tabulate
    t_metrics = time.perf_counter()
    gt, counts, ok_names = ground_truth(bank, names, manifest, annotations, plan)
    from .sample_size import sample_counts, sample_warnings

    labels_by_name = {str(n): r for n, r in zip(manifest["name"].astype(str), manifest.to_dict("records"))}
    sample = sample_counts(ok_names, {n: _label(labels_by_name.get(n), plan, n) for n in ok_names},
                           None if train_set is None else train_set.labels)
    result_rows = metric_rows(runs, run_settings, bank, plan, levels, counts, ok_names, sample)
    timings["metrics_s"] = time.perf_counter() - t_metrics
    info = {
        "store": str(store.root), "visual_extractor": vext, "audio_extractor": aext, "severity": int(severity),
        "variant_seed": int(variant_seed), "seeds": list(seeds), "methods": list(methods), "baseline": baseline,
        "levels": list(levels), "tables": list(tables),
        "plan": {"seed": plan.seed, "version": plan.version, "videos": len(plan.names)},
        "test_videos": len(ok_names), "sample": sample, "warnings": sample_warnings(sample),
        "checkpoints": {k: str(v) for k, v in checkpoints.items()}, "epochs": epochs,
        "recipes": _jsonable(used_recipes), "device": device, "precision": precision, "fig4": [s.name for s in runplan.fig4_settings],
        "table5": runplan.table5.name if runplan.table5 is not None else None,
        "train_info": {r.label: _jsonable(getattr(r.detector, "train_info", {})) for r in runs if r.seed == seeds[0]},
    }
    result = EvalResult(
        rows=result_rows, summary=summarize(result_rows), info=info, skipped=skipped, failures=dict(bank.failures),
        timings=timings, bank=bank,
    )
    _write_result(result, out_dir, plan, gt, ok_names, timings, t0)
    return result


def _read_inputs(manifest: Any, annotations: Any, *, splits: Sequence[str] = ("test", "train")
                 ) -> tuple[pd.DataFrame, Mapping]:
    """The manifest frame (checked: columns and ``splits``, a one-line usage error) and the annotations mapping
    (read from their files when given as paths)."""
    source = "the manifest" if isinstance(manifest, pd.DataFrame) else str(manifest)
    if not isinstance(manifest, pd.DataFrame):
        from ..dataset.index import read_manifest

        manifest = read_manifest(manifest)
    from .manifest_checks import check_eval_manifest

    check_eval_manifest(manifest, source, splits=splits)
    if not isinstance(annotations, Mapping):
        from ..dataset.annotations import read_annotations

        annotations = read_annotations(annotations)
    return manifest, annotations


def _check_methods(methods: Sequence[str], baseline: str | None, severity: int, precision: str) -> list[str]:
    """The labels to evaluate (baseline first), refused before any training when unknown or unable to score."""
    if int(severity) not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be 1..5, got {severity}")
    labels = list(dict.fromkeys([*([baseline] if baseline else []), *methods]))
    if not methods:
        raise ValueError("at least one method is needed")
    for lb in labels:
        resolve_method(lb)
    if precision != "fp32":  # refuse before any training, naming the detector that cannot
        from ..detectors.base import get_detector_class

        for lb in labels:
            check_scoring_precision(get_detector_class(resolve_method(lb)[0]), precision)
    return labels


def _run_plan(labels: list[str], main: str, settings: list[Setting], tables: Sequence[str], fig4: Sequence[str],
              table5: str, skipped: dict[str, str]) -> RunPlan:
    """The :class:`RunPlan`: Fig. 4 when the main method has both fusions, Table V when its setting is evaluated."""
    from ..detectors.base import get_detector_class

    main_cls = get_detector_class(resolve_method(main)[0])
    if "V" in tables:
        resolve_method(f"{main}-pad")
    fig4_settings = [s for s in settings if s.table == "I" and s.name in fig4]
    if not {"gmm", "average"} <= set(getattr(main_cls, "fusions", ())):
        fig4_settings = []
    t5 = next((s for s in settings if s.table == "I" and s.name == table5), None) if "V" in tables else None
    if "V" in tables and t5 is None:
        skipped.setdefault(f"table V ({table5})", "its setting is not evaluated")
    return RunPlan(labels=labels, main=main, settings=settings, fig4_settings=fig4_settings, table5=t5)


def _segment_caps(manifest: pd.DataFrame, names: Sequence[str]) -> dict[str, int]:
    """Snippets per video known from the manifest's frame counts (caps the scored length)."""
    from ..dataset.ground_truth import n_segments

    rows_by_name = {str(n): r for n, r in zip(manifest["name"].astype(str), manifest.to_dict("records"))}
    caps = {}
    for n in names:
        r = rows_by_name.get(n)
        f = None if r is None else r.get("frames")
        if f is not None and not (isinstance(f, float) and math.isnan(f)) and int(f) > 0:
            caps[n] = n_segments(int(f))
    return caps


def ground_truth(bank: ScoreBank, names: Sequence[str], manifest: pd.DataFrame, annotations: Mapping,
                 plan: Plan) -> tuple[dict[str, np.ndarray], dict[str, SnippetCounts], list[str]]:
    """Frame labels and snippet counts of every scored video, and the videos that have them (failures go to ``bank``)."""
    rows_by_name = {str(n): r for n, r in zip(manifest["name"].astype(str), manifest.to_dict("records"))}
    gt: dict[str, np.ndarray] = {}
    counts: dict[str, SnippetCounts] = {}
    for n in bank.scored_names(names):
        try:
            gt[n] = _video_gt(n, rows_by_name.get(n), annotations, plan, bank.lengths[n])
            counts[n] = SnippetCounts.from_frames(gt[n])
        except ValueError as exc:
            bank.failures[n] = f"ground truth: {exc}"
    ok_names = [n for n in bank.scored_names(names) if n in counts]
    if not ok_names:
        from .failures import NoScorableVideos

        raise NoScorableVideos(bank.failures)
    return gt, counts, ok_names


def metric_rows(runs: Sequence[MethodRun], run_settings: Mapping[tuple[str, int], list[Setting]], bank: ScoreBank,
                plan: Plan, levels: Sequence[float], counts: Mapping[str, SnippetCounts], ok_names: list[str],
                sample: Mapping[str, int] | None = None) -> pd.DataFrame:
    """One row of metrics per run x setting x level (see :data:`RESULT_COLUMNS`); ``sample`` holds the n columns
    (:func:`~robusta_bench.evaluation.sample_size.sample_counts`)."""
    sample = dict(sample or {})
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
                    "modality": s.modality, "level": lv, "n_videos": len(ok_names), "n_violent": sample.get("n_violent"),
                    "n_normal": sample.get("n_normal"), "n_train": sample.get("n_train"),
                    "n_corrupted": corrupted_count(plan, lv, ok_names),
                    "ap": m_off.ap, "ap_online": m_on.ap, "ap_sklearn": m_off.ap_sklearn,
                    "ap_sklearn_online": m_on.ap_sklearn, "auc": m_off.auc, "auc_online": m_on.auc,
                })
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))



def _write_result(result: EvalResult, out_dir: str | Path | None, plan: Plan, gt: Mapping[str, np.ndarray],
                  ok_names: list[str], timings: dict[str, float], t0: float) -> None:
    """Render the Markdown tables; write the output files when ``out_dir`` is given."""
    from .tables import render_tables

    result.markdown = render_tables(result.summary, result.info, rows=result.rows)
    if "III" in result.info.get("tables", ()):
        from .table3 import render_table3

        result.markdown["III"] = render_table3(result.rows, result.info)
    if out_dir is not None:
        t_out = time.perf_counter()
        from .report import write_outputs

        result.files = write_outputs(result, Path(out_dir), plan=plan, gt=dict(gt), names=ok_names)
        timings["outputs_s"] = time.perf_counter() - t_out
    timings["total_s"] = time.perf_counter() - t0
    if result.files.get("json"):
        _patch_timings(result.files["json"], timings)


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
    for col in ("n_videos", "n_violent", "n_normal", "n_train"):
        if col in rows:
            out[col] = g[col].first()
    out["n_corrupted"] = g["n_corrupted"].first()
    return out.reset_index()


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
