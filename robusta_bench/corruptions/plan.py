"""Benchmark plans: which test videos are corrupted at each corruption level ("fraction").

The paper's "corruption level" is the fraction of test videos whose modality is
corrupted (10 .. 100 %). A plan fixes those subsets once, so every user of a
benchmark version corrupts exactly the same videos:

- **stratified, seeded ranking**: within each label, the videos get a random
  ``rank`` 0..n-1 from a generator seeded by (seed, label);
- **exact, nested fractions**: at fraction ``f`` exactly ``round(f * N)``
  (half up) of the ``N`` test videos are corrupted: the first ones of one
  global order that interleaves the labels by rank quantile ``(rank + 0.5) /
  n_label`` (ties: label order, then rank). With two labels the per-label
  counts are exactly the largest-remainder split of ``round(f * N)`` in
  proportion to the label sizes (ties to the first label); with more labels it
  is the Sainte-Lague split, the house-monotone one (largest remainder can
  un-nest there: the Alabama paradox). So the subset at 30 % is contained in
  the one at 50 %, within each label the lowest ranks are taken, 0 means none
  and 1.0 means all; ``corrupted_from`` is the smallest planned fraction that
  includes the video;
- **mixed**: each video also carries one visual and one audio type; types are
  dealt round-robin (in a seeded order of the 8 types) along one global order
  that interleaves the labels by rank quantile, so at every fraction the
  corrupted videos are spread evenly over the 8 types (counts differ by at
  most one, up to ties) and a video keeps its type at every fraction;
- **pairs and missing modality** use the same subsets.

A plan file is a CSV whose first line is ``# robusta-bench plan {json}`` (version,
seed, split, fractions, type lists) and whose columns are ``name, label, rank,
corrupted_from, mixed_visual, mixed_audio``, one row per test video in
test-list order. Read it with :meth:`Plan.from_file` or
``pandas.read_csv(path, skiprows=1)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..files import atomic_write_text
from ..paths import manifests_dir
from ..seeding import rng_for
from .base import benchmark_corruptions

PLAN_FORMAT = "robusta-bench plan"
PLAN_VERSION = "v1"
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
#: the corruptions of each modality in the benchmark suite, from the registry in
#: rank order (v1: the eight of each of the paper's Table I); a plan file records its own
VISUAL_TYPES = benchmark_corruptions("visual")
AUDIO_TYPES = benchmark_corruptions("audio")
#: the paper's audio+visual pairs
PAIRS = ("motion_blur+babble", "brightness+random_dropout", "bit_error+hf_channel")
#: values of an assignment besides corruption names
CLEAN = "clean"
MISSING = "missing"
COLUMNS = ("name", "label", "rank", "corrupted_from", "mixed_visual", "mixed_audio")


class PlanError(ValueError):
    """A bad manifest, plan file, fraction or setting."""


def _quota(fraction: float, n: int) -> int:
    """How many of ``n`` videos are corrupted at ``fraction``: round half up."""
    return int(math.floor(fraction * n + 0.5 + 1e-9))


def interleaved_order(labels: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Row indices of all videos, labels interleaved by rank quantile (see the module docstring).

    ``labels`` and ``ranks`` are per row; ranks are 0..n-1 within each label.
    Labels are ordered by their string form; the quantile is compared exactly
    (``(2 rank + 1) / (2 n)`` as a float is correctly rounded, so equal
    fractions tie exactly).
    """
    labels = np.asarray(labels, dtype=object)
    ranks = np.asarray(ranks, dtype=np.int64)
    order_of = {lb: i for i, lb in enumerate(sorted(set(labels.tolist()), key=str))}
    pos = np.array([order_of[lb] for lb in labels], dtype=np.int64)
    sizes = np.bincount(pos, minlength=len(order_of))
    quantile = (ranks + 0.5) / sizes[pos]
    return np.lexsort((ranks, pos, quantile))


