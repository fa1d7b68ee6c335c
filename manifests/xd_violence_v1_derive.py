"""One-off derivation of ``xd_violence_v1.csv`` (kept for the record; the package never runs it).

Source: ``data/xd-violence/videos.csv`` of the shared data (columns split,
list_index, name, label, categories), itself built from the official
XD-Violence list files (``rgb.list`` / ``rgb_test.list``: violent videos first,
then normal ones; ``list_index`` is the position in that list).

Output columns: name, split (train/test), label (1 violent, 0 normal),
categories (codes joined by ``|``, the list convention of
``robusta_bench.manifest``), list_index. Rows keep the source order (train list,
then test list). Every row is checked against the name itself.

    python manifests/xd_violence_v1_derive.py /path/to/shared/data/xd-violence/videos.csv
"""

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from robusta_bench.dataset.names import parse_name  # noqa: E402


def main(src: str) -> None:
    out = Path(__file__).with_name("xd_violence_v1.csv")
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["name", "split", "label", "categories", "list_index"])
        for r in rows:
            parsed = parse_name(r["name"])
            assert parsed.label == int(r["label"]), r
            assert "-".join(parsed.categories) == r["categories"], r
            w.writerow([parsed.name, r["split"], parsed.label, "|".join(parsed.categories), int(r["list_index"])])
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
