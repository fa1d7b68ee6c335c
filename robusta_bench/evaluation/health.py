"""Modality health: how "clean" each modality of each video looks to the RobustA GMMs.

For every video (default: the test split) and every requested variant, each
modality's segment features are scored by that modality's clean-feature
density (:mod:`robusta_bench.detectors.gmm`): the per-segment negative
log-likelihood (NLL) and the RobustA weight ``lambda = 0.5 / (1 + exp(c (NLL +
x0)))`` (0.5: like clean training data; towards 0: unlike it, e.g. a covered
camera or a broken microphone), and the normalised visual fusion weight
``w_visual`` that RobustA would use.

The GMMs come from a trained ``robusta`` detector file (``checkpoint``), or
are fitted here on the store's clean TRAIN features with the detectors'
default :class:`~robusta_bench.detectors.gmm.GMMConfig` (same rule: fitted on
most training videos, ``c`` and ``x0`` calibrated on held-out ones).

A modality is *flagged* for a video when its mean lambda is below
:data:`FLAG_LAMBDA` (0.25, the midpoint of the weight, reached at
``NLL = -x0``: one half clean spread beyond the 95th percentile of clean NLL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..store.feature_store import FeatureStore, StoreError, Variant
from ..files import atomic_write_text

FLAG_LAMBDA = 0.25
MODS = ("visual", "audio")


@dataclass
class HealthResult:
    """Per-video and per-segment tables, written files and videos that could not be read."""

    videos: pd.DataFrame
    segments: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    gmm_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """A short text: per variant and modality, mean lambda and flagged videos."""
        lines = [f"GMMs: {self.gmm_source}"]
        for var, g in self.videos.groupby("variant", sort=False):
            parts = []
            for m in MODS:
                col = f"{m}_lambda_mean"
                if col in g and g[col].notna().any():
                    flagged = int(g[f"{m}_flag"].sum())
                    parts.append(f"{m} lambda {g[col].mean():.3f} ({flagged}/{len(g)} flagged)")
            lines.append(f"  {var:<24} " + "; ".join(parts))
        if self.failures:
            lines.append(f"failed: {len(self.failures)} video(s), e.g. {next(iter(self.failures))}: {next(iter(self.failures.values()))}")
        return "\n".join(lines)


def load_gmms(checkpoint: str | Path) -> dict[str, Any]:
    """The per-modality GMMs of a saved late-fusion (robusta) detector."""
    from ..detectors.base import load_detector

    det = load_detector(checkpoint)
    gmms = {m: g for m, g in (getattr(det, "gmm", None) or {}).items() if g is not None}
    if not gmms:
        raise ValueError(f"{checkpoint}: this detector ({det.name}) carries no fitted GMMs (use a trained robusta file)")
    return gmms


def fit_store_gmms(store: FeatureStore, manifest: pd.DataFrame, visual_extractor: str | None, audio_extractor: str | None, seed: int = 0) -> dict[str, Any]:
    """GMMs fitted on the store's clean train features (default config, as a robusta detector fits them)."""
    from ..detectors.gmm import GMMConfig
    from ..detectors.robusta import fit_gmms
    from .training import load_train_set

    train, _ = load_train_set(store, manifest, visual_extractor=visual_extractor, audio_extractor=audio_extractor)
    return fit_gmms(train, GMMConfig(), seed)


