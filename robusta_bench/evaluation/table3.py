"""Table III (plug-and-play): each baseline and its RobustA version under mixed visual / mixed audio corruption.

``evaluate --tables III`` trains (or loads) the three concatenation baselines
of the paper and RobustA around each of them:

========  ===========  ==================
backbone  baseline     RobustA version
========  ===========  ==================
XDViD     ``hlnet``    ``robusta``
HyperVD   ``hypervd``  ``robusta-hypervd``
RTFM      ``rtfm``     ``robusta-rtfm``
========  ===========  ==================

and scores the ``mixed_visual`` and ``mixed_audio`` settings (every corrupted
test video gets one of the plan's corruptions of that modality) at 0 % and
100 % plus any other level asked for. Each pair is trained with its
backbone's upstream recipe (:func:`recipe_for`: ``rtfm.OFFICIAL_TRAIN``,
``hypervd.OFFICIAL_TRAIN``, the official XDVioDet recipe for HL-Net);
``--epochs`` still overrides the epochs. The paper's numbers are shown next
to ours in separate, labelled columns (:data:`PAPER_TABLE3`): they were
measured on the real XD-Violence with the paper's features and are a
reference, not an expected value for another feature set.

The runner calls :func:`prepare` before selecting settings and
:func:`render_table3` / :func:`table3_frame` when writing the tables.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

#: (display name, baseline method, RobustA method) in the paper's row order
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("XDViD (HL-Net)", "hlnet", "robusta"),
    ("HyperVD", "hypervd", "robusta-hypervd"),
    ("RTFM", "rtfm", "robusta-rtfm"),
)
METHODS: tuple[str, ...] = tuple(m for _, b, r in PAIRS for m in (b, r))
SETTINGS: tuple[str, ...] = ("mixed_visual", "mixed_audio")
#: The paper's Table III (AP %, real XD-Violence): method -> (visual 0 %, visual 100 %, audio 0 %, audio 100 %)
PAPER_TABLE3: dict[str, tuple[float, float, float, float]] = {
    "hlnet": (78.36, 71.45, 78.36, 67.14),
    "robusta": (80.00, 76.27, 80.00, 69.97),
    "hypervd": (85.60, 73.28, 85.60, 76.90),
    "robusta-hypervd": (85.90, 77.29, 85.90, 78.18),
    "rtfm": (77.66, 70.43, 77.66, 77.44),
    "robusta-rtfm": (77.30, 72.67, 77.30, 74.21),
}


def recipe_for(method: str) -> dict[str, Any]:
    """Training settings of ``method``'s backbone upstream (an empty dict: the default HL-Net recipe)."""
    from ..detectors.hypervd import OFFICIAL_TRAIN as HYPERVD_TRAIN
    from ..detectors.rtfm import OFFICIAL_TRAIN as RTFM_TRAIN

    base = method.split("-pad")[0].split("-average")[0]
    if base in ("rtfm", "robusta-rtfm"):
        return dict(RTFM_TRAIN)
    if base in ("hypervd", "robusta-hypervd"):
        return dict(HYPERVD_TRAIN)
    return {}


def config_for(method: str, epochs: int | None = None, device: str = "cpu", **overrides: Any) -> Any:
    """The :class:`~robusta_bench.detectors.train.TrainConfig` of ``method``: its backbone's recipe, then
    ``overrides``, then ``epochs`` when given."""
    from .training import train_config

    kw = {**recipe_for(method), **overrides}
    if epochs is not None:
        kw["epochs"] = int(epochs)
    return train_config(kw.pop("epochs", None), device, **kw)


def prepare(
    tables: Sequence[str],
    methods: Sequence[str],
    baseline: str | None,
    corruptions: str | Sequence[str],
    levels: Sequence[float],
) -> tuple[list[str], str | None, str | Sequence[str], tuple[float, ...]]:
    """``(methods, baseline, corruptions, levels)`` widened for Table III when it is asked for.

    Adds the six Table III methods (keeping the caller's first method first),
    the mixed settings (only those when Table III is the only table and
    ``corruptions`` is ``all``) and the levels 0 and 100.
    """
    if "III" not in tables:
        return list(methods), baseline, corruptions, tuple(levels)
    out = list(dict.fromkeys([*methods, *[m for m in METHODS if m != baseline]]))
    if isinstance(corruptions, str) and corruptions.strip().lower() == "all":
        if set(tables) == {"III"}:
            corruptions = list(SETTINGS)
    else:
        items = corruptions.split(",") if isinstance(corruptions, str) else list(corruptions)
        items = [c.strip() for c in items if c.strip()]
        corruptions = items + [s for s in SETTINGS if s not in items]
    lv = tuple(sorted(set(levels) | {0, 100}))
    return out, baseline, corruptions, lv


