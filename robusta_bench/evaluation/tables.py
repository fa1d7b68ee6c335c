"""The paper's tables from per-seed result rows: Markdown, CSV (wide) and plain data.

- Table I: rows corruption x modality (the paper's order, with "Average" rows
  after the single visual and the single audio corruptions), columns level x
  method; AP in percent; the best method of each level is bold; with several
  training seeds a cell reads ``mean ± std``.
- Table II: the same layout for "one modality missing for all videos, the other
  corrupted" (modality V: audio missing; A: visual missing).
- Table V: rows Baseline / Padding / Linear Proj., columns levels, on one corruption.
- Fig. 4 (as a table): concatenation baseline vs average vs GMM fusion.

Averages are taken per seed over the corruptions, then mean/std over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

MODALITY_LONG = {"visual": "Visual", "audio": "Audio", "audio+visual": "Audio+Visual"}
MODALITY_SHORT = {"visual": "V", "audio": "A", "audio+visual": "A+V"}


@dataclass
class Cell:
    """Mean and std (over seeds) of a metric, in [0, 1]."""

    mean: float
    std: float
    n: int

    def text(self, bold: bool = False) -> str:
        if self.mean is None or not np.isfinite(self.mean):
            return "n/a"
        t = f"{100 * self.mean:.2f}"
        if self.n > 1:
            t += f" ± {100 * self.std:.2f}"
        return f"**{t}**" if bold else t


@dataclass
class Row:
    """One table row: a label, a modality tag and a cell per (level, method)."""

    label: str
    modality: str
    cells: dict[tuple[Any, str], Cell]


def _cell(values: Sequence[float]) -> Cell:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return Cell(float("nan"), float("nan"), 0)
    return Cell(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))


def _is_single(setting: str) -> bool:
    return "+" not in setting and not setting.startswith(("missing_", "mixed_")) and ":" not in setting


def table_rows(rows: pd.DataFrame, table: str, methods: Sequence[str], metric: str = "ap", averages: bool = True) -> list[Row]:
    """Rows of Table ``table`` ("I" or "II") for ``methods``, in the order the settings were evaluated."""
    part = rows[(rows["table"] == table) & rows["method"].isin(methods)]
    if part.empty:
        return []
    order = list(dict.fromkeys(part["setting"]))
    out: list[Row] = []
    groups = {k: g for k, g in part.groupby("setting", sort=False)}
    pending_avg: dict[str, list[str]] = {}
    last_mod = None

    def flush_avg(mod: str | None) -> None:
        names = pending_avg.pop(mod, None) if mod is not None else None
        if averages and names and len(names) > 1:
            out.append(_average_row(part[part["setting"].isin(names)], mod, metric))

    for s in order:
        g = groups[s]
        mod = g["modality"].iloc[0]
        base = s.split(":", 1)[-1]
        single = _is_single(base)
        if last_mod is not None and (mod != last_mod or not single) and last_mod in pending_avg:
            flush_avg(last_mod)
        cells = {}
        for (lv, m), gg in g.groupby(["level", "method"], sort=False):
            cells[(lv, m)] = _cell(gg[metric].tolist())
        out.append(Row(g["display"].iloc[0], mod, cells))
        if single:
            pending_avg.setdefault(mod, []).append(s)
            last_mod = mod
        else:
            last_mod = None
    for mod in list(pending_avg):
        flush_avg(mod)
    return out


def _average_row(part: pd.DataFrame, mod: str, metric: str) -> Row:
    per_seed = part.groupby(["level", "method", "seed"], sort=False)[metric].mean().reset_index()
    cells = {}
    for (lv, m), g in per_seed.groupby(["level", "method"], sort=False):
        cells[(lv, m)] = _cell(g[metric].tolist())
    return Row("Average", mod, cells)


def _level_text(lv: Any) -> str:
    return f"{lv:g}%"


def markdown_grid(rows: Sequence[Row], levels: Sequence[Any], methods: Sequence[str], short: bool = False) -> str:
    """A Markdown table: Corruption | Modality | <level> <method> ..., best of each level in bold."""
    header = ["Corruption", "Mod." if short else "Modality"] + [f"{_level_text(lv)} {m}" for lv in levels for m in methods]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"]
    tags = MODALITY_SHORT if short else MODALITY_LONG
    for r in rows:
        cells = []
        for lv in levels:
            vals = {m: r.cells.get((lv, m)) for m in methods}
            finite = [c.mean for c in vals.values() if c is not None and np.isfinite(c.mean)]
            best = max(finite) if len(finite) > 1 else None
            for m in methods:
                c = vals[m]
                cells.append("" if c is None else c.text(bold=best is not None and np.isfinite(c.mean) and c.mean == best))
        lines.append("| " + " | ".join([r.label, tags.get(r.modality, r.modality)] + cells) + " |")
    return "\n".join(lines)


def wide_frame(rows: Sequence[Row], levels: Sequence[Any], methods: Sequence[str]) -> pd.DataFrame:
    """The table as a DataFrame: one row per table row, columns ``<level>_<method>_mean/std`` in percent."""
    recs = []
    for r in rows:
        rec: dict[str, Any] = {"corruption": r.label, "modality": r.modality}
        for lv in levels:
            for m in methods:
                c = r.cells.get((lv, m))
                rec[f"{lv:g}_{m}_mean"] = None if c is None else round(100 * c.mean, 4)
                rec[f"{lv:g}_{m}_std"] = None if c is None else round(100 * c.std, 4)
        recs.append(rec)
    return pd.DataFrame(recs)


def table5_rows(rows: pd.DataFrame, setting: str, labels: Mapping[str, str], metric: str = "ap") -> list[Row]:
    """Table V: one row per method (display label), cells keyed ``(level, "AP")``."""
    out = []
    part = rows[(rows["table"] == "I") & (rows["setting"] == setting)]
    for method, label in labels.items():
        g = part[part["method"] == method]
        if g.empty:
            continue
        cells = {(lv, "AP"): _cell(gg[metric].tolist()) for lv, gg in g.groupby("level", sort=True)}
        out.append(Row(label, g["modality"].iloc[0], cells))
    return out


def markdown_rows_by_level(rows: Sequence[Row], levels: Sequence[Any], first: str = "Method") -> str:
    """Rows x levels Markdown (Table V / Fig. 4 style), the best of each level bold."""
    header = [first] + [_level_text(lv) for lv in levels]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(levels)) + "|"]
    best = {}
    for lv in levels:
        vals = [r.cells[(lv, "AP")].mean for r in rows if (lv, "AP") in r.cells and np.isfinite(r.cells[(lv, "AP")].mean)]
        best[lv] = max(vals) if len(vals) > 1 else None
    for r in rows:
        cells = []
        for lv in levels:
            c = r.cells.get((lv, "AP"))
            cells.append("" if c is None else c.text(bold=best[lv] is not None and c.mean == best[lv]))
        lines.append("| " + " | ".join([r.label] + cells) + " |")
    return "\n".join(lines)


def fig4_rows(rows: pd.DataFrame, settings: Sequence[str], schemes: Mapping[str, str], metric: str = "ap") -> list[Row]:
    """Fig. 4 data: for each setting, one row per fusion scheme (label ``<setting>: <scheme>``)."""
    out = []
    for s in settings:
        part = rows[(rows["table"] == "I") & (rows["setting"] == s)]
        for method, label in schemes.items():
            g = part[part["method"] == method]
            if g.empty:
                continue
            cells = {(lv, "AP"): _cell(gg[metric].tolist()) for lv, gg in g.groupby("level", sort=True)}
            out.append(Row(f"{g['display'].iloc[0]}: {label}", g["modality"].iloc[0], cells))
    return out


def render_tables(summary: pd.DataFrame, info: Mapping[str, Any], rows: pd.DataFrame | None = None) -> dict[str, str]:
    """Markdown of every table the run produced: keys ``I``, ``II``, ``III``, ``V``, ``fig4``."""
    if rows is None:
        raise ValueError("render_tables needs the per-seed rows")
    methods = [m for m in [info.get("baseline"), *info.get("methods", [])] if m]
    levels = list(info.get("levels", sorted(rows["level"].unique())))
    out = {}
    r1 = table_rows(rows, "I", methods)
    if r1:
        out["I"] = markdown_grid(r1, levels, methods)
    r2 = table_rows(rows, "II", methods)
    if r2:
        out["II"] = markdown_grid(r2, levels, methods, short=True)
    t5 = info.get("table5")
    if t5:
        labels = {}
        if info.get("baseline"):
            labels[info["baseline"]] = f"Baseline ({info['baseline']})"
        labels[f"{info['methods'][0]}-pad"] = "Padding"
        labels[info["methods"][0]] = f"Linear Proj. ({info['methods'][0]})"
        r5 = table5_rows(rows, t5, labels)
        if r5:
            out["V"] = markdown_rows_by_level(r5, levels)
    if info.get("fig4"):
        r4 = fig4_rows(rows, info["fig4"], fig4_schemes(info))
        if r4:
            out["fig4"] = markdown_rows_by_level(r4, levels, first="Setting: fusion")
    return out


def fig4_schemes(info: dict) -> dict[str, str]:
    """The Fig. 4 fusion schemes of a run, method label -> scheme name (baseline, average, dynamic)."""
    main = info["methods"][0]
    schemes = {}
    if info.get("baseline"):
        schemes[info["baseline"]] = "concatenation"
    schemes[f"{main}-average"] = "average"
    schemes[main] = "dynamic (GMM)"
    return schemes
