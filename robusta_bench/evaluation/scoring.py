"""Score every needed (video, visual input, audio input) once, reading the store once.

A detector's scores for a video depend only on that video's features, so the
whole grid of settings x levels is composed from a cache of per-video scores:
for each video, the evaluation needs a small set of *combos* (see
:mod:`.compose`), e.g. 22 for Table I (clean, 16 single corruptions, 2 missing,
3 pairs; mixed settings reuse the single-corruption combos).

Through the detector's :class:`~robusta_bench.detectors.base.Scorer`, the
visual part of the work is done once per (video, visual key) and the audio
part once per (video, audio key); :meth:`Scorer.combine` then yields the scores
of every combo (and, for late-fusion detectors, of every fusion rule asked for,
e.g. RobustA's ``gmm`` and ``average`` from the same states).

The store is read in chunks that follow the shards of a reference group (the
clean visual one): for each chunk every needed group's shards holding those
videos are read (each shard once when the groups share one layout, as the
extraction pipeline writes them), while the next chunk is read in a background
thread. A video that lacks a needed group, or whose scoring fails, is recorded
in :attr:`ScoreBank.failures` by name and left out; the others go on.
"""

from __future__ import annotations

import inspect
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from ..detectors.inference import SharedInputs, compute_dtype
from ..store.feature_store import FeatureStore, Variant
from ..vocabulary import canonical_precision
from .compose import CLEAN, MISSING, Combo

Group = tuple[str, Variant]


@dataclass(frozen=True)
class MethodRun:
    """One scored method: a detector instance, a fusion rule (None: the detector's own) and the training seed."""

    label: str
    detector: Any
    fusion: str | None = None
    seed: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.label, self.seed)


@dataclass
class Scored:
    """One video's scores for one combo: offline and online heads ``(T,)`` and the visual fusion weight."""

    offline: np.ndarray
    online: np.ndarray
    w_visual: np.ndarray | None = None


@dataclass
class ScoreBank:
    """Per-video scores of every run and combo, plus what failed and where time went."""

    scores: dict[tuple[str, int], dict[str, dict[Combo, Scored]]] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def get(self, run: tuple[str, int], name: str, combo: Combo) -> Scored:
        """Scores of ``name`` under ``combo`` for ``run`` (``(label, seed)``)."""
        return self.scores[run][name][combo]

    def scored_names(self, order: Sequence[str]) -> list[str]:
        """Videos of ``order`` that were scored (in that order)."""
        return [n for n in order if n in self.lengths]


def variant_of(key: str, severity: int, seed: int) -> Variant:
    """The store variant behind a combo key (``clean`` or a corruption name)."""
    if key == CLEAN:
        return Variant()
    if key == MISSING:
        raise ValueError("a missing modality has no store variant")
    return Variant(key, int(severity), int(seed))


def needed_groups(
    needs: Mapping[str, set[Combo]], visual_extractor: str | None, audio_extractor: str | None, severity: int, seed: int
) -> tuple[list[Group], list[Group]]:
    """The (extractor, variant) groups the combos read: visual ones and audio ones."""
    vkeys = sorted({c[0] for combos in needs.values() for c in combos} - {MISSING}, key=lambda k: (k != CLEAN, k))
    akeys = sorted({c[1] for combos in needs.values() for c in combos} - {MISSING}, key=lambda k: (k != CLEAN, k))
    if vkeys and visual_extractor is None:
        raise ValueError("visual features are needed but no visual extractor was given")
    if akeys and audio_extractor is None:
        raise ValueError("audio features are needed but no audio extractor was given")
    vis = [(visual_extractor, variant_of(k, severity, seed)) for k in vkeys]
    aud = [(audio_extractor, variant_of(k, severity, seed)) for k in akeys]
    return vis, aud


