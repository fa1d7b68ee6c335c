"""CLI: ``list`` (registries)."""

from __future__ import annotations

import json

import click


@click.command("list")
@click.argument("what", type=click.Choice(["corruptions", "extractors", "detectors", "weightings"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(what: str, as_json: bool) -> None:
    """List the entries of one registry (corruptions, extractors, detectors or weightings: RobustA's fusion weighting options)."""
    if what == "corruptions":
        from ..corruptions.base import CORRUPTIONS, _ensure_loaded
    elif what == "weightings":
        from ..detectors.weighting import WEIGHTINGS as CORRUPTIONS  # type: ignore[no-redef]

        def _ensure_loaded() -> None:  # registered on import
            return None
    elif what == "extractors":
        from ..features.base import EXTRACTORS as CORRUPTIONS, _ensure_loaded  # type: ignore[no-redef]
    else:
        from ..detectors.base import DETECTORS as CORRUPTIONS, _ensure_loaded  # type: ignore[no-redef]
    _ensure_loaded()
    rows = CORRUPTIONS.describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no {what} registered")
    for row in rows:
        extra = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("name", "levels", "description"))
        click.echo(f"{row['name']:<18} {extra}")


COMMANDS = [list_cmd]
