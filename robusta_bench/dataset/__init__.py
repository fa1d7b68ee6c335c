"""The dataset layer: XD-Violence names and lists, annotations, ground truth, indexing, synthetic data.

Main entry points::

    parse_name(name) -> XDName                 label / categories of an XD-Violence name
    split_of(name) -> "train" | "test" | "unknown"
    read_annotations(path) -> {name: [(s, e), ...]}
    frame_labels(video, annotations) -> np.ndarray   official frame-level ground truth
    index_videos(root, ...) -> DataFrame       the ``robusta-bench index`` manifest
    make_synthetic_dataset(out_dir, ...) -> Path   the ``robusta-bench synth`` dataset
    ucf_video_list() / ucf_frame_labels(...)   UCF-Crime lists and ground truth (zero-shot)
"""

from .annotations import read_annotations, write_annotations
from .ground_truth import SNIPPET_FRAMES, concat_frame_labels, frame_labels, n_segments, snippet_labels, snippet_labels_from_frames
from .index import COLUMNS, VIDEO_EXTENSIONS, find_videos, index_videos, read_manifest, summarize, write_manifest
from .names import CATEGORY_NAMES, VIOLENT_CODES, XDName, categories_of, label_of, make_name, parse_name, strip_video_ext
from .synthetic import make_synthetic_dataset
from .ucf_crime import parse_ucf_name, read_ucf_annotations, ucf_frame_labels, ucf_video_list, video_frame_labels
from .video_list import load_video_list, official_list_path, read_video_list, split_map, split_of

__all__ = [
    "CATEGORY_NAMES",
    "COLUMNS",
    "SNIPPET_FRAMES",
    "VIDEO_EXTENSIONS",
    "VIOLENT_CODES",
    "XDName",
    "categories_of",
    "concat_frame_labels",
    "find_videos",
    "frame_labels",
    "index_videos",
    "label_of",
    "load_video_list",
    "make_name",
    "make_synthetic_dataset",
    "n_segments",
    "official_list_path",
    "parse_name",
    "parse_ucf_name",
    "read_annotations",
    "read_ucf_annotations",
    "read_manifest",
    "read_video_list",
    "snippet_labels",
    "snippet_labels_from_frames",
    "split_map",
    "split_of",
    "strip_video_ext",
    "summarize",
    "ucf_frame_labels",
    "ucf_video_list",
    "video_frame_labels",
    "write_annotations",
    "write_manifest",
]
