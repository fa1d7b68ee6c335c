"""The training loop shared by every detector (the official HL-Net recipe by default).

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

log = logging.getLogger(__name__)

SCHEDULES = ("step", "cosine", "none")


@dataclass
class TrainConfig:
    """Optimiser settings. Defaults: the official XDVioDet recipe (Adam lr 1e-4, batch 128, x0.1 at epoch 10).

    The RobustA paper reports Adam lr 1e-5, batch 640, weight decay 1e-5 and a
    cosine schedule for 50 epochs; set those explicitly to follow it.
    """

    epochs: int = 50
    lr: float = 1e-4
    batch_size: int = 128
    weight_decay: float = 0.0
    schedule: str = "step"
    milestones: tuple[int, ...] = (10,)
    gamma: float = 0.1
    max_seq_len: int = 200
    distill_weight: float = 5.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0 or self.max_seq_len < 1:
            raise ValueError("epochs >= 0, batch_size >= 1, lr > 0 and max_seq_len >= 1 are required")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BatchFn = Callable[[np.ndarray, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    return None


def fork_devices(device: str) -> list[int]:
    """CUDA device indices whose RNG :func:`torch.random.fork_rng` must isolate."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


def train_loop(
    params: Sequence[torch.nn.Parameter],
    modules: Sequence[torch.nn.Module],
    batch_fn: BatchFn,
    n_samples: int,
    cfg: TrainConfig,
    seed: int,
    *,
    progress: bool = False,
    desc: str = "train",
) -> TrainLog:
    """Adam on the HL-Net loss over ``n_samples`` shuffled samples for ``cfg.epochs`` epochs."""
    import time

    from ..progress import progress_bar as tqdm

    if n_samples < 1:
        raise ValueError("no training samples")
    start = time.perf_counter()
    opt = torch.optim.Adam(list(params), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = _scheduler(opt, cfg)
    shuffle = np.random.Generator(np.random.PCG64(derive_seed("train-shuffle", seed)))
    tlog = TrainLog(samples=n_samples)
    steps = cfg.epochs * math.ceil(n_samples / cfg.batch_size)
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress, leave=False)
    for m in modules:
        m.train()
    try:
        for epoch in range(cfg.epochs):
            order = shuffle.permutation(n_samples)
            total, count = 0.0, 0
            for b in range(0, n_samples, cfg.batch_size):
                idx = order[b : b + cfg.batch_size]
                logits_p, logits_s, labels, seq_len = batch_fn(idx, epoch)
                loss, parts = hlnet_loss(logits_p, logits_s, labels, seq_len, cfg.distill_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                tlog.parts = parts
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.4f}")
            if sched is not None:
                sched.step()
            tlog.epoch_loss.append(total / max(count, 1))
            log.info("%s epoch %d/%d loss %.5f", desc, epoch + 1, cfg.epochs, tlog.epoch_loss[-1])
    finally:
        bar.close()
        for m in modules:
            m.eval()
    tlog.seconds = time.perf_counter() - start
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
    """Re-initialise ``net`` from ``seed`` and train it with :func:`train_loop` on ``cfg.device``.

    The global torch RNG (and the device's) is forked, so training leaves the
    caller's random state untouched; ``net`` ends on the CPU in eval mode.
    """
    with torch.random.fork_rng(devices=fork_devices(cfg.device)):
        torch.manual_seed(int(seed) % (2**63))
        net.reset_parameters()
        net.to(torch.device(cfg.device))
        tlog = train_loop(list(net.parameters()), [net], batch_fn, n_samples, cfg, seed, progress=progress, desc=desc)
    net.to("cpu").eval()
    return tlog
