"""Table III (plug-and-play) and the zero-shot UCF-Crime Table IV, end to end through the CLI on tiny synthetic stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.evaluation.synthetic import make_feature_benchmark
from robusta_bench.evaluation.synthetic_ucf import make_ucf_feature_benchmark

torch.set_num_threads(1)
SIX = ("hlnet", "robusta", "hypervd", "robusta-hypervd", "rtfm", "robusta-rtfm")


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    root = tmp_path_factory.mktemp("t34")
    xd = make_feature_benchmark(root / "xd", n_train=10, n_test=10, visual_dim=16, audio_dim=8, crops=1, segments=(8, 14))
    ucf = make_ucf_feature_benchmark(root / "ucf", n_train=2, n_test=8, visual_dim=16, crops=1, segments=(8, 14),
                                     visual_corruptions=["fog"])
    return root, xd, ucf


def _run(args):
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    return res


def test_evaluate_tables_III_writes_the_paper_rows(benches):
    root, xd, _ = benches
    out = root / "t3"
    res = _run(["evaluate", "--store", str(xd.store), "--manifest", str(xd.manifest), "--annotations", str(xd.annotations),
                "--tables", "III", "--fractions", "0,100", "--epochs", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Table III" in res.output
    for row in ("Baseline: hlnet", "Ours (RobustA): robusta", "Baseline: hypervd", "Ours (RobustA): robusta-hypervd",
                "Baseline: rtfm", "Ours (RobustA): robusta-rtfm"):
        assert row in res.output
    # the paper's numbers, labelled
    assert "paper: Visual 100%" in res.output and "| 85.90 | 77.29 | 85.90 | 78.18 |" in res.output
    md = (out / "tables.md").read_text()
    assert "Table III" in md and "77.30 | 72.67 | 77.30 | 74.21" in md
    assert "Table III" in (out / "report.html").read_text()
    rows = pd.read_csv(out / "results.csv")
    mixed = rows[rows["setting"].isin(["mixed_visual", "mixed_audio"])]
    assert set(mixed["method"]) == set(SIX) and set(mixed["level"]) == {0, 100}
    t3 = pd.read_csv(out / "table3.csv")
    assert list(t3["method"]) == list(SIX)
    assert t3.loc[t3["method"] == "rtfm", "paper_audio_100"].item() == 77.44
    # Table III cells are the results.csv APs of the same method, setting and level
    for _, r in mixed.iterrows():
        tag = "visual" if r["setting"] == "mixed_visual" else "audio"
        cell = t3.loc[t3["method"] == r["method"], f"{tag}_{r['level']:g}_mean"].item()
        assert abs(cell - 100 * r["ap"]) < 1e-3
    # level 0 is the clean test set for both settings
    zero = mixed[mixed["level"] == 0].pivot(index="method", columns="setting", values="ap")
    assert np.allclose(zero["mixed_visual"], zero["mixed_audio"])


def test_zero_shot_table_IV_with_a_visual_corruption(benches):
    root, xd, ucf = benches
    out = root / "t4"
    res = _run(["evaluate", "--dataset", "ucf-crime", "--tables", "IV", "--store", str(ucf.store), "--manifest",
                str(ucf.manifest), "--annotations", str(ucf.annotations), "--train-store", str(xd.store),
                "--train-manifest", str(xd.manifest), "--corruptions", "fog", "--fractions", "0,100", "--epochs", "1",
                "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Table IV" in res.output
    for method, paper in (("rtfm", "59.6"), ("robusta-rtfm", "68.9"), ("hlnet", "63.3"), ("robusta", "68.4")):
        assert any(line.startswith(f"| {method} |") and line.rstrip().endswith(f"| {paper} |") for line in res.output.splitlines())
    rows = pd.read_csv(out / "results.csv")
    assert set(rows["method"]) == set(SIX) and set(rows["setting"]) == {"clean", "fog"}
    assert rows["n_videos"].eq(8).all()
    clean = rows[rows["setting"] == "clean"].set_index("method")["auc"]
    fog0 = rows[(rows["setting"] == "fog") & (rows["level"] == 0)].set_index("method")["auc"]
    assert np.allclose(clean.sort_index(), fog0.sort_index())
    fog100 = rows[(rows["setting"] == "fog") & (rows["level"] == 100)]
    assert (fog100["n_corrupted"] == 8).all()
    assert not np.allclose(fog100.set_index("method")["auc"].sort_index(), clean.sort_index())
    assert "Table IV" in (out / "tables.md").read_text() and "Table IV" in (out / "report.html").read_text()


def test_zero_shot_auc_is_the_pooled_frame_auc_of_a_checkpoint(benches):
    """The clean AUC equals sklearn's ROC-AUC of the video-list-ordered, 16x repeated visual-only scores."""
    from sklearn.metrics import roc_auc_score

    from robusta_bench.dataset.ucf_crime import read_ucf_annotations, ucf_n_segments, video_frame_labels
    from robusta_bench.evaluation.training import train_detector
    from robusta_bench.store.feature_store import FeatureStore, Variant

    root, xd, ucf = benches
    det = train_detector("robusta", xd.store, xd.manifest, epochs=2, out=root / "r.safetensors")
    out = root / "t4c"
    res = _run(["evaluate", "--dataset", "ucf-crime", "--store", str(ucf.store), "--manifest", str(ucf.manifest),
                "--annotations", str(ucf.annotations), "--method", "robusta", "--baseline", "none", "--checkpoint",
                f"robusta={root / 'r.safetensors'}", "--corruptions", "none", "--out", str(out)])
    assert res.exit_code == 0, res.output
    auc = pd.read_csv(out / "results.csv").query("setting == 'clean'")["auc"].item()
    man = pd.read_csv(ucf.manifest).query("split == 'test'").sort_values("list_index")
    ann = read_ucf_annotations(ucf.annotations)
    feats = dict(FeatureStore(ucf.store).iter_videos("synth-visual", Variant(), names=list(man["name"])))
    scores, labels = [], []
    for row in man.to_dict("records"):
        t = ucf_n_segments(row["frames"], row["fps"])
        s = det.score(feats[row["name"]][:, :t], None).offline
        g = video_frame_labels(row, ann)
        scores.append(np.repeat(s, 16)[: len(g)])
        labels.append(g)
    assert abs(auc - roc_auc_score(np.concatenate(labels), np.concatenate(scores))) < 1e-6


def test_wrong_table_for_the_dataset_is_a_usage_error(benches):
    root, xd, ucf = benches
    res = _run(["evaluate", "--dataset", "ucf-crime", "--tables", "I", "--store", str(ucf.store), "--manifest",
                str(ucf.manifest), "--annotations", str(ucf.annotations), "--out", str(root / "bad")])
    assert res.exit_code == 2 and "Table IV only" in res.output
    res = _run(["evaluate", "--tables", "IV", "--store", str(xd.store), "--manifest", str(xd.manifest),
                "--annotations", str(xd.annotations), "--out", str(root / "bad2")])
    assert res.exit_code == 2 and "--dataset ucf-crime" in res.output
    res = _run(["evaluate", "--dataset", "ucf-crime", "--store", str(ucf.store), "--manifest", str(ucf.manifest),
                "--annotations", str(xd.annotations), "--method", "hlnet", "--baseline", "none", "--checkpoint",
                f"hlnet={root / 'r.safetensors'}", "--out", str(root / "bad3")])
    assert res.exit_code == 2 and "not a UCF-Crime temporal annotation file" in res.output
