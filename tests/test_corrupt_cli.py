"""The ``corrupt`` / ``show`` commands end to end on real clips (XD-style names in tmp)."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.corruptions.base import CORRUPTIONS, Corruption
from robusta_bench.corruptions.plan import make_plan
from robusta_bench.corruptions.runner import (
    MANIFEST_NAME,
    corrupt_videos,
    output_path,
    parse_severities,
    parse_types,
    read_corrupt_manifest,
)
from robusta_bench.files import sha256_file
from robusta_bench.media.decode import read_frames

NAMES = {
    "abuse1.mp4": "Abuse.Film.2001__#00-00-01_00-00-08_label_B5-0-0",
    "car2.mp4": "Crash.Film.2003__#00-10-00_00-10-07_label_B6-0-0",
    "n3.mp4": "v=Qz9x8AbCdE__#1_label_A",
}


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.fixture
def dataset(tmp_path, clips_dir):
    """Three real clips under XD-Violence names, and a manifest with relative paths."""
    root = tmp_path / "data"
    (root / "videos").mkdir(parents=True)
    rows = []
    for clip, name in NAMES.items():
        shutil.copy(clips_dir / clip, root / "videos" / f"{name}.mp4")
        rows.append({"name": name, "path": f"videos/{name}.mp4", "split": "test", "label": 0 if name.endswith("_A") else 1})
    rows.append({"name": "Train.Only__#1_label_A", "path": "videos/none.mp4", "split": "train", "label": 0})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_end_to_end_jobs_resume(dataset, tmp_path):
    m = str(dataset / "manifest.csv")
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    args = ["corrupt", "--type", "rain,bit_error", "--severity", "2", "--seed", "0", "--manifest", m]
    res = run([*args, "--out", str(out1), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "6 written" in res.output
    res = run([*args, "--out", str(out2), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    df1 = pd.read_csv(out1 / MANIFEST_NAME, keep_default_na=False)
    df2 = pd.read_csv(out2 / MANIFEST_NAME, keep_default_na=False)
    assert len(df1) == 6 and (df1["error"] == "").all()
    assert df1["sha256"].tolist() == df2["sha256"].tolist()  # identical bytes for any job count
    assert df1["output_path"].tolist() == df2["output_path"].tolist()
    for row in df1.itertuples():
        out = out1 / row.output_path
        assert out == output_path(out1, row.name, row.corruption, 2, 0) and sha256_file(out) == row.sha256
        src = dataset / "videos" / f"{row.name}.mp4"
        assert row.modality == "visual" and Path(row.source_path) == src.resolve()
        assert len(read_frames(out)) == len(read_frames(src))
        assert audio_packets(out) == audio_packets(src)  # audio copied bit-exactly
    # resume: nothing redone, files untouched
    target = out1 / df1["output_path"][0]
    mtime = target.stat().st_mtime_ns
    res = run([*args, "--out", str(out1)])
    assert res.exit_code == 0 and "0 written, 6 already done" in res.output
    assert target.stat().st_mtime_ns == mtime
    # a damaged output is detected by its sha256 and redone
    target.write_bytes(target.read_bytes()[:1000])
    res = run([*args, "--out", str(out1)])
    assert "1 written, 5 already done" in res.output
    assert sha256_file(target) == df1["sha256"][0]
    # another run merges into the same manifest
    res = run(["corrupt", "--type", "fog", "--severity", "1", "--fraction", "0.5", "--manifest", m, "--out", str(out1)])
    assert res.exit_code == 0, res.output
    merged = read_corrupt_manifest(out1)
    assert len(merged) == 6 + 2 and set(merged["corruption"]) == {"rain", "bit_error", "fog"}
    assert all(Path(p).is_absolute() and Path(p).exists() for p in merged["output_path"])


def test_fraction_follows_the_plan(dataset, tmp_path):
    manifest = pd.read_csv(dataset / "manifest.csv")
    plan = make_plan(manifest, seed=7)
    report = corrupt_videos(dataset / "manifest.csv", tmp_path / "o", types="contrast", severities="5", fraction=0.5, seed=7)
    assert sorted(r["name"] for r in report.done) == sorted(plan.corrupted(0.5))
    assert len(report.done) == 2  # round(0.5 * 2) violent + round(0.5 * 1) normal
    plan_file = plan.to_file(tmp_path / "plan.csv")
    report = corrupt_videos(dataset / "manifest.csv", tmp_path / "o", types="mixed_visual", severities=[1], fraction=1.0, seed=7, plan=plan_file)
    assigned = plan.assignment("mixed_visual", 1.0)
    assert {(r["name"], r["corruption"]) for r in report.rows} == {(n, v["visual"]) for n, v in assigned.items()}


def test_bad_videos_are_reported_and_do_not_stop_the_batch(dataset, tmp_path):
    videos = dataset / "videos"
    good = next(iter(NAMES.values()))
    data = (videos / f"{good}.mp4").read_bytes()
    extra = {
        "Text.File__#1_label_A": b"this is not a video",
        "Truncated.Film__#00-00-00_00-00-05_label_B1-0-0": data[: len(data) // 3],
    }
    # a stream with decode errors: garbage in the middle of the media data
    damaged = bytearray(data)
    mdat = damaged.find(b"mdat")
    for k in range(5):
        pos = mdat + 5000 + k * 9000
        damaged[pos : pos + 600] = bytes(np.random.default_rng(k).integers(0, 256, 600, dtype=np.uint8))
    extra["Damaged.Stream__#00-00-00_00-00-05_label_B2-0-0"] = bytes(damaged)
    rows = pd.read_csv(dataset / "manifest.csv").to_dict("records")
    for name, blob in extra.items():
        (videos / f"{name}.mp4").write_bytes(blob)
        rows.append({"name": name, "path": f"videos/{name}.mp4", "split": "test", "label": 0 if name.endswith("_A") else 1})
    rows.append({"name": "Missing.File__#1_label_A", "path": "videos/missing.mp4", "split": "test", "label": 0})
    pd.DataFrame(rows).to_csv(dataset / "manifest.csv", index=False)
    out = tmp_path / "o"
    res = run(["corrupt", "--type", "shot_noise,bit_error", "--severity", "1", "--manifest", str(dataset / "manifest.csv"), "--out", str(out)])
    assert res.exit_code == 1
    df = pd.read_csv(out / MANIFEST_NAME, keep_default_na=False)
    failed = df[df["error"] != ""]
    for name in ("Text.File__#1_label_A", "Missing.File__#1_label_A"):
        errs = failed.loc[failed["name"] == name, "error"].tolist()
        assert len(errs) == 2 and all(name in e for e in errs)
        assert name in res.output
    assert not any((out / p).exists() for p in failed["output_path"])
    assert not list(out.rglob("*.part*"))  # no partial file left behind
    ok = df[df["error"] == ""]
    assert set(NAMES.values()) <= set(ok["name"])  # the good videos were all written
    dmg = df[df["name"] == "Damaged.Stream__#00-00-00_00-00-05_label_B2-0-0"]
    for row in dmg.itertuples():  # decode errors are concealed: an output, or a clear error
        assert (row.error == "" and (out / row.output_path).exists()) or "Damaged.Stream" in row.error


def test_partial_output_never_looks_finished(dataset, tmp_path):
    @CORRUPTIONS.register("test-visual-crash")
    class Crash(Corruption):
        modality = "visual"
        levels = tuple({"x": i} for i in range(5))

        def apply(self, data, severity, seed, *, rate=None, start=0):
            if start >= 64:
                raise RuntimeError("worker killed mid-video")
            return data

    name = next(iter(NAMES.values()))
    report = corrupt_videos(dataset / "manifest.csv", tmp_path / "o", types="test-visual-crash", severities="1", seed=0)
    row = next(r for r in report.rows if r["name"] == name)
    assert "worker killed" in row["error"] and name in row["error"]
    assert not output_path(tmp_path / "o", name, "test-visual-crash", 1, 0).exists()
    assert not list((tmp_path / "o").rglob("*.part*"))


def test_audio_types_without_audio_support_or_audio(dataset, tmp_path):
    @CORRUPTIONS.register("test-audio-gain")
    class Gain(Corruption):
        modality = "audio"
        levels = tuple({"gain": 0.5} for _ in range(5))

        def apply(self, data, severity, seed, *, rate=None, start=0):
            return (data * 0.5).astype(np.float32)

    silent = "Silent.Film__#00-00-00_00-00-02_label_B1-0-0"
    with av.open(str(dataset / "videos" / f"{silent}.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 30 * i, np.uint8), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    rows = pd.read_csv(dataset / "manifest.csv").to_dict("records")
    rows.append({"name": silent, "path": f"videos/{silent}.mp4", "split": "test", "label": 1})
    pd.DataFrame(rows).to_csv(dataset / "manifest.csv", index=False)
    report = corrupt_videos(dataset / "manifest.csv", tmp_path / "o", types="test-audio-gain", severities="1", seed=0)
    assert len(report.rows) == 4
    try:
        import robusta_bench.media.audio_out  # noqa: F401
    except ImportError:
        assert all("audio corruption support not installed" in r["error"] for r in report.rows)
        return
    by_name = {r["name"]: r for r in report.rows}
    assert "no audio stream" in by_name[silent]["error"] and silent in by_name[silent]["error"]
    for name in NAMES.values():
        row = by_name[name]
        assert row["error"] == "" and row["modality"] == "audio"
        out = tmp_path / "o" / row["output_path"]
        src = dataset / "videos" / f"{name}.mp4"
        with av.open(str(src)) as c1, av.open(str(out)) as c2:
            v1 = [bytes(p) for p in c1.demux(c1.streams.video[0]) if p.size]
            v2 = [bytes(p) for p in c2.demux(c2.streams.video[0]) if p.size]
        assert v1 == v2  # the video stream is copied


def test_list_and_usage_errors(dataset, tmp_path):
    res = run(["corrupt", "--list"])
    assert res.exit_code == 0
    for name, text in (("fog", "wibble_decay=2/2/1.7/1.5/1.4"), ("bit_error", "100000/50000"), ("motion_blur", "3/5/7/9/11")):
        assert name in res.output and text in res.output
    m = str(dataset / "manifest.csv")
    assert run(["corrupt", "--type", "rain", "--severity", "7", "--manifest", m, "--out", str(tmp_path)]).exit_code == 2
    res = run(["corrupt", "--type", "rian", "--manifest", m, "--out", str(tmp_path)])
    assert res.exit_code == 2 and "rain" in res.output  # suggestion
    assert run(["corrupt", "--type", "rain", "--out", str(tmp_path)]).exit_code == 2
    assert run(["corrupt", "--type", "missing_visual", "--manifest", m, "--out", str(tmp_path)]).exit_code == 2
    assert parse_severities("1-3,5") == [1, 2, 3, 5] and parse_severities("3") == [3]
    assert set(parse_types("visual")) <= set(parse_types("all")) and "fog" in parse_types("visual")
    assert parse_types("fog,rain,fog") == ["fog", "rain"]
    no_path = dataset / "nopath.csv"
    pd.read_csv(m).drop(columns=["path"]).to_csv(no_path, index=False)
    res = run(["corrupt", "--type", "rain", "--manifest", str(no_path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--video-dir" in res.output
    res = run(["corrupt", "--type", "brightness", "--severity", "1", "--fraction", "0.4",
               "--manifest", str(no_path), "--video-dir", str(dataset / "videos"), "--out", str(tmp_path / "vd")])
    assert res.exit_code == 0, res.output


def test_show_writes_a_grid(clips_dir, tmp_path):
    out = tmp_path / "grid.png"
    res = run(["show", "--type", "fog,motion_blur,bit_error", "--video", str(clips_dir / "abuse1.mp4"), "--frame", "20", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[0] > 200 and img.shape[1] > 600
    from robusta_bench.corruptions.show import frame_at_severities

    frames = frame_at_severities(clips_dir / "abuse1.mp4", "rain", frame=20, seed=0)
    assert len(frames) == 6 and np.array_equal(frames[0], read_frames(clips_dir / "abuse1.mp4", max_frames=21)[20])
    assert all(not np.array_equal(frames[0], f) for f in frames[1:])
    res = run(["show", "--type", "fog", "--video", str(clips_dir / "abuse1.mp4"), "--frame", "100000", "--out", str(out)])
    assert res.exit_code == 2 and "frame 100000" in res.output


def test_audio_visual_pair_with_the_audio_suite(dataset, tmp_path):
    from robusta_bench.corruptions import corruption_names

    if "random_dropout" not in corruption_names("audio"):
        pytest.skip("audio corruption suite not installed")
    report = corrupt_videos(dataset / "manifest.csv", tmp_path / "o", types="brightness+random_dropout", severities="1", seed=0)
    assert not report.failed, report.failed
    got = {(r["name"], r["corruption"]) for r in report.rows}
    assert got == {(n, c) for n in NAMES.values() for c in ("brightness", "random_dropout")}
    for r in report.rows:
        out, src = tmp_path / "o" / r["output_path"], dataset / "videos" / f"{r['name']}.mp4"
        if r["corruption"] == "random_dropout":  # video copied, audio changed
            with av.open(str(src)) as c1, av.open(str(out)) as c2:
                assert [bytes(p) for p in c1.demux(c1.streams.video[0]) if p.size] == [
                    bytes(p) for p in c2.demux(c2.streams.video[0]) if p.size
                ]
        else:  # audio copied
            assert audio_packets(out) == audio_packets(src)


def test_show_dispatches_audio_types(clips_dir, tmp_path):
    from robusta_bench.corruptions import corruption_names

    video = str(clips_dir / "abuse1.mp4")
    res = run(["show", "--type", "fog,white_noise", "--video", video, "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "one modality" in res.output
    if "white_noise" not in corruption_names("audio"):
        pytest.skip("audio corruption suite not installed")
    res = run(["show", "--type", "white_noise", "--video", video, "--out", str(tmp_path / "a.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_plan_videos_missing_from_the_manifest_are_per_video_errors(dataset, tmp_path):
    manifest = pd.read_csv(dataset / "manifest.csv")
    bigger = pd.concat([manifest, pd.DataFrame([{"name": "Not.Here__#1_label_A", "path": "x.mp4", "split": "test", "label": 0}])])
    plan_file = make_plan(bigger, seed=0).to_file(tmp_path / "plan.csv")
    res = run(["corrupt", "--type", "contrast", "--severity", "1", "--manifest", str(dataset / "manifest.csv"),
               "--plan", str(plan_file), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "Not.Here__#1_label_A: in the plan but not in the manifest" in res.output
    assert "3 written" in res.output


def test_odd_sources_through_the_runner(tmp_path):
    from test_visual_video_out import gradient, write_video

    root = tmp_path / "odd"
    root.mkdir()
    write_video(root / "One.Frame__#1_label_A.mp4", gradient(1, 48, 64))
    write_video(root / "Odd.Size__#1_label_A.mp4", gradient(7, 47, 65), pix_fmt="yuv444p")
    write_video(root / "Ten.Bit__#1_label_B1-0-0.mp4", gradient(6, 48, 64), pix_fmt="yuv420p10le", audio_rate=16000)
    grey = root / "Grey.Ffv1__#1_label_B1-0-0.mkv"
    with av.open(str(grey), "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 33, 21, "gray"
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.full((21, 33), 40 * i, np.uint8), format="gray")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    rows = [{"name": p.stem, "path": p.name, "split": "test", "label": 0 if p.stem.endswith("_A") else 1} for p in sorted(root.iterdir())]
    pd.DataFrame(rows).to_csv(root / "m.csv", index=False)
    report = corrupt_videos(root / "m.csv", tmp_path / "o", types="fog,motion_blur,rain,bit_error", severities="5", seed=0)
    assert len(report.rows) == 16
    for r in report.rows:
        src = root / Path(r["source_path"]).name
        if r["error"]:  # only a clear, named error is acceptable
            assert r["name"] in r["error"], r
            continue
        out = tmp_path / "o" / r["output_path"]
        clean = read_frames(src)
        got = read_frames(out)
        assert got.shape == clean.shape, (r["name"], r["corruption"])
    ok = {(r["name"], r["corruption"]) for r in report.rows if not r["error"]}
    for name in ("One.Frame__#1_label_A", "Odd.Size__#1_label_A", "Ten.Bit__#1_label_B1-0-0", "Grey.Ffv1__#1_label_B1-0-0"):
        assert (name, "fog") in ok and (name, "motion_blur") in ok  # re-encoded outputs always work
