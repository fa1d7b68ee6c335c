"""Test-set composition: which inputs every test video uses in each setting at each level.

A *combo* is the pair ``(visual key, audio key)`` a video is scored with; a key
is ``"clean"``, a corruption name (the store variant of that corruption at the
chosen severity) or ``"missing"`` (the modality is absent, the detector gets
``None``).

A :class:`Setting` is one row of the paper's tables:

- Table I: each corruption alone (a visual one replaces the visual input, an
  audio one the audio input), ``missing_visual``, ``missing_audio``,
  ``mixed_visual``, ``mixed_audio`` (the corrupted videos spread over the 8
  types of that modality, per the plan) and the three audio+visual pairs;
- Table II: ``only_visual:<visual corruption>`` (audio missing for ALL test
  videos, the visual corruption at the level) and ``only_audio:<audio
  corruption>`` (visual missing for all, the audio corruption at the level);
- Table V uses Table I's setting of its corruption with other detectors.

At level ``f`` the plan's videos corrupted at ``f`` take the setting's corrupted
inputs, the others the setting's base inputs (clean/clean, or clean/missing for
Table II). Levels are nested because the plan's subsets are.

Everything here is pure bookkeeping: no features, no scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..corruptions.plan import AUDIO_TYPES, PAIRS, VISUAL_TYPES, Plan

CLEAN = "clean"
MISSING = "missing"
Combo = tuple[str, str]
CLEAN_COMBO: Combo = (CLEAN, CLEAN)
#: the paper's levels (percent of test videos corrupted)
LEVELS = (0, 10, 30, 50, 70, 90, 100)
TABLE2_LEVELS = (0, 30, 70, 100)
#: Fig. 4's corruptions (two visual, one audio) and Table V's
FIG4_SETTINGS = ("motion_blur", "fog", "random_dropout")
TABLE5_SETTING = "pitch_shift"

DISPLAY = {
    "bit_error": "Bit Error",
    "brightness": "Brightness",
    "contrast": "Contrast",
    "fog": "Fog",
    "rain": "Rain",
    "motion_blur": "Motion Blur",
    "saturate": "Saturate",
    "shot_noise": "Shot Noise",
    "babble": "Babble",
    "bitrate": "Bitrate",
    "hf_channel": "HF Channel",
    "pink_noise": "Pink Noise",
    "pitch_shift": "Pitch Shift",
    "random_dropout": "Random Dropout",
    "reverb": "Reverb",
    "white_noise": "White Noise",
    "missing_visual": "Missing Visual",
    "missing_audio": "Missing Audio",
    "mixed_visual": "Mixed Corruptions",
    "mixed_audio": "Mixed Corruptions",
}


@dataclass(frozen=True)
class Setting:
    """One evaluated setting (see the module docstring).

    ``plan_setting`` is what :meth:`Plan.assignment` is asked for the corrupted
    videos; ``drop`` is the modality removed from EVERY video (Table II) or None.
    """

    name: str
    table: str
    modality: str
    plan_setting: str
    drop: str | None = None

    @property
    def display(self) -> str:
        """Human-readable row name, as in the paper."""
        base = self.plan_setting
        if "+" in base:
            return "+".join(DISPLAY.get(p, p) for p in base.split("+"))
        return DISPLAY.get(base, base.replace("_", " ").title())

    @property
    def base_combo(self) -> Combo:
        """The inputs of a video the plan does not corrupt at this level."""
        return _drop(CLEAN_COMBO, self.drop)


def _drop(combo: Combo, drop: str | None) -> Combo:
    if drop == "visual":
        return (MISSING, combo[1])
    if drop == "audio":
        return (combo[0], MISSING)
    return combo


def modality_of(plan_setting: str, visual_types: Sequence[str] = VISUAL_TYPES, audio_types: Sequence[str] = AUDIO_TYPES) -> str:
    """``visual``, ``audio`` or ``audio+visual`` for a plan setting."""
    if "+" in plan_setting:
        return "audio+visual"
    if plan_setting in visual_types or plan_setting in ("missing_visual", "mixed_visual"):
        return "visual"
    if plan_setting in audio_types or plan_setting in ("missing_audio", "mixed_audio"):
        return "audio"
    from ..corruptions.base import CORRUPTIONS, corruption_names

    corruption_names()
    if plan_setting in CORRUPTIONS:
        return CORRUPTIONS.get(plan_setting).modality
    raise ValueError(f"unknown setting {plan_setting!r}")


def table1_settings(visual_types: Sequence[str] = VISUAL_TYPES, audio_types: Sequence[str] = AUDIO_TYPES) -> list[Setting]:
    """Table I's 23 settings in the paper's row order."""
    names = [*visual_types, *audio_types, "missing_visual", "missing_audio", "mixed_visual", "mixed_audio", *PAIRS]
    return [Setting(n, "I", modality_of(n, visual_types, audio_types), n) for n in names]


def table2_settings(visual_types: Sequence[str] = VISUAL_TYPES, audio_types: Sequence[str] = AUDIO_TYPES) -> list[Setting]:
    """Table II: each visual corruption with audio missing for all, each audio one with visual missing for all."""
    out = [Setting(f"only_visual:{c}", "II", "visual", c, drop="audio") for c in visual_types]
    out += [Setting(f"only_audio:{c}", "II", "audio", c, drop="visual") for c in audio_types]
    return out


def parse_setting(name: str) -> Setting:
    """A :class:`Setting` from its name (``fog``, ``missing_visual``, ``fog+babble``, ``only_audio:babble`` ...)."""
    name = name.strip()
    for prefix, drop, mod in (("only_visual:", "audio", "visual"), ("only_audio:", "visual", "audio")):
        if name.startswith(prefix):
            corr = name[len(prefix) :]
            if modality_of(corr) != mod:
                raise ValueError(f"{name!r}: {corr!r} is not a {mod} corruption")
            return Setting(name, "II", mod, corr, drop=drop)
    return Setting(name, "I", modality_of(name), name)


def compose(plan: Plan, setting: Setting, level: float, names: Sequence[str] | None = None) -> list[Combo]:
    """The combo of every video (``names``, default the plan's, in that order) at ``level`` percent."""
    fraction = _fraction(level)
    assigned = plan.assignment(setting.plan_setting, fraction)
    names = plan.names if names is None else names
    base = setting.base_combo
    out = []
    for n in names:
        a = assigned.get(n)
        out.append(base if a is None else _drop((a["visual"], a["audio"]), setting.drop))
    return out


def corrupted_count(plan: Plan, level: float, names: Iterable[str] | None = None) -> int:
    """How many of ``names`` (default all) the plan corrupts at ``level`` percent."""
    hit = set(plan.corrupted(_fraction(level)))
    return len(hit) if names is None else sum(1 for n in names if n in hit)


def needed_combos(
    plan: Plan, settings: Iterable[Setting], levels: Iterable[float], names: Sequence[str] | None = None
) -> dict[str, set[Combo]]:
    """Per video, every combo any of ``settings`` x ``levels`` uses (what must be scored)."""
    names = plan.names if names is None else list(names)
    out: dict[str, set[Combo]] = {n: set() for n in names}
    for s in settings:
        for lv in levels:
            for n, c in zip(names, compose(plan, s, lv, names)):
                out[n].add(c)
    return out


def setting_keys(plan: Plan, setting: Setting, levels: Iterable[float]) -> tuple[set[str], set[str]]:
    """The corruption names (visual, audio) a setting reads from the store over ``levels``."""
    vis, aud = set(), set()
    for lv in levels:
        for v, a in set(compose(plan, setting, lv)):
            vis.add(v)
            aud.add(a)
    return vis - {CLEAN, MISSING}, aud - {CLEAN, MISSING}


def _fraction(level: float) -> float:
    lv = float(level)
    if not 0.0 <= lv <= 100.0:
        raise ValueError(f"level must be a percentage in [0, 100], got {level!r}")
    return lv / 100.0
