"""Names and order of the official XD-Violence feature layout (see :mod:`.xdviolence`).

The export record's file name, the list files by modality and split, the
visual file pattern, the labelling rule (``_label_A`` means normal) and the
official list order; shared by export (:mod:`.xdviolence`) and import
(:mod:`.xdviolence_import`).
"""

from __future__ import annotations

import re
from typing import Iterable

EXPORT_FILE = "robusta_export.json"
NORMAL_FLAG = "_label_A"
LIST_FILES = {
    ("visual", "train"): "rgb.list",
    ("visual", "test"): "rgb_test.list",
    ("audio", "train"): "audio.list",
    ("audio", "test"): "audio_test.list",
}
#: ``<name>__<crop>.npy``: one crop of a video's visual features
VISUAL_FILE_RE = re.compile(r"^(?P<name>.+)__(?P<crop>\d+)\.npy$")


def is_violent(name: str) -> bool:
    """The official labelling rule: ``_label_A`` in the name means normal."""
    return NORMAL_FLAG not in name


def official_order(names: Iterable[str]) -> list[str]:
    """Names in the official list order: violent first, then normal, each sorted by file name."""
    names = list(dict.fromkeys(names))
    key = lambda n: f"{n}__0.npy"  # noqa: E731  (the official script sorts the file paths)
    return sorted((n for n in names if is_violent(n)), key=key) + sorted((n for n in names if not is_violent(n)), key=key)
