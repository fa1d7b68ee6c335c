"""Named training recipes per detector, recipe files and command-line overrides.

A recipe is a complete :class:`~.train.TrainConfig` (every hyper-parameter of
training), named so that results say how a detector was trained:

- ``official``: the official XDVioDet (HL-Net) code: Adam lr 1e-4 with the
  online head (approximator + its conv) at lr/2, no weight decay, batch 128,
  50 epochs, x0.1 at epoch 10 with the scheduler stepped *before* each epoch
  (so the decay is in effect from the 10th epoch on), Xavier weights with
  PyTorch's default bias initialisation. The default of ``hlnet``,
  ``visual-only`` and ``audio-only``.
- ``paper``: the RobustA paper, Sec. V "Training Details": 50 epochs, Adam lr
  1e-5, weight decay 1e-5, batch 640, "multi-step cosine scheduler" (read as a
  cosine decay from lr to 0 updated at every optimiser step, see
  docs/detectors.md), Eq.-2 sampling; the HL-Net-specific choices the paper
  does not state (online head lr/2, default bias init) come from the official
  code. The default of ``robusta``; for ``hlnet`` it trains the baseline
  exactly like RobustA.
- ``demo``: the detector's default recipe scaled for ``make demo``'s ~24
  training videos (200 epochs, lr 5e-4, batch 8, per-epoch cosine stepped
  after each epoch; the rest as the detector's default): the full
  recipes give 1-50 optimiser steps on so few samples, which leaves both
  detectors near chance.

A recipe file (TOML) holds any of the fields at the top level, optionally
``base = "<named recipe>"`` and per-detector tables (``[robusta]``,
``[hlnet]``) that override the top level for that detector. Overrides from
the command line (``--set KEY=VALUE``) come last.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from .train import TrainConfig

#: the named recipes of every detector (before the detector's own changes)
OFFICIAL: dict[str, Any] = {
    "epochs": 50,
    "lr": 1e-4,
    "online_lr_scale": 0.5,
    "batch_size": 128,
    "weight_decay": 0.0,
    "schedule": "step",
    "milestones": (10,),
    "gamma": 0.1,
    "scheduler_step": "before_epoch",
    "bias_init": "default",
    "sampling": "eq2",
    "max_seq_len": 200,
    "distill_weight": 5.0,
}
PAPER: dict[str, Any] = {
    **OFFICIAL,
    "lr": 1e-5,
    "weight_decay": 1e-5,
    "batch_size": 640,
    "schedule": "cosine_steps",
    "milestones": (),
    "scheduler_step": "after_epoch",
}
DEMO_CHANGES: dict[str, Any] = {
    "epochs": 200,
    "lr": 5e-4,
    "batch_size": 8,
    "schedule": "cosine",
    "milestones": (),
    "scheduler_step": "after_epoch",
}
RECIPE_NAMES = ("paper", "official", "demo")
#: the recipe each detector trains with unless told otherwise (others: official)
DEFAULT_RECIPE: dict[str, str] = {"robusta": "paper"}
RECIPE_SUFFIXES = (".toml",)


class RecipeError(ValueError):
    """A bad recipe name, recipe file or override."""


def default_recipe(detector: str) -> str:
    """The recipe ``detector`` (a registered name) trains with by default."""
    return DEFAULT_RECIPE.get(detector, "official")


def named_recipe(detector: str, name: str) -> dict[str, Any]:
    """The hyper-parameters of recipe ``name`` for ``detector`` (a registered name)."""
    if name == "official":
        return dict(OFFICIAL)
    if name == "paper":
        return dict(PAPER)
    if name == "demo":
        return {**named_recipe(detector, default_recipe(detector)), **DEMO_CHANGES}
    raise RecipeError(f"unknown recipe {name!r}; named recipes: {', '.join(RECIPE_NAMES)} (or a .toml recipe file)")


def _field_types() -> dict[str, Any]:
    return {f.name: f.type for f in fields(TrainConfig)}


def _coerce(key: str, value: Any, where: str) -> Any:
    """``value`` as the type of TrainConfig field ``key`` (milestones: a list or ``"10,30"``)."""
    types = _field_types()
    if key not in types or key in ("recipe", "device"):
        known = ", ".join(k for k in types if k not in ("recipe", "device"))
        raise RecipeError(f"{where}: unknown hyper-parameter {key!r} (known: {known})")
    kind = str(types[key])
    try:
        if key == "milestones":
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").strip("()[]").split(",") if v]
            return tuple(int(v) for v in value)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise RecipeError(f"{where}: {key} must be {'a list of epochs' if key == 'milestones' else 'a ' + kind}, got {value!r}") from None


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """The raw content of a TOML recipe file (one-line errors naming the file)."""
    path = Path(path)
    if path.suffix.lower() not in RECIPE_SUFFIXES:
        raise RecipeError(f"{path}: a recipe file must be TOML (.toml)")
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not a valid TOML recipe: {exc}") from exc


def parse_overrides(items: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``["lr=1e-4", "milestones=10,30"]`` (the CLI's ``--set``) -> a dict of typed values."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {k: _coerce(k, v, "override") for k, v in items.items()}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RecipeError(f"--set {item!r}: expected KEY=VALUE, e.g. --set lr=1e-4")
        try:
            value: Any = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[key] = _coerce(key, value, f"--set {item}")
    return out


def resolve_recipe(
    detector: str,
    recipe: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    epochs: int | None = None,
    device: str = "cpu",
) -> TrainConfig:
    """The :class:`TrainConfig` of ``detector`` (a registered name) for ``recipe`` plus overrides.

    ``recipe`` is a named recipe (``paper``, ``official``, ``demo``), a TOML
    recipe file, or None (the detector's default). ``overrides`` (``--set``)
    and ``epochs`` (``--epochs``) are applied last, in that order. The result's
    ``recipe`` field records where it came from (``paper``,
    ``paper+overrides``, ``file:NAME`` ...).
    """
    label = None
    text = None if recipe is None else str(recipe)
    if text is None or text in RECIPE_NAMES:
        label = text or default_recipe(detector)
        values = named_recipe(detector, label)
    else:
        path = Path(text)
        if path.suffix.lower() not in RECIPE_SUFFIXES and not path.exists():
            named_recipe(detector, text)  # raises the unknown-name error
        raw = read_recipe_file(path)
        base = str(raw.pop("base", default_recipe(detector)))
        values = named_recipe(detector, base)
        per_detector = {k: raw.pop(k) for k in list(raw) if isinstance(raw[k], dict)}
        name = str(raw.pop("name", path.stem))
        for key, value in raw.items():
            values[key.replace("-", "_")] = _coerce(key.replace("-", "_"), value, str(path))
        for key, value in per_detector.get(detector, {}).items():
            values[key.replace("-", "_")] = _coerce(key.replace("-", "_"), value, f"{path} [{detector}]")
        label = f"file:{name}"
    extra = parse_overrides(overrides)
    if epochs is not None:
        extra["epochs"] = int(epochs)
    changed = {k: v for k, v in extra.items() if values.get(k) != v}
    values.update(extra)
    if changed:
        label += "+" + ",".join(f"{k}={_show(v)}" for k, v in changed.items())
    try:
        return TrainConfig(recipe=label, device=device, **values)
    except ValueError as exc:
        raise RecipeError(f"recipe {label}: {exc}") from exc


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def recipe_toml(cfg: TrainConfig, detector: str | None = None) -> str:
    """``cfg`` as a TOML recipe file (every hyper-parameter; ``--recipe FILE`` reads it back)."""
    lines = [f"# robusta-bench training recipe{f' for {detector}' if detector else ''} (from {cfg.recipe})"]
    lines.append(f'name = "{cfg.recipe.replace(chr(34), "")}"')
    for key, value in cfg.to_dict().items():
        if key in ("recipe", "device"):
            continue
        if isinstance(value, (list, tuple)):
            lines.append(f"{key} = [{', '.join(str(int(v)) for v in value)}]")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, float):
            lines.append(f"{key} = {value!r}")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"
