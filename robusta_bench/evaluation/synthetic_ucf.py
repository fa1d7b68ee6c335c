"""A synthetic UCF-Crime-style *feature* benchmark, the zero-shot partner of :func:`.synthetic.make_feature_benchmark`.

Visual features only (UCF-Crime has no audio), UCF-Crime names
(``<Class><NNN>_x264``, ``Normal_Videos_<NNN>_x264``), a manifest with the
native 30 fps frame counts and an annotation file in the official format
(inclusive 30 fps frame numbers, ``-1`` for no event). The visual generator is
the XD-style one built with the same ``seed`` (same scene prototypes and
anomaly direction), so detectors trained on the XD-style benchmark of that
seed transfer; ``shift`` adds a fixed non-negative offset to every feature
(the dataset gap). Each video's snippet count ``T`` is what the protocol
scores for its frame count (:func:`~robusta_bench.dataset.ucf_crime.ucf_n_segments`),
and its anomaly, in snippets ``[s, e)``, is annotated as the source frames
whose 24 fps protocol frames fall in ``16 s .. 16 e - 1``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..dataset.ucf_crime import ANOMALY_CLASSES, NATIVE_FPS, UCFAnnotation, source_frame_index, ucf_n_segments, write_ucf_annotations
from ..store.feature_store import FeatureStore, Variant
from ..manifest import write_table
from ..seeding import rng_for
from .synthetic import VISUAL_EXTRACTOR, FeatureBenchmark, _Generator, _interval, _Video


def frames_for_segments(t: int) -> int:
    """The smallest 30 fps frame count whose protocol snippet count is ``t``."""
    n = int(np.ceil((16 * t + 1) * NATIVE_FPS / 24.0))
    while ucf_n_segments(n) > t:
        n -= 1
    while ucf_n_segments(n) < t:
        n += 1
    return n


def _events(anomaly: tuple[int, int], n_src: int) -> tuple[tuple[int, int], ...]:
    """Inclusive source-frame event covering protocol snippets ``[s, e)``."""
    s, e = anomaly
    first = int(source_frame_index(16 * s))
    last = int(source_frame_index(16 * e - 1))
    return ((first, min(last, n_src - 1)),)


def make_ucf_feature_benchmark(
    root: str | Path,
    *,
    n_train: int = 8,
    n_test: int = 24,
    visual_dim: int = 64,
    crops: int = 2,
    segments: tuple[int, int] = (12, 40),
    visual_corruptions: Sequence[str] = (),
    severity: int = 3,
    seed: int = 0,
    scenes: int = 6,
    visual_signal: float = 1.0,
    noise: float = 0.5,
    shift: float = 0.1,
) -> FeatureBenchmark:
    """Write ``root/{store/, manifest.csv, annotations.txt}`` (UCF-Crime format; see the module docstring).

    ``audio_extractor`` of the returned benchmark is None. Corrupted variants
    (``<corruption>@severity``, seed 0) are written for the test videos only.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    gen = _Generator("visual", visual_dim, seed, scenes, visual_signal, noise)
    offset = shift * np.abs(rng_for("synth-ucf-shift", seed).standard_normal(visual_dim)).astype(np.float32)
    vids, rows, ann = [], [], {}
    for split, n in (("train", n_train), ("test", n_test)):
        n_anom = (n + 1) // 2
        for k in range(n):
            rng = rng_for("synth-ucf-features-video", seed, split, k)
            label = 1 if k < n_anom else 0
            number = len(vids) + 1
            if label:
                name = f"{ANOMALY_CLASSES[k % len(ANOMALY_CLASSES)]}{number:03d}_x264"
            else:
                name = f"Normal_Videos{'_' if split == 'test' else ''}{number:03d}_x264"
            t = int(rng.integers(segments[0], segments[1] + 1))
            v = _Video(name, split, label, k, t, int(rng.integers(scenes)), _interval(rng, t, 0.2, 0.6) if label else None,
                       _interval(rng, t, 0.1, 0.3) if rng.random() < 0.5 else None, None, float(rng.uniform(0.6, 1.4)))
            frames = frames_for_segments(t)
            vids.append(v)
            rows.append({"name": name, "split": split, "label": label, "list_index": k, "frames": frames, "fps": NATIVE_FPS})
            if split == "test":
                cls = ANOMALY_CLASSES[k % len(ANOMALY_CLASSES)] if label else "Normal"
                ann[name] = UCFAnnotation(cls, _events(v.anomaly, frames) if label else ())
    store = FeatureStore(root / "store", create=True)
    for g in ["clean", *visual_corruptions]:
        variant = Variant() if g == "clean" else Variant(g, severity, 0)
        members = vids if g == "clean" else [v for v in vids if v.split == "test"]
        with store.writer(
            VISUAL_EXTRACTOR, variant, spec_hash="synthetic", modality="visual", feature_dim=visual_dim, n_crops=crops,
            meta={"synthetic": True, "seed": seed, "dataset": "ucf-crime"},
        ) as w:
            for v in members:
                if v.name in w.done:
                    continue
                x = gen.clean(replace(v), crops) + offset[None, None]
                if g != "clean":
                    x = gen.corrupt(x, v.name, g, severity)
                w.write(v.name, x.astype(np.float32))
    man_path = write_table(pd.DataFrame(rows), root / "manifest.csv")
    ann_path = write_ucf_annotations(root / "annotations.txt", ann)
    return FeatureBenchmark(root, store.root, Path(man_path), Path(ann_path), VISUAL_EXTRACTOR, None)
