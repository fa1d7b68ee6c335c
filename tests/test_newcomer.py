"""A new user's first hour (issue 20): own clips with non-XD-Violence names, from index to evaluate.

Generated clips (``robusta-bench synth``, renamed to ``fight<k>.mp4`` / ``walk<k>.mp4``)
go through the walk a user would do from the README: index (warned: no splits,
no labels) -> corrupt and evaluate refuse with the fix -> ``split`` -> index ->
corrupt -> extract (``--corrupted-dir``) -> train -> evaluate, asserting the
warnings, messages, exit codes and the sample columns. Small deterministic
test extractors and the closed-form test detectors keep it to seconds.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import test_evaluate_support as sup
from robusta_bench.cli.main import cli
from robusta_bench.models.extractor import EXTRACTORS, Extractor


class _NcVisual(Extractor):
    """Per-clip colour statistics (8 values): cheap and deterministic."""

    modality = "visual"
    feature_dim = 8
    n_crops = 1

    def embed(self, batch):
        x = batch.astype(np.float32) / 255.0
        feats = [x.mean((1, 2, 3, 4)), x.std((1, 2, 3, 4)), x[:, :8].mean((1, 2, 3, 4)), x[:, 8:].mean((1, 2, 3, 4))]
        feats += [x[..., c].mean((1, 2, 3)) for c in range(3)] + [np.abs(np.diff(x, axis=1)).mean((1, 2, 3, 4))]
        return np.stack(feats, axis=1).astype(np.float32)


class _NcAudio(Extractor):
    modality = "audio"
    feature_dim = 4

    def embed(self, batch):
        a = np.abs(batch)
        return np.stack([batch.mean(1), batch.std(1), a.max(1), (a > 0.1).mean(1)], axis=1).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    added = []
    for name, cls in (("nc-visual", _NcVisual), ("nc-audio", _NcAudio)):
        if name not in EXTRACTORS:
            EXTRACTORS.register(name)(cls)
            added.append(name)
    with sup.registered_detectors():
        yield
    for name in added:
        EXTRACTORS._entries.pop(name, None)


def run(args):
    """Invoke the CLI in-process; stdout and stderr separately."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """12 short clips named fight1..6 / walk1..6 and their annotations (every violent clip)."""
    root = tmp_path_factory.mktemp("newcomer")
    res = run(["synth", root / "synth", "--videos", 12, "--seconds", 3, "--size", "64x48", "--seed", 3])
    assert res.exit_code == 0, res.output
    meta = json.loads((root / "synth" / "synth.json").read_text())
    videos = root / "my_videos"
    videos.mkdir()
    lines, counts = [], {0: 0, 1: 0}
    for v in meta["videos"]:
        counts[v["label"]] += 1
        new = f"{'fight' if v['label'] else 'walk'}{counts[v['label']]}"
        shutil.move(str(root / "synth" / "videos" / f"{v['name']}.mp4"), videos / f"{new}.mp4")
        if v["label"]:
            spans = " ".join(f"{s['start']} {s['end']}" for s in v["segments"])
            lines.append(f"{new}.mp4 {spans}\n")
    ann = root / "annotations.txt"
    ann.write_text("".join(lines))
    return {"root": root, "videos": videos, "ann": ann, "n_violent": counts[1], "n_normal": counts[0]}


def test_newcomer_walk(clips, tmp_path):
    videos, ann = clips["videos"], clips["ann"]
    n = clips["n_violent"] + clips["n_normal"]
    assert clips["n_violent"] >= 4 and clips["n_normal"] >= 4

    # 1. index without a split list: every clip 'unknown' and unlabelled, said with counts and the fix
    m0 = tmp_path / "m0.parquet"
    res = run(["index", videos, "--out", m0, "--annotations", ann])
    assert res.exit_code == 0, res.output
    assert f"warning: {n} of {n} videos are not in the official XD-Violence list and got split 'unknown'" in res.stderr
    assert f"warning: {n} of {n} videos have no label (-1)" in res.stderr
    assert "robusta-bench split" in res.stderr and "--split-list" in res.stderr

    # 2. corrupt and evaluate on that manifest: one line naming the fix, exit 2, no traceback
    res = run(["corrupt", "--type", "fog", "--manifest", m0, "--out", tmp_path / "c0"])
    assert res.exit_code == 2 and "no 'test' videos" in res.stderr and "robusta-bench split" in res.stderr
    assert "Traceback" not in res.output
    res = run(["evaluate", "--method", "test-late", "--baseline", "none", "--store", tmp_path, "--manifest", m0,
               "--annotations", ann, "--out", tmp_path / "r0"])
    assert res.exit_code == 2 and "has no 'test' videos" in res.stderr and "robusta-bench split" in res.stderr

    # 3. the split list from a name rule: half of each label in test, labels from the pattern
    split = tmp_path / "split.csv"
    res = run(["split", videos, "--out", split, "--violent", "fight*", "--test-fraction", 0.5, "--seed", 1])
    assert res.exit_code == 0, res.output
    sl = pd.read_csv(split)
    assert set(sl.columns) == {"name", "split", "label"} and len(sl) == n
    assert (sl["label"] == sl["name"].str.startswith("fight").astype(int)).all()
    test = sl[sl["split"] == "test"]
    assert (test["label"] == 1).sum() == int(np.ceil(clips["n_violent"] / 2))
    assert (test["label"] == 0).sum() == int(np.ceil(clips["n_normal"] / 2))

    # 4. index with it: no warnings any more
    man = tmp_path / "manifest.parquet"
    res = run(["index", videos, "--out", man, "--split-list", split, "--annotations", ann])
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr
    assert f"annotated: {clips['n_violent']} videos" in res.stdout

    # 5. corrupt 50 % of the test videos at the default severity (3 only, not 1-5)
    cdir = tmp_path / "corrupted"
    res = run(["corrupt", "--type", "fog", "--fraction", 0.5, "--manifest", man, "--out", cdir])
    assert res.exit_code == 0, res.output
    # only severity 3 was written ('writers' holds the runs' liveness leases, issue 16)
    assert sorted(p.name for p in cdir.iterdir() if p.is_dir() and p.name != "writers") == ["fog-s3-seed0"]
    n_test = len(test)
    n_corrupted = len(list((cdir / "fog-s3-seed0").glob("*.mp4")))
    assert 0 < n_corrupted < n_test

    # 6. extract from the corrupted folder: the others come from their clean media, and it says how many
    store = tmp_path / "store"
    res = run(["extract", "--manifest", man, "--extractors", "nc-visual,nc-audio", "--variants", "clean,fog@3",
               "--corrupted-dir", cdir, "--out", store, "--workers", 0])
    assert res.exit_code == 0, res.output
    assert f"fog-s3-seed0: {n_test - n_corrupted} video(s) not corrupted by the corrupt run" in res.stdout

    # 7. train, then evaluate: every row states its sample; the small set is flagged in stderr and the report
    res = run(["train", "--method", "test-late", "--store", store, "--manifest", man, "--out", tmp_path / "d.safetensors"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "results"
    res = run(["evaluate", "--method", "test-late", "--baseline", "test-concat", "--store", store, "--manifest", man,
               "--annotations", ann, "--corruptions", "fog", "--fractions", "0,100", "--out", out])
    assert res.exit_code == 0, res.output
    n_train = n - n_test
    assert f"sample: n = {n_test} test videos ({(test['label'] == 1).sum()} violent, {(test['label'] == 0).sum()} normal); " \
           f"{n_train} training videos" in res.stdout
    assert f"warning: only {n_test} test videos were scored (< 20)" in res.stderr
    rows = pd.read_csv(out / "results.csv")
    assert (rows["n_videos"] == n_test).all() and (rows["n_train"] == n_train).all()
    assert (rows["n_violent"] == (test["label"] == 1).sum()).all() and (rows["n_normal"] == (test["label"] == 0).sum()).all()
    html = (out / "report.html").read_text()
    assert "class='banner'" in html and "too little data" in html
    assert f"n = {n_test} test videos" in (out / "table1.md").read_text()

    # 8. annotations missing for two violent test videos: they are listed under their cause, exit 1
    missing = test.loc[test["label"] == 1, "name"].tolist()[:2]
    ann2 = tmp_path / "ann2.txt"
    ann2.write_text("".join(l for l in ann.read_text().splitlines(keepends=True) if l.split()[0][:-4] not in missing))
    res = run(["evaluate", "--method", "test-late", "--baseline", "none", "--store", store, "--manifest", man,
               "--annotations", ann2, "--corruptions", "fog", "--fractions", "0", "--out", tmp_path / "r2"])
    assert res.exit_code == 1, res.output
    assert "2 test video(s) left out, by cause:" in res.stderr
    assert "ground truth: violent video without an annotation line; its frame labels are unknown: 2 video(s)" in res.stderr
    for name in missing:
        assert f"    {name}" in res.stderr


def test_evaluate_manifest_without_split_column(clips, tmp_path):
    bad = tmp_path / "nosplit.csv"
    pd.DataFrame({"name": ["fight1", "walk1"], "label": [1, 0]}).to_csv(bad, index=False)
    res = run(["evaluate", "--method", "test-late", "--baseline", "none", "--store", tmp_path, "--manifest", bad,
               "--annotations", clips["ann"], "--out", tmp_path / "r"])
    assert res.exit_code == 2
    assert f"{bad} lacks column(s) split" in res.stderr and "KeyError" not in res.output
    res = run(["train", "--method", "test-late", "--store", small_store_path(tmp_path), "--manifest", bad,
               "--out", tmp_path / "d.safetensors"])
    assert res.exit_code == 2 and "lacks column(s) split" in res.stderr and "KeyError" not in res.output


def small_store_path(root: Path) -> Path:
    """An empty but valid feature store folder."""
    from robusta_bench.store.feature_store import FeatureStore

    return FeatureStore(root / "empty_store", create=True).root


def test_split_rule_errors_are_one_line(clips, tmp_path):
    # names that are not XD-Violence names and no rule: the fix is named
    res = run(["split", clips["videos"], "--out", tmp_path / "s.csv"])
    assert res.exit_code == 2 and "have no label" in res.stderr and "--violent" in res.stderr
    # a table missing videos, and a table with an unreadable label
    table = tmp_path / "labels.csv"
    table.write_text("name,label\nfight1.mp4,violent\n")
    res = run(["split", clips["videos"], "--out", tmp_path / "s.csv", "--from-csv", table])
    assert res.exit_code == 2 and "are not in the table" in res.stderr
    table.write_text("name,label\nfight1,maybe\n")
    res = run(["split", clips["videos"], "--out", tmp_path / "s.csv", "--from-csv", table])
    assert res.exit_code == 2 and f"{table} row 2: label 'maybe'" in res.stderr


def test_split_from_csv_keeps_its_splits(clips, tmp_path):
    names = sorted(p.stem for p in clips["videos"].glob("*.mp4"))
    table = tmp_path / "labels.csv"
    pd.DataFrame({"name": [f"{n}.mp4" for n in names], "label": ["violent" if n.startswith("fight") else "normal" for n in names],
                  "split": ["test" if n.endswith("1") else "train" for n in names]}).to_csv(table, index=False)
    res = run(["split", clips["videos"], "--out", tmp_path / "s.csv", "--from-csv", table])
    assert res.exit_code == 0, res.output
    sl = pd.read_csv(tmp_path / "s.csv").set_index("name")
    assert sl.loc["fight1", "split"] == "test" and sl.loc["walk2", "split"] == "train"
    assert sl.loc["fight2", "label"] == 1 and sl.loc["walk1", "label"] == 0


def test_gpu_on_cpu_only_torch_names_the_install_line(clips, tmp_path):
    import torch

    if torch.version.cuda is not None:
        pytest.skip("this torch is a CUDA build")
    man = tmp_path / "m.csv"
    pd.DataFrame({"name": ["a"], "path": ["a.mp4"], "split": ["test"], "label": [0]}).to_csv(man, index=False)
    res = run(["extract", "--manifest", man, "--extractors", "nc-visual", "--out", tmp_path / "s", "--gpu", 0])
    base = torch.__version__.split("+")[0]
    assert res.exit_code == 2
    assert f"the installed torch {torch.__version__} is a CPU-only build" in res.stderr
    assert f"pip install --force-reinstall 'torch=={base}' --index-url https://download.pytorch.org/whl/cu" in res.stderr


# ------------------------------------------------------------------ progress without a terminal
def test_progress_lines_without_a_terminal(capsys):
    from robusta_bench import progress

    progress.configure(interval=0.05)
    try:
        bar = progress.progress_bar(total=4, desc="extract", unit="video")
        assert isinstance(bar, progress.LineProgress)  # pytest's captured stderr is not a terminal
        for _ in range(4):
            time.sleep(0.08)
            bar.update(1)
        bar.close()
    finally:
        progress.reset()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) >= 3, lines
    import re

    pat = re.compile(r"^extract: (\d)/4 videos \(\d+%\), [\d.]+ videos/s, elapsed \d+ s, ETA (\d+ s|unknown)$")
    status = [pat.match(line) for line in lines[:-1]]
    assert all(status), lines
    done = [int(m.group(1)) for m in status]
    assert done == sorted(done) and done[0] < 4
    assert lines[-1].startswith("extract: done 4/4 videos in ")


def test_quiet_and_interval_options_reach_the_reporter(clips, tmp_path, monkeypatch):
    from robusta_bench import progress

    seen = {}
    original = progress.LineProgress.__init__

    def spy(self, *a, **kw):
        seen["interval"] = kw.get("interval")
        original(self, *a, **kw)

    monkeypatch.setattr(progress.LineProgress, "__init__", spy)
    res = run(["index", clips["videos"], "--out", tmp_path / "m.csv", "--progress-interval", 0.5])
    assert res.exit_code == 0, res.output
    assert seen["interval"] == 0.5
    seen.clear()
    res = run(["--quiet", "index", clips["videos"], "--out", tmp_path / "m.csv"])
    assert res.exit_code == 0 and "interval" not in seen
    # the options of one invocation do not leak into the next
    assert progress.interval() == progress.DEFAULT_INTERVAL and not progress.quiet()


def test_extract_prints_status_lines_into_a_log(clips, tmp_path):
    """The CLI under a pipe: periodic status lines on stderr while extracting (interval 0.05 s)."""
    man = tmp_path / "m.csv"
    names = sorted(p.stem for p in clips["videos"].glob("*.mp4"))[:4]
    pd.DataFrame({"name": names, "path": [str(clips["videos"] / f"{n}.mp4") for n in names], "split": "train",
                  "label": [int(n.startswith("fight")) for n in names]}).to_csv(man, index=False)
    res = run(["extract", "--progress-interval", 0.05, "--manifest", man, "--extractors", "nc-visual",
               "--out", tmp_path / "s", "--workers", 0])
    assert res.exit_code == 0, res.output
    status = [line for line in res.stderr.splitlines() if line.startswith("extract: ")]
    assert status, res.stderr
    assert status[-1].startswith("extract: done 4/4 videos in ")


# ------------------------------------------------------------------ releases keep splits; publish compares like with like
@pytest.fixture
def small_store(clips, tmp_path, monkeypatch):
    """4 clips (2 train, 2 test) extracted with nc-visual, whose spec file lives in a temporary extractors folder."""
    specs = tmp_path / "extractors"
    specs.mkdir()
    (specs / "nc-visual.json").write_text(json.dumps({"name": "nc-visual", "weights": {"sha256": "0" * 64}}))
    monkeypatch.setenv("ROBUSTA_EXTRACTORS", str(specs))
    names = ["fight1", "fight2", "walk1", "walk2"]
    man = tmp_path / "m.csv"
    pd.DataFrame({"name": names, "path": [str(clips["videos"] / f"{n}.mp4") for n in names],
                  "split": ["train", "test", "train", "test"], "label": [1, 1, 0, 0]}).to_csv(man, index=False)
    store = tmp_path / "store"
    res = run(["extract", "--manifest", man, "--extractors", "nc-visual", "--out", store, "--workers", 0])
    assert res.exit_code == 0, res.output
    return {"store": store, "specs": specs, "manifest": man}


def test_publish_has_no_false_spec_alarm_and_a_real_one_fails(small_store, tmp_path, caplog):
    rel = tmp_path / "release"
    with caplog.at_level("WARNING"):
        res = run(["publish", small_store["store"], "--out", rel])
    assert res.exit_code == 0, res.output
    assert "differs" not in caplog.text
    release = json.loads((rel / "release.json").read_text())
    assert release["extractors"]["nc-visual"]["spec_matches_shards"] is True
    # the spec file changes after extraction: publishing refuses, naming the file and the group
    (small_store["specs"] / "nc-visual.json").write_text(json.dumps({"name": "nc-visual", "weights": {"sha256": "1" * 64}}))
    res = run(["publish", small_store["store"], "--out", tmp_path / "release2"])
    assert res.exit_code != 0
    assert "nc-visual.json" in res.stderr and "is not the spec nc-visual/clean/index.json were extracted with" in res.stderr


def test_release_carries_the_video_list_and_download_restores_it(small_store, tmp_path):
    rel = tmp_path / "release"
    assert run(["publish", small_store["store"], "--out", rel]).exit_code == 0
    assert "videos.csv" in (rel / "SHA256SUMS").read_text()
    got = tmp_path / "got"
    res = run(["download", "--from", rel, "--out", got])
    assert res.exit_code == 0, res.output
    videos = pd.read_csv(got / "videos.csv").set_index("name")
    assert videos.loc["fight2", "split"] == "test" and videos.loc["walk1", "split"] == "train"
    assert videos.loc["fight1", "label"] == 1
    res = run(["export", got, tmp_path / "x"])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "x" / "list" / "rgb_test.list").read_text().splitlines()) == 2
    assert len((tmp_path / "x" / "list" / "rgb.list").read_text().splitlines()) == 2


def test_export_refuses_to_write_empty_lists(small_store, tmp_path):
    (small_store["store"] / "videos.csv").unlink()
    res = run(["export", small_store["store"], tmp_path / "x"])
    assert res.exit_code == 2
    assert "none of the 4 videos has a train/test split" in res.stderr and "--manifest" in res.stderr
    assert not (tmp_path / "x" / "list").exists()


# ------------------------------------------------------------------ the README section runs as written
README = Path(__file__).resolve().parents[1] / "README.md"
#: The only change made to the README's commands: small test extractors instead of I3D + YAMNet
#: (their weights and minutes of CPU are not for a unit test; tests/test_extract_integration.py covers them).
SUBSTITUTIONS = {"i3d-inception,yamnet": "nc-visual,nc-audio"}


def readme_commands(section: str) -> list[list[str]]:
    """The commands of the ```bash blocks of README section ``section`` (continuations joined, comments dropped)."""
    import re
    import shlex

    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else None]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", body, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line, comments=True))
    return commands


def test_readme_own_videos_blocks(clips, tmp_path, monkeypatch):
    commands = readme_commands("Using your own videos")
    assert len(commands) >= 5 and all(c[0] == "robusta-bench" for c in commands)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(clips["videos"], tmp_path / "my_videos")
    shutil.copy(clips["ann"], tmp_path / "annotations.txt")
    names = sorted(p.stem for p in clips["videos"].glob("*.mp4"))
    pd.DataFrame({"name": names, "label": ["violent" if n.startswith("fight") else "normal" for n in names]}).to_csv(
        tmp_path / "labels.csv", index=False)
    for cmd in commands:
        args = [SUBSTITUTIONS.get(a, a) for a in cmd[1:]]
        res = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert res.exit_code == 0, f"{' '.join(cmd)}\n{res.output}"
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    test = pd.read_csv(tmp_path / "split.csv").query("split == 'test'")
    assert set(rows["method"]) >= {"hlnet", "robusta"}
    assert (rows["n_videos"] == len(test)).all() and (rows["n_violent"] == test["label"].sum()).all()


# ------------------------------------------------------------------ messages that say what to do
def test_resume_with_other_crops_names_the_setting(small_store):
    res = run(["extract", "--manifest", small_store["manifest"], "--extractors", "nc-visual", "--out",
               small_store["store"], "--crops", 5, "--workers", 0])
    assert res.exit_code == 2
    assert "was extracted with other settings: crops (--crops): stored" in res.stderr
    assert "now 5 (" in res.stderr and "spec hash" not in res.stderr


def test_damaged_index_and_missing_shard_name_the_file(small_store, tmp_path):
    index = small_store["store"] / "nc-visual" / "clean" / "index.json"
    shard = next(index.parent.glob("part-*.parquet"))
    moved = tmp_path / shard.name
    shutil.move(shard, moved)
    res = run(["export", small_store["store"], tmp_path / "x"])
    assert res.exit_code == 2
    assert f"shard {shard} is listed in {index} but missing" in res.stderr
    shutil.move(moved, shard)
    index.write_text('{"files": [\x01')
    res = run(["export", small_store["store"], tmp_path / "y"])
    assert res.exit_code == 2 and f"{index}: not valid JSON" in res.stderr


def test_show_bit_error_picks_each_severitys_most_damaged_frame(clips, tmp_path):
    from robusta_bench.corruptions.show_frames import packet_panels
    from robusta_bench.corruptions.visual.bit_error import iter_damaged_frames
    from robusta_bench.media.decode import read_frames
    from robusta_bench.seeding import corruption_seed

    video = clips["videos"] / "fight1.mp4"
    panels = packet_panels(video, "bit_error", seed=0)
    clean = read_frames(video).astype(np.int16)
    assert len(panels) == 6 and panels[0].frame == panels[5].frame
    for severity, panel in enumerate(panels[1:], start=1):
        damaged = np.concatenate(list(iter_damaged_frames(video, severity, corruption_seed("fight1", "bit_error", severity, 0))))
        damage = np.abs(damaged[: len(clean)].astype(np.int16) - clean[: len(damaged)]).mean(axis=(1, 2, 3))
        assert panel.frame == int(np.argmax(damage)) and "most damaged" in panel.rule
        np.testing.assert_array_equal(panel.image, damaged[panel.frame])
    res = run(["show", "--type", "bit_error", "--video", video, "--out", tmp_path / "be.png"])
    assert res.exit_code == 0 and (tmp_path / "be.png").read_bytes()[:4] == b"\x89PNG"


def test_sample_warnings_thresholds():
    from robusta_bench.evaluation.sample_size import sample_counts, sample_warnings

    labels = {f"v{i}": int(i < 10) for i in range(20)}
    ok = sample_counts(list(labels), labels, train_labels=[1] * 6 + [0] * 6)
    assert ok == {"n_videos": 20, "n_violent": 10, "n_normal": 10, "n_train": 12, "n_train_violent": 6}
    assert sample_warnings(ok) == []
    small = sample_counts(list(labels)[1:], labels, train_labels=[1] * 6 + [0] * 6)
    assert [w.split(":")[0] for w in sample_warnings(small)] == ["only 19 test videos were scored (< 20)"]
    one_class = sample_counts([f"v{i}" for i in range(10)], labels, train_labels=[1, 1, 1])
    text = " ".join(sample_warnings(one_class))
    assert "has no normal videos" in text and "training set has only violent videos (3)" in text
    assert sample_counts(["v0"], labels, None)["n_train"] == -1


def test_failures_are_grouped_by_cause_with_every_video():
    from robusta_bench.evaluation.failures import format_failures, group_failures

    failures = {
        "a": "ground truth: a: violent video without an annotation line; its frame labels are unknown",
        "b": "no features in vis/fog-s3-seed0 (extraction failed: decode error)",
        "c": "ground truth: c: violent video without an annotation line; its frame labels are unknown",
        "d": "no features in vis/fog-s3-seed0",
    }
    groups = group_failures(failures)
    assert list(groups) == ["ground truth: violent video without an annotation line; its frame labels are unknown",
                            "no features in vis/fog-s3-seed0"]
    assert [n for n, _ in groups["no features in vis/fog-s3-seed0"]] == ["b", "d"]
    lines = format_failures(failures)
    assert "  b  (extraction failed: decode error)" in lines and "  d" in lines and len(lines) == 6


def test_no_scorable_video_lists_every_failure_without_a_traceback(tmp_path):
    d = sup.make_dataset(tmp_path / "ds", n_train=6, n_test=4)
    man = d["manifest_df"].copy()
    test = man["split"] == "test"
    man.loc[test, "name"] = [f"gone{i}" for i in range(int(test.sum()))]  # test videos the store does not have
    path = tmp_path / "m.csv"
    man.to_csv(path, index=False)
    res = run(["evaluate", "--method", "test-late", "--baseline", "none", "--store", d["store"], "--manifest", path,
               "--annotations", d["annotations"], "--corruptions", "fog", "--fractions", "0", "--out", tmp_path / "r"])
    assert res.exit_code == 1
    assert "Error: no test video could be scored (4 failed):" in res.stderr and "Traceback" not in res.output
    assert "no features in vis/clean: 4 video(s)" in res.stderr
    assert all(f"  gone{i}" in res.stderr for i in range(4))
