"""PNG figures of an evaluation (matplotlib, object API on the Agg canvas: no display, no global state).

- :func:`plot_ap_vs_level`: AP vs corruption level, one panel per setting, one
  line per method (band: +-1 std over seeds);
- :func:`plot_scores_over_time`: the paper's Fig. 5: per-frame anomaly scores
  of a few test videos, baseline in blue and the method in green, dotted on
  clean inputs and solid on corrupted ones, ground truth shaded red;
- :func:`plot_fusion_comparison`: the paper's Fig. 4: concatenation baseline vs
  average vs GMM (dynamic) fusion, AP vs level per setting;
- :func:`plot_health`: the modality-health figure (per-video and per-segment
  fusion weights lambda).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..files import atomic_path

COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
BASELINE_COLOUR, METHOD_COLOUR = "#1f77b4", "#2ca02c"


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return path


def plot_ap_vs_level(rows: pd.DataFrame, methods: Sequence[str], path: Path, metric: str = "ap", tables: Sequence[str] = ("I", "II")) -> Path:
    """AP (%) vs level for every setting of ``tables``, one line per method."""
    part = rows[rows["table"].isin(tables) & rows["method"].isin(methods)]
    settings = list(dict.fromkeys(part["setting"]))
    if not settings:
        raise ValueError("no results to plot")
    ncols = min(6, len(settings))
    nrows = math.ceil(len(settings) / ncols)
    fig = _figure(3.0 * ncols, 2.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    for i, s in enumerate(settings):
        ax = axes[i // ncols][i % ncols]
        g = part[part["setting"] == s]
        for j, m in enumerate(methods):
            gm = g[g["method"] == m]
            if gm.empty:
                continue
            agg = gm.groupby("level")[metric].agg(["mean", "std"]).sort_index()
            x = agg.index.to_numpy(dtype=float)
            y = 100 * agg["mean"].to_numpy()
            sd = 100 * agg["std"].fillna(0.0).to_numpy()
            ax.plot(x, y, marker="o", ms=3, color=COLOURS[j % len(COLOURS)], label=m)
            if (sd > 0).any():
                ax.fill_between(x, y - sd, y + sd, color=COLOURS[j % len(COLOURS)], alpha=0.2, lw=0)
        title = g["display"].iloc[0] + (" (only " + g["modality"].iloc[0] + ")" if g["table"].iloc[0] == "II" else "")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel("AP (%)")
        if i // ncols == nrows - 1:
            ax.set_xlabel("corrupted videos (%)")
    for k in range(len(settings), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    axes[0][0].legend(fontsize=8, loc="lower left")
    from .sample_size import caption_from_rows

    n = caption_from_rows(part)
    fig.suptitle("Frame-level AP vs corruption level" + (f"\n{n}" if n else ""), fontsize=11)
    return _save(fig, path)


def pick_videos(gt: Mapping[str, np.ndarray], names: Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` violent videos for Fig. 5: the most anomalous frames while still partly normal (deterministic)."""
    cands = []
    for name in names:
        g = gt[name]
        pos = float(g.sum())
        if pos > 0 and pos < 0.9 * g.size:
            cands.append((-pos, name))
    cands.sort()
    return [c[1] for c in cands[:n]]


