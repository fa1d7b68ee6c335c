"""Corruption detection by the reliability score: the table and plot of ``modality-health``.

For every corrupted variant, the modality it corrupts and every weighting
option, :func:`detection_table` compares the variant's scores of that
modality with the *clean* scores of the same videos:

- ``auc_segment``: ROC-AUC of the per-segment score, corrupted vs clean
  segments (0.5: blind; below 0.5: corrupted segments look *more* typical);
- ``auc_video``: the same on each video's mean score;
- ``lambda_clean`` / ``lambda_corrupted``: mean Eq. 5 weight of the modality;
- ``w_clean`` / ``w_corrupted``: mean normalised fusion weight of the
  modality (the other modality clean): 0.5 when both look clean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

COLUMNS = [
    "variant", "corruption", "severity", "modality", "weighting", "videos", "segments",
    "auc_segment", "auc_video", "lambda_clean", "lambda_corrupted", "w_clean", "w_corrupted",
]


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC-AUC of scores, ``positive`` (corrupted) vs ``negative`` (clean); NaN if either is empty."""
    from sklearn.metrics import roc_auc_score

    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(y, np.r_[pos, neg]))


def _modality_weight(frame: pd.DataFrame, modality: str, option: str) -> pd.Series:
    w = frame[f"w_visual_{option}"]
    return w if modality == "visual" else 1.0 - w


def detection_table(
    segments: pd.DataFrame, corrupted: Mapping[str, Sequence[str]], options: Sequence[str]
) -> pd.DataFrame:
    """One row per (corrupted variant, corrupted modality, option); see the module docstring.

    ``segments`` is ``modality_health``'s per-segment table (with a ``clean``
    variant); ``corrupted`` maps each variant slug to the modalities it corrupts.
    """
    from ..store.feature_store import Variant

    clean = segments[segments["variant"] == "clean"]
    rows = []
    for slug, mods in corrupted.items():
        if slug == "clean" or not mods:
            continue
        var = Variant.parse(slug)
        bad = segments[segments["variant"] == slug]
        names = sorted(set(bad["name"]) & set(clean["name"]))
        bad, ref = bad[bad["name"].isin(names)], clean[clean["name"].isin(names)]
        for m in mods:
            for o in options:
                col = f"{m}_{o}_score"
                if col not in bad or col not in ref:
                    continue
                rows.append({
                    "variant": slug, "corruption": var.corruption, "severity": var.severity, "modality": m,
                    "weighting": o, "videos": len(names), "segments": len(bad),
                    "auc_segment": roc_auc(bad[col], ref[col]),
                    "auc_video": roc_auc(bad.groupby("name")[col].mean(), ref.groupby("name")[col].mean()),
                    "lambda_clean": float(ref[f"{m}_{o}_lambda"].mean()),
                    "lambda_corrupted": float(bad[f"{m}_{o}_lambda"].mean()),
                    "w_clean": float(_modality_weight(ref, m, o).mean()),
                    "w_corrupted": float(_modality_weight(bad, m, o).mean()),
                })
    return pd.DataFrame(rows, columns=COLUMNS)


def detection_markdown(table: pd.DataFrame) -> str:
    """A Markdown table: one line per corruption/severity/modality, AUCs and weights per option."""
    lines = [
        "| corruption | sev | modality | weighting | AUC segment | AUC video | lambda clean -> corrupted | w clean -> corrupted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.sort_values(["modality", "corruption", "severity", "weighting"], ascending=[False, True, True, True]).itertuples():
        lines.append(
            f"| {r.corruption} | {r.severity} | {r.modality} | {r.weighting} | {r.auc_segment:.3f} | {r.auc_video:.3f} "
            f"| {r.lambda_clean:.3f} -> {r.lambda_corrupted:.3f} | {r.w_clean:.3f} -> {r.w_corrupted:.3f} |"
        )
    return "\n".join(lines)


def plot_detection(table: pd.DataFrame, path: Path) -> Path:
    """Per modality: segment ROC-AUC (top) and the corrupted modality's fusion weight (bottom) vs
    corruption, one bar per option, severities as shades."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mods = [m for m in ("visual", "audio") if (table["modality"] == m).any()]
    options = list(dict.fromkeys(table["weighting"]))
    sevs = sorted(table["severity"].unique())
    fig, axes = plt.subplots(2, len(mods), figsize=(7 * len(mods), 7), squeeze=False)
    colours = plt.get_cmap("tab10")
    for j, m in enumerate(mods):
        sub = table[table["modality"] == m]
        corrs = sorted(sub["corruption"].unique())
        width = 0.8 / max(len(options) * len(sevs), 1)
        for row, (col, ylabel) in enumerate((("auc_segment", "ROC-AUC (segments)"), ("w_corrupted", "fusion weight, corrupted"))):
            ax = axes[row][j]
            for oi, o in enumerate(options):
                for si, s in enumerate(sevs):
                    vals = [sub[(sub["corruption"] == c) & (sub["weighting"] == o) & (sub["severity"] == s)][col].mean() for c in corrs]
                    x = np.arange(len(corrs)) + (oi * len(sevs) + si) * width - 0.4
                    ax.bar(x, vals, width, color=colours(oi), alpha=0.35 + 0.65 * (si + 1) / len(sevs),
                           label=f"{o} s{s}" if j == 0 and row == 0 else None)
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
            ax.set_xticks(np.arange(len(corrs)))
            ax.set_xticklabels(corrs, rotation=30, ha="right", fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{m}: {ylabel}", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
    fig.legend(loc="upper center", ncol=min(len(options) * len(sevs), 6), fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