def score_all(
    store: FeatureStore,
    names: Sequence[str],
    needs: Mapping[str, set[Combo]],
    runs: Sequence[MethodRun],
    *,
    visual_extractor: str | None,
    audio_extractor: str | None,
    severity: int,
    variant_seed: int,
    max_segments: Mapping[str, int] | None = None,
    device: str = "cpu",
    progress: bool = False,
    run_needs: Mapping[tuple[str, int], Mapping[str, set[Combo]]] | None = None,
    precision: str = "fp32",
) -> ScoreBank:
    """Score every video of ``names`` under each of its combos (``needs``) with every run.

    ``run_needs`` restricts some runs (by ``run.key``) to a subset of the
    combos (e.g. an ablation evaluated on one setting only). ``max_segments``
    caps a video's length (e.g. the snippets its frame count allows);
    otherwise a video's length is the shortest of its needed groups.
    ``precision`` is passed to the detectors' scorers (``float32``, or the
    opt-in ``bfloat16`` of :mod:`robusta_bench.detectors.inference`).
    """
    t_start = time.perf_counter()
    vis_groups, aud_groups = needed_groups(needs, visual_extractor, audio_extractor, severity, variant_seed)
    groups = vis_groups + aud_groups
    key_of = {g: ("v" if i < len(vis_groups) else "a", CLEAN if g[1].is_clean else g[1].corruption) for i, g in enumerate(groups)}
    bank = ScoreBank(scores={r.key: {} for r in runs})
    # one scorer per detector instance; several runs (fusions) may share it
    by_det: dict[int, tuple[Any, list[MethodRun]]] = {}
    for r in runs:
        by_det.setdefault(id(r.detector), (r.detector, []))[1].append(r)
    scorers = {k: make_scorer(det, device, precision) for k, (det, _) in by_det.items()}

    # numpy's BLAS threads (GMM likelihoods) and torch's OpenMP threads busy-wait against each other on a
    # small machine: with both at 2 threads a RobustA state took ~10x longer. One BLAS thread while scoring.
    blas = threadpool_limits(limits=1, user_api="blas")
    try:
        return _score_chunks(store, names, needs, runs, groups, key_of, by_det, scorers, bank, max_segments,
                             run_needs, progress, t_start)
    finally:
        blas.restore_original_limits()


def _score_chunks(store, names, needs, runs, groups, key_of, by_det, scorers, bank, max_segments, run_needs,
                  progress, t_start) -> ScoreBank:
    from ..progress import progress_bar as tqdm

    chunks = chunks_by_shard(store, groups[0] if groups else None, names)
    reader = ChunkReader(store, groups)
    read_s = 0.0
    bar = tqdm(total=len(names), desc="scoring", unit="video", disable=not progress)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(reader.read, chunks[0]) if chunks else None
        for i, chunk in enumerate(chunks):
            data, errors, secs = pending.result()
            read_s += secs
            pending = pool.submit(reader.read, chunks[i + 1]) if i + 1 < len(chunks) else None
            for name in chunk:
                try:
                    feats = {}
                    for g in groups:
                        arr = data[g].get(name)
                        if arr is None:
                            why = errors[g].get(name)
                            raise LookupError(
                                f"no features in {g[0]}/{g[1].slug}" + (f" (extraction failed: {why})" if why else "")
                            )
                        feats[key_of[g]] = arr
                    cap = None if max_segments is None else max_segments.get(name)
                    _score_video(name, feats, needs[name], by_det, scorers, bank, cap, run_needs or {})
                except Exception as exc:  # noqa: BLE001 - one bad video never stops the run
                    bank.failures[name] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, LookupError) else str(exc)
                    for r in runs:
                        bank.scores[r.key].pop(name, None)
                    bank.lengths.pop(name, None)
                bar.update(1)
            del data
    bar.close()
    bank.timings = {"read_s": read_s, "score_total_s": time.perf_counter() - t_start}
    return bank


