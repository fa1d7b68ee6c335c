"""Fingerprints of a fixed small pipeline, to show that a refactor changes no result.

Runs, into ``OUT``, with fixed seeds:

1. ``corrupt``: every registered corruption at severity 3 (seed 0, fraction 1)
   on the two smallest shared XD-Violence clips (``abuse1``, ``car2``);
2. a reduced ``make demo``: 8 synthetic videos of 3 s, i3d-inception (1 crop)
   and yamnet features of the clean and the four demo variants (fused
   extraction), HL-Net and RobustA trained for a few epochs, the Table-I grid.

and writes ``OUT/identity.json``: the sha256 of every corrupted media file, of
the feature data of every store group (rows decoded from the Parquet shards,
sorted by video, crop and segment, independent of shard boundaries) with the
group's spec hash and content key, of the synthetic media, and of
``results.csv``. It only runs the command line (``robusta-bench corrupt``,
``python -m robusta_bench.demo``) and reads the outputs with pyarrow, so the
same script runs on any checkout: point ``PYTHONPATH`` at it.

    PYTHONPATH=/path/to/checkout python benchmarks/identity.py OUT [--compare OTHER/identity.json]

With ``--compare`` it prints each fingerprint that differs and exits 1 if any
does. Needs the shared clips (``ROBUSTA_SHARED`` or ``../shared``) and the
cached i3d-inception and yamnet weights. About 3-5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CLIPS = ("abuse1", "car2")
DEMO_ARGS = ("--videos", "8", "--seconds", "3", "--epochs", "4", "--seed", "0", "--crops", "1")


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shared() -> Path:
    here = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("ROBUSTA_SHARED", here.parent / "shared")).resolve()


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, env=env)
    return time.perf_counter() - t0


def run_corrupt(out: Path, env: dict[str, str]) -> tuple[dict[str, str], float]:
    """Corrupt the shared clips with every corruption at severity 3; sha256 of each output file."""
    clips = _shared() / "data" / "xd-violence" / "clips"
    manifest = out / "clips.csv"
    rows = ["name,label,split,path"] + [f"{n},1,test,{clips / (n + '.mp4')}" for n in CLIPS]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dest = out / "corrupted"
    secs = _run(["-m", "robusta_bench.cli.main", "corrupt", "--type", "all", "--severity", "3", "--seed", "0",
                 "--manifest", str(manifest), "--out", str(dest)], env)
    media = {str(p.relative_to(dest)): _sha(p) for p in sorted(dest.rglob("*")) if p.suffix in (".mp4", ".mkv", ".avi")}
    return media, secs


def _group_fingerprint(group: Path) -> dict[str, object]:
    import numpy as np
    import pyarrow.parquet as pq

    index = json.loads((group / "index.json").read_text(encoding="utf-8"))
    rows = []
    for shard in sorted(group.glob("part-*.parquet")):
        t = pq.read_table(shard)
        col = t.column("feature").combine_chunks()
        dim = int(index.get("feature_dim") or 0)
        if hasattr(col, "flatten") and str(col.type).startswith("fixed_size_list"):
            data = np.asarray(col.flatten(), dtype=np.float32).reshape(len(col), -1)
        else:
            width = col.type.byte_width
            data = np.frombuffer(col.buffers()[1], dtype=np.uint8)[col.offset * width:(col.offset + len(col)) * width].reshape(len(col), width)
        for name, crop, seg, vec in zip(t.column("name").to_pylist(), t.column("crop").to_pylist(),
                                        t.column("segment").to_pylist(), data):
            rows.append((name, int(crop), int(seg), vec.tobytes()))
    h = hashlib.sha256()
    for name, crop, seg, blob in sorted(rows):
        h.update(f"{name}|{crop}|{seg}|".encode())
        h.update(blob)
    return {"rows": len(rows), "feature_dim": dim, "features_sha256": h.hexdigest(),
            "spec_hash": index.get("spec_hash"), "content_key": index.get("content_key")}


def run_demo(out: Path, env: dict[str, str]) -> tuple[dict[str, object], float]:
    """The reduced demo; fingerprints of its synthetic media, store groups and results.csv."""
    demo = out / "demo"
    secs = _run(["-m", "robusta_bench.demo", "--out", str(demo), *DEMO_ARGS], env)
    synth = {str(p.relative_to(demo)): _sha(p) for p in sorted((demo / "synth").rglob("*.mp4"))}
    store = demo / "store"
    groups = {str(g.relative_to(store)): _group_fingerprint(g) for g in sorted(p.parent for p in store.rglob("index.json"))}
    return {"synthetic_media": synth, "store_groups": groups, "results_csv": _sha(demo / "results" / "results.csv")}, secs


def compare(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Paths of the fingerprints that differ between two identity.json objects."""
    diffs = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        if key not in a or key not in b:
            diffs.append(f"{path}: only in {'second' if key not in a else 'first'}")
        elif isinstance(a[key], dict) and isinstance(b[key], dict):
            diffs.extend(compare(a[key], b[key], path + "/"))
        elif a[key] != b[key]:
            diffs.append(f"{path}: {a[key]} != {b[key]}")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="fresh output folder")
    ap.add_argument("--compare", type=Path, help="identity.json of another checkout to compare with")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    corrupted, t_corrupt = run_corrupt(out, env)
    demo, t_demo = run_demo(out, env)
    result = {"checkout": os.environ.get("PYTHONPATH", ""), "corrupted_media": corrupted, **demo}
    (out / "identity.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    n_groups = len(demo["store_groups"])
    print(f"corrupt: {len(corrupted)} files in {t_corrupt:.1f} s; demo: {n_groups} store groups, results.csv in {t_demo:.1f} s")
    print(f"wrote {out / 'identity.json'}")
    if args.compare:
        other = json.loads(args.compare.read_text(encoding="utf-8"))
        other.pop("checkout", None)
        mine = dict(result)
        mine.pop("checkout", None)
        diffs = compare(other, mine)
        n = sum(len(v) if isinstance(v, dict) else 1 for v in mine.values())
        print(f"compared with {args.compare}: {len(diffs)} of {n} fingerprints differ")
        for d in diffs:
            print("  " + d)
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