def _cells(rows: pd.DataFrame, method: str, setting: str, levels: Sequence[float], metric: str) -> list[str]:
    from .tables import _cell

    part = rows[(rows["method"] == method) & (rows["setting"] == setting) & (rows["table"] == "I")]
    out = []
    for lv in levels:
        vals = part.loc[part["level"] == lv, metric].tolist()
        out.append(_cell(vals).text() if vals else "")
    return out


def _present_pairs(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    have = set(rows["method"])
    return [p for p in PAIRS if p[1] in have or p[2] in have]


def render_table3(rows: pd.DataFrame, info: Mapping[str, Any], metric: str = "ap") -> str:
    """Markdown of Table III: ours per level (mean ± std over seeds) and, separately labelled, the paper's."""
    levels = sorted(info.get("levels", [0, 100]))
    header = ["Backbone", "Method"]
    header += [f"Visual {lv:g}%" for lv in levels] + [f"Audio {lv:g}%" for lv in levels]
    header += ["paper: Visual 0%", "paper: Visual 100%", "paper: Audio 0%", "paper: Audio 100%"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"]
    for display, base, ours in _present_pairs(rows):
        for method, kind in ((base, "Baseline"), (ours, "Ours (RobustA)")):
            cells = _cells(rows, method, SETTINGS[0], levels, metric) + _cells(rows, method, SETTINGS[1], levels, metric)
            paper = [f"{x:.2f}" for x in PAPER_TABLE3[method]]
            lines.append("| " + " | ".join([display, f"{kind}: {method}", *cells, *paper]) + " |")
    lines.append("")
    lines.append(
        "AP (%) of the offline head, mean ± std over training seeds. The `paper:` columns are the RobustA paper's "
        "Table III (real XD-Violence, its ResNet50-I3D + VGGish features), for reference only."
    )
    return "\n".join(lines)


def table3_frame(rows: pd.DataFrame, info: Mapping[str, Any], metric: str = "ap") -> pd.DataFrame:
    """Table III as a DataFrame (``table3.csv``): ours (mean, std in percent) and ``paper_*`` columns."""
    levels = sorted(info.get("levels", [0, 100]))
    recs = []
    for display, base, ours in _present_pairs(rows):
        for method, kind in ((base, "baseline"), (ours, "robusta")):
            rec: dict[str, Any] = {"backbone": display, "kind": kind, "method": method}
            for setting, tag in zip(SETTINGS, ("visual", "audio")):
                part = rows[(rows["method"] == method) & (rows["setting"] == setting) & (rows["table"] == "I")]
                for lv in levels:
                    v = part.loc[part["level"] == lv, metric].to_numpy(dtype=np.float64)
                    rec[f"{tag}_{lv:g}_mean"] = round(100 * float(v.mean()), 4) if v.size else None
                    rec[f"{tag}_{lv:g}_std"] = round(100 * float(v.std(ddof=1)), 4) if v.size > 1 else (0.0 if v.size else None)
            for key, val in zip(("paper_visual_0", "paper_visual_100", "paper_audio_0", "paper_audio_100"), PAPER_TABLE3[method]):
                rec[key] = val
            recs.append(rec)
    return pd.DataFrame(recs)


def plan_with_types(plan: Any, visual_types: Sequence[str], audio_types: Sequence[str]) -> Any:
    """A copy of ``plan`` whose mixed settings deal only ``visual_types`` / ``audio_types`` (a smaller benchmark).

    Each video's mixed type ``VISUAL_TYPES[i]`` becomes ``visual_types[i % len(visual_types)]`` (audio
    alike), so the subsets and their nesting are the plan's and the types stay spread evenly. Used by
    the demo, whose store has two corruptions per modality.
    """
    from dataclasses import replace

    from ..corruptions.plan import AUDIO_TYPES, VISUAL_TYPES

    if not visual_types or not audio_types:
        raise ValueError("at least one visual and one audio type are needed")
    table = plan.table.copy()
    table["mixed_visual"] = [visual_types[VISUAL_TYPES.index(t) % len(visual_types)] for t in table["mixed_visual"]]
    table["mixed_audio"] = [audio_types[AUDIO_TYPES.index(t) % len(audio_types)] for t in table["mixed_audio"]]
    return replace(plan, table=table, visual_types=tuple(visual_types), audio_types=tuple(audio_types))
