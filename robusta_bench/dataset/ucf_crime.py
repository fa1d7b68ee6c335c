"""UCF-Crime (Sultani et al., CVPR 2018) as a second dataset: names, official lists, annotations, ground truth.

UCF-Crime is visual only (no audio track is used) and runs at 30 fps. Its
names are ``<Class><NNN>_x264`` for the 13 anomaly classes and
``Normal_Videos<NNN>_x264`` (train) / ``Normal_Videos_<NNN>_x264`` (test) for
normal videos; the class, and so the binary label, comes from the name.

Shipped official files (``manifests/ucf_crime/``, provenance in its README):

- ``Anomaly_Train.txt``: the 1,610 training videos (``Class/<video>.mp4``);
- ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``: the 290 test videos,
  ``<video>.mp4  <Class>  s1  e1  s2  e2`` with **inclusive** frame numbers at
  the native 30 fps and ``-1`` for no event;
- ``rtfm_ucf-i3d-test.list``: RTFM's test list, whose order is the order in
  which the official evaluation concatenates videos (``list_index``).

Frame ground truth on the protocol's frames (mapped **by time**). The feature
protocol resamples every video to 24 fps by nearest timestamp
(:func:`robusta_bench.media.decode.iter_frames`: output frame ``k`` at time
``k / 24`` is the source frame nearest to it, an exact tie going to the later
one), cuts 16-frame snippets and scores ``T = floor((N24 - 1) / 16)`` of them.
Each protocol frame takes the label of the source frame it was decoded from
(:func:`source_frame_index`): 1 when that 30 fps frame number lies in an
annotated ``[s, e]``. A snippet is thus labelled frame by frame over the 16
protocol frames it covers (about 0.667 s, 20 source frames); the pooled metric
repeats the snippet's score over those 16 frames. At the native rate
(``fps = 30``) the mapping is the identity and the labels are exactly the
official ``make_gt_ucf.py`` construction (:func:`official_frame_gt`), which
the tests check.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..files import atomic_write_text
from ..paths import manifests_dir
from .annotations import parse_named_lines
from .ground_truth import SNIPPET_FRAMES, n_segments
from .names import strip_video_ext

#: The 13 anomaly classes, in the annotation file's order.
ANOMALY_CLASSES: tuple[str, ...] = (
    "Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting",
    "RoadAccidents", "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism",
)
NORMAL = "Normal"
NATIVE_FPS = 30.0
PROTOCOL_FPS = 24.0
LIST_DIR = "ucf_crime"
TRAIN_LIST = "Anomaly_Train.txt"
TEST_ANNOTATIONS = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
TEST_ORDER = "rtfm_ucf-i3d-test.list"

_NAME_RE = re.compile(r"^(?P<cls>Normal_Videos_?|" + "|".join(ANOMALY_CLASSES) + r")(?P<num>\d+)_x264$")

#: An annotated event: first and last anomalous frame (inclusive), native frame numbers.
Event = tuple[int, int]


@dataclass(frozen=True)
class UCFName:
    """A parsed UCF-Crime name."""

    name: str
    cls: str
    """One of :data:`ANOMALY_CLASSES` or ``"Normal"``."""
    number: int

    @property
    def label(self) -> int:
        """1 for the anomaly classes, 0 for normal videos."""
        return 0 if self.cls == NORMAL else 1


def parse_ucf_name(name: str) -> UCFName:
    """Parse ``Abuse028_x264[.mp4]`` / ``Normal_Videos_003_x264``; ``ValueError`` naming the input otherwise."""
    clean = strip_video_ext(Path(name.replace("\\", "/")).name)
    m = _NAME_RE.match(clean)
    if m is None:
        raise ValueError(f"not a UCF-Crime name (<Class><NNN>_x264 or Normal_Videos[_]<NNN>_x264): {name!r}")
    cls = NORMAL if m["cls"].startswith("Normal") else m["cls"]
    return UCFName(name=clean, cls=cls, number=int(m["num"]))


def try_parse_ucf_name(name: str) -> UCFName | None:
    """:func:`parse_ucf_name`, or None."""
    try:
        return parse_ucf_name(name)
    except ValueError:
        return None


# ------------------------------------------------------------------ annotations
@dataclass(frozen=True)
class UCFAnnotation:
    """One test video's line: its class and its (at most two) inclusive events."""

    cls: str
    events: tuple[Event, ...]


