"""CLI: ``publish`` and ``download`` (prebuilt feature shards).

Exit codes: 0 success, 1 a failed run (corrupted store, unreachable mirror,
unsafe release index, any file that failed), 2 usage errors (bad options,
unknown variant/extractor, no mirror given).
"""

from __future__ import annotations

from pathlib import Path

import click

from .base import progress_enabled

_VARIANTS_HELP = (
    "Variants to include, comma-separated or repeated: 'clean', NAME@SEVERITY (e.g. fog@3, any seed) "
    "or a slug such as fog-s3-seed0. Default: all."
)
_EXTRACTORS_HELP = "Extractors to include, comma-separated or repeated (e.g. i3d-inception,vggish). Default: all."


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


@click.command("publish")
@click.argument("store", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Release folder to create (missing, empty, or an earlier release to update). Upload it as is.",
)
@click.option("--variants", multiple=True, help=_VARIANTS_HELP)
@click.option("--extractors", multiple=True, help=_EXTRACTORS_HELP)
@click.option(
    "--copy", "copy", is_flag=True,
    help="Always copy shards (default: hardlink them when STORE and --out share a file system, else copy).",
)
def publish_cmd(store: Path, out: Path, variants: tuple[str, ...], extractors: tuple[str, ...], copy: bool) -> None:
    """Lay out a release of the feature store STORE for a static host.

    Every shard is checked against its group index first (a corrupted store is
    refused and nothing is written); then shards and group indexes are placed
    under --out with store.json, SHA256SUMS and release.json (the index that
    `robusta-bench download` reads).

    \b
    Example:
      robusta-bench publish features/ --out release-v1/ --variants clean,fog@3
    """
    from ..distribute import DistributeError, SelectionError, publish
    from ..distribute.download import human_bytes
    from ..store.feature_store import StoreError

    try:
        index = publish(store, out, variants or None, extractors or None, link=not copy, progress=progress_enabled())
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from None
    except (DistributeError, StoreError, OSError) as exc:
        _fail(str(exc))
        return
    from ..distribute.release import parse_release
    from ..files import read_json

    release = parse_release(read_json(index))
    total = sum(f.bytes for f in release.files)
    click.echo(
        f"published {len(release.groups)} group(s), {len(release.files)} shard(s), {human_bytes(total)} "
        f"(benchmark {release.benchmark_version}) to {out}"
    )
    click.echo(f"release index: {index}")


@click.command("download")
@click.option(
    "--from", "source", default=None, metavar="URL_OR_PATH",
    help="Release to download from: http(s):// URL, file:// URL or folder (its root or its release.json). "
    "Default: $ROBUSTA_MIRROR. There is no built-in mirror.",
)
@click.option(
    "--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Feature store to download into (created if missing; an existing store is completed).",
)
@click.option("--variants", multiple=True, help=_VARIANTS_HELP)
@click.option("--extractors", multiple=True, help=_EXTRACTORS_HELP)
@click.option("--jobs", "-j", default=4, show_default=True, type=click.IntRange(1, 64), help="Parallel download threads.")
@click.option("--dry-run", is_flag=True, help="Only list what would be fetched and its total size; write nothing.")
@click.option(
    "--retries", default=4, show_default=True, type=click.IntRange(0, 20),
    help="Extra attempts per file after a transient failure (connection error, timeout, HTTP 5xx/429), "
    "with exponential backoff.",
)
@click.option(
    "--timeout", default=30.0, show_default=True, type=click.FloatRange(0, min_open=True),
    help="Seconds to wait for a connection or for the next bytes of a response.",
)
def download_cmd(
    source: str | None,
    out: Path,
    variants: tuple[str, ...],
    extractors: tuple[str, ...],
    jobs: int,
    dry_run: bool,
    retries: int,
    timeout: float,
) -> None:
    """Download verified prebuilt feature shards into a feature store.

    Files already present with the right sha256 are skipped; interrupted files
    resume (HTTP Range) from a .partial file; every file is checked against the
    sha256 in release.json before it gets its final name. Exits 1 when any file
    failed: run again to finish after a network failure; a file damaged at the
    source (sha256 mismatch) needs the publisher to publish again.

    \b
    Examples:
      robusta-bench download --from https://example.org/robusta/v1/ \\
          --variants clean,fog@3 --extractors i3d-inception --out features/
      ROBUSTA_MIRROR=/mnt/mirror/v1 robusta-bench download --out features/ --dry-run
    """
    from ..distribute import DistributeError, NoSourceError, SelectionError, download
    from ..distribute.download import human_bytes
    from ..store.feature_store import StoreError

    try:
        report = download(
            source, out, variants or None, extractors or None, jobs=jobs, dry_run=dry_run,
            retries=retries, timeout=timeout, progress=progress_enabled(),
        )
    except (SelectionError, NoSourceError) as exc:
        raise click.UsageError(str(exc)) from None
    except (DistributeError, StoreError, OSError) as exc:
        _fail(str(exc))
        return
    if dry_run:
        for f in report.to_fetch:
            click.echo(f"{human_bytes(f.bytes):>10}  {f.path}")
    for path, error in sorted(report.failed.items()):
        click.echo(f"FAILED {error}" if path in error else f"FAILED {path}: {error}", err=True)
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)


COMMANDS = [publish_cmd, download_cmd]
