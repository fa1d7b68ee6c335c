"""The training loop shared by every detector (the official HL-Net recipe by default).

Named recipes (``paper``, ``official``, ``demo``) and recipe files live in
:mod:`.recipes`; this module holds the hyper-parameters (:class:`TrainConfig`)
and applies them: Adam with one parameter group per learning-rate scale (the
online head at ``online_lr_scale`` x ``lr``), ``weight_decay`` on every group,
the learning-rate schedule of :func:`lr_factor` (set on every group before
each optimiser step), ``batch_size`` samples per step.

Samples are shuffled each epoch by a generator seeded from the run's seed;
parameter initialisation and dropout draw from torch's generator seeded the
same way inside :func:`torch.random.fork_rng`, so a run is reproducible and
leaves the caller's random state untouched. The detector supplies
``batch_fn(indices, epoch) -> (logits_P, logits_S, labels, seq_len)``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..seeding import derive_seed
from .mil import hlnet_loss
from .sampling import SAMPLINGS

log = logging.getLogger(__name__)

#: ``step``: x ``gamma`` at each milestone epoch; ``cosine``: cosine from lr to 0 over the epochs
#: (set once per epoch); ``cosine_steps``: cosine from lr to 0 over all optimiser steps (set at
#: every step; our reading of the paper's "multi-step cosine"); ``none``: constant
SCHEDULES = ("step", "cosine", "cosine_steps", "none")
#: ``before_epoch``: the official code's ``scheduler.step()`` at the top of each epoch (epoch e
#: trains with the schedule's value of epoch e + 1); ``after_epoch``: PyTorch's documented order
SCHEDULER_STEPS = ("before_epoch", "after_epoch")
#: ``default``: PyTorch's default bias initialisation (the official code); ``zero``: zero biases
BIAS_INITS = ("default", "zero")


@dataclass
class TrainConfig:
    """Every training hyper-parameter. Defaults: the official XDVioDet recipe (see :mod:`.recipes`).

    ``online_lr_scale`` multiplies ``lr`` for the online head (HL-Net's
    approximator and its conv; 0.5 officially). ``sampling`` is used by RobustA
    only. ``recipe`` names where the values came from (for reports).
    """

    recipe: str = "official"
    epochs: int = 50
    lr: float = 1e-4
    online_lr_scale: float = 0.5
    batch_size: int = 128
    weight_decay: float = 0.0
    schedule: str = "step"
    milestones: tuple[int, ...] = (10,)
    gamma: float = 0.1
    scheduler_step: str = "before_epoch"
    bias_init: str = "default"
    sampling: str = "eq2"
    max_seq_len: int = 200
    distill_weight: float = 5.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0 or self.max_seq_len < 1:
            raise ValueError("epochs >= 0, batch_size >= 1, lr > 0 and max_seq_len >= 1 are required")
        if self.online_lr_scale <= 0 or self.weight_decay < 0 or self.gamma <= 0:
            raise ValueError("online_lr_scale > 0, weight_decay >= 0 and gamma > 0 are required")
        for key, allowed in (
            ("schedule", SCHEDULES),
            ("scheduler_step", SCHEDULER_STEPS),
            ("bias_init", BIAS_INITS),
            ("sampling", SAMPLINGS),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        self.milestones = tuple(int(m) for m in self.milestones)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "milestones" in known:
            known["milestones"] = tuple(known["milestones"])
        return cls(**known)


@dataclass
class TrainLog:
    """Mean loss per epoch and its parts (the last epoch's), for reports and tests."""

    epoch_loss: list[float] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    seconds: float = 0.0
    #: the base learning rate (before ``online_lr_scale``) of the first step of each epoch
    epoch_lr: list[float] = field(default_factory=list)
    steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BatchFn = Callable[[np.ndarray, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


def lr_factor(cfg: TrainConfig, epoch: int, step: int, total_steps: int) -> float:
    """The multiplier of every group's learning rate at ``epoch`` (0-based) and global ``step``."""
    e = epoch + 1 if cfg.scheduler_step == "before_epoch" else epoch
    if cfg.schedule == "step":
        return float(cfg.gamma ** sum(1 for m in cfg.milestones if m <= e))
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(e, cfg.epochs) / max(cfg.epochs, 1)))
    if cfg.schedule == "cosine_steps":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(total_steps, 1)))
    return 1.0