def parse_ucf_annotation_line(line: str) -> tuple[str, UCFAnnotation]:
    """``"Abuse028_x264.mp4  Abuse  165  240  -1  -1"`` -> ``("Abuse028_x264", UCFAnnotation("Abuse", ((165, 240),)))``."""
    parts = line.split()
    if len(parts) < 2 or (len(parts) - 2) % 2:
        raise ValueError(f"expected '<video> <Class> s1 e1 [s2 e2 ...]', got {line.strip()!r}")
    name = strip_video_ext(parts[0])
    cls = parts[1]
    if cls != NORMAL and cls not in ANOMALY_CLASSES:
        raise ValueError(f"{name}: unknown class {cls!r}")
    try:
        nums = [int(p) for p in parts[2:]]
    except ValueError as exc:
        raise ValueError(f"{name}: non-integer frame number ({exc})") from None
    events = []
    for s, e in zip(nums[0::2], nums[1::2]):
        if s == -1 and e == -1:
            continue
        if s < 0 or e < s:
            raise ValueError(f"{name}: bad event [{s}, {e}] (need 0 <= s <= e, or -1 -1)")
        events.append((s, e))
    if cls == NORMAL and events:
        raise ValueError(f"{name}: a Normal video with events")
    return name, UCFAnnotation(cls, tuple(events))


def parse_ucf_annotations(lines: Iterable[str], source: str = "<annotations>") -> dict[str, UCFAnnotation]:
    """``{name: UCFAnnotation}`` in file order; ``ValueError`` with source and line number for a bad line."""
    return parse_named_lines(lines, parse_ucf_annotation_line, source)


def read_ucf_annotations(path: str | os.PathLike | None = None) -> dict[str, UCFAnnotation]:
    """Read a UCF-Crime temporal annotation file (default: the shipped official one)."""
    p = Path(path) if path is not None else manifests_dir() / LIST_DIR / TEST_ANNOTATIONS
    with open(p, encoding="utf-8") as fh:
        return parse_ucf_annotations(fh, source=str(p))


def format_ucf_annotations(annotations: Mapping[str, UCFAnnotation]) -> str:
    """The official text form: ``<video>.mp4  <Class>  s1  e1  s2  e2  `` (two events, ``-1`` padded)."""
    lines = []
    for name, ann in annotations.items():
        if len(ann.events) > 2:
            raise ValueError(f"{name}: the UCF-Crime format holds at most two events, got {len(ann.events)}")
        nums = [v for ev in ann.events for v in ev] + [-1] * (4 - 2 * len(ann.events))
        lines.append("  ".join([f"{name}.mp4", ann.cls, *map(str, nums)]) + "  ")
    return "\n".join(lines) + ("\n" if lines else "")


def write_ucf_annotations(path: str | os.PathLike, annotations: Mapping[str, UCFAnnotation]) -> Path:
    """Write annotations in the official format (atomically); returns the path."""
    atomic_write_text(path, format_ucf_annotations(annotations))
    return Path(path)


def is_ucf_annotation_file(path: str | os.PathLike) -> bool:
    """True when the first non-empty line reads as a UCF-Crime annotation (class token second)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                parts = line.split()
                return len(parts) >= 2 and (parts[1] == NORMAL or parts[1] in ANOMALY_CLASSES)
    return False


# ------------------------------------------------------------------------ lists
def read_test_order(path: str | os.PathLike | None = None) -> list[str]:
    """Test video names in RTFM's list order (Windows paths and the ``_i3d.npy`` suffix removed)."""
    p = Path(path) if path is not None else manifests_dir() / LIST_DIR / TEST_ORDER
    names = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            base = line.replace("\\", "/").rsplit("/", 1)[-1]
            names.append(re.sub(r"(_i3d)?\.npy$", "", base))
    return names


