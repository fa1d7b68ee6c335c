"""Shared CLI helpers: the 'not built yet' stub, logging, progress bars (:func:`progress_enabled`)."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, TypeVar

import click

from ..progress import progress_enabled

__all__ = ["not_built", "progress_enabled", "progress_options", "renamed_option", "setup_logging", "take_renamed"]

F = TypeVar("F", bound=Callable[..., Any])


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




def renamed_option(old: str, new: str, **kw: Any) -> Callable[[F], F]:
    """A hidden option under an old name (``old``), so old command lines still run; using it prints a note.

    The value reaches the command as ``<old name>_old`` (None when not given);
    the command takes it with :func:`take_renamed`.
    """
    dest = old.lstrip("-").replace("-", "_") + "_old"

    def note(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            click.echo(f"note: {old} is deprecated; use {new}", err=True)
        return value

    return click.option(old, dest, hidden=True, default=None, callback=note, help=f"Deprecated: {new}.", **kw)


def take_renamed(ctx: click.Context, new_param: str, new_value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of a renamed option: the old spelling's when given (both at once is a usage error)."""
    if old_value is None:
        return new_value
    if ctx.get_parameter_source(new_param) == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"give {new} only ({old} is its deprecated name)")
    return old_value
