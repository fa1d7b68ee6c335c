"""Roles of the videos of a synthetic dataset: split, label and categories of each.

Used by both stand-ins (:mod:`.synthetic`, :mod:`.synth_ucf`), so for one seed
they pick the same videos for training and testing.
"""

from __future__ import annotations

from ..seeding import rng_for
from .names import VIOLENT_CODES


def assign_videos(n_videos: int, test_fraction: float, seed: int) -> list[dict]:
    """Split, label and categories of each video (stratified: about half violent in each split).

    The test split gets ``round(n_videos * test_fraction)`` videos, at least one
    violent and one normal when it has two or more. Categories: one violent code
    (two for about a fifth of the violent videos), cycling through all six codes.
    """
    if n_videos < 1:
        raise ValueError("n_videos must be >= 1")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError("test_fraction must be in [0, 1]")
    rng = rng_for("synth-assign", seed, n_videos)
    n_test = int(round(n_videos * test_fraction))
    specs = []
    for split, count in (("train", n_videos - n_test), ("test", n_test)):
        n_violent = (count + 1) // 2 if count != 1 else int(rng.random() < 0.5)
        specs += [{"split": split, "label": 1 if i < n_violent else 0} for i in range(count)]
    order = rng.permutation(n_videos)  # which scene number gets which role
    codes = list(VIOLENT_CODES)
    k = int(rng.integers(len(codes)))
    out = []
    for index, spec in zip(order, specs):
        if spec["label"]:
            cats = [codes[k % len(codes)]]
            k += 1
            if rng.random() < 0.2:
                extra = codes[int(rng.integers(len(codes)))]
                if extra != cats[0]:
                    cats.append(extra)
            spec = {**spec, "categories": tuple(cats)}
        else:
            spec = {**spec, "categories": ("A",)}
        out.append({**spec, "index": int(index)})
    return sorted(out, key=lambda s: s["index"])
