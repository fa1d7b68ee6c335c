"""``robusta-bench evaluate`` / ``train`` end to end on a small synthetic store with quick test detectors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import test_evaluate_support as sup
from robusta_bench.cli.main import cli
from robusta_bench.dataset.ground_truth import frame_labels
from robusta_bench.detectors.base import ScoreOut, load_detector
from robusta_bench.evaluation.metrics import frame_scores, official_ap
from robusta_bench.evaluation.runner import evaluate
from robusta_bench.evaluation.training import train_detector
from robusta_bench.store.feature_store import FeatureStore, Variant


@pytest.fixture(autouse=True)
def _threads():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module", autouse=True)
def _test_detectors():
    with sup.registered_detectors():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return sup.make_dataset(tmp_path_factory.mktemp("evalds"))


def _args(d, out, *extra):
    return [
        "evaluate", "--method", "test-late", "--baseline", "test-concat", "--store", str(d["store"]),
        "--manifest", str(d["manifest"]), "--annotations", str(d["annotations"]), "--out", str(out), *extra,
    ]


def test_cli_end_to_end(data, tmp_path):
    out = tmp_path / "results"
    res = CliRunner().invoke(cli, _args(data, out, "--tables", "I,II,V", "--seeds", "0,1", "--fractions", "0,50,100"))
    assert res.exit_code == 0, res.output
    # the Table-I-style Markdown on stdout, the skipped settings and the report path
    assert "| Corruption | Modality | 0% test-concat | 0% test-late |" in res.output
    assert "skipped 29 setting(s)" in res.output and "vis/rain-s3-seed0" in res.output
    assert f"report: {out / 'report.html'}" in res.output
    for f in ("results.csv", "results.json", "summary.csv", "table1.md", "table2.md", "table5.md", "fig4.md",
              "ap_vs_level.png", "scores_over_time.png", "fusion_comparison.png", "report.html"):
        assert (out / f).is_file(), f
        assert (out / f).stat().st_size > 0
    assert (out / "ap_vs_level.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = pd.read_csv(out / "results.csv")
    t1 = rows[rows["table"] == "I"]
    # Table I: 2 visual + 2 audio + 2 missing settings the store supports, 3 levels, 2 methods, 2 seeds
    assert set(t1["setting"]) == {"fog", "contrast", "babble", "pitch_shift", "missing_visual", "missing_audio"}
    main = t1[t1["method"].isin(["test-late", "test-concat"])]
    assert len(main) == 6 * 3 * 2 * 2
    assert set(rows.loc[rows["table"] == "II", "setting"]) == {
        "only_visual:fog", "only_visual:contrast", "only_audio:babble", "only_audio:pitch_shift"}
    # Table V ablation (padding) only on pitch_shift, Fig. 4 average fusion only on fog
    assert set(rows.loc[rows["method"] == "test-late-pad", "setting"]) == {"pitch_shift"}
    assert set(rows.loc[rows["method"] == "test-late-average", "setting"]) == {"fog"}
    assert rows["n_videos"].eq(len(data["names"])).all()
    assert rows[["ap", "ap_online", "ap_sklearn", "auc"]].notna().all().all()
    # level 0 is the clean test set: the same numbers for every Table I setting
    clean = t1[(t1["level"] == 0) & (t1["method"] == "test-late") & (t1["seed"] == 0)]["ap"]
    assert clean.nunique() == 1
    # the late-fusion method is robust to a destroyed visual modality; the concatenation is not
    fog100 = t1[(t1["level"] == 100) & (t1["setting"] == "fog")].groupby("method")["ap"].mean()
    assert fog100["test-late"] > fog100["test-concat"] + 0.1
    html = (out / "report.html").read_text()
    assert html.count("<table") >= 5 and html.count("data:image/png;base64,") == 3
    assert "Table II" in html and "Skipped settings" in html
    md = (out / "table1.md").read_text()
    assert "| Average | Visual |" in md and "**" in md and " ± " in md
    summary = json.loads((out / "results.json").read_text())
    assert summary["info"]["seeds"] == [0, 1] and summary["failures"] == {}
    # issue 17: the recipe of every trained method is recorded (defaults: official for these test detectors)
    recipes = summary["info"]["recipes"]
    assert set(recipes) == {"test-late", "test-concat", "test-late-pad"}
    assert recipes["test-late"]["recipe"] == "official" and recipes["test-late"]["lr"] == 1e-4
    assert "recipe test-late" in html and "online_lr_scale=0.5" in html
    assert "total_s" in summary["timings"]


def test_recipe_and_overrides_reach_the_detectors(data, tmp_path, monkeypatch):
    """--recipe paper --set ... trains every method with that recipe and prints it."""
    out = tmp_path / "res"
    res = CliRunner().invoke(cli, _args(data, out, "--fractions", "0,100", "--corruptions", "fog", "--recipe", "paper",
                                        "--set", "epochs=3", "--set", "lr=2e-5"))
    assert res.exit_code == 0, res.output
    assert "recipe test-late: paper+epochs=3,lr=2e-05" in res.output
    info = json.loads((out / "results.json").read_text())["info"]
    for cfg in info["recipes"].values():
        assert (cfg["batch_size"], cfg["weight_decay"], cfg["lr"], cfg["epochs"]) == (640, 1e-5, 2e-5, 3)
    bad = CliRunner().invoke(cli, _args(data, tmp_path / "bad", "--set", "learning_rate=1"))
    assert bad.exit_code == 2 and "unknown hyper-parameter 'learning_rate'" in bad.output


def test_results_match_direct_scoring(data, tmp_path):
    """AP at levels 0 and 100 equals scoring each video directly and calling sklearn on frames."""
    res = evaluate(data["store"], data["manifest"], data["annotations"], methods=("test-late",), baseline=None,
                   corruptions="fog,missing_visual", levels=(0, 100), seeds=(0,))
    det = train_detector("test-late", data["store"], data["manifest"], seed=0)
    store = FeatureStore(data["store"])
    vclean = store.read("vis", Variant(), data["names"])
    vfog = store.read("vis", Variant("fog", 3, 0), data["names"])
    aclean = store.read("aud", Variant(), data["names"])
    man = data["manifest_df"].set_index("name")
    ann = data["ann"]

    def ap(visual_of):
        gts, frs = [], []
        for n in data["names"]:
            v, a = visual_of(n), aclean[n][0]
            t = min(a.shape[0], vclean[n].shape[1])
            s = det.score(None if v is None else v[:, :t], a[:t]).offline
            gt = frame_labels(int(man.loc[n, "frames"]), ann.get(n, []))
            gts.append(gt[: 16 * t])
            frs.append(frame_scores(s)[: 16 * t])
        return official_ap(np.concatenate(gts), np.concatenate(frs))

    rows = res.rows[res.rows["method"] == "test-late"].set_index(["setting", "level"])["ap"]
    assert rows[("fog", 0)] == pytest.approx(ap(lambda n: vclean[n]), abs=1e-9)
    assert rows[("fog", 100)] == pytest.approx(ap(lambda n: vfog[n]), abs=1e-9)
    assert rows[("missing_visual", 100)] == pytest.approx(ap(lambda n: None), abs=1e-9)
    assert res.ok and res.files == {}


def test_missing_variant_is_a_clear_error(data, tmp_path):
    res = CliRunner().invoke(cli, _args(data, tmp_path / "r", "--corruptions", "fog,rain"))
    assert res.exit_code == 2
    assert "vis/rain-s3-seed0" in res.output
    assert "robusta-bench extract" in res.output and "--variants rain@3" in res.output
    assert not (tmp_path / "r" / "results.csv").exists()
    # a severity the store does not have
    res = CliRunner().invoke(cli, _args(data, tmp_path / "r", "--corruptions", "fog", "--severity", "5"))
    assert res.exit_code == 2 and "fog-s5-seed0" in res.output


def test_precision_option_reaches_the_scorers(data, tmp_path):
    """--precision is checked by click and passed down: a detector without it refuses bfloat16 by name."""
    res = CliRunner().invoke(cli, _args(data, tmp_path / "r", "--precision", "float16"))
    assert res.exit_code == 2 and "float16" in res.output
    res = CliRunner().invoke(cli, _args(data, tmp_path / "r", "--precision", "bf16"))
    assert res.exit_code == 2 and "does not support precision 'bf16'" in res.output
    # the spelling of before is still accepted, with a deprecation note
    res = CliRunner().invoke(cli, _args(data, tmp_path / "r", "--precision", "bfloat16"))
    assert res.exit_code == 2 and "--precision bfloat16 is deprecated; use bf16" in res.output
    assert "does not support precision 'bf16'" in res.output
    assert not (tmp_path / "r" / "results.csv").exists()


def test_bad_video_is_reported_and_the_rest_evaluated(tmp_path):
    # one test video is missing from the fog group (its extraction "failed")
    bad = sup.video_name(10 + 3, 0)
    d = sup.make_dataset(tmp_path / "ds", n_train=10, n_test=8, broken=bad)
    assert bad in d["names"]
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, _args(d, out, "--corruptions", "fog,babble", "--levels", "0,100"))
    assert res.exit_code == 1, res.output
    assert "--levels is deprecated; use --fractions" in res.output
    assert bad in res.output and "fog-s3-seed0" in res.output and "synthetic failure" in res.output
    rows = pd.read_csv(out / "results.csv")
    assert rows["n_videos"].eq(7).all()
    assert bad in (out / "report.html").read_text()


def test_train_then_evaluate_from_checkpoint(data, tmp_path):
    f = tmp_path / "late.safetensors"
    res = CliRunner().invoke(cli, ["train", "--method", "test-late", "--store", str(data["store"]),
                                   "--manifest", str(data["manifest"]), "--out", str(f), "--seed", "0"])
    assert res.exit_code == 0, res.output
    det = load_detector(f)
    assert det.name == "test-late" and det.train_info["seed"] == 0
    common = dict(methods=("test-late",), baseline=None, corruptions="babble", levels=(0, 30, 100))
    a = evaluate(data["store"], data["manifest"], data["annotations"], checkpoints={"test-late": f}, **common)
    b = evaluate(data["store"], data["manifest"], data["annotations"], seeds=(0,), **common)
    np.testing.assert_allclose(a.rows["ap"].to_numpy(), b.rows["ap"].to_numpy(), rtol=0, atol=1e-12)
    # another seed trains a different detector
    c = evaluate(data["store"], data["manifest"], data["annotations"], seeds=(1,), **common)
    assert not np.allclose(b.rows["ap"].to_numpy(), c.rows["ap"].to_numpy())


def test_fusion_ablation_label_applies_to_a_loaded_checkpoint(data, tmp_path):
    """``--checkpoint test-late-average=F`` scores the gmm-trained detector with 0.5/0.5 fusion, once."""
    f = tmp_path / "late.safetensors"
    res = CliRunner().invoke(cli, ["train", "--method", "test-late", "--store", str(data["store"]),
                                   "--manifest", str(data["manifest"]), "--out", str(f), "--seed", "0"])
    assert res.exit_code == 0, res.output
    r = evaluate(data["store"], data["manifest"], data["annotations"], methods=("test-late", "test-late-average"),
                 baseline=None, corruptions="fog", levels=(0, 100), checkpoints={"test-late": f, "test-late-average": f})
    rows = r.rows[r.rows["table"] == "I"]
    assert sorted(rows["method"].value_counts().to_dict().items()) == [("test-late", 2), ("test-late-average", 2)]
    name = r.bank.scored_names(list(r.bank.lengths))[0]
    avg = r.bank.get(("test-late-average", 0), name, ("fog", "clean"))
    own = r.bank.get(("test-late", 0), name, ("fog", "clean"))
    assert np.all(avg.w_visual == 0.5) and not np.allclose(own.w_visual, 0.5)
    # a structural ablation (align) cannot be faked from a checkpoint trained without it
    with pytest.raises(ValueError, match="align"):
        evaluate(data["store"], data["manifest"], data["annotations"], methods=("test-late-pad",), baseline=None,
                 corruptions="fog", levels=(0,), checkpoints={"test-late-pad": f})


class _Recorder:
    """Scorer wrapper that records what the detector receives."""

    calls: list = []

    def __init__(self, inner):
        self.inner = inner

    def visual_state(self, visual, length):
        _Recorder.calls.append(("visual", None if visual is None else float(np.abs(visual).mean()), length))
        return self.inner.visual_state(visual, length)

    def audio_state(self, audio, length):
        _Recorder.calls.append(("audio", None if audio is None else audio.shape, length))
        return self.inner.audio_state(audio, length)

    def combine(self, vs, as_, fusion=None) -> ScoreOut:
        return self.inner.combine(vs, as_, fusion)


def test_missing_modality_is_none_and_each_input_scored_once(data, monkeypatch):
    orig = sup.LateDetector.scorer
    monkeypatch.setattr(sup.LateDetector, "scorer", lambda self, device="cpu": _Recorder(orig(self, device)))
    _Recorder.calls = []
    evaluate(data["store"], data["manifest"], data["annotations"], methods=("test-late",), baseline=None,
             corruptions="fog,missing_visual,missing_audio", levels=(0, 10, 50, 100), seeds=(0,))
    n = len(data["names"])
    vis = [c for c in _Recorder.calls if c[0] == "visual"]
    aud = [c for c in _Recorder.calls if c[0] == "audio"]
    # per video: visual clean, fog, missing; audio clean, missing -- each exactly once for all levels
    assert len(vis) == 3 * n and len(aud) == 2 * n
    assert sum(1 for c in vis if c[1] is None) == n
    assert sum(1 for c in aud if c[1] is None) == n
    assert all(len(c[1]) == 2 for c in aud if c[1] is not None)  # audio reaches the detector as (T, d)


def test_each_shard_is_decoded_once(data, monkeypatch):
    """Visual and audio groups are sharded differently; still every needed shard is read exactly once."""
    calls = []
    orig = FeatureStore.iter_videos

    def counting(self, extractor, variant, names=None):
        calls.append((extractor, variant.slug, tuple(names or ())))
        return orig(self, extractor, variant, names)

    monkeypatch.setattr(FeatureStore, "iter_videos", counting)
    res = evaluate(data["store"], data["manifest"], data["annotations"], methods=("test-late",), baseline=None,
                   corruptions="fog,babble", levels=(0, 100), seeds=(0,), checkpoints=None)
    assert res.ok
    scoring_calls = [c for c in calls if c[1] != "clean" or set(c[2]) & set(data["names"])]
    assert len(scoring_calls) == len(set(scoring_calls))
    store = FeatureStore(data["store"])
    test = set(data["names"])
    for ext, slug in (("vis", "clean"), ("vis", "fog-s3-seed0"), ("aud", "clean"), ("aud", "babble-s3-seed0")):
        var = Variant.parse(slug)
        shards = [f["videos"] for f in store.index(ext, var)["files"] if test & set(f["videos"])]
        read = [c for c in scoring_calls if c[:2] == (ext, slug)]
        assert sorted(read) == sorted((ext, slug, tuple(s)) for s in shards)
    # the layouts really differ (2 visual crops vs 1 audio crop per row budget)
    assert len(store.index("vis", Variant())["files"]) > len(store.index("aud", Variant())["files"])


def test_table_v_padding_with_audio_as_wide_as_visual_is_refused_before_training(tmp_path, monkeypatch):
    """Issue 17: robusta-pad with audio features as wide as the visual ones fails first, saying why."""
    from robusta_bench.detectors.hlnet import HLNetDetector

    monkeypatch.setattr(sup, "ADIM", sup.VDIM)
    d = sup.make_dataset(tmp_path / "wide")

    def no_training(*a, **k):
        raise AssertionError("trained before refusing the padding ablation")

    monkeypatch.setattr(HLNetDetector, "fit", no_training)
    with pytest.raises(ValueError, match=f"{sup.VDIM}-d audio and {sup.VDIM}-d visual.*appends nothing"):
        evaluate(d["store"], d["manifest"], d["annotations"], methods=("robusta",), baseline="hlnet",
                 corruptions="pitch_shift", levels=(0, 100), tables="I,V")
