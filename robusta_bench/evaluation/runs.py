"""The method runs of an evaluation: every (method, training seed) trained or loaded, and what each scores.

A run is a :class:`~robusta_bench.evaluation.scoring.MethodRun`: a detector
(trained with :func:`~robusta_bench.evaluation.training.train_detector` on the
clean train features with its backbone's upstream recipe,
:func:`.table3.config_for`, or loaded from a checkpoint and shared by all seeds),
with the fusion rule to score it with and the settings it is scored on. Besides
the requested methods: the Table-V ablation ``<main>-pad`` (trained
separately, scored on one setting) and the Fig.-4 rule ``<main>-average`` (the
main detector with 0.5/0.5 fusion, at no training cost).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .compose import Setting
from .scoring import MethodRun
from .training import build_for, load_train_set, resolve_method, train_detector

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """What to train and score: labels (baseline and methods), the main method and its extra settings."""

    labels: list[str]
    main: str
    settings: list[Setting]
    fig4_settings: list[Setting] = field(default_factory=list)
    table5: Setting | None = None

    @property
    def pad(self) -> str:
        """The Table-V ablation of the main method (a registered ablation)."""
        return f"{self.main}-pad"

    def train_labels(self) -> list[str]:
        """The labels, plus the Table-V ablation when Table V is evaluated."""
        extra = [self.pad] if self.table5 is not None and self.pad not in self.labels else []
        return self.labels + extra


def load_checkpoints(checkpoints: Mapping[str, str | Path], train_labels: Sequence[str]) -> dict[str, Any]:
    """The detectors of ``checkpoints`` (label -> file), each checked against what its label means."""
    from ..detectors.base import load_detector

    loaded: dict[str, Any] = {}
    for lb, path in checkpoints.items():
        if lb not in train_labels:
            raise ValueError(f"checkpoint given for {lb!r}, which is not evaluated (methods: {', '.join(train_labels)})")
        det = load_detector(path)
        fixed = {k: v for k, v in resolve_method(lb)[1].items() if k != "fusion"}
        wrong = {k: det.options.get(k) for k, v in fixed.items() if det.options.get(k) != v}
        if wrong:
            raise ValueError(f"checkpoint {path} for {lb!r} was trained with {wrong}, but {lb!r} means {fixed}")
        loaded[lb] = det
    return loaded


def make_runs(
    plan: RunPlan,
    seeds: Sequence[int],
    loaded: Mapping[str, Any],
    *,
    store: Any,
    manifest: Any,
    extractors: tuple[str | None, str | None],
    epochs: int | None,
    device: str,
    progress: bool,
    detector_options: Mapping[str, Mapping[str, Any]],
    recipes: Mapping[str, Any] | None = None,
) -> tuple[list[MethodRun], dict[tuple[str, int], list[Setting]], Any]:
    """Train (or take the loaded) detector of every label and seed; the runs, the settings of each and the
    training set (None when every detector was loaded).

    ``recipes`` maps a label to its resolved :class:`~robusta_bench.detectors.train.TrainConfig`
    (a label without one trains with its detector's default recipe and ``epochs``).
    """
    runs: list[MethodRun] = []
    run_settings: dict[tuple[str, int], list[Setting]] = {}
    recipes = dict(recipes or {})
    train_set = None
    pads = [lb for lb in plan.train_labels() if lb.endswith("-pad") and lb not in loaded]
    if pads:  # the padding ablation refuses audio as wide as the visual features: say so before any training
        train_set, _ = load_train_set(store, manifest, visual_extractor=extractors[0], audio_extractor=extractors[1])
        for lb in pads:
            build_for(lb, train_set, detector_options.get(lb))
    for seed in seeds:
        for lb in plan.train_labels():
            if lb in loaded:
                det = loaded[lb]
            else:
                if train_set is None:
                    train_set, _ = load_train_set(store, manifest, visual_extractor=extractors[0], audio_extractor=extractors[1])
                cfg = recipes.get(lb)
                log.info("training %s (seed %d, recipe %s)", lb, seed, getattr(cfg, "recipe", "default"))
                det = train_detector(lb, store, manifest, seed=seed, epochs=epochs, device=device, progress=progress,
                                     options=detector_options.get(lb), train_set=train_set, config=cfg)
            for run, settings in _runs_of(plan, lb, det, seed, lb in loaded):
                runs.append(run)
                run_settings[run.key] = settings
    return runs, run_settings, train_set


def _runs_of(plan: RunPlan, lb: str, det: Any, seed: int, was_loaded: bool) -> list[tuple[MethodRun, list[Setting]]]:
    if lb == plan.pad and lb not in plan.labels:
        return [(MethodRun(lb, det, None, seed), [plan.table5])]
    # a fusion ablation label (robusta-average) is a test-time rule: it applies to a loaded detector too
    fusion = resolve_method(lb)[1].get("fusion") if was_loaded else None
    out = [(MethodRun(lb, det, fusion, seed), plan.settings)]
    if lb == plan.main and plan.fig4_settings and f"{plan.main}-average" not in plan.train_labels():
        out.append((MethodRun(f"{plan.main}-average", det, "average", seed), plan.fig4_settings))
    return out
