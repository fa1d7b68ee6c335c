"""``show``: a picture of what each severity does.

Visual corruptions: one frame of a video at severities 0 (clean) to 5, one row
per corruption, rendered with matplotlib. The corrupted frame is exactly the
one ``corrupt`` would write for a video of that name (same item seed, same
frame index, temporal context for motion blur, the damaged stream for bit
error). Audio corruptions are drawn by the audio suite's spectrogram grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..files import atomic_path
from ..seeding import corruption_seed
from .base import SEVERITIES, corruption_names, get_corruption


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


def visual_grid(
    video: str | Path, types: Sequence[str], out_png: str | Path, *, frame: int | None = None, seed: int = 0
) -> Path:
    """Save a grid (rows: ``types``, columns: severity 0..5) of frame ``frame`` to ``out_png``.

    ``frame=None``: frame 0, except for packet-level corruptions (bit error), which
    show each severity's most damaged frame (:mod:`.show_frames`); every cell's
    title names its frame and the rule.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..progress import progress_bar, progress_enabled
    from .show_frames import panels_for

    bar = progress_bar(list(types), desc="show", unit="corruption", disable=not progress_enabled())
    rows = [(t, panels_for(video, t, frame, seed=seed)) for t in bar]
    h, w = rows[0][1][0].image.shape[:2]
    cell_w = 2.4
    cell_h = max(0.6, cell_w * h / w)
    fig, axes = plt.subplots(
        len(rows), 6, figsize=(cell_w * 6 + 1.2, cell_h * len(rows) + 0.8), squeeze=False
    )
    for r, (name, panels) in enumerate(rows):
        for c, panel in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(panel.image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            head = "clean" if c == 0 else f"severity {c}"
            rule = f" ({panel.rule})" if panel.rule and c > 0 else ""
            ax.set_title(f"{head}\nframe {panel.frame}{rule}", fontsize=7 if rule else 9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    which = f"frame {frame}" if frame is not None else "frame 0 (bit error: each severity's most damaged frame)"
    fig.suptitle(f"{Path(video).name}  {which}  seed {seed}", fontsize=10)
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out_png


def show_grid(
    video: str | Path, types: str | Sequence[str], out_png: str | Path, *, frame: int | None = None, seed: int = 0
) -> Path:
    """Dispatch: visual types -> :func:`visual_grid`; audio types -> the audio suite's spectrogram grid.

    ``types`` is a list or a string: ``all``/``visual`` (all visual), ``audio``
    (all audio), or comma-separated names of ONE modality.
    """
    if isinstance(types, str):
        if types in ("all", "visual"):
            names = corruption_names("visual")
        elif types == "audio":
            names = corruption_names("audio")
            if not names:
                raise ValueError("no audio corruptions are installed")
        else:
            names = [t.strip() for t in types.split(",") if t.strip()]
    else:
        names = list(types)
    if not names:
        raise ValueError("no corruption type given")
    modalities = {get_corruption(n).modality for n in names}
    if len(modalities) > 1:
        raise ValueError("show one modality at a time (visual frames or audio spectrograms)")
    if modalities == {"audio"}:
        try:
            from .audio.show import spectrogram_grid
        except ImportError as exc:
            raise RuntimeError("audio corruption support not installed (robusta_bench.corruptions.audio.show)") from exc
        return Path(spectrogram_grid(video, names, out_png, seed=seed))
    return visual_grid(video, names, out_png, frame=frame, seed=seed)