def _score_video(
    name: str,
    feats: dict[tuple[str, str], np.ndarray],
    combos: set[Combo],
    by_det: dict[int, tuple[Any, list[MethodRun]]],
    scorers: dict[int, Any],
    bank: ScoreBank,
    cap: int | None,
    run_needs: Mapping[tuple[str, int], Mapping[str, set[Combo]]],
) -> None:
    vkeys = sorted({c[0] for c in combos})
    akeys = sorted({c[1] for c in combos})
    visual = {k: feats[("v", k)] for k in vkeys if k != MISSING}
    audio = {k: _audio_2d(feats[("a", k)]) for k in akeys if k != MISSING}
    lengths = [v.shape[1] for v in visual.values()] + [a.shape[0] for a in audio.values()]
    if not lengths:
        raise ValueError("no modality present")
    t = min(lengths)
    if cap is not None:
        t = min(t, int(cap))
    if t < 1:
        raise ValueError(f"no snippets to score (length {t})")
    shared = SharedInputs()  # stacked visual inputs and their Gram matrices, computed once for all detectors
    for k, (det, runs) in by_det.items():
        sc = scorers[k]
        per_run = {r.key: (run_needs[r.key].get(name, set()) if r.key in run_needs else combos) for r in runs}
        used = set().union(*per_run.values())
        vstates = modality_states(sc, "visual", {key: visual.get(key) for key in sorted({c[0] for c in used})}, t, shared)
        astates = modality_states(sc, "audio", {key: audio.get(key) for key in sorted({c[1] for c in used})}, t, shared)
        for run in runs:
            out = bank.scores[run.key].setdefault(name, {})
            run_combos = sorted(per_run[run.key])
            results = combine_all(sc, [(vstates[c[0]], astates[c[1]]) for c in run_combos], run.fusion)
            for combo, res in zip(run_combos, results):
                off = np.asarray(res.offline, dtype=np.float32).reshape(-1)
                on = np.asarray(res.online, dtype=np.float32).reshape(-1)
                if off.shape[0] != t or on.shape[0] != t:
                    raise ValueError(f"{run.label} returned {off.shape[0]}/{on.shape[0]} scores for {t} snippets")
                wv = None if res.w_visual is None else np.asarray(res.w_visual, dtype=np.float32).reshape(-1)
                out[combo] = Scored(off, on, wv)
    bank.lengths[name] = t


def check_scoring_precision(detector: Any, precision: str) -> None:
    """Raise ValueError unless ``detector`` (a class or an instance) can score in ``precision``.

    float32 is always supported; any other precision must be one of
    :data:`~robusta_bench.detectors.inference.PRECISIONS` and the detector's
    ``scorer`` must take a ``precision`` argument.
    """
    if canonical_precision(precision) == "fp32":
        return
    compute_dtype(precision)  # a precision the scorers do not have (tf32)
    if "precision" not in inspect.signature(detector.scorer).parameters:
        raise ValueError(f"detector {getattr(detector, 'name', detector)!r} does not support precision {precision!r}")


def make_scorer(detector: Any, device: str, precision: str = "fp32") -> Any:
    """``detector.scorer(device)``, with ``precision`` when it is not float32 (see :func:`check_scoring_precision`)."""
    check_scoring_precision(detector, precision)
    if canonical_precision(precision) == "fp32":
        return detector.scorer(device)
    return detector.scorer(device, precision=precision)


def modality_states(
    scorer: Any, modality: str, inputs: Mapping[str, np.ndarray | None], length: int, shared: Any = None
) -> dict[str, Any]:
    """``{key: state}`` for one modality's inputs of a video: the scorer's batched ``visual_states`` /
    ``audio_states`` when it has them (one network pass), else ``visual_state`` / ``audio_state`` per key.

    ``shared`` (a :class:`~robusta_bench.detectors.inference.SharedInputs` of the video) is passed on to
    batched methods that take it, so detectors reading the same features share their stacking and Gram work.
    """
    many = getattr(scorer, f"{modality}_states", None)
    if many is not None:
        if shared is not None and "shared" in inspect.signature(many).parameters:
            return many(dict(inputs), length, shared=shared)
        return many(dict(inputs), length)
    one = getattr(scorer, f"{modality}_state")
    return {key: one(x, length) for key, x in inputs.items()}


