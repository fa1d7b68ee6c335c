"""``synth``: real media files, determinism, split/annotation consistency, and the anomaly signal."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from robusta_bench.cli.main import cli
from robusta_bench.dataset.annotations import read_annotations
from robusta_bench.dataset.ground_truth import frame_labels
from robusta_bench.dataset.index import COLUMNS, index_videos, read_manifest
from robusta_bench.dataset.names import parse_name
from robusta_bench.dataset.synthetic import make_synthetic_dataset
from robusta_bench.dataset.video_list import read_video_list
from robusta_bench.files import sha256_file

N_VIDEOS, SECONDS = 12, 4.0


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(out, n_videos=N_VIDEOS, seconds=SECONDS, seed=11, test_fraction=0.5)
    return out


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """All frames (float32) and mono audio, decoded with PyAV directly."""
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)
    with av.open(str(path)) as c:
        parts = [f.to_ndarray() for f in c.decode(audio=0)]
        rate = c.streams.audio[0].codec_context.sample_rate
    audio = np.concatenate(parts, axis=1).mean(axis=0)
    return frames, audio, rate


def _per_frame_features(frames: np.ndarray, audio: np.ndarray, rate: int, fps: int = 24):
    diff = np.r_[0.0, np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))]
    hop = rate // fps
    n = min(len(frames), audio.size // hop)
    win = audio[: n * hop].reshape(n, hop)
    rms = np.sqrt((win**2).mean(axis=1))
    spec = np.abs(np.fft.rfft(win * np.hanning(hop), axis=1))
    flux = np.r_[0.0, np.maximum(np.diff(spec, axis=0), 0).sum(axis=1)]
    return diff[:n], rms, flux


def test_layout_and_file_properties(synth):
    manifest = read_manifest(synth / "manifest.parquet")
    assert list(manifest.columns) == list(COLUMNS) + ["has_annotation", "n_anomalous_frames"]
    assert len(manifest) == N_VIDEOS and manifest["error"].isna().all()
    videos = sorted((synth / "videos").glob("*.mp4"))
    assert len(videos) == N_VIDEOS
    for p in videos:
        with av.open(str(p)) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert v.codec_context.name == "h264" and v.codec_context.format.name == "yuv420p"
            assert float(v.average_rate) == 24.0 and (v.width, v.height) == (320, 240)
            assert a.codec_context.name == "aac" and a.codec_context.sample_rate == 16000
            assert a.codec_context.channels == 1
            n = sum(1 for _ in c.decode(v))
        assert n == int(SECONDS * 24)
        assert float(v.duration * v.time_base) == pytest.approx(SECONDS, abs=1 / 24)
        parsed = parse_name(p.stem)
        assert p.stem.startswith("Synth.Scene.") and "__#00-00-00_00-00-04_label_" in p.stem
        assert parsed.label in (0, 1)
    assert set(manifest["frames"]) == {96} and set(manifest["n_segments"]) == {5}


def test_split_annotations_consistent(synth):
    split = read_video_list(synth / "split.csv")
    ann = read_annotations(synth / "annotations.txt")
    manifest = read_manifest(synth / "manifest.parquet").set_index("name")
    assert sorted(split["name"]) == sorted(manifest.index)
    assert (split["split"] == "test").sum() == 6
    for split_name in ("train", "test"):
        part = split[split["split"] == split_name]
        assert part["label"].sum() >= 1 and (part["label"] == 0).sum() >= 1
        assert sorted(part["list_index"]) == list(range(len(part)))
        # violent first, as in the official lists
        assert list(part.sort_values("list_index")["label"]) == sorted(part["label"], reverse=True)
    violent_test = set(split[(split["split"] == "test") & (split["label"] == 1)]["name"])
    assert set(ann) == violent_test
    for _, r in split.iterrows():
        assert parse_name(r["name"]).label == r["label"]
        assert manifest.loc[r["name"], "split"] == r["split"]
    meta = json.loads((synth / "synth.json").read_text())
    segs = {v["name"]: [(s["start"], s["end"]) for s in v["segments"]] for v in meta["videos"]}
    for name, intervals in segs.items():
        if parse_name(name).label == 0:
            assert intervals == []
            continue
        assert 1 <= len(intervals) <= 2
        covered = sum(e - s for s, e in intervals) / 96
        assert 0.2 <= covered <= 0.65, (name, intervals)
        if name in ann:
            assert ann[name] == intervals
            assert manifest.loc[name, "n_anomalous_frames"] == int(frame_labels(96, intervals).sum())
    # index with --split-list reproduces the split
    again = index_videos(synth / "videos", split_list=synth / "split.csv", annotations=synth / "annotations.txt")
    assert dict(zip(again["name"], again["split"])) == dict(zip(manifest.index, manifest["split"]))


def test_anomaly_signal_in_both_modalities(synth):
    split = read_video_list(synth / "split.csv")
    meta = {v["name"]: v for v in json.loads((synth / "synth.json").read_text())["videos"]}
    labels, diffs, rmss, fluxes = [], [], [], []
    for name in split["name"]:
        frames, audio, rate = _decode(synth / "videos" / f"{name}.mp4")
        diff, rms, flux = _per_frame_features(frames, audio, rate)
        mask = np.zeros(len(diff), dtype=bool)
        for s in meta[name]["segments"]:
            mask[s["start"] : s["end"]] = True
        if mask.any():
            # inside the annotated segments each modality is clearly more active
            assert diff[mask].mean() > 5 * diff[~mask].mean(), name
            assert rms[mask].mean() > 1.2 * rms[~mask].mean(), name
            assert flux[mask].mean() > 1.3 * flux[~mask].mean(), name
        labels.append(mask)
        diffs.append(diff)
        rmss.append(rms)
        fluxes.append(flux)
    y = np.concatenate(labels)
    auc_v = roc_auc_score(y, np.concatenate(diffs))
    auc_a = roc_auc_score(y, np.concatenate(rmss))
    # both modalities separate anomalous frames on their own; the visual one better
    assert auc_a > 0.7, auc_a
    assert auc_v > 0.9, auc_v
    assert auc_v > auc_a


def test_deterministic_bytes_and_cli(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_synthetic_dataset(a, n_videos=3, seconds=2.0, seed=5, test_fraction=0.34, size=(96, 64))
    res = CliRunner().invoke(cli, ["synth", str(b), "--videos", "3", "--seconds", "2", "--seed", "5",
                                   "--test-fraction", "0.34", "--size", "96x64"])
    assert res.exit_code == 0, res.output
    assert "wrote 3 videos" in res.output
    files_a = sorted(p.relative_to(a) for p in (a / "videos").glob("*.mp4"))
    assert len(files_a) == 3
    assert files_a == sorted(p.relative_to(b) for p in (b / "videos").glob("*.mp4"))
    for rel in files_a + [Path("annotations.txt"), Path("split.csv"), Path("synth.json")]:
        assert sha256_file(a / rel) == sha256_file(b / rel), rel
    # another seed gives other content
    c = tmp_path / "c"
    make_synthetic_dataset(c, n_videos=3, seconds=2.0, seed=6, test_fraction=0.34, size=(96, 64))
    sums_a = {sha256_file(p) for p in (a / "videos").glob("*.mp4")}
    assert sums_a.isdisjoint(sha256_file(p) for p in (c / "videos").glob("*.mp4"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="even"):
        make_synthetic_dataset(tmp_path, n_videos=1, size=(33, 32))
    with pytest.raises(ValueError, match="audio_rate"):
        make_synthetic_dataset(tmp_path, n_videos=1, audio_rate=8000)
    assert CliRunner().invoke(cli, ["synth", str(tmp_path), "--size", "320by240"]).exit_code == 2
    assert CliRunner().invoke(cli, ["synth", str(tmp_path), "--seconds", "1"]).exit_code == 2
