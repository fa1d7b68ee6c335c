"""Helpers for the evaluation tests (no tests here): tiny detectors and a small synthetic feature store.

The detectors (registered only inside :func:`registered_detectors`) follow the
detector contract (``robusta_bench.detectors.base``) with closed-form
"training", so the evaluation can be tested end to end in
seconds without the real networks:

- ``test-late``: late fusion like RobustA: each modality scored alone by a
  logistic score along the (anomalous - normal) mean direction; fusion
  ``average`` (0.5/0.5) or ``gmm`` (weights from how far a segment is from the
  clean training mean, normalised over the present modalities);
- ``test-concat``: early fusion like HL-Net: one logistic score of the summed
  projections; a missing modality contributes zeros.

The store: ``n_train`` + ``n_test`` videos, visual ``(2 crops, T, 8)`` and audio
``(1, T, 4)``; anomalous snippets of violent videos are shifted along a fixed
direction in both modalities. Corrupted variants: the visual ones replace the
visual features by strong noise (the information is gone), the audio ones
likewise for audio.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from robusta_bench.detectors.base import DETECTORS, Detector, ScoreOut
from robusta_bench.store.feature_store import FeatureStore, Variant

VDIM, ADIM, VCROPS = 8, 4, 2
VISUAL_CORR = ("fog", "contrast")
AUDIO_CORR = ("babble", "pitch_shift")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _LateScorer:
    def __init__(self, det: "LateDetector") -> None:
        self.det = det

    def _state(self, x: np.ndarray, mod: str) -> dict[str, np.ndarray]:
        d = self.det.params
        z = (x - d[f"{mod}_center"]) @ d[f"{mod}_dir"]
        dist = np.sqrt(((x - d[f"{mod}_mean"]) ** 2).mean(1)) / d[f"{mod}_scale"]
        return {"score": _sigmoid(4.0 * z), "logw": -dist}

    def visual_state(self, visual, length):
        return None if visual is None else self._state(visual[:, :length].mean(0), "visual")

    def audio_state(self, audio, length):
        return None if audio is None else self._state(audio[:length], "audio")

    def combine(self, vs, as_, fusion=None):
        fusion = fusion or self.det.options["fusion"]
        if vs is None and as_ is None:
            raise ValueError("both modalities are missing")
        if vs is None:
            wv = np.zeros_like(as_["score"])
        elif as_ is None:
            wv = np.ones_like(vs["score"])
        elif fusion == "average":
            wv = np.full_like(vs["score"], 0.5)
        else:
            wv = _sigmoid(vs["logw"] - as_["logw"])
        off = (wv * vs["score"] if vs is not None else 0.0) + ((1 - wv) * as_["score"] if as_ is not None else 0.0)
        # a causal "online" head: running mean of the offline score
        on = np.cumsum(off) / np.arange(1, len(off) + 1)
        return ScoreOut(np.asarray(off), np.asarray(on), wv)


class _Fitted(Detector):
    """Shared closed-form fit and numpy save/load."""

    def fit(self, train, cfg, seed=0, progress=False):
        y = np.asarray(train.labels) > 0.5
        rng = np.random.default_rng(seed)
        self.params = {}
        for mod in ("visual", "audio"):
            feats = getattr(train, mod)
            if feats is None:
                continue
            seg = [f.mean(0) if mod == "visual" else f for f in feats]
            pos = np.concatenate([s for s, l in zip(seg, y) if l])
            neg = np.concatenate([s for s, l in zip(seg, y) if not l])
            allx = np.concatenate(seg)
            direction = pos.mean(0) - neg.mean(0)
            direction = direction / (np.linalg.norm(direction) + 1e-9)
            # the seed perturbs the direction a little, so seeds give different results
            direction = direction + 0.05 * rng.standard_normal(direction.shape)
            self.params[f"{mod}_dir"] = direction
            self.params[f"{mod}_center"] = (pos.mean(0) + neg.mean(0)) / 2
            self.params[f"{mod}_mean"] = allx.mean(0)
            self.params[f"{mod}_scale"] = np.array(np.sqrt(((allx - allx.mean(0)) ** 2).mean()) + 1e-6)
        self.train_info = {"seed": int(seed), "epochs": getattr(cfg, "epochs", None)}
        return None

    def state(self):
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}, {}

    def load_state(self, tensors, meta):
        self.params = {k: v.numpy() for k, v in tensors.items()}


class LateDetector(_Fitted):
    name = "test-late"
    modalities = ("visual", "audio")
    fusions = ("gmm", "average")
    summary = "test-only late-fusion detector"

    def __init__(self, visual_dim=VDIM, audio_dim=ADIM, fusion="gmm", align="project", **options):
        super().__init__(visual_dim, audio_dim, fusion=fusion, align=align, **options)
        self.params: dict[str, np.ndarray] = {}

    def scorer(self, device="cpu"):
        return _LateScorer(self)


class _ConcatScorer:
    def __init__(self, det: "ConcatDetector") -> None:
        self.p = det.params

    def visual_state(self, visual, length):
        if visual is None:
            return np.zeros(length)
        return (visual[:, :length] - self.p["visual_center"]) @ self.p["visual_dir"]  # (crops, T)

    def audio_state(self, audio, length):
        if audio is None:
            return np.zeros(length)
        return (audio[:length] - self.p["audio_center"]) @ self.p["audio_dir"]

    def combine(self, vs, as_, fusion=None):
        off = _sigmoid(2.0 * (np.atleast_2d(vs) + as_[None, :])).mean(0)
        on = np.cumsum(off) / np.arange(1, len(off) + 1)
        return ScoreOut(off, on)


class ConcatDetector(_Fitted):
    name = "test-concat"
    modalities = ("visual", "audio")
    fusions = ()
    summary = "test-only early-fusion detector"

    def __init__(self, visual_dim=VDIM, audio_dim=ADIM, **options):
        super().__init__(visual_dim, audio_dim, **options)
        self.params = {}

    def scorer(self, device="cpu"):
        return _ConcatScorer(self)


@contextlib.contextmanager
def registered_detectors() -> Iterator[None]:
    """Register ``test-late`` and ``test-concat`` (and the ablations ``test-late-pad`` and
    ``test-late-average``) for the duration (the global registry stays clean)."""
    added, ablations = [], []
    for cls in (LateDetector, ConcatDetector):
        if cls.name not in DETECTORS:
            DETECTORS.register(cls.name)(cls)
            added.append(cls.name)
    for name, opts in (("test-late-pad", {"align": "pad"}), ("test-late-average", {"fusion": "average"})):
        if name not in DETECTORS:
            DETECTORS.register_ablation(name, "test-late", **opts)
            ablations.append(name)
    try:
        yield
    finally:
        for name in added:
            DETECTORS._entries.pop(name, None)
        for name in ablations:
            DETECTORS._ablations.pop(name, None)


# --------------------------------------------------------------------- data
def video_name(i: int, label: int) -> str:
    return f"Synth.Video.{i:03d}__#00-00-00_00-00-10_label_{'B1-0-0' if label else 'A'}"


def make_dataset(
    root: Path,
    n_train: int = 16,
    n_test: int = 12,
    seed: int = 0,
    visual_corr=VISUAL_CORR,
    audio_corr=AUDIO_CORR,
    severity: int = 3,
    broken: str | None = None,
) -> dict[str, Any]:
    """Write a store + manifest + annotations under ``root``; returns their paths and the ground truth.

    ``broken``: name of a test video left out of the first visual corrupted group
    (as if its extraction failed).
    """
    rng = np.random.default_rng(seed)
    vdir = rng.standard_normal(VDIM)
    adir = rng.standard_normal(ADIM)
    store = FeatureStore(root / "store", create=True)
    rows, ann = [], {}
    feats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    i = 0
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            label = int(k % 2 == 0)
            t = int(rng.integers(8, 14))
            frames = 16 * t + int(rng.integers(1, 16))
            name = video_name(i, label)
            snip = np.zeros(t)
            if label:
                a = int(rng.integers(1, t // 2))
                b = int(rng.integers(a + 2, t))
                s_f, e_f = 16 * a + 5, 16 * b + 3  # boundaries inside snippets
                snip[a : b + 1] = 1.0
                if split == "test":
                    ann[name] = [(s_f, e_f)]
            v = 0.5 * rng.standard_normal((VCROPS, t, VDIM)) + 1.5 * snip[None, :, None] * vdir
            au = 0.5 * rng.standard_normal((1, t, ADIM)) + 1.2 * snip[None, :, None] * adir
            feats[name] = (v.astype(np.float32), au.astype(np.float32))
            rows.append({"name": name, "path": f"/nowhere/{name}.mp4", "split": split, "label": label, "frames": frames,
                         "list_index": i, "error": None})
            i += 1
    manifest = pd.DataFrame(rows)
    test_names = manifest.loc[manifest["split"] == "test", "name"].tolist()
    with store.writer("vis", Variant(), spec_hash="v", modality="visual", feature_dim=VDIM, n_crops=VCROPS, shard_rows=60) as w:
        for n, (v, _) in feats.items():
            w.write(n, v)
    with store.writer("aud", Variant(), spec_hash="a", modality="audio", feature_dim=ADIM, n_crops=1, shard_rows=60) as w:
        for n, (_, a) in feats.items():
            w.write(n, a)
    for j, c in enumerate(visual_corr):
        var = Variant(c, severity, 0)
        with store.writer("vis", var, spec_hash="v", modality="visual", feature_dim=VDIM, n_crops=VCROPS, shard_rows=60) as w:
            for n in test_names:
                if broken == n and j == 0:
                    w.fail(n, "decode error: synthetic failure")
                    continue
                v = feats[n][0]
                w.write(n, (3.0 * rng.standard_normal(v.shape) + 4.0).astype(np.float32))
    for c in audio_corr:
        var = Variant(c, severity, 0)
        with store.writer("aud", var, spec_hash="a", modality="audio", feature_dim=ADIM, n_crops=1, shard_rows=60) as w:
            for n in test_names:
                a = feats[n][1]
                w.write(n, (3.0 * rng.standard_normal(a.shape) - 4.0).astype(np.float32))
    mpath = root / "manifest.csv"
    manifest.to_csv(mpath, index=False)
    apath = root / "annotations.txt"
    apath.write_text("".join(f"{n} {s} {e}\n" for n, segs in ann.items() for s, e in segs))
    return {"store": root / "store", "manifest": mpath, "annotations": apath, "names": test_names, "ann": ann,
            "manifest_df": manifest}