def combine_all(scorer: Any, pairs: Sequence[tuple[Any, Any]], fusion: str | None) -> list[Any]:
    """:meth:`Scorer.combine` of every (visual state, audio state) pair, batched when the scorer can."""
    many = getattr(scorer, "combine_many", None)
    if many is not None:
        return list(many(list(pairs), fusion))
    return [scorer.combine(vs, as_, fusion) for vs, as_ in pairs]


def _audio_2d(arr: np.ndarray) -> np.ndarray:
    """Store audio ``(crops, T, d)`` -> ``(T, d)``: the single crop (several: their mean)."""
    if arr.ndim == 2:
        return arr
    return arr[0] if arr.shape[0] == 1 else arr.mean(0)


def chunks_by_shard(store: FeatureStore, ref: Group | None, names: Sequence[str]) -> list[list[str]]:
    """``names`` split into chunks that follow the reference group's shards (unlisted names last)."""
    wanted = list(dict.fromkeys(names))
    if ref is None or not store.has(*ref):
        return [wanted[i : i + 64] for i in range(0, len(wanted), 64)]
    want = set(wanted)
    seen: set[str] = set()
    out = []
    for f in store.index(*ref)["files"]:
        part = [n for n in f["videos"] if n in want and n not in seen]
        seen.update(part)
        if part:
            out.append(part)
    rest = [n for n in wanted if n not in seen]
    out += [rest[i : i + 64] for i in range(0, len(rest), 64)]
    return out


class ChunkReader:
    """Reads the features of chunks of videos from several groups, each shard decoded once.

    Groups may be sharded differently (an audio shard typically holds several
    visual shards' worth of videos): the last ``keep`` decoded shards of each
    group stay cached, so consecutive chunks that fall in the same shard do
    not decode it again. Groups are read by ``threads`` threads (Parquet
    decoding releases the GIL). Use one reader from one thread at a time.
    """

    def __init__(self, store: FeatureStore, groups: Sequence[Group], threads: int = 2, keep: int = 2) -> None:
        self.store = store
        self.groups = list(groups)
        self.threads = threads
        self.keep = keep
        self._shards: dict[Group, list[list[str]]] = {}
        self._where: dict[Group, dict[str, int]] = {}
        self._errors: dict[Group, dict[str, str]] = {}
        for g in self.groups:
            idx = store.index(*g)
            self._shards[g] = [list(f["videos"]) for f in idx["files"]]
            self._where[g] = {n: i for i, vids in enumerate(self._shards[g]) for n in vids}
            self._errors[g] = dict(idx.get("errors", {}))
        self._cache: dict[Group, dict[int, dict[str, np.ndarray]]] = {g: {} for g in self.groups}

    def _group(self, g: Group, chunk: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        where = self._where[g]
        need = sorted({where[n] for n in chunk if n in where})
        cache = self._cache[g]
        for i in need:
            if i not in cache:
                cache[i] = dict(self.store.iter_videos(g[0], g[1], names=self._shards[g][i]))
        # keep the shards this chunk used (the next chunk most likely continues there)
        for i in [k for k in cache if k not in need][: max(len(cache) - self.keep, 0)]:
            del cache[i]
        got = {n: cache[where[n]][n] for n in chunk if n in where and n in cache[where[n]]}
        errs = {n: self._errors[g][n] for n in chunk if n not in got and n in self._errors[g]}
        return got, errs

    def read(self, chunk: Sequence[str]) -> tuple[dict[Group, dict[str, np.ndarray]], dict[Group, dict[str, str]], float]:
        """``(features per group {name: array}, errors per group {name: message}, seconds)``; absent videos are absent."""
        t0 = time.perf_counter()
        if self.threads > 1 and len(self.groups) > 1:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                parts = list(pool.map(lambda g: self._group(g, chunk), self.groups))
        else:
            parts = [self._group(g, chunk) for g in self.groups]
        data = {g: p[0] for g, p in zip(self.groups, parts)}
        errors = {g: p[1] for g, p in zip(self.groups, parts)}
        return data, errors, time.perf_counter() - t0
