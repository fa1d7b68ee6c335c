"""RobustA's training samples per epoch (Eq. 2 of the paper, or the older per-crop coin flip).

Eq. 2: ``L_total = sum_{i=1..2n} L_MIL(A(E*_i), y_i)`` with ``E*`` "randomly
sampled from either E^V or E^A": for ``n`` training videos, an epoch holds
``2n`` samples, each video's visual features and its (projected) audio
features. See docs/detectors.md ("Reading the paper") for the crop reading.
"""

from __future__ import annotations

from ..seeding import rng_for
from .base import TrainSet

SAMPLINGS = ("eq2", "crop_coin")


def epoch_samples(train: TrainSet, sampling: str, seed: int, epoch: int) -> list[tuple[int, str, int]]:
    """The training samples of one epoch, ``(video, modality, crop)`` (crop is 0 for audio).

    - ``eq2`` (Eq. 2, the default): ``2n`` samples, the visual features and the
      projected audio features of each of the ``n`` videos; the visual sample
      is one of the video's crops, drawn uniformly per (seed, epoch, video),
      since the crops are augmented views of the same video;
    - ``crop_coin`` (the scheme before issue 17): one sample per (video, crop),
      visual or audio by a fair coin per (seed, epoch); ``crops x n`` samples.
    """
    if sampling == "eq2":
        rng = rng_for("robusta-crop", int(seed), int(epoch))
        crops = rng.random(len(train))
        out = []
        for i, v in enumerate(train.visual):
            out.append((i, "visual", min(int(crops[i] * v.shape[0]), v.shape[0] - 1)))
            out.append((i, "audio", 0))
        return out
    if sampling == "crop_coin":
        items = [(i, c) for i, v in enumerate(train.visual) for c in range(v.shape[0])]
        use_visual = rng_for("robusta-modality", int(seed), int(epoch)).random(len(items)) < 0.5
        return [(i, "visual", c) if u else (i, "audio", 0) for (i, c), u in zip(items, use_visual)]
    raise ValueError(f"unknown RobustA sampling {sampling!r} (eq2 or crop_coin)")
