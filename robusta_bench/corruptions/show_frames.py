"""Which frame ``show`` draws for each severity, by a stated rule.

Most corruptions damage every frame alike, so one frame index (``--frame``,
default 0) serves every severity. Bit errors are different: the damage lands
on random packets, so a fixed frame can be untouched at severity 5 and wrecked
at severity 2. For packet-level corruptions without an explicit ``--frame``,
each severity shows its *most damaged* frame among the first
:data:`SEARCH_FRAMES` (largest mean absolute difference to the clean frame),
and the title says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..seeding import corruption_seed
from .base import SEVERITIES, get_corruption

#: Frames searched for the most damaged one (10 s at 24 fps).
SEARCH_FRAMES = 240


@dataclass
class Panel:
    """One cell of the grid: the image, the frame it shows and how that frame was chosen."""

    image: np.ndarray
    frame: int
    rule: str = ""


def packet_panels(video: str | Path, corruption: str, seed: int = 0, search: int = SEARCH_FRAMES) -> list[Panel]:
    """Clean + severities 1..5 of a packet-level corruption, each at its most damaged frame.

    The clean panel shows the clean frame that severity 5 damaged most.
    """
    from ..media.decode import read_frames
    from .visual.bit_error import iter_damaged_frames

    video = Path(video)
    clean = read_frames(video, max_frames=search)
    panels = []
    for severity in SEVERITIES:
        item_seed = corruption_seed(video.stem, corruption, severity, seed)
        best, best_damage, best_img, seen = 0, -1.0, clean[0], 0
        for chunk in iter_damaged_frames(video, severity, item_seed, chunk_size=32):
            for img in chunk:
                if seen >= len(clean):
                    break
                damage = float(np.abs(img.astype(np.int16) - clean[seen].astype(np.int16)).mean())
                if damage > best_damage:
                    best, best_damage, best_img = seen, damage, img
                seen += 1
            if seen >= len(clean):
                break
        panels.append(Panel(best_img, best, f"most damaged of first {len(clean)}"))
    return [Panel(clean[panels[-1].frame], panels[-1].frame, "clean")] + panels


def panels_for(video: str | Path, corruption: str, frame: int | None, seed: int = 0) -> list[Panel]:
    """The six panels (clean, severities 1..5) of one grid row; ``frame=None`` applies the rule above."""
    if frame is None and get_corruption(corruption).packet_level:
        return packet_panels(video, corruption, seed=seed)
    at = 0 if frame is None else int(frame)
    return [Panel(img, at) for img in frame_at_severities(video, corruption, frame=at, seed=seed)]


def frame_at_severities(video: str | Path, corruption: str, frame: int = 0, seed: int = 0) -> list[np.ndarray]:
    """Frame ``frame`` of ``video`` clean and at severities 1..5 (six ``(H, W, 3)`` uint8 arrays).

    The item seed is ``corruption_seed(<file stem>, corruption, severity, seed)``.
    Raises ``IndexError`` when the video has fewer frames.
    """
    from ..media.decode import MediaError, read_frames

    video = Path(video)
    corr = get_corruption(corruption)
    if corr.modality != "visual":
        raise ValueError(f"{corruption} is not a visual corruption")
    frame = int(frame)
    if frame < 0:
        raise ValueError(f"frame must be >= 0, got {frame}")
    context = 0
    if corr.name == "motion_blur":
        context = max(lv["half_window_frames"] for lv in corr.levels)
    try:
        frames = read_frames(video, max_frames=frame + context + 1)
    except MediaError:
        raise
    if frame >= len(frames):
        raise IndexError(f"{video.name}: frame {frame} requested but the video has {len(frames)} frames")
    lo = max(0, frame - context)
    out = [frames[frame]]
    for severity in SEVERITIES:
        item_seed = corruption_seed(video.stem, corruption, severity, seed)
        if corr.packet_level:
            out.append(_damaged_frame(video, severity, item_seed, frame))
        elif context:
            # the window starts at the video start or has full left context, so the
            # blurred frame equals the whole-video result
            blurred = corr.apply(frames[lo:], severity, item_seed)
            out.append(blurred[frame - lo])
        else:
            out.append(corr.apply(frames[frame : frame + 1], severity, item_seed, start=frame)[0])
    return out


def _damaged_frame(video: Path, severity: int, item_seed: int, frame: int) -> np.ndarray:
    from .visual.bit_error import iter_damaged_frames

    seen = 0
    for chunk in iter_damaged_frames(video, severity, item_seed, chunk_size=32):
        if frame < seen + len(chunk):
            return chunk[frame - seen]
        seen += len(chunk)
    raise IndexError(f"{video.name}: frame {frame} not decodable after bit errors")
