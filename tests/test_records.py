"""Typed manifest records: type and schema version in the files, old files still read, items replayed from their row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from robusta_bench.corruptions.base import get_corruption
from robusta_bench.corruptions.runner import MANIFEST_NAME, corrupt_videos
from robusta_bench.files import sha256_file
from robusta_bench.manifest import ManifestTypeError, read_table
from robusta_bench.records import CorruptRecord, VideoRecord, read_corrupt_records, read_videos
from robusta_bench.seeding import corruption_seed


def test_a_corrupted_item_replays_from_its_manifest_row(clips_dir, tmp_path):
    manifest = tmp_path / "clips.csv"
    pd.DataFrame([{"name": "car2", "label": 1, "split": "test", "path": str(clips_dir / "car2.mp4")}]).to_csv(manifest, index=False)
    out = tmp_path / "out"
    rep = corrupt_videos(manifest, out, types="brightness", severities="4", seed=3)
    assert not rep.failed
    raw = pd.read_csv(out / MANIFEST_NAME)
    assert set(raw["type"]) == {"corrupted_media"} and set(raw["schema_version"]) == {1}
    (rec,) = read_corrupt_records(out / MANIFEST_NAME)
    assert rec.params == {"hsv_value_delta": 0.4, "severity": 4, "seed": 3, "item_seed": corruption_seed("car2", "brightness", 4, 3)}
    again = tmp_path / "again.mp4"
    get_corruption(rec.corruption).write(rec.source_path, again, rec.params["severity"], rec.params["item_seed"])
    assert sha256_file(again) == rec.sha256 == sha256_file(rec.output(out))


def test_manifests_of_before_are_read_and_a_wrong_type_is_refused(tmp_path):
    (tmp_path / "clips").mkdir()
    old = tmp_path / "old.csv"  # an index manifest of before: no type columns, relative paths
    old.write_text("name,path,split,label,error\na,clips/a.mp4,test,1,\nb,/abs/b.mp4,train,,broken\n")
    assert read_videos(old) == [
        VideoRecord("a", tmp_path / "clips" / "a.mp4", "test", 1, None),
        VideoRecord("b", Path("/abs/b.mp4"), "train", None, "broken"),
    ]
    legacy = tmp_path / "corrupt_manifest.csv"  # an older corrupt manifest: 'path' column, hyphenated name
    legacy.write_text("name,corruption,severity,seed,path,error\nv,motion-blur,2,0,x/v.mp4,\n")
    (rec,) = read_corrupt_records(legacy)
    assert rec.key() == ("v", "motion_blur", 2, 0) and rec.output(tmp_path) == tmp_path / "x" / "v.mp4" and rec.params == {}
    with pytest.raises(ManifestTypeError, match="is a corrupted_media manifest, not a videos manifest"):
        tagged = tmp_path / "tagged.csv"
        pd.DataFrame([CorruptRecord("v", "fog", 1, 0).to_dict()]).assign(type="corrupted_media").to_csv(tagged, index=False)
        read_videos(tagged)
    assert list(read_table(tagged).columns)[:2] == ["name", "corruption"]  # type columns dropped on reading


def test_empty_or_truncated_manifests_are_named(tmp_path):
    import pandas as pd

    from robusta_bench.manifest import read_table, write_table

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty.csv is empty"):
        read_table(empty)
    good = tmp_path / "m.parquet"
    write_table(pd.DataFrame({"name": ["a", "b"], "path": ["a.mp4", "b.mp4"]}), good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut.parquet is not a readable Parquet file"):
        read_table(cut)
    assert list(read_table(good)["name"]) == ["a", "b"]  # the intact file still reads
