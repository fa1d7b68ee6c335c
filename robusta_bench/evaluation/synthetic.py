"""A synthetic *feature* benchmark: a feature store, manifest and annotations with known structure.

Used by the tests, the speed benchmark and the science check when real
features are not at hand. It is a model of the benchmark, not of any real
extractor:

- each video has a scene (one of a few non-negative prototypes per modality),
  per-segment noise, and (violent videos) one anomalous interval in which both
  modalities move along their anomaly direction (visual more strongly than
  audio, as in XD-Violence where the visual modality dominates);
- about half of the videos also have *distractor* intervals in one modality
  only (a loud normal sound, fast normal motion), so each modality alone makes
  errors that the other can correct;
- visual features have ``crops`` views (small per-crop noise), audio one;
- a corruption is a distribution shift: ``x' = relu((1 - a) x + a (b_k + noise))``
  with a corruption-specific offset pattern ``b_k`` and strength
  ``a = min(0.95, f_k * severity / 4)``; ``f_k`` differs per type (contrast and
  fog strongest, brightness weakest, as in the paper's Table I).

Everything is seeded: the same arguments give the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..corruptions.plan import AUDIO_TYPES, VISUAL_TYPES
from ..dataset.annotations import write_annotations
from ..dataset.names import make_name
from ..store.feature_store import FeatureStore, Variant
from ..manifest import write_table
from ..seeding import rng_for

VISUAL_EXTRACTOR = "synth-visual"
AUDIO_EXTRACTOR = "synth-audio"
#: corruption strength factors f_k (a = min(0.95, f_k * severity / 4))
STRENGTH = {
    "bit_error": 0.8,
    "brightness": 0.35,
    "contrast": 1.0,
    "fog": 0.95,
    "rain": 0.6,
    "motion_blur": 0.55,
    "saturate": 0.7,
    "shot_noise": 0.5,
    "babble": 0.7,
    "bitrate": 0.6,
    "hf_channel": 0.8,
    "pink_noise": 0.75,
    "pitch_shift": 0.85,
    "random_dropout": 0.85,
    "reverb": 0.6,
    "white_noise": 0.7,
}


@dataclass
class FeatureBenchmark:
    """Paths of a synthetic feature benchmark."""

    root: Path
    store: Path
    manifest: Path
    annotations: Path
    visual_extractor: str = VISUAL_EXTRACTOR
    audio_extractor: str = AUDIO_EXTRACTOR


@dataclass
class _Video:
    name: str
    split: str
    label: int
    list_index: int
    length: int
    scene: int
    anomaly: tuple[int, int] | None
    distract_v: tuple[int, int] | None
    distract_a: tuple[int, int] | None
    strength: float


def _interval(rng: np.random.Generator, t: int, lo: float, hi: float) -> tuple[int, int]:
    n = int(np.clip(rng.integers(max(1, int(lo * t)), max(2, int(hi * t)) + 1), 1, t))
    s = int(rng.integers(0, t - n + 1))
    return s, s + n


def _plan_videos(n_train: int, n_test: int, segments: tuple[int, int], seed: int, scenes: int) -> list[_Video]:
    vids = []
    for split, n in (("train", n_train), ("test", n_test)):
        n_violent = (n + 1) // 2
        for k in range(n):
            rng = rng_for("synth-features-video", seed, split, k)
            label = 1 if k < n_violent else 0
            idx = len(vids)
            name = make_name(f"Synth.Feat.{idx:05d}", "00-00-00_00-01-00", ["B1"] if label else ["A"])
            t = int(rng.integers(segments[0], segments[1] + 1))
            vids.append(
                _Video(
                    name=name,
                    split=split,
                    label=label,
                    list_index=k,
                    length=t,
                    scene=int(rng.integers(scenes)),
                    anomaly=_interval(rng, t, 0.2, 0.6) if label else None,
                    distract_v=_interval(rng, t, 0.1, 0.3) if rng.random() < 0.5 else None,
                    distract_a=_interval(rng, t, 0.1, 0.3) if rng.random() < 0.5 else None,
                    strength=float(rng.uniform(0.6, 1.4)),
                )
            )
    return vids


class _Generator:
    """Clean and corrupted features of one modality (fixed random patterns per dataset seed)."""

    def __init__(self, modality: str, dim: int, seed: int, scenes: int, signal: float, noise: float) -> None:
        r = rng_for("synth-features", seed, modality)
        self.modality = modality
        self.dim = dim
        self.protos = np.abs(r.standard_normal((scenes, dim))).astype(np.float32) * 0.6
        u = np.abs(r.standard_normal(dim)).astype(np.float32)
        self.direction = u / np.linalg.norm(u) * np.sqrt(dim) * 0.35
        self.signal = signal
        self.noise = noise
        self.seed = seed

    def clean(self, v: _Video, crops: int) -> np.ndarray:
        r = rng_for("synth-features-clean", self.seed, self.modality, v.name)
        t = v.length
        act = np.zeros(t, dtype=np.float32)
        if v.anomaly:
            act[v.anomaly[0] : v.anomaly[1]] += self.signal * v.strength
        distract = v.distract_v if self.modality == "visual" else v.distract_a
        if distract:
            act[distract[0] : distract[1]] += 0.8 * self.signal
        base = self.protos[v.scene][None] + self.noise * r.standard_normal((t, self.dim), dtype=np.float32)
        base += act[:, None] * self.direction[None]
        views = base[None] + 0.1 * self.noise * r.standard_normal((crops, t, self.dim), dtype=np.float32)
        return np.maximum(views, 0.0)

    def corrupt(self, x: np.ndarray, name: str, corruption: str, severity: int) -> np.ndarray:
        alpha = min(0.95, STRENGTH.get(corruption, 0.6) * severity / 4.0)
        pr = rng_for("synth-features-shift", self.seed, self.modality, corruption)
        offset = np.abs(pr.standard_normal(self.dim)).astype(np.float32) * 1.2
        r = rng_for("synth-features-corrupt", self.seed, self.modality, corruption, severity, name)
        noise = self.noise * r.standard_normal(x.shape, dtype=np.float32)
        return np.maximum((1 - alpha) * x + alpha * (offset + noise), 0.0)


def make_feature_benchmark(
    root: str | Path,
    *,
    n_train: int = 40,
    n_test: int = 24,
    visual_dim: int = 64,
    audio_dim: int = 16,
    crops: int = 2,
    segments: tuple[int, int] = (12, 40),
    visual_corruptions: Sequence[str] = VISUAL_TYPES,
    audio_corruptions: Sequence[str] = AUDIO_TYPES,
    severity: int = 3,
    seed: int = 0,
    scenes: int = 6,
    visual_signal: float = 1.0,
    audio_signal: float = 0.7,
    noise: float = 0.5,
    dtype: str = "float32",
    shard_rows: int = 50_000,
    progress: bool = False,
) -> FeatureBenchmark:
    """Write ``root/{store/, manifest.csv, annotations.txt}`` (see the module docstring).

    Clean features for every video; corrupted variants (``<corruption>@severity``,
    seed 0) for the test videos only, as ``robusta-bench extract`` does.
    """
    from tqdm import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vids = _plan_videos(n_train, n_test, segments, seed, scenes)
    gens = {
        "visual": _Generator("visual", visual_dim, seed, scenes, visual_signal, noise),
        "audio": _Generator("audio", audio_dim, seed, scenes, audio_signal, noise),
    }
    store = FeatureStore(root / "store", create=True)
    exts = {"visual": (VISUAL_EXTRACTOR, visual_dim, crops), "audio": (AUDIO_EXTRACTOR, audio_dim, 1)}
    plan_groups = {"visual": ["clean", *visual_corruptions], "audio": ["clean", *audio_corruptions]}
    total = sum(len(g) for g in plan_groups.values())
    bar = tqdm(total=total, desc="synthetic store", unit="group", disable=not progress)
    for mod, groups in plan_groups.items():
        ext, dim, n_crops = exts[mod]
        gen = gens[mod]
        for g in groups:
            variant = Variant() if g == "clean" else Variant(g, severity, 0)
            members = vids if g == "clean" else [v for v in vids if v.split == "test"]
            with store.writer(
                ext, variant, spec_hash="synthetic", modality=mod, feature_dim=dim, n_crops=n_crops,
                meta={"synthetic": True, "seed": seed}, dtype=dtype, shard_rows=shard_rows,
            ) as w:
                for v in members:
                    if v.name in w.done:
                        continue
                    x = gen.clean(v, n_crops)
                    if g != "clean":
                        x = gen.corrupt(x, v.name, g, severity)
                    w.write(v.name, x)
            bar.update(1)
    bar.close()
    manifest = pd.DataFrame(
        {
            "name": [v.name for v in vids],
            "split": [v.split for v in vids],
            "label": [v.label for v in vids],
            "list_index": [v.list_index for v in vids],
            "frames": [16 * v.length + 1 for v in vids],
        }
    )
    man_path = write_table(manifest, root / "manifest.csv")
    ann = {v.name: [(16 * v.anomaly[0], 16 * v.anomaly[1])] for v in vids if v.split == "test" and v.anomaly}
    ann_path = write_annotations(root / "annotations.txt", ann)
    return FeatureBenchmark(root, store.root, Path(man_path), Path(ann_path))
