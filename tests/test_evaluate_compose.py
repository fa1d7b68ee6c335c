"""Test-set composition: settings x levels -> the inputs every video is scored with."""

from __future__ import annotations

import pandas as pd
import pytest

from robusta_bench.corruptions.plan import AUDIO_TYPES, VISUAL_TYPES, make_plan
from robusta_bench.evaluation.compose import (
    CLEAN,
    MISSING,
    LEVELS,
    compose,
    corrupted_count,
    needed_combos,
    parse_setting,
    setting_keys,
    table1_settings,
    table2_settings,
)


@pytest.fixture(scope="module")
def plan():
    rows = [{"name": f"vid{i:03d}", "split": "test", "label": int(i < 24), "list_index": i} for i in range(40)]
    rows += [{"name": f"train{i}", "split": "train", "label": i % 2, "list_index": 100 + i} for i in range(5)]
    return make_plan(pd.DataFrame(rows), seed=3)


def test_table1_has_the_papers_23_rows():
    names = [s.name for s in table1_settings()]
    assert len(names) == 23
    assert names[:8] == list(VISUAL_TYPES) and names[8:16] == list(AUDIO_TYPES)
    assert names[16:20] == ["missing_visual", "missing_audio", "mixed_visual", "mixed_audio"]
    assert names[20:] == ["motion_blur+babble", "brightness+random_dropout", "bit_error+hf_channel"]
    assert {s.modality for s in table1_settings()} == {"visual", "audio", "audio+visual"}
    assert len(table2_settings()) == 16


def test_level_0_all_clean_and_100_all_corrupted(plan):
    for s in table1_settings():
        assert set(compose(plan, s, 0)) == {(CLEAN, CLEAN)}, s.name
        full = compose(plan, s, 100)
        assert (CLEAN, CLEAN) not in full, s.name
        assert len(full) == len(plan.names)
    assert set(compose(plan, parse_setting("fog"), 100)) == {("fog", CLEAN)}
    assert set(compose(plan, parse_setting("babble"), 100)) == {(CLEAN, "babble")}


def test_levels_are_nested_and_stratified(plan):
    s = parse_setting("contrast")
    prev: set[str] = set()
    for lv in LEVELS:
        combos = compose(plan, s, lv)
        hit = {n for n, c in zip(plan.names, combos) if c != (CLEAN, CLEAN)}
        assert prev <= hit, lv
        assert len(hit) == corrupted_count(plan, lv)
        # each label is corrupted in the same proportion (24 violent, 16 normal; round half up)
        violent = sum(1 for n in hit if int(n[3:]) < 24)
        assert violent == int(lv / 100 * 24 + 0.5)
        assert len(hit) - violent == int(lv / 100 * 16 + 0.5)
        prev = hit
    assert corrupted_count(plan, 30) == 7 + 5


def test_mixed_routes_each_video_to_its_plan_type(plan):
    mixed_v = dict(zip(plan.table["name"], plan.table["mixed_visual"]))
    mixed_a = dict(zip(plan.table["name"], plan.table["mixed_audio"]))
    vis = dict(zip(plan.names, compose(plan, parse_setting("mixed_visual"), 100)))
    aud = dict(zip(plan.names, compose(plan, parse_setting("mixed_audio"), 100)))
    assert all(vis[n] == (mixed_v[n], CLEAN) for n in plan.names)
    assert all(aud[n] == (CLEAN, mixed_a[n]) for n in plan.names)
    assert {v for v, _ in vis.values()} == set(VISUAL_TYPES)
    # a video keeps its type at every level
    at50 = dict(zip(plan.names, compose(plan, parse_setting("mixed_visual"), 50)))
    assert all(c == (CLEAN, CLEAN) or c == vis[n] for n, c in at50.items())


def test_pairs_missing_and_table2(plan):
    assert set(compose(plan, parse_setting("motion_blur+babble"), 100)) == {("motion_blur", "babble")}
    assert set(compose(plan, parse_setting("bit_error+hf_channel"), 100)) == {("bit_error", "hf_channel")}
    assert set(compose(plan, parse_setting("missing_visual"), 100)) == {(MISSING, CLEAN)}
    assert set(compose(plan, parse_setting("missing_audio"), 50)) == {(CLEAN, MISSING), (CLEAN, CLEAN)}
    # Table II: the other modality is missing for ALL videos, at every level
    only_audio = parse_setting("only_audio:babble")
    assert only_audio.table == "II"
    assert set(compose(plan, only_audio, 0)) == {(MISSING, CLEAN)}
    assert set(compose(plan, only_audio, 30)) == {(MISSING, CLEAN), (MISSING, "babble")}
    assert set(compose(plan, parse_setting("only_visual:fog"), 100)) == {("fog", MISSING)}
    with pytest.raises(ValueError, match="not a audio corruption"):
        parse_setting("only_audio:fog")


def test_needed_combos_table1(plan):
    needs = needed_combos(plan, table1_settings(), LEVELS)
    # clean + 8 visual + 8 audio + 2 missing + 3 pairs; mixed reuses single corruptions
    assert {len(c) for c in needs.values()} == {22}
    vis, aud = setting_keys(plan, parse_setting("mixed_visual"), LEVELS)
    assert vis == set(VISUAL_TYPES) and aud == set()
    assert setting_keys(plan, parse_setting("only_audio:reverb"), LEVELS) == (set(), {"reverb"})


def test_bad_level(plan):
    with pytest.raises(ValueError, match="percentage"):
        compose(plan, parse_setting("fog"), 120)
