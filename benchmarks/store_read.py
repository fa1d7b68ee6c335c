"""Read speed of the feature store: schema 2 (fixed_size_binary, uncompressed) vs schema 1 in the same run.

    .venv/bin/python benchmarks/store_read.py [--videos 200] [--segments 100] [--crops 5] [--dim 1024] [--repeat 3]

Writes one synthetic group with the current writer (schema 2), then a copy of
the same group in the schema-1 layout robusta-bench 0.1 wrote
(``fixed_size_list<float32>`` features, zstd), and times
``FeatureStore.read`` of every video of each (best of ``--repeat``, after one
untimed read so both come from the page cache). Prints GB/s and the ratio
schema 2 / schema 1, and checks both reads are equal.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def to_schema1(gdir: Path) -> None:
    """Rewrite a group's shards in the schema-1 layout (same rows and values), fixing sizes/hashes in its index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from robusta_bench.store.feature_store import INDEX_FILE, shard_features
    from robusta_bench.files import atomic_write_json, read_json, sha256_file

    idx = read_json(gdir / INDEX_FILE)
    for f in idx["files"]:
        path = gdir / f["path"]
        table = pq.read_table(path)
        feats = shard_features(table.column("feature"), table.schema.field("feature"))
        old = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(feats).reshape(-1)), feats.shape[1])
        table = table.set_column(3, "feature", old)
        pq.write_table(table, path, compression="zstd")
        f["bytes"], f["sha256"] = path.stat().st_size, sha256_file(path)
    idx["schema_version"] = 1
    atomic_write_json(gdir / INDEX_FILE, idx)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=200)
    p.add_argument("--segments", type=int, default=100)
    p.add_argument("--crops", type=int, default=5)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    from robusta_bench.store.feature_store import FeatureStore, Variant

    work = Path(tempfile.mkdtemp(prefix="rb-store-bench-"))
    try:
        stores = {}
        for label in ("schema2", "schema1"):
            store = FeatureStore(work / label, create=True)
            rng = np.random.default_rng(0)
            with store.writer("vis", Variant(), spec_hash="bench", modality="visual", feature_dim=args.dim,
                              n_crops=args.crops) as w:
                for i in range(args.videos):
                    w.write(f"v{i:05d}", rng.standard_normal((args.crops, args.segments, args.dim), dtype=np.float32))
            if label == "schema1":
                to_schema1(store.group_dir("vis", Variant()))
            stores[label] = store
        nbytes = args.videos * args.crops * args.segments * args.dim * 4
        best, data = {}, {}
        for label, store in stores.items():
            store.read("vis", Variant())  # warm the page cache
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                data[label] = store.read("vis", Variant())
                times.append(time.perf_counter() - t0)
            best[label] = min(times)
        same = all(np.array_equal(data["schema1"][k], data["schema2"][k]) for k in data["schema1"])
        print(f"{args.videos} videos x {args.crops} crops x {args.segments} snippets x {args.dim}-d float32 "
              f"({nbytes / 1e9:.2f} GB), best of {args.repeat}")
        print("| layout | read s | GB/s |")
        print("|---|---:|---:|")
        for label in ("schema1", "schema2"):
            print(f"| {label} | {best[label]:.2f} | {nbytes / best[label] / 1e9:.2f} |")
        print(f"ratio schema 2 / schema 1 speed: {best['schema1'] / best['schema2']:.1f}x; equal values: {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
