"""The registries find their entries: modules of their packages and entry points of installed packages.

A toy package written to a temporary folder registers a corruption, an
extractor and a detector from outside robusta_bench, through an installed
distribution's ``entry_points.txt``; the toy corruption then runs through
``corrupt`` on a shared clip like a built-in one.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.corruptions.base import CORRUPTIONS, benchmark_corruptions, corruption_names
from robusta_bench.detectors.base import DETECTORS, build_detector
from robusta_bench.models.extractor import EXTRACTORS
from robusta_bench.registry import Registry, RegistryError

TOY_CORRUPTION = '''
import numpy as np
from robusta_bench.corruptions.base import CORRUPTIONS, Corruption


@CORRUPTIONS.register("toy_invert")
class ToyInvert(Corruption):
    """Inverts the frames (severity 5) or a fraction of their range."""

    modality = "visual"
    levels = tuple({"amount": a} for a in (0.2, 0.4, 0.6, 0.8, 1.0))

    def apply(self, data, severity, seed, *, rate=None, start=0):
        amount = self.params(severity)["amount"]
        return np.clip(data * (1 - amount) + (255 - data.astype(np.float32)) * amount, 0, 255).astype(np.uint8)
'''

TOY_EXTRACTOR = '''
import numpy as np
from robusta_bench.models.extractor import Extractor


class MeanColour(Extractor):
    """Mean RGB of a clip (registered by its entry point, not by a decorator)."""

    modality = "visual"
    feature_dim = 3

    def embed(self, batch):
        return batch.reshape(len(batch), -1, 3).mean(1).astype(np.float32)
'''

TOY_DETECTOR = '''
from robusta_bench.detectors.base import DETECTORS, Detector


@DETECTORS.register("toy-detector")
class ToyDetector(Detector):
    modalities = ("visual",)
    summary = "toy"
'''


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    """An installed toy distribution with one corruption, one extractor and one detector entry point."""
    pkg = tmp_path / "toy_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "corruption.py").write_text(TOY_CORRUPTION)
    (pkg / "extractor.py").write_text(TOY_EXTRACTOR)
    (pkg / "detector.py").write_text(TOY_DETECTOR)
    dist = tmp_path / "toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [robusta_bench.corruptions]
        toy_invert = toy_plugin.corruption

        [robusta_bench.extractors]
        mean-colour = toy_plugin.extractor:MeanColour

        [robusta_bench.detectors]
        toy-detector = toy_plugin.detector
        broken = toy_plugin.no_such_module
    """))
    for reg in (CORRUPTIONS, EXTRACTORS, DETECTORS):
        reg.load()  # the built-in entries, before the snapshot that the teardown restores
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = [(r, dict(r._entries), dict(r._ablations), dict(r._unavailable)) for r in (CORRUPTIONS, EXTRACTORS, DETECTORS)]
    for reg in (CORRUPTIONS, EXTRACTORS, DETECTORS):
        reg.load(force=True)
    yield tmp_path
    for reg, entries, ablations, unavailable in saved:
        reg._entries, reg._ablations, reg._unavailable = entries, ablations, unavailable
    for mod in [m for m in sys.modules if m.startswith("toy_plugin")]:
        del sys.modules[mod]


def test_entry_points_register_a_corruption_an_extractor_and_a_detector(toy_plugin):
    assert "toy_invert" in corruption_names("visual")
    assert "toy_invert" not in benchmark_corruptions("visual")  # no rank: not part of the benchmark suite
    assert EXTRACTORS.get("mean-colour").name == "mean-colour"
    assert EXTRACTORS.get("mean-colour").feature_dim == 3
    det = build_detector("toy-detector", visual_dim=8, audio_dim=4)
    assert (det.name, det.visual_dim) == ("toy-detector", 8)
    with pytest.raises(RegistryError, match="unavailable: plugin toy_plugin.no_such_module failed to load"):
        DETECTORS.get("broken")


def test_toy_corruption_runs_through_corrupt_on_a_shared_clip(toy_plugin, tmp_path, clips_dir):
    import av

    clips = clips_dir
    manifest = tmp_path / "m.csv"
    pd.DataFrame([{"name": "car2", "label": 1, "split": "test", "path": str(clips / "car2.mp4")}]).to_csv(manifest, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["corrupt", "--type", "toy_invert", "--severity", "5", "--manifest", str(manifest), "--out", str(out)])
    assert res.exit_code == 0, (res.output, res.exception)
    written = out / "toy_invert-s5-seed0" / "car2.mp4"

    def first_frame(path):
        with av.open(str(path)) as c:
            return next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)

    src, dst = first_frame(clips / "car2.mp4"), first_frame(written)
    # inverted up to the H.264 re-encoding: far from the source, close to its negative
    assert np.abs(dst - (255 - src)).mean() < 6 < np.abs(dst - src).mean()


def test_list_shows_ablations_with_their_parent():
    res = CliRunner().invoke(cli, ["list", "detectors", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["robusta-pad"]["parent"] == "robusta" and rows["robusta-pad"]["options"] == {"align": "pad"}
    assert rows["robusta-average"]["options"] == {"fusion": "average"}
    assert rows["visual-only"]["parent"] == "hlnet" and "parent" not in rows["hlnet"]
    det = build_detector("robusta-pad", visual_dim=16, audio_dim=8)
    assert det.name == "robusta" and det.options["align"] == "pad"


def test_benchmark_suite_comes_from_the_registry_in_the_papers_order():
    from robusta_bench.corruptions.plan import AUDIO_TYPES, VISUAL_TYPES

    assert VISUAL_TYPES == ("bit_error", "brightness", "contrast", "fog", "rain", "motion_blur", "saturate", "shot_noise")
    assert AUDIO_TYPES == ("babble", "bitrate", "hf_channel", "pink_noise", "pitch_shift", "random_dropout", "reverb", "white_noise")


def test_registry_scans_its_packages_once_and_refuses_duplicates():
    reg: Registry[type] = Registry("thing", packages=("robusta_bench.corruptions.visual",))
    assert reg.names() == []  # the visual modules register into CORRUPTIONS, not here
    reg.register("a")(type("A", (), {}))
    with pytest.raises(ValueError, match="duplicate thing name 'a'"):
        reg.register("a")(type("B", (), {}))
    reg.register_ablation("a-x", "a", x=1)
    assert reg.resolve("a-x") == ("a", {"x": 1}) and reg.parent("a-x") == "a"
    with pytest.raises(RegistryError, match="did you mean a"):
        reg.get("aa")