def modality_health(
    store: FeatureStore | str | Path,
    manifest: pd.DataFrame | str | Path,
    *,
    variants: Sequence[str] = ("clean",),
    checkpoint: str | Path | None = None,
    visual_extractor: str | None = None,
    audio_extractor: str | None = None,
    split: str = "test",
    variant_seed: int = 0,
    seed: int = 0,
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> HealthResult:
    """Per-video and per-segment GMM health of each modality (see the module docstring).

    ``variants`` are ``clean`` or ``CORRUPTION@SEVERITY`` (or store slugs); a
    corrupted variant replaces the modality it exists for in the store. Writes
    ``health_videos.csv``, ``health_segments.csv`` and ``health.png`` to
    ``out_dir`` when given.
    """
    from ..progress import progress_bar as tqdm

    from ..detectors.gmm import fusion_weights
    from .scoring import ChunkReader, chunks_by_shard
    from .training import resolve_extractors

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    if not isinstance(manifest, pd.DataFrame):
        from ..dataset.index import read_manifest

        manifest = read_manifest(manifest)
    vext, aext = resolve_extractors(store, visual_extractor, audio_extractor, need=())
    if vext is None and aext is None:
        raise StoreError(f"store {store.root} has no clean features")
    if checkpoint is not None:
        gmms = load_gmms(checkpoint)
        source = f"from {checkpoint}"
    else:
        gmms = fit_store_gmms(store, manifest, vext, aext, seed)
        source = f"fitted on clean train features of {store.root} (seed {seed})"
    exts = {"visual": vext if "visual" in gmms else None, "audio": aext if "audio" in gmms else None}

    # which group each modality reads, per variant
    plans: list[tuple[str, dict[str, Variant | None]]] = []
    for text in variants:
        var = Variant.parse(str(text), seed=variant_seed)
        groups = {m: (Variant() if exts[m] else None) for m in MODS}
        if not var.is_clean:
            hit = [m for m in MODS if exts[m] and store.has(exts[m], var)]
            if not hit:
                raise StoreError(
                    f"store {store.root} has no {var.slug} features for "
                    f"{' or '.join(e for e in exts.values() if e)}; create them with: robusta-bench extract "
                    f"--manifest MANIFEST --out {store.root} --extractors <extractor> --variants {var.corruption}@{var.severity} --seed {var.seed}"
                )
            for m in hit:
                groups[m] = var
        plans.append((var.slug, groups))

    rows = manifest.loc[manifest["split"].astype(str) == split] if split != "all" else manifest
    names = rows["name"].astype(str).tolist()
    labels = dict(zip(names, rows["label"]))
    if not names:
        raise ValueError(f"the manifest has no {split!r} videos")
    seg_parts, vid_rows, failures = [], [], {}
    bar = tqdm(total=len(names) * len(plans), desc="health", unit="video", disable=not progress)
    for slug, groups in plans:
        needed = [(exts[m], g) for m, g in groups.items() if g is not None and exts[m]]
        ref = (vext, groups["visual"]) if groups.get("visual") is not None and vext else needed[0]
        reader = ChunkReader(store, needed)
        for chunk in chunks_by_shard(store, ref, names):
            data, errors, _ = reader.read(chunk)
            for n in chunk:
                bar.update(1)
                try:
                    feats = {}
                    for m in MODS:
                        g = groups[m]
                        if g is None or not exts[m]:
                            continue
                        arr = data[(exts[m], g)].get(n)
                        if arr is None:
                            why = errors[(exts[m], g)].get(n)
                            raise LookupError(f"no features in {exts[m]}/{g.slug}" + (f" ({why})" if why else ""))
                        feats[m] = arr.mean(0)  # visual: mean over crops; audio: its single crop
                    t = min(f.shape[0] for f in feats.values())
                    rec: dict[str, Any] = {"name": n, "segment": np.arange(t)}
                    logw = {}
                    for m, f in feats.items():
                        nll = gmms[m].nll(f[:t])
                        logw[m] = gmms[m].log_weight(nll)
                        rec[f"{m}_nll"] = nll
                        rec[f"{m}_lambda"] = np.exp(logw[m])
                    rec["w_visual"] = fusion_weights(logw.get("visual"), logw.get("audio"))[0]
                    seg = pd.DataFrame(rec)
                    seg.insert(1, "variant", slug)
                    seg_parts.append(seg)
                    vrow: dict[str, Any] = {"name": n, "label": labels.get(n), "variant": slug, "segments": t}
                    for m in MODS:
                        if f"{m}_lambda" in rec:
                            lam = rec[f"{m}_lambda"]
                            vrow[f"{m}_nll_median"] = float(np.median(rec[f"{m}_nll"]))
                            vrow[f"{m}_lambda_mean"] = float(lam.mean())
                            vrow[f"{m}_low_fraction"] = float((lam < FLAG_LAMBDA).mean())
                            vrow[f"{m}_flag"] = bool(lam.mean() < FLAG_LAMBDA)
                    vrow["w_visual_mean"] = float(np.mean(rec["w_visual"]))
                    vid_rows.append(vrow)
                except Exception as exc:  # noqa: BLE001 - one bad video never stops the run
                    failures[f"{n} [{slug}]"] = str(exc) if isinstance(exc, LookupError) else f"{type(exc).__name__}: {exc}"
    bar.close()
    videos = pd.DataFrame(vid_rows)
    segments = pd.concat(seg_parts, ignore_index=True) if seg_parts else pd.DataFrame()
    result = HealthResult(videos=videos, segments=segments, failures=failures, gmm_source=source)
    if out_dir is not None and not videos.empty:
        from .plots import plot_health

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "health_videos.csv", videos.to_csv(index=False, lineterminator="\n"))
        atomic_write_text(out / "health_segments.csv", segments.to_csv(index=False, lineterminator="\n"))
        result.files = {
            "videos": out / "health_videos.csv",
            "segments": out / "health_segments.csv",
            "plot": plot_health(videos, segments, out / "health.png"),
        }
    return result
