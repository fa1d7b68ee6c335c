"""Helpers for the store-concurrency, crash and distribution tests.

A tiny deterministic visual extractor (``scale-visual``: a few means of each
clip, optionally sleeping per batch so that runs overlap and can be killed
mid-run) and tiny generated videos. Run as a script it is the CLI with that
extractor registered: ``python tests/scale_helpers.py extract ...``
(``SCALE_SLEEP`` seconds per model call).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd

from robusta_bench.models.extractor import EXTRACTORS, Extractor
from robusta_bench.store.feature_store import FeatureStore

ROOT = Path(__file__).resolve().parents[1]


class ScaleVisual(Extractor):
    """Deterministic per clip (independent of the batch it is in): 6 means of the clip."""

    modality = "visual"
    feature_dim = 6
    n_crops = 5

    def embed(self, batch):
        delay = float(os.environ.get("SCALE_SLEEP", "0") or 0)
        if delay:
            time.sleep(delay)
        b = batch.astype(np.float64)
        feats = [b.mean((1, 2, 3, 4)), b[:, :8].mean((1, 2, 3, 4)), b[:, 15].mean((1, 2, 3)),
                 *[b[..., c].mean((1, 2, 3)) for c in range(3)]]
        return np.stack(feats, 1).astype(np.float32)


class ScaleAudio(Extractor):
    """Deterministic per window: mean, std and peak of each 0.96 s window."""

    modality = "audio"
    feature_dim = 3

    def embed(self, batch):
        b = batch.astype(np.float64)
        return np.stack([b.mean(1), b.std(1), np.abs(b).max(1)], 1).astype(np.float32)


for _name, _cls in (("scale-visual", ScaleVisual), ("scale-audio", ScaleAudio)):
    if _name not in EXTRACTORS:
        EXTRACTORS.register(_name)(_cls)


def make_clip(path: Path, n_frames: int, seed: int, size=(48, 32)) -> Path:
    """A tiny H.264 clip of ``n_frames`` frames at 24 fps whose pixels depend on ``seed``."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=24)
    s.width, s.height, s.pix_fmt = w, h, "yuv420p"
    s.options = {"preset": "ultrafast", "crf": "20"}
    for k in range(n_frames):
        img = np.roll(base, k, axis=1)
        for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()
    return Path(path)


def make_71_clip(path: Path, seconds: float = 2.0, rate: int = 48000, size=(64, 48)) -> Path:
    """An .mp4 with H.264 video and a 7.1 (8-channel) AAC track at ``rate``: each channel its own tone."""
    import fractions

    c = av.open(str(path), "w")
    vs = c.add_stream("libx264", rate=24)
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    a = c.add_stream("aac", rate=rate, layout="7.1")
    for k in range(int(seconds * 24)):
        img = np.full((size[1], size[0], 3), (k * 7) % 256, np.uint8)
        for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(p)
    for p in vs.encode():
        c.mux(p)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    sig = np.stack([0.05 * (ch + 1) * np.sin(2 * np.pi * (220 + 110 * ch) * t) for ch in range(8)]).astype(np.float32)
    for s in range(0, n, 1024):
        # packed float input: one plane whatever the channel count
        fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(sig[:, s : s + 1024].T.reshape(1, -1)), format="flt", layout="7.1")
        fr.sample_rate, fr.pts, fr.time_base = rate, s, fractions.Fraction(1, rate)
        for p in a.encode(fr):
            c.mux(p)
    for p in a.encode():
        c.mux(p)
    c.close()
    return Path(path)


def make_videos(folder: Path, n: int, frames: int = 40) -> Path:
    """``n`` tiny clips and their manifest ``folder/index.csv`` (test split); returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name = f"v{i:02d}"
        make_clip(folder / f"{name}.mp4", frames + (i % 3) * 16, seed=i)
        rows.append({"name": name, "path": f"{name}.mp4", "split": "test", "label": i % 2})
    pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)
    return folder / "index.csv"


def subset(manifest: Path, names, out: Path) -> Path:
    """A manifest with only ``names`` (same folder, so relative paths still resolve)."""
    df = pd.read_csv(manifest)
    df[df["name"].isin(list(names))].to_csv(out, index=False)
    return out


def store_content(root: Path) -> dict[tuple[str, str], bytes]:
    """``{(group, video): feature bytes}`` of everything committed; asserts no video is seen twice."""
    store = FeatureStore(root)
    out = {}
    for e, v in store.groups():
        names = store.names(e, v)
        assert len(names) == len(set(names)), f"duplicate videos in {e}/{v.slug}"
        for name, arr in store.iter_videos(e, v):
            out[(f"{e}/{v.slug}", name)] = np.ascontiguousarray(arr).tobytes()
    return out


def cli_command(*args: str) -> list[str]:
    """argv running the CLI with the test extractor registered."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


if __name__ == "__main__":
    from robusta_bench.cli.main import cli

    cli(sys.argv[1:], prog_name="robusta-bench")
