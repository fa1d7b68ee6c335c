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
        from ..corruptions.base import CORRUPTIONS as registry
    elif what == "weightings":
        from ..detectors.weighting import WEIGHTINGS as registry  # type: ignore[no-redef]
    elif what == "extractors":
        from ..models.extractor import EXTRACTORS as registry  # type: ignore[no-redef]
    else:
        from ..detectors.base import DETECTORS as registry  # type: ignore[no-redef]
    rows = registry.describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no {what} registered")
    width = max([18, *(len(row["name"]) for row in rows)])
    for row in rows:
        extra = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("name", "levels", "description"))
        click.echo(f"{row['name']:<{width}} {extra}")


COMMANDS = [list_cmd]
