"""Shared CLI helpers: the 'not built yet' stub, logging, progress bars."""

from __future__ import annotations

import logging
import sys

import click


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


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    from ..progress import configure

    if value:
        configure(quiet=True)


def _set_interval(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
    from ..progress import configure

    if value is not None:
        configure(interval=value)


def progress_options(f):
    """Add ``--quiet`` and ``--progress-interval`` to a command or group (they set process-wide options)."""
    quiet = click.Option(["--quiet", "-q"], is_flag=True, expose_value=False, is_eager=True, callback=_set_quiet,
                         help="No progress output (neither bar nor status lines).")
    every = click.Option(["--progress-interval"], type=click.FloatRange(min=0.01), default=None, metavar="SECONDS",
                         expose_value=False, is_eager=True, callback=_set_interval,
                         help="Seconds between progress status lines when stderr is not a terminal "
                              "(log files, pipes, nohup) [default: 30, or $ROBUSTA_PROGRESS_INTERVAL].")
    if isinstance(f, click.Command):
        if not any(p.name in ("quiet", "progress_interval") for p in f.params):
            f.params.extend([quiet, every])
        return f
    f = click.option("--progress-interval", type=click.FloatRange(min=0.01), default=None, metavar="SECONDS",
                     expose_value=False, is_eager=True, callback=_set_interval, help=every.help)(f)
    return click.option("--quiet", "-q", is_flag=True, expose_value=False, is_eager=True, callback=_set_quiet,
                        help=quiet.help)(f)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def progress_enabled() -> bool:
    """Progress unless ``--quiet``: a bar on a terminal, periodic status lines otherwise
    (see :mod:`robusta_bench.progress`)."""
    from ..progress import progress_enabled as enabled

    return enabled()
