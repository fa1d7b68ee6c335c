"""Write an evaluation's files: results.csv/json, Markdown/CSV tables, PNG plots and one report.html.

``report.html`` is self-contained (the PNGs are embedded as data URIs), so it
can be mailed or attached as one file. Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..files import atomic_write_json, atomic_write_text
from .compose import compose

TABLE_TITLES = {
    "I": "Table I: AP (%) under each corruption and level (rows corruption x modality, columns level x method)",
    "II": "Table II: one modality missing for ALL test videos, the other corrupted at the level (V: audio missing, A: visual missing)",
    "III": "Table III: plug-and-play, each baseline and its RobustA version under mixed corruption (AP %; paper's numbers labelled)",
    "IV": "Table IV: zero-shot on UCF-Crime, trained on XD-Violence, audio missing (pooled frame ROC-AUC %; paper's numbers labelled)",
    "V": "Table V: linear projection vs zero-padding vs concatenation baseline",
    "fig4": "Fig. 4 (as a table): concatenation vs average vs dynamic (GMM) fusion",
}
FILES = {"I": "table1", "II": "table2", "III": "table3", "IV": "table4", "V": "table5", "fig4": "fig4"}


def write_outputs(result: Any, out_dir: Path, *, plan: Any, gt: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, Path]:
    """Write everything for ``result`` (an :class:`~.runner.EvalResult`) into ``out_dir``; returns name -> path."""
    from . import plots, tables

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    info = result.info

    files["csv"] = _write_csv(result.rows, out_dir / "results.csv")
    files["summary_csv"] = _write_csv(result.summary, out_dir / "summary.csv")
    payload = {
        "info": info,
        "rows": _records(result.rows),
        "summary": _records(result.summary),
        "skipped": result.skipped,
        "failures": result.failures,
        "timings": {k: round(float(v), 3) for k, v in result.timings.items()},
    }
    atomic_write_json(out_dir / "results.json", payload)
    files["json"] = out_dir / "results.json"

    md_parts = []
    from .sample_size import sample_caption

    note = f"\n{sample_caption(info['sample'])}.\n" if info.get("sample") else ""
    note += "".join(f"\n**Warning:** {w}.\n" for w in info.get("warnings", []))
    for key, md in result.markdown.items():
        path = out_dir / f"{FILES[key]}.md"
        atomic_write_text(path, f"## {TABLE_TITLES[key]}\n\n{md}\n{note}")
        files[f"table_{key}"] = path
        md_parts.append(f"## {TABLE_TITLES[key]}\n\n{md}\n{note}")
    atomic_write_text(out_dir / "tables.md", "\n".join(md_parts))
    if "III" in result.markdown:  # Table III also as a CSV with the paper's columns
        from .table3 import table3_frame

        files["table3_csv"] = _write_csv(table3_frame(result.rows, info), out_dir / "table3.csv")
    files["tables_md"] = out_dir / "tables.md"

    methods = [m for m in [info.get("baseline"), *info.get("methods", [])] if m]
    images: list[tuple[str, Path]] = []
    try:
        files["ap_vs_level"] = plots.plot_ap_vs_level(result.rows, methods, out_dir / "ap_vs_level.png")
        images.append(("AP vs corruption level", files["ap_vs_level"]))
    except ValueError:
        pass
    if info.get("fig4"):
        schemes = tables.fig4_schemes(info)
        files["fig4"] = plots.plot_fusion_comparison(result.rows, info["fig4"], schemes, out_dir / "fusion_comparison.png")
        images.append(("Fig. 4: fusion schemes", files["fig4"]))
    fig5 = _fig5_curves(result, plan, gt, names)
    if fig5 is not None:
        curves, condition = fig5
        files["fig5"] = plots.plot_scores_over_time(
            curves, out_dir / "scores_over_time.png", baseline=info.get("baseline"), method=info["methods"][0], condition=condition,
            n_test=len(names),
        )
        images.append((f"Fig. 5: anomaly scores over time (clean vs {condition})", files["fig5"]))

    files["report"] = write_html(out_dir / "report.html", result, images)
    return files


def _fig5_curves(result: Any, plan: Any, gt: Mapping[str, np.ndarray], names: Sequence[str]) -> tuple[list[dict], str] | None:
    """Per-video curves (clean vs corrupted) of the baseline and the main method, first seed."""
    from . import plots

    bank = result.bank
    info = result.info
    if bank is None or not names:
        return None
    evaluated = list(dict.fromkeys(result.rows.loc[result.rows["table"] == "I", "setting"]))
    if not evaluated:
        return None
    # the most telling corrupted condition evaluated (the paper's Fig. 5 mixes several)
    preferred = ("missing_visual", "contrast", "fog", "bit_error", "motion_blur+babble")
    setting_name = next((c for c in preferred if c in evaluated), evaluated[0])
    from .compose import parse_setting

    setting = parse_setting(setting_name)
    videos = plots.pick_videos(gt, names, 3)
    if not videos:
        return None
    corrupted = dict(zip(videos, compose(plan, setting, 100, videos)))
    seed = info["seeds"][0]
    curves = []
    for n in videos:
        scores = {}
        for label in (info.get("baseline"), info["methods"][0]):
            if label is None or (label, seed) not in bank.scores:
                continue
            per = bank.scores[(label, seed)].get(n, {})
            if ("clean", "clean") in per:
                scores[(label, "clean")] = per[("clean", "clean")].offline
            if corrupted[n] in per:
                scores[(label, "corrupted")] = per[corrupted[n]].offline
        curves.append({"name": n, "gt": gt[n], "scores": scores})
    return curves, setting.display


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else (v.item() if hasattr(v, "item") else v)) for k, v in rec.items()})
    return out


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))
    return path


# ---------------------------------------------------------------------- HTML
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown_table_html(md: str) -> str:
    """A pipe-table Markdown string (as :mod:`.tables` writes) as an HTML table; ``**x**`` becomes bold."""
    lines = [ln.strip() for ln in md.strip().splitlines() if ln.strip().startswith("|")]
    if len(lines) < 2:
        return f"<pre>{html.escape(md)}</pre>"

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip("|").split("|")]

    def fmt(c: str) -> str:
        return _BOLD.sub(r"<b>\1</b>", html.escape(c))

    head = "".join(f"<th>{fmt(c)}</th>" for c in cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in cells(ln)) + "</tr>" for ln in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).name)}" src="data:image/png;base64,{data}">'


def _sample_html(info: Mapping[str, Any]) -> list[str]:
    """The sample line and, when the sample is too small, a warning banner."""
    from .sample_size import sample_caption

    out = []
    if info.get("sample"):
        out.append(f"<p><b>Sample:</b> {html.escape(sample_caption(info['sample']))}.</p>")
    if info.get("warnings"):
        out.append("<div class='banner' style='border:2px solid #c00;background:#fee;padding:0.5em 1em;margin:1em 0'>"
                   "<b>These numbers rest on too little data to mean much:</b><ul>")
        out += [f"<li>{html.escape(w)}</li>" for w in info["warnings"]]
        out.append("</ul></div>")
    return out


def write_html(path: Path, result: Any, images: Sequence[tuple[str, Path]]) -> Path:
    """The single-file report: run information, every table, every figure, skipped settings and failures."""
    info = result.info
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>robusta-bench evaluation</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}"
        "table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child,th:first-child,"
        "td:nth-child(2){text-align:left}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}"
        "code{background:#f6f6f6}</style></head><body>",
        "<h1>robusta-bench evaluation</h1>",
        "<p>Frame-level AP (%) of the offline head, official XD-Violence rule "
        "(precision-recall curve + trapezoidal area over all test frames in list order).</p>",
    ]
    parts += _sample_html(info)
    parts += ["<h2>Run</h2><table><tbody>"]
    for k in ("store", "visual_extractor", "audio_extractor", "severity", "variant_seed", "seeds", "baseline", "methods",
              "levels", "tables", "plan", "test_videos", "epochs", "device", "checkpoints"):
        parts.append(f"<tr><td>{esc(k)}</td><td>{esc(json.dumps(info.get(k)))}</td></tr>")
    for label, cfg in (info.get("recipes") or {}).items():
        text = "unknown (detector file without a training record)" if not cfg else (
            f"{cfg.get('recipe', '?')}: " + ", ".join(f"{k}={v}" for k, v in cfg.items() if k not in ("recipe", "device")))
        parts.append(f"<tr><td>recipe {esc(label)}</td><td>{esc(text)}</td></tr>")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    parts.append(f"<tr><td>timings</td><td>{esc(timings)}</td></tr></tbody></table>")
    for key, md in result.markdown.items():
        parts.append(f"<h2>{esc(TABLE_TITLES[key])}</h2>{markdown_table_html(md)}")
    for title, img in images:
        parts.append(f"<h2>{esc(title)}</h2>{_img(img)}")
    if result.skipped:
        parts.append("<h2>Skipped settings</h2><ul>")
        parts += [f"<li><code>{esc(k)}</code>: {esc(v)}</li>" for k, v in result.skipped.items()]
        parts.append("</ul>")
    if result.failures:
        from .failures import group_failures

        parts.append(f"<h2>Videos left out ({len(result.failures)})</h2>")
        for cause, items in group_failures(result.failures).items():
            parts.append(f"<h3>{esc(cause)} ({len(items)})</h3><ul>")
            parts += [f"<li><code>{esc(k)}</code>: {esc(v)}</li>" for k, v in items]
            parts.append("</ul>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
    return Path(path)