def param_groups(net: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Adam groups: the online head (``net.online_parameters()``, if any) at ``online_lr_scale``, the rest at 1.

    Each group carries ``lr_scale`` and ``name``; :func:`train_loop` sets
    ``lr = cfg.lr * lr_scale * lr_factor(...)`` before every step.
    """
    online = list(net.online_parameters()) if hasattr(net, "online_parameters") else []
    ids = {id(p) for p in online}
    base = [p for p in net.parameters() if id(p) not in ids]
    groups = [{"params": base, "lr_scale": 1.0, "name": "base"}]
    if online:
        groups.append({"params": online, "lr_scale": float(cfg.online_lr_scale), "name": "online_head"})
    return groups


def fork_devices(device: str) -> list[int]:
    """CUDA device indices whose RNG :func:`torch.random.fork_rng` must isolate."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


#: ``loss_fn(indices, epoch) -> (loss, parts)``: one batch's loss and its parts (floats, for the log)
LossFn = Callable[[np.ndarray, int], tuple[torch.Tensor, dict[str, float]]]


def run_epochs(
    opt: torch.optim.Optimizer,
    loss_fn: LossFn,
    n_samples: int,
    cfg: TrainConfig,
    seed: int,
    tlog: TrainLog,
    bar: Any,
    *,
    desc: str = "train",
    before_step: Callable[[int, int, bool], None] | None = None,
    after_epoch: Callable[[int], None] | None = None,
    logger: logging.Logger = log,
) -> int:
    """The epochs every training loop shares; returns the number of optimiser steps taken.

    Each of ``cfg.epochs`` epochs visits the ``n_samples`` sample indices in an
    order drawn from a generator seeded by ``seed``, in batches of
    ``cfg.batch_size``: ``before_step(epoch, step, first_of_epoch)`` (e.g. set
    the learning rate), ``loss_fn(indices, epoch)``, one step of ``opt``. The
    epoch's mean loss (weighted by batch size) is appended to
    ``tlog.epoch_loss`` and logged on ``logger`` after ``after_epoch(epoch)``
    (e.g. a scheduler step); ``tlog.parts`` keeps the last batch's parts, and
    ``bar`` (a progress bar) advances once per step.
    """
    shuffle = np.random.Generator(np.random.PCG64(derive_seed("train-shuffle", seed)))
    step = 0
    for epoch in range(cfg.epochs):
        order = shuffle.permutation(n_samples)
        total, count = 0.0, 0
        for b in range(0, n_samples, cfg.batch_size):
            if before_step is not None:
                before_step(epoch, step, b == 0)
            idx = order[b : b + cfg.batch_size]
            loss, parts = loss_fn(idx, epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            tlog.parts = parts
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.4f}")
        if after_epoch is not None:
            after_epoch(epoch)
        tlog.epoch_loss.append(total / max(count, 1))
        logger.info("%s epoch %d/%d loss %.5f", desc, epoch + 1, cfg.epochs, tlog.epoch_loss[-1])
    return step


def train_loop(
    params: Sequence[torch.nn.Parameter] | Sequence[dict[str, Any]],
    modules: Sequence[torch.nn.Module],
    batch_fn: BatchFn,
    n_samples: int,
    cfg: TrainConfig,
    seed: int,
    *,
    progress: bool = False,
    desc: str = "train",
) -> TrainLog:
    """Adam on the HL-Net loss over ``n_samples`` shuffled samples for ``cfg.epochs`` epochs.

    ``params`` is a list of parameters or of groups from :func:`param_groups`.
    """
    import time

    from ..progress import progress_bar as tqdm

    if n_samples < 1:
        raise ValueError("no training samples")
    start = time.perf_counter()
    params = list(params)
    groups = params if params and isinstance(params[0], dict) else [{"params": params, "lr_scale": 1.0, "name": "base"}]
    opt = torch.optim.Adam([dict(g) for g in groups], lr=cfg.lr, weight_decay=cfg.weight_decay)
    tlog = TrainLog(samples=n_samples)
    steps = cfg.epochs * math.ceil(n_samples / cfg.batch_size)

    def set_lr(epoch: int, step: int, first_of_epoch: bool) -> None:
        factor = lr_factor(cfg, epoch, step, steps)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * g["lr_scale"] * factor
        if first_of_epoch:
            tlog.epoch_lr.append(cfg.lr * factor)

    def loss_fn(idx: np.ndarray, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        logits_p, logits_s, labels, seq_len = batch_fn(idx, epoch)
        return hlnet_loss(logits_p, logits_s, labels, seq_len, cfg.distill_weight)

    bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress, leave=False)
    for m in modules:
        m.train()
    try:
        step = run_epochs(opt, loss_fn, n_samples, cfg, seed, tlog, bar, desc=desc, before_step=set_lr)
    finally:
        bar.close()
        for m in modules:
            m.eval()
    tlog.seconds = time.perf_counter() - start
    tlog.steps = step
    return tlog


def train_network(
    net: torch.nn.Module,
    batch_fn: BatchFn,
    n_samples: int,
    cfg: TrainConfig,
    seed: int,
    *,
    progress: bool = False,
    desc: str = "train",
) -> TrainLog:
    """Re-initialise ``net`` from ``seed`` (``cfg.bias_init``) and train it with :func:`train_loop` on ``cfg.device``.

    ``net`` provides ``reset_parameters(bias_init=...)`` and optionally
    ``online_parameters()`` (see :func:`param_groups`).

    The global torch RNG (and the device's) is forked, so training leaves the
    caller's random state untouched; ``net`` ends on the CPU in eval mode.
    """
    with torch.random.fork_rng(devices=fork_devices(cfg.device)):
        torch.manual_seed(int(seed) % (2**63))
        net.reset_parameters(bias_init=cfg.bias_init)
        net.to(torch.device(cfg.device))
        tlog = train_loop(param_groups(net, cfg), [net], batch_fn, n_samples, cfg, seed, progress=progress, desc=desc)
    net.to("cpu").eval()
    return tlog
