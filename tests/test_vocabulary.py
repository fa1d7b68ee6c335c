"""One vocabulary: one precision spelling, one variant spelling, one corruption-seed option; old spellings noted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.extraction.variants import parse_variants
from robusta_bench.store.feature_store import Variant
from robusta_bench.vocabulary import canonical_precision, parse_variant_text


def test_precision_spellings():
    assert [canonical_precision(p) for p in ("fp32", "tf32", "bf16", "float32", "bfloat16")] == ["fp32", "tf32", "bf16", "fp32", "bf16"]
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16, got 'int8'"):
        canonical_precision("int8")


def test_variant_spellings():
    assert parse_variant_text("fog@3", seed=2) == ("fog", 3, 2, False)
    assert parse_variant_text("motion-blur@1") == ("motion_blur", 1, 0, False)
    assert parse_variant_text("fog-s3-seed7") == ("fog", 3, 7, True)
    assert Variant.parse("fog@3", seed=2) == Variant("fog", 3, 2) == Variant.parse("fog-s3-seed2")
    noted = []
    got = parse_variants("clean,fog@3,fog-s3-seed0,babble-s2-seed1", on_slug=lambda text, v: noted.append(text))
    assert got == [Variant(), Variant("fog", 3, 0), Variant("babble", 2, 1)]
    assert noted == ["fog-s3-seed0", "babble-s2-seed1"]
    with pytest.raises(ValueError, match="severity must be 1..5"):
        parse_variant_text("fog@9")


def test_old_option_names_still_work_with_a_note(tmp_path):
    res = CliRunner().invoke(cli, ["corrupt", "--list", "--seed", "3"])
    assert res.exit_code == 0 and "note: --seed is deprecated; use --corruption-seed" in res.output
    res = CliRunner().invoke(cli, ["corrupt", "--list", "--seed", "3", "--corruption-seed", "3"])
    assert res.exit_code == 2 and "give --corruption-seed only" in res.output
    res = CliRunner().invoke(cli, ["evaluate", "--help"])
    assert "--fractions" in res.output and "--corruption-seed" in res.output and "--variant-seed" not in res.output
