"""Planning an extraction run: which variants each video needs, for which extractor.

Pure bookkeeping, no decoding: the pipeline turns a manifest, a list of
extractors and a list of variants into one :class:`VideoJob` per video.

Rules (see ``docs/extraction.md``):
- ``clean`` goes to every extractor, for videos of ``split``;
- a corrupted variant goes only to extractors of its corruption's modality
  (visual corruptions to visual extractors, audio ones to audio extractors), and
  only for videos of ``variant_split`` (training always uses clean features);
- a (video, extractor, variant) already in the store is skipped (resume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..records import VideoRecord, read_videos
from ..store.feature_store import Variant

SPLITS = ("all", "train", "test")


#: one row of the index manifest, as the pipeline needs it
VideoItem = VideoRecord


@dataclass
class VideoJob:
    """What to compute for one video.

    ``visual`` / ``audio`` map a variant to the extractors that need it;
    ``media`` maps a variant to an already-corrupted file to decode instead of
    corrupting in memory (``--corrupted-dir``), and ``media_errors`` to a reason
    why that file is unavailable.
    """

    video: VideoItem
    visual: dict[Variant, list[str]] = field(default_factory=dict)
    audio: dict[Variant, list[str]] = field(default_factory=dict)
    media: dict[Variant, Path] = field(default_factory=dict)
    media_errors: dict[Variant, str] = field(default_factory=dict)
    skipped: int = 0

    @property
    def empty(self) -> bool:
        """True when every group of this video is already done."""
        return not self.visual and not self.audio

    def groups(self) -> list[tuple[str, Variant]]:
        """All (extractor, variant) pairs of this job."""
        out = [(e, v) for v, exts in self.visual.items() for e in exts]
        out += [(e, v) for v, exts in self.audio.items() for e in exts]
        return out


def parse_variants(texts: str | Iterable[str | Variant], seed: int = 0, *, on_slug: Any = None) -> list[Variant]:
    """Parse ``clean,fog@3,babble@2`` (or a list of such items or of Variants) into unique variants, in order.

    ``on_slug(text, variant)`` is called for an item spelled as a store folder
    (``fog-s3-seed0``): the command line prints a deprecation note there.
    The item ``perturbations`` stands for the self-made perturbations the
    ``learned`` weighting trains on (:func:`robusta_bench.corruptions.perturbations.training_variants`,
    both modalities; extract them with ``--variant-split train``).
    """
    from ..vocabulary import parse_variant_text

    if isinstance(texts, str):
        texts = [t for t in texts.split(",")]
    out: list[Variant] = []
    for text in _expand_aliases(texts):
        if not str(text).strip():
            continue
        if isinstance(text, Variant):
            v = text
        else:
            corruption, severity, vseed, is_slug = parse_variant_text(str(text), seed)
            v = Variant() if corruption is None else Variant(corruption, severity, vseed)
            if is_slug and on_slug is not None:
                on_slug(str(text).strip(), v)
        if v not in out:
            out.append(v)
    if not out:
        raise ValueError("no variants given: use e.g. --variants clean,fog@3")
    return out


def _expand_aliases(texts: Iterable[str | Variant]) -> list[str | Variant]:
    """``perturbations`` -> every ``perturb_*@severity`` training variant of both modalities."""
    out: list[str | Variant] = []
    for text in texts:
        if isinstance(text, str) and text.strip() == "perturbations":
            from ..corruptions.perturbations import training_variants

            out += training_variants("visual") + training_variants("audio")
        else:
            out.append(text)
    return out


def variant_modality(variant: Variant) -> str | None:
    """``None`` for clean, else the registered corruption's modality (``visual``/``audio``)."""
    if variant.is_clean:
        return None
    from ..corruptions.base import CORRUPTIONS

    return CORRUPTIONS.get(variant.corruption).modality


def split_matches(video_split: str, wanted: str) -> bool:
    """Whether a video of ``video_split`` is selected by ``wanted`` (``all``/``train``/``test``)."""
    if wanted not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {wanted!r}")
    return wanted == "all" or not video_split or str(video_split) == wanted


def extraction_jobs(
    videos: Sequence[VideoItem],
    visual_extractors: Sequence[str],
    audio_extractors: Sequence[str],
    variants: Sequence[Variant],
    done: dict[tuple[str, Variant], set[str]],
    *,
    split: str = "all",
    variant_split: str = "test",
    modality_of=variant_modality,
) -> list[VideoJob]:
    """One job per selected video, leaving out groups already done.

    ``done[(extractor, variant)]`` is the set of videos already stored in that
    group. Videos selected by neither split are left out entirely.
    """
    mods = {v: modality_of(v) for v in variants}
    jobs: list[VideoJob] = []
    for video in videos:
        job = VideoJob(video)
        clean_ok = split_matches(video.split, split)
        variant_ok = split_matches(video.split, variant_split)
        if not clean_ok and not variant_ok:
            continue
        for v in variants:
            m = mods[v]
            if (v.is_clean and not clean_ok) or (not v.is_clean and not variant_ok):
                continue
            for kind, names, target in (("visual", visual_extractors, job.visual), ("audio", audio_extractors, job.audio)):
                if m not in (None, kind):
                    continue
                exts = [e for e in names if video.name not in done.get((e, v), set())]
                job.skipped += sum(1 for e in names if video.name in done.get((e, v), set()))
                if exts:
                    target[v] = exts
        jobs.append(job)
    return jobs
