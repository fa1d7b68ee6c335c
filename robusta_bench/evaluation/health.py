"""Modality health: how reliable each modality of each video looks to RobustA's weighting.

For every video (default: the test split) and every requested variant, each
modality's segment features are scored by that modality's reliability model
(:mod:`robusta_bench.detectors.reliability`: a clean-feature GMM plus the
calibration of every weighting option of :mod:`robusta_bench.detectors.weighting`):
per segment the reliability score and the weight ``lambda = 0.5 / (1 + exp(c
(score + x0)))`` of every dynamic option (0.5: like clean training data;
towards 0: unlike it, e.g. a covered camera or a broken microphone), and the
normalised visual fusion weight ``w_visual``. The columns without an option
in their name (``visual_nll``, ``visual_lambda``, ``w_visual``) are those of
the *primary* option (the checkpoint's weighting, else the default).

Where the models come from:

- ``checkpoint``: a trained ``robusta`` detector file;
- default: fitted here on the store's clean TRAIN features;
- ``leave_one_out``: for each checked video, fitted on the clean features of
  all the OTHER checked videos (for a handful of clips without a train split,
  e.g. the shared XD-Violence clips). The checked video never reaches its own
  fit or calibration.

With corrupted variants, :func:`~robusta_bench.evaluation.health_table.detection_table`
(``health_detection.csv`` / ``.md`` / ``.png``) gives per corruption,
severity and option the ROC-AUC of the score for corrupted vs clean segments
(and per video, on the video mean score) and the mean weights.

A modality is *flagged* for a video when its mean lambda is below
:data:`FLAG_LAMBDA` (0.25).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..store.feature_store import FeatureStore, StoreError, Variant
from ..files import atomic_write_text

FLAG_LAMBDA = 0.25
MODS = ("visual", "audio")


@dataclass
class HealthResult:
    """Per-video and per-segment tables, the detection table, written files and unreadable videos."""

    videos: pd.DataFrame
    segments: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    gmm_source: str = ""
    detection: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """A short text: per variant and modality, mean lambda and flagged videos; detection AUCs."""
        lines = [f"reliability models: {self.gmm_source}"]
        for var, g in self.videos.groupby("variant", sort=False):
            parts = []
            for m in MODS:
                col = f"{m}_lambda_mean"
                if col in g and g[col].notna().any():
                    flagged = int(g[f"{m}_flag"].sum())
                    parts.append(f"{m} lambda {g[col].mean():.3f} ({flagged}/{len(g)} flagged)")
            lines.append(f"  {var:<24} " + "; ".join(parts))
        if not self.detection.empty:
            from .health_table import detection_markdown

            lines.append(detection_markdown(self.detection))
        if self.failures:
            lines.append(f"failed: {len(self.failures)} video(s), e.g. {next(iter(self.failures))}: {next(iter(self.failures.values()))}")
        return "\n".join(lines)


def load_reliability(checkpoint: str | Path) -> tuple[dict[str, Any], str]:
    """The per-modality reliability models and the weighting option of a saved robusta detector."""
    from ..detectors.base import load_detector

    det = load_detector(checkpoint)
    rel = {m: g for m, g in (getattr(det, "reliability", None) or {}).items() if g is not None}
    if not rel:
        raise ValueError(f"{checkpoint}: this detector ({det.name}) carries no fitted GMMs (use a trained robusta file)")
    return rel, det.weighting


def fit_store_reliability(
    store: FeatureStore, manifest: pd.DataFrame, visual_extractor: str | None, audio_extractor: str | None,
    seed: int = 0, gmm_config: Any = None, weighting_config: Any = None,
) -> dict[str, Any]:
    """Reliability models fitted on the store's clean TRAIN-split features only (as a robusta detector fits them)."""
    from ..detectors.gmm import GMMConfig
    from ..detectors.robusta import fit_gmms
    from .training import load_train_set

    train, _ = load_train_set(store, manifest, visual_extractor=visual_extractor, audio_extractor=audio_extractor)
    return fit_gmms(train, gmm_config or GMMConfig(), seed, weighting_config)


def fit_leave_one_out(
    clean: dict[str, dict[str, np.ndarray]], held_out: str, seed: int = 0, gmm_config: Any = None, weighting_config: Any = None,
    perturbed: dict[str, dict[str, list[np.ndarray]]] | None = None,
) -> dict[str, Any]:
    """Reliability models of each modality fitted on the clean ``(T, d)`` features of every video but ``held_out``.

    ``perturbed[modality][name]``: self-perturbed features of the videos (the probe is fitted on
    those of the other videos only, when any modality has some).
    """
    from ..detectors.reliability import fit_reliability

    out = {}
    for m in MODS:
        names = [n for n, feats in clean.items() if n != held_out and m in feats]
        if names:
            pert = (perturbed or {}).get(m)
            out[m] = fit_reliability(
                [clean[n][m] for n in names], gmm_config, weighting_config, seed=seed,
                perturbed=[pert.get(n, []) for n in names] if pert else None,
            )
    return out


