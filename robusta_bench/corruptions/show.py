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

from ..files import atomic_path
from .base import corruption_names, get_corruption
from .show_frames import frame_at_severities, panels_for  # noqa: F401  (frame_at_severities: public here as before)


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
