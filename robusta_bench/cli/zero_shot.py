"""CLI: ``evaluate --dataset ucf-crime`` (zero-shot Table IV), called from :mod:`.evaluate`."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from .base import progress_enabled
from .evaluate import _parse_checkpoints, _usage, _user_errors


def _explicit(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


def run_zero_shot(ctx: click.Context, *, methods, baseline, tables, checkpoints, out, plan, **kw: Any) -> None:
    """Validate the options, run :func:`~robusta_bench.evaluation.zero_shot.evaluate_zero_shot`, print Table IV."""
    from ..evaluation.table3 import METHODS
    from ..evaluation.zero_shot import TITLES, evaluate_zero_shot

    wanted = {t.strip().upper() for t in tables.split(",") if t.strip()}
    if _explicit(ctx, "tables") and not wanted <= {"IV", "4"}:
        _usage(ctx, f"--dataset ucf-crime produces Table IV only (got --tables {tables}); Tables I-III and V are XD-Violence's")
        return
    if not _explicit(ctx, "methods"):
        labels = list(METHODS)
    else:
        base = baseline.strip()
        labels = list(dict.fromkeys(([base] if base.lower() not in ("", "none") else []) + list(methods)))
    ckpt = _parse_checkpoints(ctx, checkpoints, labels[0] if labels else "robusta")
    levels = kw.pop("levels")
    try:
        result = evaluate_zero_shot(
            methods=labels, checkpoints=ckpt, out_dir=out, plan=plan, progress=progress_enabled(),
            levels=levels.split(",") if isinstance(levels, str) else levels, **kw,
        )
    except _user_errors() as exc:
        _usage(ctx, str(exc))
        return
    for key, md in result.markdown.items():
        click.echo(f"\n{TITLES[key]}\n")
        click.echo(md)
    if result.skipped:
        click.echo(f"\nskipped {len(result.skipped)} setting(s) the store cannot provide: {', '.join(result.skipped)}")
    if result.failures:
        click.echo(f"\n{len(result.failures)} test video(s) left out:", err=True)
        for k, v in list(result.failures.items())[:20]:
            click.echo(f"  {k}: {v}", err=True)
    click.echo(f"\nresults: {result.files.get('csv')}\nreport: {result.files.get('report')}")
    ctx.exit(0 if result.ok else 1)