def label_quotas(fraction: float, sizes: dict[Any, int]) -> dict[Any, int]:
    """Videos corrupted per label at ``fraction``: ``round(fraction * N)`` in all, split as :func:`interleaved_order`.

    ``sizes`` maps each label to its number of test videos. With two labels the
    split is the largest-remainder one (ties to the first label in string order).
    """
    f = _check_fraction(fraction)
    labels = [lb for lb in sizes for _ in range(int(sizes[lb]))]
    ranks = [r for lb in sizes for r in range(int(sizes[lb]))]
    out = {lb: 0 for lb in sizes}
    if not labels:
        return out
    order = interleaved_order(np.array(labels, dtype=object), np.array(ranks))
    for row in order[: _quota(f, len(labels))]:
        out[labels[row]] += 1
    return out


def _check_fraction(fraction: float) -> float:
    f = float(fraction)
    if not (0.0 <= f <= 1.0) or math.isnan(f):
        raise PlanError(f"fraction must be within [0, 1], got {fraction!r}")
    return f


@dataclass
class Plan:
    """A benchmark plan (see the module docstring). ``table`` is in test-list order."""

    table: pd.DataFrame
    seed: int = 0
    fractions: tuple[float, ...] = FRACTIONS
    split: str = "test"
    version: str = PLAN_VERSION
    visual_types: tuple[str, ...] = VISUAL_TYPES
    audio_types: tuple[str, ...] = AUDIO_TYPES
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.table.columns]
        if missing:
            raise PlanError(f"plan table lacks columns {missing}")
        self.table = self.table.reset_index(drop=True)
        self._sizes = self.table.groupby("label", sort=False)["name"].size().to_dict()
        for label, n in self._sizes.items():
            ranks = np.sort(self.table.loc[self.table["label"] == label, "rank"].to_numpy())
            if not np.array_equal(ranks, np.arange(n)):
                raise PlanError(f"plan ranks of label {label!r} are not a permutation of 0..{n - 1}")
        # position of each row in the interleaved order: corrupted at f <=> position < round(f * N)
        order = interleaved_order(self.table["label"].to_numpy(dtype=object), self.table["rank"].to_numpy())
        self._position = np.empty(len(self.table), dtype=np.int64)
        self._position[order] = np.arange(len(self.table))

    # -- queries -----------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """All videos of the plan, in test-list order."""
        return self.table["name"].tolist()

    def corrupted_mask(self, fraction: float) -> np.ndarray:
        """Boolean mask over :attr:`table` rows: corrupted at ``fraction``."""
        f = _check_fraction(fraction)
        return self._position < _quota(f, len(self.table))

    def corrupted(self, fraction: float) -> list[str]:
        """Names of the videos corrupted at ``fraction``, in test-list order (0 -> none, 1 -> all)."""
        return self.table.loc[self.corrupted_mask(fraction), "name"].tolist()

    def settings(self) -> list[str]:
        """Every setting :meth:`assignment` accepts."""
        return [
            *self.visual_types,
            *self.audio_types,
            "mixed_visual",
            "mixed_audio",
            "missing_visual",
            "missing_audio",
            *PAIRS,
        ]

    def assignment(self, setting: str, fraction: float) -> dict[str, dict[str, str]]:
        """``{video: {"visual": v, "audio": a}}`` for the videos corrupted at ``fraction``.

        ``v``/``a`` is a corruption name, ``"missing"`` (modality removed) or
        ``"clean"`` (modality untouched). ``setting`` is a corruption name (of
        the plan's lists or any registered one),
        ``mixed_visual``, ``mixed_audio``, ``missing_visual``, ``missing_audio``
        or a pair ``"<visual>+<audio>"`` (either side may be ``missing``).
        """
        mask = self.corrupted_mask(fraction)
        rows = self.table.loc[mask]
        names = rows["name"].tolist()
        if setting in self.visual_types:
            return {n: {"visual": setting, "audio": CLEAN} for n in names}
        if setting in self.audio_types:
            return {n: {"visual": CLEAN, "audio": setting} for n in names}
        registered = _registered_modality(setting)
        if registered == "visual":
            return {n: {"visual": setting, "audio": CLEAN} for n in names}
        if registered == "audio":
            return {n: {"visual": CLEAN, "audio": setting} for n in names}
        if setting == "mixed_visual":
            return {n: {"visual": t, "audio": CLEAN} for n, t in zip(names, rows["mixed_visual"])}
        if setting == "mixed_audio":
            return {n: {"visual": CLEAN, "audio": t} for n, t in zip(names, rows["mixed_audio"])}
        if setting == "missing_visual":
            return {n: {"visual": MISSING, "audio": CLEAN} for n in names}
        if setting == "missing_audio":
            return {n: {"visual": CLEAN, "audio": MISSING} for n in names}
        if "+" in setting:
            vis, aud = (s.strip() for s in setting.split("+", 1))
            if vis not in (*self.visual_types, MISSING) or aud not in (*self.audio_types, MISSING):
                raise PlanError(
                    f"pair {setting!r} must be '<visual corruption or missing>+<audio corruption or missing>'"
                )
            return {n: {"visual": vis, "audio": aud} for n in names}
        raise PlanError(f"unknown setting {setting!r}; known: {', '.join(self.settings())}, or any '<visual>+<audio>' pair")

    def summary(self) -> pd.DataFrame:
        """Counts per planned fraction: videos corrupted overall and per label."""
        rows = []
        for f in self.fractions:
            mask = self.corrupted_mask(f)
            row: dict[str, Any] = {"fraction": f, "corrupted": int(mask.sum()), "of": len(self.table)}
            for label in self._sizes:
                row[f"label_{label}"] = int((mask & (self.table["label"] == label).to_numpy()).sum())
            rows.append(row)
        return pd.DataFrame(rows)

    # -- files -------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """The metadata stored in the file's first line."""
        return {
            **self.meta,
            "format": PLAN_FORMAT,
            "version": self.version,
            "seed": int(self.seed),
            "split": self.split,
            "fractions": [float(f) for f in self.fractions],
            "visual_types": list(self.visual_types),
            "audio_types": list(self.audio_types),
            "videos": int(len(self.table)),
        }

    def to_file(self, path: str | Path) -> Path:
        """Write the plan (header line + CSV) atomically; returns the path."""
        path = Path(path)
        body = self.table.loc[:, list(COLUMNS)].to_csv(index=False, lineterminator="\n")
        atomic_write_text(path, f"# {PLAN_FORMAT} {json.dumps(self.header(), sort_keys=True)}\n{body}")
        return path

    @classmethod
    def from_file(cls, path: str | Path) -> "Plan":
        """Read a plan written by :meth:`to_file`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"plan file not found: {path}")
        with open(path, encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n")
        prefix = f"# {PLAN_FORMAT} "
        if not first.startswith(prefix):
            raise PlanError(f"{path}: not a plan file (first line must start with {prefix!r})")
        try:
            meta = json.loads(first[len(prefix) :])
        except json.JSONDecodeError as exc:
            raise PlanError(f"{path}: bad plan header: {exc}") from exc
        table = pd.read_csv(
            path,
            skiprows=1,
            dtype={"name": str, "mixed_visual": str, "mixed_audio": str},
            keep_default_na=False,
        )
        table["corrupted_from"] = pd.to_numeric(table["corrupted_from"].replace("", np.nan))
        table["label"] = _normalise_labels(table["label"])
        known = {"format", "version", "seed", "split", "fractions", "visual_types", "audio_types", "videos"}
        return cls(
            table=table,
            seed=int(meta.get("seed", 0)),
            fractions=tuple(float(f) for f in meta.get("fractions", FRACTIONS)),
            split=str(meta.get("split", "test")),
            version=str(meta.get("version", PLAN_VERSION)),
            visual_types=tuple(meta.get("visual_types", VISUAL_TYPES)),
            audio_types=tuple(meta.get("audio_types", AUDIO_TYPES)),
            meta={k: v for k, v in meta.items() if k not in known},
        )


def _registered_modality(name: str) -> str | None:
    """The modality of a registered corruption outside the plan's type lists (user additions)."""
    from .base import CORRUPTIONS

    return CORRUPTIONS.get(name).modality if name in CORRUPTIONS else None


