"""Routing one video's produced items to the batchers: snippets cropped, windows queued, groups finished or failed."""

from __future__ import annotations

from typing import Iterable

from ..store.feature_store import Variant
from .batching import Batcher, VideoFeatures
from .groups import Group
from .protocol import Protocol, crop_clip
from .variants import VideoJob


def route_items(
    job: VideoJob,
    items: Iterable[tuple],
    groups: dict[tuple[str, Variant], Group],
    batchers: dict[str, Batcher],
    proto: Protocol,
    report: ExtractReport,
    on_done,
    on_error,
) -> None:
    """Route one video's items to the batchers; finish or fail its groups."""
    name = job.video.name
    accs: dict[tuple[str, Variant], VideoFeatures] = {}
    for e, v in job.groups():
        g = groups[(e, v)]
        n_crops = len(g.crops) if g.modality == "visual" else 1
        accs[(e, v)] = VideoFeatures(g, name, n_crops, batchers[e].dim)

    def end(kind_map: dict[Variant, list[str]], v: Variant, n: int, err: str | None) -> None:
        for e in kind_map.get(v, []):
            acc = accs[(e, v)]
            if err is not None:
                on_error(acc, err)
            else:
                acc.n_snippets = int(n)
                if acc.complete:
                    on_done(acc)

    ended = False
    for item in items:
        kind = item[0]
        if kind == "visual":
            _, v, index, snippet = item
            for e in job.visual.get(v, []):
                acc = accs[(e, v)]
                if acc.error is not None:
                    continue
                b = batchers[e]
                for c, crop in enumerate(groups[(e, v)].crops):
                    b.add(crop_clip(snippet, crop, proto.crop_size), acc, index, c)
        elif kind == "audio":
            _, v, start, windows = item
            for e in job.audio.get(v, []):
                acc = accs[(e, v)]
                b = batchers[e]
                for j in range(len(windows)):
                    b.add(windows[j], acc, start + j, 0)
        elif kind == "visual_end":
            end(job.visual, item[1], item[2], item[3])
        elif kind == "audio_end":
            end(job.audio, item[1], item[2], item[3])
        elif kind == "video_end":
            _, _n, err, timings = item
            for k, sec in timings.items():
                report.timings[k] = report.timings.get(k, 0.0) + sec
            if err is not None:
                for acc in accs.values():
                    on_error(acc, err)
            ended = True
        elif kind == "crash":
            for acc in accs.values():
                on_error(acc, f"internal error: {item[1]}")
            ended = True
    for acc in accs.values():
        if acc.n_snippets is None and acc.error is None and not acc.finished:
            on_error(acc, "decoder stopped before the end of the video" if not ended else "no features produced")
