"""Shared CLI helpers: the 'not built yet' stub, logging, progress bars (:func:`progress_enabled`)."""

from __future__ import annotations

import logging
import sys

import click

from ..progress import progress_enabled

__all__ = ["not_built", "progress_enabled", "setup_logging"]


def not_built(name: str, what: str) -> click.Command:
    """A registered command that says clearly it is not implemented and exits 2."""

    @click.command(
        name=name,
        help=f"[not built yet] {what}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.pass_context
    def cmd(ctx: click.Context) -> None:
        click.echo(f"robusta-bench {name}: not built yet in this version ({what}).", err=True)
        ctx.exit(2)

    return cmd


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


