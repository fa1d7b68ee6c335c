"""``robusta-bench``: the root command group.

Each area of the library has one CLI module here (dataset, corrupt, features,
evaluate, distribute) whose ``COMMANDS`` list is added to the root group; every
command body is: parse options, make one library call, print.
"""

from __future__ import annotations

import importlib

import click

from .. import BENCHMARK_VERSION, __version__
from .base import progress_options, setup_logging

AREAS = ("dataset", "split", "corrupt", "features", "store", "weights", "evaluate", "distribute", "utils")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="robusta-bench", message=f"%(prog)s %(version)s (benchmark {BENCHMARK_VERSION})")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@progress_options
def cli(verbose: int) -> None:
    """Corruption robustness benchmark for audio-visual anomaly detection (RobustA).

    \b
    Pipeline:
      index     probe a folder of videos into a manifest
      synth     generate a small synthetic XD-Violence-style dataset
      split     write a split/label list for your own videos
      corrupt   write corrupted copies of the planned test videos
      show      picture of one frame / spectrogram at severities 0-5
      extract   extract I3D / YAMNet / VGGish features into a feature store
      verify    check a feature store's shards against their checksums (and repair)
      evaluate  train/score HL-Net and RobustA, write the paper's tables and plots
      publish / download   distribute verified prebuilt feature shards

    Progress: a bar on a terminal; without one (nohup, pipes, log files, job
    schedulers) a status line on stderr every --progress-interval seconds
    (done/total, rate, ETA). --quiet turns both off. Both options work before
    or after the command name.
    """
    setup_logging(verbose)
    from ..progress import reset

    click.get_current_context().call_on_close(reset)  # options of one invocation do not leak into the next


for _area in AREAS:
    _mod = importlib.import_module(f"{__package__}.{_area}")
    for _cmd in getattr(_mod, "COMMANDS", []):
        cli.add_command(progress_options(_cmd))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="robusta-bench")


if __name__ == "__main__":
    main()
