"""A training loop whose batch function returns the loss itself (for detectors with their own objective).

:func:`robusta_bench.detectors.train.train_loop` is tied to the HL-Net
objective (its batch function returns the two heads' logits). Detectors with
another objective (RTFM's magnitude margin loss, HyperVD's MIL loss) use
:func:`train_with_loss` instead: the batch function returns
``(loss, parts)`` with ``parts`` a dict of floats for the log. Everything
else is the shared loop (:func:`~.train.run_epochs`): Adam with the :class:`~.train.TrainConfig`
settings, per-epoch shuffles from a generator seeded by the run's seed,
parameter initialisation and dropout from torch's generator seeded the same
way inside :func:`torch.random.fork_rng` (so the caller's random state is
untouched), the network back on the CPU in eval mode at the end.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from .train import LossFn, TrainConfig, TrainLog, fork_devices, run_epochs

log = logging.getLogger(__name__)

#: ``step_fn(indices, epoch) -> (loss, parts)``
StepFn = LossFn


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of ``cfg`` (``step``: milestones x gamma, ``cosine``: over the epochs)."""
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    return None


def train_with_loss(
    net: torch.nn.Module,
    step_fn: StepFn,
    n_samples: int,
    cfg: TrainConfig,
    seed: int,
    *,
    progress: bool = False,
    desc: str = "train",
) -> TrainLog:
    """Re-initialise ``net`` (its ``reset_parameters``) from ``seed`` and train it for ``cfg.epochs`` epochs.

    Each epoch visits ``n_samples`` sample indices in a seeded random order, in
    batches of ``cfg.batch_size``; ``step_fn`` turns a batch of indices into
    the loss. The mean loss of each epoch (weighted by batch size) goes into
    the returned :class:`~.train.TrainLog`.
    """
    from tqdm import tqdm

    if n_samples < 1:
        raise ValueError("no training samples")
    start = time.perf_counter()
    tlog = TrainLog(samples=n_samples)
    steps = cfg.epochs * math.ceil(n_samples / cfg.batch_size)
    with torch.random.fork_rng(devices=fork_devices(cfg.device)):
        torch.manual_seed(int(seed) % (2**63))
        net.reset_parameters()
        net.to(torch.device(cfg.device))
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = make_scheduler(opt, cfg)
        bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress, leave=False)
        net.train()
        try:
            run_epochs(opt, step_fn, n_samples, cfg, seed, tlog, bar, desc=desc,
                       after_epoch=None if sched is None else (lambda epoch: sched.step()), logger=log)
        finally:
            bar.close()
            net.to("cpu").eval()
    tlog.seconds = time.perf_counter() - start
    return tlog
