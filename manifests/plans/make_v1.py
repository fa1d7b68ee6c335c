"""One-off generation of the shipped benchmark-v1 plan (run from the project root).

    .venv/bin/python manifests/plans/make_v1.py [VIDEO_LIST]

VIDEO_LIST defaults to ``manifests/xd_violence_v1.csv`` (the official list
shipped with the package); the shared ``videos.csv`` of the XD-Violence release
(columns split, list_index, name, label, categories) gives the same plan. The
plan is ``make_plan(list, seed=0)`` over the 800 official test videos in
official list order; ``robusta-bench corrupt --seed 0`` without ``--plan`` makes
the same plan from the same list. Never edit the output by hand: a change of
plan is a new benchmark version (v2/...).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from robusta_bench.corruptions.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else ROOT / "manifests" / "xd_violence_v1.csv"
    manifest = pd.read_csv(source, keep_default_na=False)
    plan = make_plan(manifest, seed=0)
    plan.meta["dataset"] = "xd_violence"
    out = plan.to_file(ROOT / "manifests" / "plans" / "v1" / "xd_violence_test.csv")
    print(f"{out}: {len(plan.table)} videos")
    print(plan.summary().to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1:])
