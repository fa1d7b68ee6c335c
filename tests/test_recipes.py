"""Training recipes (issue 17): named recipes reach the optimiser; RobustA's Eq.-2 sampling; recipe files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.detectors import train as train_mod
from robusta_bench.detectors.base import TrainSet, build_detector
from robusta_bench.detectors.recipes import RecipeError, recipe_toml, resolve_recipe

DV, DA, T = 12, 6, 4


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def train_set(n: int, crops: int = 1, seed: int = 0) -> TrainSet:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    visual = [(rng.normal(size=(crops, T, DV)) + labels[i]).astype(np.float32) for i in range(n)]
    audio = [(rng.normal(size=(T, DA)) - labels[i]).astype(np.float32) for i in range(n)]
    return TrainSet([f"v{i}" for i in range(n)], labels, visual, audio)


class OptimiserSpy:
    """Records, at every Adam step, each group's (name, lr, weight_decay) and the batch size of the loss."""

    def __init__(self, monkeypatch):
        self.steps: list[dict] = []
        self.batches: list[int] = []
        real_step = torch.optim.Adam.step
        real_loss = train_mod.hlnet_loss
        spy = self

        def step(opt, *a, **kw):
            spy.steps.append({g["name"]: (g["lr"], g["weight_decay"], len(g["params"])) for g in opt.param_groups})
            return real_step(opt, *a, **kw)

        def loss(logits_p, logits_s, labels, seq_len, w):
            spy.batches.append(int(labels.shape[0]))
            return real_loss(logits_p, logits_s, labels, seq_len, w)

        monkeypatch.setattr(torch.optim.Adam, "step", step)
        monkeypatch.setattr(train_mod, "hlnet_loss", loss)


def expected_batches(n_samples: int, batch: int) -> list[int]:
    return [min(batch, n_samples - b) for b in range(0, n_samples, batch)]


# what each named recipe must do, written out from the paper / the official code (not from recipes.py)
def official_lr(epoch: int, step: int, total: int) -> float:
    return 1e-4 * (0.1 if epoch + 1 >= 10 else 1.0)  # scheduler.step() before each epoch, milestone 10


def paper_lr(epoch: int, step: int, total: int) -> float:
    return 1e-5 * 0.5 * (1 + math.cos(math.pi * step / total))  # cosine over all optimiser steps


def demo_lr(epochs: int):
    return lambda epoch, step, total: 5e-4 * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


CASES = {
    # recipe: (epochs to run, batch, weight decay, lr(epoch, step, total))
    "official": (11, 128, 0.0, official_lr),
    "paper": (3, 640, 1e-5, paper_lr),
    "demo": (2, 8, None, demo_lr(2)),  # weight decay: that of the detector's default recipe
}


@pytest.mark.parametrize("detector", ["hlnet", "robusta"])
@pytest.mark.parametrize("recipe", ["official", "paper", "demo"])
def test_recipe_values_reach_the_optimiser(detector, recipe, monkeypatch):
    epochs, batch, wd, lr = CASES[recipe]
    if wd is None:
        wd = 1e-5 if detector == "robusta" else 0.0
    n_videos = 330 if recipe != "demo" else 20  # 660 RobustA samples: more than one batch of 640
    ts = train_set(n_videos)
    det = build_detector(detector, visual_dim=DV, audio_dim=DA)
    cfg = resolve_recipe(detector, recipe, {"epochs": epochs})
    spy = OptimiserSpy(monkeypatch)
    tlog = det.fit(ts, cfg, seed=0, **({"fit_gmm": False} if detector == "robusta" else {}))
    n_samples = 2 * n_videos if detector == "robusta" else n_videos
    per_epoch = expected_batches(n_samples, batch)
    assert spy.batches == per_epoch * epochs
    total = len(per_epoch) * epochs
    assert len(spy.steps) == total == tlog.steps
    net = det.net.detector if detector == "robusta" else det.net
    n_online = len(list(net.approximator.parameters())) + len(list(net.conv1d_approximator.parameters()))
    n_all = len(list(det.net.parameters()))
    for k, groups in enumerate(spy.steps):
        epoch = k // len(per_epoch)
        want = lr(epoch, k, total)
        assert groups["base"][0] == pytest.approx(want, rel=1e-9, abs=1e-15)
        assert groups["online_head"][0] == pytest.approx(want / 2, rel=1e-9, abs=1e-15)  # lr/2 for the online head
        assert groups["base"][1] == groups["online_head"][1] == wd
        assert groups["online_head"][2] == n_online and groups["base"][2] == n_all - n_online
    assert det.train_info["config"]["recipe"] == f"{recipe}+epochs={epochs}"


def test_default_recipes_per_detector():
    assert resolve_recipe("robusta").recipe == "paper"
    p = resolve_recipe("robusta").to_dict()
    assert (p["epochs"], p["lr"], p["weight_decay"], p["batch_size"], p["schedule"]) == (50, 1e-5, 1e-5, 640, "cosine_steps")
    o = resolve_recipe("hlnet").to_dict()
    assert resolve_recipe("hlnet").recipe == "official"
    assert (o["lr"], o["online_lr_scale"], o["batch_size"], o["milestones"], o["scheduler_step"], o["bias_init"]) == (
        1e-4, 0.5, 128, [10], "before_epoch", "default")


