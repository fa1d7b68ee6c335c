"""What an extraction run did: :class:`ExtractReport` (written, skipped, failed by video name, speed, precision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ExtractReport:
    """What an extraction run did.

    ``failures`` maps a video name to ``{"extractor/variant": error}``;
    ``written`` counts the videos written per group; ``skipped`` the
    (video, group) pairs already in the store; ``snippets`` the feature rows
    written (one per snippet and group, crops not counted) and ``clips`` the
    model inputs (crops counted); ``timings`` the seconds per stage
    (``decode``, ``corrupt``, ``resize``, ``audio``, ``model`` ...), summed over
    workers, and ``seconds`` the wall-clock time.
    """

    store: Path
    groups: list[str] = field(default_factory=list)
    videos: int = 0
    written: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    snippets: int = 0
    clips: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    precision: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    precision_checks: dict[str, str] = field(default_factory=dict)
    elsewhere: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no video failed."""
        return not self.failures

    @property
    def snippets_per_s(self) -> float:
        return self.snippets / self.seconds if self.seconds > 0 else 0.0

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0

    def add_failure(self, name: str, group: str, error: str) -> None:
        self.failures.setdefault(name, {})[group] = error

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.store),
            "groups": list(self.groups),
            "videos": self.videos,
            "written": dict(self.written),
            "skipped": self.skipped,
            "failures": {k: dict(v) for k, v in self.failures.items()},
            "snippets": self.snippets,
            "clips": self.clips,
            "seconds": round(self.seconds, 3),
            "snippets_per_s": round(self.snippets_per_s, 3),
            "clips_per_s": round(self.clips_per_s, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "precision": dict(self.precision),
            "precision_checks": dict(self.precision_checks),
            "elsewhere": {k: dict(v) for k, v in self.elsewhere.items()},
        }

    def summary(self) -> str:
        """A short human-readable summary (failures listed by video name)."""
        lines = [
            f"store {self.store}: {len(self.groups)} group(s), {self.videos} video(s)",
            f"written {sum(self.written.values())} video-group(s), skipped {self.skipped} already stored, "
            f"failed {sum(len(v) for v in self.failures.values())}",
            f"{self.snippets} snippets ({self.clips} model clips) in {self.seconds:.1f} s: "
            f"{self.snippets_per_s:.2f} snippets/s, {self.clips_per_s:.2f} clips/s",
        ]
        if self.timings:
            total = sum(self.timings.values()) or 1.0
            parts = ", ".join(f"{k} {v:.1f}s ({100 * v / total:.0f}%)" for k, v in sorted(self.timings.items()))
            lines.append(f"time by stage (summed over threads): {parts}")
        if self.elsewhere:
            lines.append(f"left to other writers: {sum(len(v) for v in self.elsewhere.values())} video-group(s) "
                         f"of {len(self.elsewhere)} video(s) (committed or claimed by a concurrent run)")
        for ext, check in self.precision_checks.items():
            lines.append(f"precision check {ext}: {check}")
        lines.extend(self.notes)
        for name in sorted(self.failures):
            for group, err in sorted(self.failures[name].items()):
                lines.append(f"FAILED {name} [{group}]: {err}")
        return "\n".join(lines)