def _normalise_labels(labels: pd.Series) -> pd.Series:
    """Integer labels stay integers (0/1), anything else becomes a string."""
    try:
        as_int = pd.to_numeric(labels, errors="raise")
        if (as_int == as_int.round()).all():
            return as_int.astype(np.int64)
    except (ValueError, TypeError):
        pass
    return labels.astype(str)


def make_plan(
    manifest: pd.DataFrame,
    seed: int = 0,
    fractions: Sequence[float] = FRACTIONS,
    split: str = "test",
) -> Plan:
    """Make the plan of ``manifest``'s ``split`` videos (columns used: name, label, split).

    Test-list order is the manifest's row order, or its ``list_index`` column
    when present (the official list order for XD-Violence).
    """
    for col in ("name", "label", "split"):
        if col not in manifest.columns:
            raise PlanError(f"manifest lacks column {col!r} (needs name, label, split)")
    fracs = tuple(sorted({_check_fraction(f) for f in fractions}))
    if not fracs:
        raise PlanError("at least one fraction is needed")
    df = manifest.loc[manifest["split"].astype(str) == split, ["name", "label"] + (["list_index"] if "list_index" in manifest else [])]
    if df.empty:
        counts = manifest["split"].astype(str).value_counts().to_dict()
        raise PlanError(
            f"manifest has no {split!r} videos (splits: {counts or 'none'}). Splits come from the list given to "
            "'index --split-list' (default: the official XD-Violence list). For your own videos write one with "
            "'robusta-bench split VIDEOS --out split.csv --violent PATTERNS' and index again with --split-list split.csv"
        )
    if "list_index" in df:
        df = df.sort_values("list_index", kind="stable")
    df = df.reset_index(drop=True)
    df["name"] = df["name"].astype(str)
    dup = df["name"][df["name"].duplicated()].unique().tolist()
    if dup:
        raise PlanError(f"duplicate video names in the manifest: {dup[:5]}")
    df["label"] = _normalise_labels(df["label"])
    seed = int(seed)

    rank = np.empty(len(df), dtype=np.int64)
    labels = sorted(df["label"].unique(), key=str)
    for label in labels:
        idx = np.flatnonzero((df["label"] == label).to_numpy())
        n = len(idx)
        order = rng_for("plan-rank", seed, str(label)).permutation(n)
        r = np.empty(n, dtype=np.int64)
        r[order] = np.arange(n)
        rank[idx] = r
    df["rank"] = rank
    # one global order consistent with the nesting: every fraction's corrupted set is a prefix of it
    global_order = interleaved_order(df["label"].to_numpy(dtype=object), rank)
    position = np.empty(len(df), dtype=np.int64)
    position[global_order] = np.arange(len(df))
    corrupted_from = []
    for p in position:
        hit = [f for f in fracs if p < _quota(f, len(df))]
        corrupted_from.append(hit[0] if hit else np.nan)
    df["corrupted_from"] = corrupted_from

    vis = rng_for("plan-mixed", seed, "visual").permutation(len(VISUAL_TYPES))
    aud = rng_for("plan-mixed", seed, "audio").permutation(len(AUDIO_TYPES))
    mixed_v = np.empty(len(df), dtype=object)
    mixed_a = np.empty(len(df), dtype=object)
    for k, row in enumerate(global_order):
        mixed_v[row] = VISUAL_TYPES[vis[k % len(vis)]]
        mixed_a[row] = AUDIO_TYPES[aud[k % len(aud)]]
    df["mixed_visual"] = mixed_v
    df["mixed_audio"] = mixed_a
    return Plan(table=df.loc[:, list(COLUMNS)], seed=seed, fractions=fracs, split=split)


def plan_path(version: str = PLAN_VERSION, dataset: str = "xd_violence") -> Path:
    """Where the shipped plan of ``dataset`` for benchmark ``version`` lives."""
    return manifests_dir() / "plans" / version / f"{dataset}_test.csv"


def load_plan(version: str = PLAN_VERSION, dataset: str = "xd_violence") -> Plan:
    """The shipped plan ``manifests/plans/<version>/<dataset>_test.csv``."""
    path = plan_path(version, dataset)
    if not path.exists():
        root = manifests_dir() / "plans"
        have = sorted(str(p.relative_to(root)) for p in root.glob("*/*_test.csv")) if root.exists() else []
        raise FileNotFoundError(f"no shipped plan {path} (available: {', '.join(have) or 'none'})")
    return Plan.from_file(path)