def _plans(store: FeatureStore, exts: dict[str, str | None], variants: Sequence[str], variant_seed: int):
    """``(slug, {modality: group variant or None})`` per variant; ``clean`` first (the detection reference)."""
    parsed = [Variant.parse(str(t), seed=variant_seed) for t in variants]
    if not any(v.is_clean for v in parsed):
        parsed.insert(0, Variant())
    parsed.sort(key=lambda v: not v.is_clean)
    plans = []
    for var in parsed:
        groups = {m: (Variant() if exts[m] else None) for m in MODS}
        if not var.is_clean:
            hit = [m for m in MODS if exts[m] and store.has(exts[m], var)]
            if not hit:
                raise StoreError(
                    f"store {store.root} has no {var.slug} features for "
                    f"{' or '.join(e for e in exts.values() if e)}; create them with: robusta-bench extract "
                    f"--manifest MANIFEST --out {store.root} --extractors <extractor> --variants {var.corruption}@{var.severity} --seed {var.seed}"
                )
            for m in hit:
                groups[m] = var
        plans.append((var, groups))
    return plans


def _read(store: FeatureStore, exts, groups, names, failures, slug) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(name, {modality: (T, d)})`` of a variant's videos (visual averaged over crops); failures recorded."""
    got: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    for m in MODS:
        if groups[m] is None or not exts[m]:
            continue
        for n, arr in store.iter_videos(exts[m], groups[m], names=names):
            got[n][m] = np.asarray(arr, dtype=np.float64).mean(0)
    need = [m for m in MODS if groups[m] is not None and exts[m]]
    for n in names:
        miss = [m for m in need if m not in got[n]]
        if miss:
            failures[f"{n} [{slug}]"] = f"no features in {exts[miss[0]]}/{groups[miss[0]].slug}"
            continue
        yield n, got.pop(n)


def score_video(
    models: dict[str, Any], feats: dict[str, np.ndarray], options: Sequence[str], primary: str, strict: bool = True
) -> dict[str, np.ndarray]:
    """Per-segment columns of one video: each modality's score and lambda per option, primary columns, ``w_visual``.

    Not ``strict``: options some modality's model has no calibration for (``learned`` without
    perturbed training features) are left out instead of raising.
    """
    from ..detectors.gmm import fusion_weights

    if not strict:
        options = [o for o in options if o == primary or all(o in models[m].calibration for m in feats if m in models)]

    t = min(f.shape[0] for f in feats.values())
    rec: dict[str, Any] = {"segment": np.arange(t)}
    logw: dict[str, dict[str, np.ndarray]] = {o: {} for o in options}
    for m, f in feats.items():
        if m not in models:
            continue
        rel = models[m]
        stats = rel.statistics(f[:t])
        rec[f"{m}_nll"] = stats["nll"]
        for o in options:
            logw[o][m] = rel.log_weight_of(stats, o)
            rec[f"{m}_{o}_score"] = rel.score(f[:t], o, stats)
            rec[f"{m}_{o}_lambda"] = np.exp(logw[o][m])
        rec[f"{m}_lambda"] = rec[f"{m}_{primary}_lambda"]
    for o in options:
        rec[f"w_visual_{o}"] = fusion_weights(logw[o].get("visual"), logw[o].get("audio"))[0]
    rec["w_visual"] = rec[f"w_visual_{primary}"]
    return rec


def video_row(name: str, label: Any, slug: str, rec: dict[str, np.ndarray]) -> dict[str, Any]:
    """The per-video summary of :func:`score_video`'s columns."""
    row: dict[str, Any] = {"name": name, "label": label, "variant": slug, "segments": len(rec["segment"])}
    for m in MODS:
        if f"{m}_lambda" in rec:
            lam = rec[f"{m}_lambda"]
            row[f"{m}_nll_median"] = float(np.median(rec[f"{m}_nll"]))
            row[f"{m}_lambda_mean"] = float(lam.mean())
            row[f"{m}_low_fraction"] = float((lam < FLAG_LAMBDA).mean())
            row[f"{m}_flag"] = bool(lam.mean() < FLAG_LAMBDA)
    row["w_visual_mean"] = float(np.mean(rec["w_visual"]))
    return row


