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
    from .show import frame_at_severities

    if frame is None and get_corruption(corruption).packet_level:
        return packet_panels(video, corruption, seed=seed)
    at = 0 if frame is None else int(frame)
    return [Panel(img, at) for img in frame_at_severities(video, corruption, frame=at, seed=seed)]