@pytest.mark.parametrize("bias_init", ["default", "zero"])
def test_bias_initialisation(bias_init):
    """Official: PyTorch's default bias draw U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (fill_(0.1) is commented out)."""
    det = build_detector("hlnet", visual_dim=DV, audio_dim=DA)
    det.fit(train_set(4), resolve_recipe("hlnet", "official", {"epochs": 0, "bias_init": bias_init}), seed=0)
    bias = det.net.conv1d2.bias.detach()  # conv 512 -> 128, fan_in 512
    if bias_init == "zero":
        assert torch.all(bias == 0)
    else:
        bound = 1 / math.sqrt(512)
        assert float(bias.abs().max()) <= bound and float(bias.std()) > bound / 4


def test_robusta_sees_2n_samples_with_both_modalities_of_every_video(monkeypatch):
    """Eq. 2: per epoch, each of the n videos gives its visual (one of its crops) and its projected audio."""
    n, crops, epochs = 7, 3, 3
    ts = train_set(n, crops=crops, seed=4)
    det = build_detector("robusta", visual_dim=DV, audio_dim=DA)
    seen: list[list[tuple[int, str]]] = []
    crops_seen: dict[int, set] = {i: set() for i in range(n)}
    real_forward = type(det.net.detector).forward

    def forward(net, x, seq_len=None):
        if net is det.net.detector and torch.is_grad_enabled():
            with torch.no_grad():
                aligned = [det.net.embed_audio(torch.as_tensor(a)[None])[0] for a in ts.audio]
            rows = []
            for b in range(x.shape[0]):
                row = x[b, : int(seq_len[b])].detach()
                hit = [(i, "visual", c) for i in range(n) for c in range(crops) if torch.equal(row, torch.as_tensor(ts.visual[i][c]))]
                hit += [(i, "audio", 0) for i in range(n) if torch.allclose(row, aligned[i], atol=1e-6)]
                assert len(hit) == 1, f"row {b} matches {hit}"
                rows.append(hit[0][:2])
                if hit[0][1] == "visual":
                    crops_seen[hit[0][0]].add(hit[0][2])
            if not seen or len(seen[-1]) >= 2 * n:
                seen.append([])
            seen[-1].extend(rows)
        return real_forward(net, x, seq_len)

    monkeypatch.setattr(type(det.net.detector), "forward", forward)
    cfg = resolve_recipe("robusta", "demo", {"epochs": epochs, "batch_size": 4})
    tlog = det.fit(ts, cfg, seed=0, fit_gmm=False)
    assert tlog.samples == 2 * n and len(seen) == epochs
    for epoch in seen:
        assert sorted(epoch) == sorted([(i, m) for i in range(n) for m in ("visual", "audio")])
    assert sum(len(c) for c in crops_seen.values()) > n  # crops vary across epochs


def test_old_sampling_is_a_named_option(monkeypatch):
    ts = train_set(5, crops=2)
    det = build_detector("robusta", visual_dim=DV, audio_dim=DA)
    tlog = det.fit(ts, resolve_recipe("robusta", "demo", {"epochs": 1, "sampling": "crop_coin"}), seed=0, fit_gmm=False)
    assert tlog.samples == 10  # one per (video, crop)


def test_recipe_file_round_trip_and_errors(tmp_path):
    cfg = resolve_recipe("robusta", "paper", ["lr=3e-5", "milestones=5,9"])
    assert cfg.recipe == "paper+lr=3e-05,milestones=5/9"
    path = tmp_path / "mine.toml"
    path.write_text(recipe_toml(cfg, "robusta"))
    again = resolve_recipe("robusta", path)
    assert {k: v for k, v in again.to_dict().items() if k != "recipe"} == {k: v for k, v in cfg.to_dict().items() if k != "recipe"}
    assert again.recipe.startswith("file:")
    # per-detector tables override the top level for that detector only
    (tmp_path / "two.toml").write_text('base = "official"\nepochs = 7\n[robusta]\nlr = 2e-5\n')
    assert resolve_recipe("robusta", tmp_path / "two.toml").lr == 2e-5
    assert resolve_recipe("hlnet", tmp_path / "two.toml").lr == 1e-4
    assert resolve_recipe("hlnet", tmp_path / "two.toml").epochs == 7
    (tmp_path / "bad.toml").write_text("batch = 3\n")
    with pytest.raises(RecipeError, match="bad.toml: unknown hyper-parameter 'batch'"):
        resolve_recipe("hlnet", tmp_path / "bad.toml")
    with pytest.raises(RecipeError, match="unknown recipe 'papr'"):
        resolve_recipe("hlnet", "papr")
    with pytest.raises(RecipeError, match="schedule must be one of"):
        resolve_recipe("hlnet", None, ["schedule=linear"])


def test_recipe_command(tmp_path):
    out = tmp_path / "r.toml"
    res = CliRunner().invoke(cli, ["recipe", "--method", "robusta-pad", "--set", "batch_size=64", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert resolve_recipe("robusta", out).batch_size == 64
    shown = CliRunner().invoke(cli, ["recipe", "--method", "hlnet"]).output
    assert "online_lr_scale = 0.5" in shown and 'scheduler_step = "before_epoch"' in shown