def plot_scores_over_time(
    curves: Sequence[Mapping[str, Any]],
    path: Path,
    *,
    baseline: str | None,
    method: str,
    condition: str,
    n_test: int | None = None,
) -> Path:
    """Fig. 5. ``curves``: one mapping per video with ``name``, ``gt`` (frames) and ``scores``:
    ``{(label, "clean"|"corrupted"): snippet scores}``."""
    if not curves:
        raise ValueError("no videos to plot")
    fig = _figure(10, 2.3 * len(curves))
    axes = fig.subplots(len(curves), 1, squeeze=False)
    for ax, c in zip(axes[:, 0], curves):
        gt = np.asarray(c["gt"])
        x = np.arange(gt.size)
        ax.fill_between(x, 0, 1, where=gt > 0, color="red", alpha=0.2, lw=0, step="post", label="ground truth")
        for label, colour in ((baseline, BASELINE_COLOUR), (method, METHOD_COLOUR)):
            if label is None:
                continue
            for cond, style in (("clean", ":"), ("corrupted", "-")):
                s = c["scores"].get((label, cond))
                if s is None:
                    continue
                ax.plot(x[: 16 * len(s)], np.repeat(s, 16)[: x.size], style, color=colour, lw=1.2, label=f"{label} ({cond})")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, max(gt.size - 1, 1))
        ax.set_ylabel("anomaly score")
        ax.set_title(c["name"], fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("frame")
    axes[0, 0].legend(fontsize=7, ncol=5, loc="upper left")
    of = f" ({len(curves)} of {n_test} test videos shown)" if n_test else ""
    fig.suptitle(f"Anomaly scores over time: clean (dotted) vs {condition} (solid){of}", fontsize=10)
    return _save(fig, path)


def plot_fusion_comparison(rows: pd.DataFrame, settings: Sequence[str], schemes: Mapping[str, str], path: Path, metric: str = "ap") -> Path:
    """Fig. 4: for each setting, AP vs level of the concatenation baseline, average and GMM fusion."""
    fig = _figure(3.4 * len(settings), 2.8)
    axes = fig.subplots(1, len(settings), squeeze=False, sharey=True)
    for ax, s in zip(axes[0], settings):
        g = rows[(rows["table"] == "I") & (rows["setting"] == s)]
        for j, (m, label) in enumerate(schemes.items()):
            gm = g[g["method"] == m]
            if gm.empty:
                continue
            agg = gm.groupby("level")[metric].mean().sort_index()
            ax.plot(agg.index.to_numpy(dtype=float), 100 * agg.to_numpy(), marker="o", ms=3, color=COLOURS[j % len(COLOURS)], label=label)
        ax.set_title(g["display"].iloc[0] if len(g) else s, fontsize=9)
        ax.set_xlabel("corrupted videos (%)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("AP (%)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    from .sample_size import caption_from_rows

    n = caption_from_rows(rows)
    fig.suptitle("Fusion: concatenation vs average vs dynamic (GMM) weighting" + (f"\n{n}" if n else ""), fontsize=10)
    return _save(fig, path)


def plot_health(videos: pd.DataFrame, segments: pd.DataFrame, path: Path, examples: int = 3) -> Path:
    """Modality health: per-video mean lambda (histogram per modality and variant) and a few per-segment traces."""
    variants = list(dict.fromkeys(videos["variant"]))
    mods = [m for m in ("visual", "audio") if f"{m}_lambda_mean" in videos and videos[f"{m}_lambda_mean"].notna().any()]
    ex_names = list(dict.fromkeys(segments["name"]))[:examples]
    fig = _figure(12, 2.4 * max(len(mods), 1) + 2.0 * len(ex_names))
    grid = fig.add_gridspec(len(mods) + len(ex_names), max(len(mods), 1))
    bins = np.linspace(0, 0.5, 26)
    for i, m in enumerate(mods):
        ax = fig.add_subplot(grid[i, :])
        for j, v in enumerate(variants):
            vals = videos.loc[videos["variant"] == v, f"{m}_lambda_mean"].dropna().to_numpy()
            if vals.size:
                ax.hist(vals, bins=bins, alpha=0.5, color=COLOURS[j % len(COLOURS)], label=v)
        ax.set_title(f"{m}: per-video mean weight lambda (0.5 = looks clean, 0 = corrupted)", fontsize=9)
        ax.set_xlim(0, 0.5)
        ax.set_ylabel("videos")
        ax.legend(fontsize=7)
    for k, name in enumerate(ex_names):
        seg = segments[segments["name"] == name]
        for col_i, m in enumerate(mods):
            ax = fig.add_subplot(grid[len(mods) + k, col_i])
            for j, v in enumerate(variants):
                sv = seg[seg["variant"] == v]
                ax.plot(sv["segment"].to_numpy(), sv[f"{m}_lambda"].to_numpy(), color=COLOURS[j % len(COLOURS)],
                        lw=1.2, ls=("-", "--", ":", "-.")[j % 4], label=v)
            ax.set_ylim(-0.01, 0.51)
            ax.set_ylabel(f"{m} lambda")
            ax.set_title(name, fontsize=8)
            ax.grid(alpha=0.3)
            if k == 0:
                ax.legend(fontsize=6)
            if k == len(ex_names) - 1:
                ax.set_xlabel("segment (16 frames)")
    n_videos = videos["name"].nunique() if "name" in videos else len(videos)
    fig.suptitle(f"Modality health (GMM fusion weights), n = {n_videos} videos", fontsize=11)
    return _save(fig, path)
