"""``robusta-bench modality-health``: GMM corruption estimate per video and segment."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import test_evaluate_support as sup
from robusta_bench.cli.main import cli
from robusta_bench.detectors.weighting import WeightingConfig
from robusta_bench.evaluation.health import FLAG_LAMBDA, modality_health


@pytest.fixture(scope="module", autouse=True)
def _test_detectors():
    with sup.registered_detectors():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return sup.make_dataset(tmp_path_factory.mktemp("healthds"), n_train=20, n_test=10)


def test_health_detects_the_corrupted_modality(data, tmp_path):
    res = modality_health(data["store"], data["manifest"], variants=["clean", "fog@3", "babble@3"], out_dir=tmp_path)
    v = res.videos.set_index(["variant", "name"])
    clean, fog, babble = (v.loc[k] for k in ("clean", "fog-s3-seed0", "babble-s3-seed0"))
    n = len(data["names"])
    assert len(clean) == len(fog) == len(babble) == n
    # clean test data looks like clean training data
    assert clean["visual_lambda_mean"].mean() > 0.35 and clean["audio_lambda_mean"].mean() > 0.35
    assert not clean["visual_flag"].any() and not clean["audio_flag"].any()
    # fog destroys the visual features: visual weight collapses, audio untouched
    assert (fog["visual_lambda_mean"] < FLAG_LAMBDA).all() and fog["visual_flag"].all()
    pd.testing.assert_series_equal(fog["audio_lambda_mean"], clean["audio_lambda_mean"])
    assert (fog["w_visual_mean"] < 0.2).all() and (clean["w_visual_mean"] > 0.2).all()
    # babble: the audio one
    assert babble["audio_flag"].all() and not babble["visual_flag"].any()
    assert (babble["w_visual_mean"] > 0.8).all()
    seg = res.segments
    assert {"name", "variant", "segment", "visual_nll", "visual_lambda", "audio_nll", "audio_lambda", "w_visual"} <= set(seg.columns)
    assert len(seg) == 3 * int(res.videos.loc[res.videos["variant"] == "clean", "segments"].sum())
    assert seg["visual_lambda"].between(0, 0.5).all()
    for f in ("health_videos.csv", "health_segments.csv", "health.png", "health_detection.csv",
              "health_detection.md", "health_detection.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert "fog-s3-seed0" in res.summary() and res.ok
    # detection table: one row per corrupted variant x its modality x dynamic option
    det = res.detection
    assert len(det) == 2 * 4 and set(det["modality"]) == {"visual", "audio"}
    fog_rows = det[det["corruption"] == "fog"]
    assert (fog_rows["modality"] == "visual").all() and (fog_rows["severity"] == 3).all()
    # the synthetic corruption replaces the features by far-off noise: every option sees it
    assert (det["auc_segment"] > 0.95).all() and (det["auc_video"] > 0.95).all()
    assert (det["w_corrupted"] < 0.2).all() and (det["w_clean"] > 0.3).all()
    assert (det["lambda_corrupted"] < det["lambda_clean"]).all()
    assert "| fog | 3 | visual | gmm-paper |" in (tmp_path / "health_detection.md").read_text()


def test_health_leave_one_out_and_units(data, tmp_path):
    res = modality_health(data["store"], data["manifest"], variants=["fog@3"], split="test", leave_one_out=True,
                          weightings=["gmm-paper"], weighting_config=WeightingConfig(unit="video"))
    assert "leave-one-out" in res.gmm_source and res.ok
    seg = res.segments
    assert {"visual_gmm-paper_score", "visual_gmm-paper_lambda"} <= set(seg.columns) and "visual_typicality_score" not in seg
    # unit "video": one score per video and variant
    assert (seg.groupby(["variant", "name"])["visual_gmm-paper_score"].nunique() == 1).all()
    assert res.detection["auc_video"].iloc[0] > 0.95
    with pytest.raises(ValueError, match="checkpoint"):
        modality_health(data["store"], data["manifest"], leave_one_out=True, checkpoint=data["manifest"])


def test_health_cli_and_errors(data, tmp_path):
    base = ["modality-health", "--store", str(data["store"]), "--manifest", str(data["manifest"]), "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, [*base, "--variant", "clean,pitch_shift@3"])
    assert res.exit_code == 0, res.output
    assert "pitch-shift" not in res.output and "pitch_shift-s3-seed0" in res.output
    assert (tmp_path / "health.png").exists()
    assert "| pitch_shift | 3 | audio | gmm-paper |" in res.output
    res = CliRunner().invoke(cli, [*base, "--variant", "fog@3", "--leave-one-out", "--unit", "window", "--window", "3",
                                   "--weighting", "gmm-paper,gmm-norm"])
    assert res.exit_code == 0, res.output
    assert "leave-one-out" in res.output and "| fog | 3 | visual | gmm-norm |" in res.output
    res = CliRunner().invoke(cli, [*base, "--weighting", "nope"])
    assert res.exit_code == 2 and "nope" in res.output
    res = CliRunner().invoke(cli, [*base, "--variant", "rain@3"])
    assert res.exit_code == 2 and "rain-s3-seed0" in res.output and "robusta-bench extract" in res.output
    # a detector file without GMMs
    det = tmp_path / "concat.safetensors"
    r = CliRunner().invoke(cli, ["train", "--method", "test-concat", "--store", str(data["store"]),
                                 "--manifest", str(data["manifest"]), "--out", str(det)])
    assert r.exit_code == 0, r.output
    res = CliRunner().invoke(cli, [*base, "--checkpoint", str(det)])
    assert res.exit_code == 2 and "no fitted GMMs" in res.output
