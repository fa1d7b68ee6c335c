"""Which settings an evaluation scores: the tables and fractions asked for, the plan, and what the store holds.

A setting (see :mod:`.compose`) is evaluated when the store has the features
it needs (clean features of both modalities, the variants of its corruptions
at the chosen severity and corruption seed); the others are listed as
skipped, with the command that would create their features.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import pandas as pd

from ..corruptions.plan import Plan, load_plan, make_plan, plan_path
from ..store.feature_store import FeatureStore, StoreError, Variant
from .compose import Setting, parse_setting, setting_keys, table1_settings, table2_settings

TABLES = ("I", "II", "III", "V")
_TABLE_ALIASES = {"1": "I", "2": "II", "3": "III", "5": "V", "i": "I", "ii": "II", "iii": "III", "v": "V"}


def parse_tables(tables: str | Iterable[str]) -> tuple[str, ...]:
    """``"I,II,V"`` (or 1,2,5) -> ``("I", "II", "V")``; III is Table III (:mod:`.table3`); unknown names raise ``ValueError``."""
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


def select_settings(
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