def read_train_list(path: str | os.PathLike | None = None) -> list[str]:
    """Training video names in the official list's order."""
    p = Path(path) if path is not None else manifests_dir() / LIST_DIR / TRAIN_LIST
    return [strip_video_ext(line.strip().rsplit("/", 1)[-1]) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def ucf_video_list(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The UCF-Crime video list (``name, split, label, categories, list_index``) from the official files.

    ``folder`` holds the three files (default ``manifests/ucf_crime/``).
    Train rows follow ``Anomaly_Train.txt``; test rows follow RTFM's order
    (the order of the official concatenation), every one of them annotated.
    """
    d = Path(folder) if folder is not None else manifests_dir() / LIST_DIR
    ann = read_ucf_annotations(d / TEST_ANNOTATIONS)
    test = read_test_order(d / TEST_ORDER)
    if set(test) != set(ann):
        raise ValueError(f"{d}: the test list and the annotation file name different videos")
    rows = []
    for split, names in (("train", read_train_list(d / TRAIN_LIST)), ("test", test)):
        for i, name in enumerate(names):
            parsed = parse_ucf_name(name)
            rows.append({"name": parsed.name, "split": split, "label": parsed.label, "categories": [parsed.cls], "list_index": i})
    return pd.DataFrame(rows, columns=["name", "split", "label", "categories", "list_index"])


# ----------------------------------------------------------------- ground truth
def official_frame_gt(n_snippets: int, events: Sequence[Event]) -> np.ndarray:
    """RTFM's ``make_gt_ucf.py`` for one video: ``16 * n_snippets`` frames, events ``s..e`` inclusive set to 1.

    Annotation numbers are used directly as 0-based indices; an event with
    ``e + 1 > num_frame`` is written as ``s..e-1`` (clipped to the video).
    """
    num_frame = SNIPPET_FRAMES * int(n_snippets)
    gt = np.zeros(num_frame, dtype=np.float64)
    for s, e in events:
        gt[s : (e if e + 1 > num_frame else e + 1)] = 1.0
    return gt


def _ratio(src_fps: float, fps: float) -> Fraction:
    return Fraction(src_fps).limit_denominator(1001) / Fraction(fps).limit_denominator(1001)


def source_frame_index(k: np.ndarray | int, fps: float = PROTOCOL_FPS, src_fps: float = NATIVE_FPS) -> np.ndarray:
    """The source frame that output frame ``k`` (time ``k / fps``) is decoded from: nearest in time, ties later.

    Exact rational arithmetic: ``floor(k * src_fps / fps + 1/2)``.
    """
    r = _ratio(src_fps, fps)
    k = np.asarray(k, dtype=np.int64)
    return (2 * k * r.numerator + r.denominator) // (2 * r.denominator)


def resampled_frame_count(n_src: int, src_fps: float = NATIVE_FPS, fps: float = PROTOCOL_FPS) -> int:
    """Frames the protocol decodes from ``n_src`` source frames: those with ``k / fps < n_src / src_fps``."""
    r = _ratio(src_fps, fps)  # k < n_src / r  <=>  k * r.num < n_src * r.den
    return int(-(-int(n_src) * r.denominator // r.numerator))


def native_frame_labels(n_frames: int, events: Sequence[Event]) -> np.ndarray:
    """0/1 per native frame: 1 inside an inclusive event ``[s, e]`` (clipped to the video)."""
    gt = np.zeros(int(n_frames), dtype=np.float32)
    for s, e in events:
        gt[max(0, s) : max(0, e + 1)] = 1.0
    return gt


def ucf_frame_labels(
    n_src_frames: int, events: Sequence[Event], fps: float = PROTOCOL_FPS, src_fps: float = NATIVE_FPS
) -> np.ndarray:
    """Frame ground truth on the protocol's frames: length ``16 * T``, ``T = floor((N_fps - 1) / 16)``.

    Protocol frame ``k`` carries the label of source frame
    :func:`source_frame_index` ``(k)`` (mapping by time, see the module docstring).
    """
    n_out = resampled_frame_count(n_src_frames, src_fps, fps)
    t = n_segments(n_out)
    native = native_frame_labels(n_src_frames, events)
    idx = np.minimum(source_frame_index(np.arange(SNIPPET_FRAMES * t), fps, src_fps), max(n_src_frames - 1, 0))
    return native[idx] if len(native) else np.zeros(0, dtype=np.float32)


def video_frame_labels(
    row: Mapping, annotations: Mapping[str, UCFAnnotation], fps: float = PROTOCOL_FPS
) -> np.ndarray:
    """:func:`ucf_frame_labels` of a manifest row (``name``, ``frames``, ``fps``: the file's own count and rate).

    Normal videos are all zeros; an anomalous video without an annotation line
    (a training video) raises ``ValueError`` naming it.
    """
    name = strip_video_ext(str(row["name"]))
    parsed = parse_ucf_name(name)
    if name in annotations:
        events = annotations[name].events
    elif parsed.label == 0:
        events = ()
    else:
        raise ValueError(f"{name}: anomalous video without an annotation line; its frame labels are unknown")
    src_fps = float(row.get("fps") or NATIVE_FPS)
    return ucf_frame_labels(int(row["frames"]), events, fps=fps, src_fps=src_fps)


def ucf_n_segments(n_src_frames: int, src_fps: float = NATIVE_FPS, fps: float = PROTOCOL_FPS) -> int:
    """Snippets the protocol scores for a video of ``n_src_frames`` frames at ``src_fps``."""
    return n_segments(resampled_frame_count(n_src_frames, src_fps, fps))


def index_fields(name: str, info: Mapping, listed: bool) -> dict:
    """Manifest fields of a UCF-Crime file (empty for other names): label and class from the name
    (unless the split list gave them) and ``n_segments`` on the protocol's 24 fps frames."""
    parsed = try_parse_ucf_name(name)
    if parsed is None:
        return {}
    out = {} if listed else {"label": parsed.label, "categories": [parsed.cls]}
    if info.get("frames") is not None and info.get("fps"):
        out["n_segments"] = ucf_n_segments(int(info["frames"]), float(info["fps"]))
    return out