def modality_health(
    store: FeatureStore | str | Path,
    manifest: pd.DataFrame | str | Path,
    *,
    variants: Sequence[str] = ("clean",),
    checkpoint: str | Path | None = None,
    visual_extractor: str | None = None,
    audio_extractor: str | None = None,
    split: str = "test",
    variant_seed: int = 0,
    seed: int = 0,
    weightings: Sequence[str] | None = None,
    leave_one_out: bool = False,
    gmm_config: Any = None,
    weighting_config: Any = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> HealthResult:
    """Per-video and per-segment reliability of each modality, and corruption detection (module docstring).

    ``variants`` are ``clean`` or ``CORRUPTION@SEVERITY`` (or store slugs); a
    corrupted variant replaces the modality it exists for in the store;
    ``clean`` is always scored (the detection reference). ``weightings``: the
    dynamic options reported (default: all). Writes ``health_videos.csv``,
    ``health_segments.csv``, ``health.png`` and, with corrupted variants,
    ``health_detection.csv/.md/.png`` to ``out_dir`` when given.
    """
    from ..progress import progress_bar as tqdm

    from ..detectors.weighting import DEFAULT_WEIGHTING, weighting_names
    from .training import resolve_extractors

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    if not isinstance(manifest, pd.DataFrame):
        from ..dataset.index import read_manifest

        manifest = read_manifest(manifest)
    if checkpoint is not None and leave_one_out:
        raise ValueError("leave_one_out fits its own models: do not pass a checkpoint as well")
    vext, aext = resolve_extractors(store, visual_extractor, audio_extractor, need=())
    if vext is None and aext is None:
        raise StoreError(f"store {store.root} has no clean features")
    dynamic = weighting_names(dynamic_only=True)
    options = list(weightings) if weightings else dynamic
    bad = [o for o in options if o not in dynamic]
    if bad:
        raise ValueError(f"unknown dynamic weighting(s) {bad}; known: {dynamic}")
    primary, fixed = DEFAULT_WEIGHTING, None
    if checkpoint is not None:
        fixed, primary = load_reliability(checkpoint)
        source = f"from {checkpoint}"
    elif not leave_one_out:
        fixed = fit_store_reliability(store, manifest, vext, aext, seed, gmm_config, weighting_config)
        source = f"fitted on clean train features of {store.root} (seed {seed})"
    else:
        source = f"leave-one-out over the checked videos' clean features (seed {seed})"
    for model in (fixed or {}).values() if weightings else ():
        for o in options:
            model.calibration_of(o)  # an option asked for by name must be usable: fail now, not per video
    if primary not in options:
        options.append(primary)
    mods_with = set(fixed) if fixed is not None else set(MODS)
    exts = {"visual": vext if "visual" in mods_with else None, "audio": aext if "audio" in mods_with else None}
    plans = _plans(store, exts, variants, variant_seed)

    rows = manifest.loc[manifest["split"].astype(str) == split] if split != "all" else manifest
    names = rows["name"].astype(str).tolist()
    labels = dict(zip(names, rows["label"]))
    if not names:
        raise ValueError(f"the manifest has no {split!r} videos")
    failures: dict[str, str] = {}
    models_for: Callable[[str], dict[str, Any]]
    if fixed is not None:
        models_for = lambda name: fixed  # noqa: E731
    else:
        from .training import load_perturbed

        clean = dict(_read(store, exts, plans[0][1], names, failures, "clean"))
        perturbed = {m: load_perturbed(store, exts[m], m, names) for m in MODS if exts[m]}
        cache: dict[str, dict[str, Any]] = {}

        def models_for(name: str) -> dict[str, Any]:
            if name not in cache:
                cache[name] = fit_leave_one_out(clean, name, seed, gmm_config, weighting_config, perturbed)
            return cache[name]

    seg_parts, vid_rows = [], []
    bar = tqdm(total=len(names) * len(plans), desc="health", unit="video", disable=not progress)
    for var, groups in plans:
        for n, feats in _read(store, exts, groups, names, failures, var.slug):
            bar.update(1)
            try:
                rec = score_video(models_for(n), feats, options, primary, strict=bool(weightings))
            except Exception as exc:  # noqa: BLE001 - one bad video never stops the run
                failures[f"{n} [{var.slug}]"] = f"{type(exc).__name__}: {exc}"
                continue
            seg = pd.DataFrame(rec)
            seg.insert(0, "name", n)
            seg.insert(1, "variant", var.slug)
            seg_parts.append(seg)
            vid_rows.append(video_row(n, labels.get(n), var.slug, rec))
    bar.close()
    videos = pd.DataFrame(vid_rows)
    segments = pd.concat(seg_parts, ignore_index=True) if seg_parts else pd.DataFrame()
    from .health_table import detection_table

    corrupted_mod = {v.slug: [m for m in MODS if g[m] is not None and not g[m].is_clean] for v, g in plans}
    detection = detection_table(segments, corrupted_mod, options) if not segments.empty else pd.DataFrame()
    result = HealthResult(videos=videos, segments=segments, failures=failures, gmm_source=source, detection=detection)
    if out_dir is not None and not videos.empty:
        result.files = write_health(result, Path(out_dir))
    return result


def write_health(result: HealthResult, out: Path) -> dict[str, Path]:
    """Write the tables and plots of ``result`` to ``out``; returns their paths."""
    from .health_table import detection_markdown, plot_detection
    from .plots import plot_health

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "health_videos.csv", result.videos.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out / "health_segments.csv", result.segments.to_csv(index=False, lineterminator="\n"))
    files = {
        "videos": out / "health_videos.csv",
        "segments": out / "health_segments.csv",
        "plot": plot_health(result.videos, result.segments, out / "health.png"),
    }
    if not result.detection.empty:
        atomic_write_text(out / "health_detection.csv", result.detection.to_csv(index=False, lineterminator="\n"))
        atomic_write_text(out / "health_detection.md", detection_markdown(result.detection) + "\n")
        files["detection"] = out / "health_detection.csv"
        files["detection_md"] = out / "health_detection.md"
        files["detection_plot"] = plot_detection(result.detection, out / "health_detection.png")
    return files
