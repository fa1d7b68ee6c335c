"""CLI: ``verify`` (check a feature store, and repair it).

Exit status: 0 when every committed shard is sound (or, with ``--repair``, once
the damaged ones were dropped), 1 when damage was found and not repaired, 2
for usage errors (not a store).
"""

from __future__ import annotations

import click


@click.command("verify")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--repair", is_flag=True,
              help="Drop damaged shards from the store (recorded in a repair commit log, files deleted), remove "
                   "orphans of killed writers and stale claims, fold the commit logs into index.json. Rerun the same "
                   "extract afterwards: it re-extracts just the videos of the dropped shards.")
@click.pass_context
def verify_cmd(ctx, store, repair):
    """Check every shard of a feature store against the checksum recorded at commit.

    \b
    Lists damaged shards (missing, wrong size or checksum, unreadable) with the
    videos they hold, leftovers of killed runs and duplicate commits, and says
    how to repair.

    \b
    Example:
      robusta-bench verify store && robusta-bench verify store --repair
    """
    from ..store.feature_store import StoreError
    from ..store.verify import verify_store

    try:
        report = verify_store(store, repair=repair)
    except StoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(2)
        return
    click.echo(report.summary())
    ctx.exit(0 if report.ok else 1)


COMMANDS = [verify_cmd]
