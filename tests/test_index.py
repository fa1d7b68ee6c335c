"""``probe`` and ``index``: real XD-Violence clips, synthetic videos, and broken files made here."""

from __future__ import annotations

import csv
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.dataset.index import COLUMNS, find_videos, index_videos, read_manifest, summarize
from robusta_bench.media.probe import probe

#: XD-style names for the shared clips (label/categories from clips.csv).
def _xd_name(stem: str, label: int, cats: str) -> str:
    tail = "A" if label == 0 else "-".join(cats.split("-") + ["0"] * (3 - len(cats.split("-"))))
    return f"Clip.{stem}__#00-00-00_00-00-10_label_{tail}"


def _write_video(path: Path, n_frames: int = 30, size=(64, 48), audio: bool = True, faststart: bool = False, fps: int = 24) -> None:
    rng = np.random.default_rng(0)
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(n_frames):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        if audio:
            n = int(16000 * n_frames / fps)
            af = av.AudioFrame.from_ndarray((rng.normal(0, 0.1, (1, n))).astype(np.float32), format="fltp", layout="mono")
            af.sample_rate = 16000
            af.pts = 0
            af.time_base = Fraction(1, 16000)
            c.mux(a.encode(af))
            c.mux(a.encode(None))


def _decode_truth(path: Path) -> dict:
    """Independent reference: decode every frame and the audio to count and measure them."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        n = 0
        shape = None
        for frame in c.decode(vs):
            n += 1
            shape = (frame.width, frame.height)
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        first = next(iter(c.decode(a)))
        rate, channels = first.sample_rate, len(first.layout.channels)
    return {"frames": n, "width": shape[0], "height": shape[1], "audio_rate": rate, "audio_channels": channels}


@pytest.fixture
def clip_folder(clips_dir, tmp_path):
    folder = tmp_path / "xd"
    (folder / "sub").mkdir(parents=True)
    with open(clips_dir / "clips.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, r in enumerate(rows):
        dst = (folder / "sub" if i % 2 else folder) / (_xd_name(Path(r["file"]).stem, int(r["label"]), r["categories"]) + ".mp4")
        shutil.copy(clips_dir / r["file"], dst)
    return folder, rows


def test_probe_matches_decoding_on_shared_clips(clips_dir):
    paths = sorted(clips_dir.glob("*.mp4"))
    assert len(paths) == 8
    seen_rates, seen_channels = set(), set()
    for p in paths:
        info = probe(p)
        truth = _decode_truth(p)
        assert info["error"] is None, p.name
        for k, v in truth.items():
            assert info[k] == v, (p.name, k, info[k], v)
        assert info["fps"] == pytest.approx(24.0)
        assert info["duration_s"] == pytest.approx(truth["frames"] / 24.0, abs=1.0 / 24)
        assert (info["video_codec"], info["pix_fmt"], info["audio_codec"]) == ("h264", "yuv420p", "aac")
        seen_rates.add(info["audio_rate"])
        seen_channels.add(info["audio_channels"])
    assert seen_rates == {44100, 48000} and seen_channels == {2, 6}


def test_index_shared_clips(clip_folder):
    folder, rows = clip_folder
    df = index_videos(folder)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 8 and df["error"].isna().all()
    by_stem = {n.split("__")[0][5:]: r for n, r in zip(df["name"], df.to_dict("records"))}
    for r in rows:
        got = by_stem[Path(r["file"]).stem]
        assert got["label"] == int(r["label"])
        assert got["categories"] == r["categories"].split("-")
        assert got["split"] == "unknown" and got["list_index"] == -1
        truth = _decode_truth(Path(got["path"]))
        assert (got["frames"], got["width"], got["height"]) == (truth["frames"], truth["width"], truth["height"])
        assert (got["audio_rate"], got["audio_channels"]) == (truth["audio_rate"], truth["audio_channels"])
        assert got["n_segments"] == (truth["frames"] - 1) // 16
    assert len(index_videos(folder, recursive=False)) == 4
    # a split list makes them train/test
    lst = folder / "list.csv"
    names = sorted(df["name"])
    with open(lst, "w") as fh:
        fh.write("name,split\n" + "".join(f"{n},{'test' if i < 3 else 'train'}\n" for i, n in enumerate(names)))
    df2 = index_videos(folder, split_list=lst, jobs=2)
    assert (df2["split"] == "test").sum() == 3 and (df2["split"] == "train").sum() == 5
    assert "test" in summarize(df2)


def test_official_split_from_name(tmp_path):
    # a real official test name gets its split (and list index) from the shipped list
    name = "v=S-7rRLrxnVQ__#1_label_B4-0-0"
    _write_video(tmp_path / f"{name}.mp4", n_frames=40)
    ann = tmp_path / "ann.txt"
    ann.write_text(f"{name}.mp4 3 10 20 25\n")
    df = index_videos(tmp_path, annotations=ann)
    r = df.iloc[0]
    assert (r["split"], r["label"], r["categories"]) == ("test", 1, ["B4"])
    assert r["list_index"] >= 0
    assert bool(r["has_annotation"]) and r["n_anomalous_frames"] == (10 - 3) + (25 - 20)  # T=2 -> 32 frames kept


def test_broken_inputs_and_cli(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    _write_video(folder / "good_label_A.mp4", n_frames=48)
    _write_video(folder / "silent_label_A.mp4", n_frames=24, audio=False)
    for faststart in (False, True):
        src = tmp_path / f"full{int(faststart)}.mp4"
        _write_video(src, n_frames=96, size=(96, 64), faststart=faststart)
        data = src.read_bytes()
        (folder / f"trunc{int(faststart)}_label_B1-0-0.mp4").write_bytes(data[: len(data) // 2])
    (folder / "zero_label_A.mp4").write_bytes(b"")
    (folder / "text_label_A.mp4").write_text("this is not a video\n" * 20)
    with av.open(str(folder / "audioonly_label_A.m4a"), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=16000)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
        af.sample_rate = 16000
        af.pts = 0
        c.mux(a.encode(af))
        c.mux(a.encode(None))
    (folder / "audioonly_label_A.m4a").rename(folder / "audioonly_label_A.mp4")
    (folder / "notes.txt").write_text("ignored: not a video extension")

    # a faststart file missing only its last 2 % is still found out
    data = (tmp_path / "full1.mp4").read_bytes()
    (folder / "tail_label_A.mp4").write_bytes(data[: int(len(data) * 0.98)])
    assert len(find_videos(folder)) == 8
    out = tmp_path / "m.csv"
    res = CliRunner().invoke(cli, ["index", str(folder), "--out", str(out)])
    assert res.exit_code == 1, res.output
    df = read_manifest(out)
    assert len(df) == 8
    rows = {n: r for n, r in zip(df["name"], df.to_dict("records"))}
    good, silent = rows["good_label_A"], rows["silent_label_A"]
    assert good["error"] is None and good["frames"] == 48 and good["audio_channels"] == 1
    assert silent["error"] is None and silent["frames"] == 24
    assert silent["audio_channels"] == 0 and silent["audio_rate"] == 0
    assert "empty" in rows["zero_label_A"]["error"]
    assert "cannot open" in rows["text_label_A"]["error"]
    assert "no video stream" in rows["audioonly_label_A"]["error"]
    assert rows["trunc0_label_B1-0-0"]["error"] is not None  # index at the end: unreadable
    assert "truncated" in rows["trunc1_label_B1-0-0"]["error"]  # index up front: data missing
    assert "truncated" in rows["tail_label_A"]["error"]
    for n in ("zero_label_A", "text_label_A", "audioonly_label_A", "trunc0_label_B1-0-0", "trunc1_label_B1-0-0", "tail_label_A"):
        assert n + ".mp4" in res.output  # the summary names every failing file
    assert "errors (6)" in res.output

    # only good files: exit 0, Parquet by default
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(folder / "good_label_A.mp4", clean)
    res = CliRunner().invoke(cli, ["index", str(clean), "-o", str(tmp_path / "m.parquet")])
    assert res.exit_code == 0, res.output
    assert read_manifest(tmp_path / "m.parquet")["frames"].tolist() == [48]

    # usage errors exit 2
    assert CliRunner().invoke(cli, ["index", str(tmp_path / "missing"), "-o", str(out)]).exit_code == 2
    assert CliRunner().invoke(cli, ["index", str(clean)]).exit_code == 2


def test_duplicate_names_are_errors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_video(tmp_path / "a" / "same_label_A.mp4", n_frames=20)
    _write_video(tmp_path / "b" / "same_label_A.mp4", n_frames=20)
    df = index_videos(tmp_path)
    assert df["error"].notna().sum() == 1 and "duplicate" in df["error"].dropna().iloc[0]
