"""Speed of the audio corruptions: seconds of audio processed per second, on a real clip track.

Usage (from the repository root)::

    .venv/bin/python benchmarks/corruptions_audio.py [CLIP] [--repeats R] [--no-write]

CLIP defaults to the shared fighting2.mp4 (48 kHz, 6 channels, ~11.5 s).
Every corruption is applied at severities 1-5 to the whole decoded track
(``repeats`` times each, best time kept, after one untimed warm-up call on a
short excerpt that pays imports and caches); the table gives, per corruption,
the mean wall time per call and the track's duration divided by it. Writes
``benchmarks/results/corruptions_audio.md`` (with the command) unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "xd-violence" / "clips" / "fighting2.mp4"
RESULTS = ROOT / "benchmarks" / "results" / "corruptions_audio.md"


def run(clip_path: str | Path, *, repeats: int = 1, severities: tuple[int, ...] = (1, 2, 3, 4, 5)) -> list[dict]:
    """Time every audio corruption on ``clip_path``'s audio track.

    Returns one row per corruption: ``name``, ``channels``, ``rate``,
    ``audio_s`` (track duration), ``ms_per_call`` (mean over ``severities`` of
    the best of ``repeats`` calls) and ``audio_s_per_s`` (audio seconds processed
    per wall second).
    """
    from robusta_bench.corruptions import corruption_names, get_corruption
    from robusta_bench.media.decode import read_audio
    from robusta_bench.seeding import corruption_seed

    clip_path = Path(clip_path)
    samples, rate = read_audio(clip_path)
    channels, n = samples.shape
    duration = n / rate
    rows = []
    for name in corruption_names("audio"):
        corruption = get_corruption(name)
        corruption.apply(samples[:, : min(n, rate // 2)], 1, 0, rate=rate)  # warm-up
        per_call = []
        for severity in severities:
            seed = corruption_seed(clip_path.name, name, severity, 0)
            best = float("inf")
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                corruption.apply(samples, severity, seed, rate=rate)
                best = min(best, time.perf_counter() - t0)
            per_call.append(best)
        mean_s = sum(per_call) / len(per_call)
        rows.append(
            {
                "name": name,
                "channels": channels,
                "rate": rate,
                "audio_s": round(duration, 3),
                "ms_per_call": round(1000.0 * mean_s, 1),
                "audio_s_per_s": round(duration / mean_s, 1),
            }
        )
    return rows


def to_markdown(rows: list[dict], clip: Path, command: str) -> str:
    """The result table as a Markdown document."""
    lines = [
        "# Audio corruption speed",
        "",
        f"Clip: `{clip.name}` ({rows[0]['rate']} Hz, {rows[0]['channels']} channels, {rows[0]['audio_s']} s), "
        "whole track per call, mean over severities 1-5 (best of the repeats).",
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        "single process, shared CPU (numbers are indicative).",
        "",
        f"Command: `{command}`",
        "",
        "| corruption | ms per call | audio s per s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['name']} | {r['ms_per_call']} | {r['audio_s_per_s']} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP), help="video or audio file to read the track from")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per severity (best kept)")
    parser.add_argument("--no-write", action="store_true", help=f"only print; do not write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    clip = Path(args.clip)
    if not clip.exists():
        parser.error(f"clip not found: {clip}")
    rows = run(clip, repeats=args.repeats)
    command = "python benchmarks/corruptions_audio.py" + ("" if args.clip == str(DEFAULT_CLIP) else f" {clip}")
    if args.repeats != 1:
        command += f" --repeats {args.repeats}"
    text = to_markdown(rows, clip, command)
    print(text)
    if not args.no_write:
        from robusta_bench.files import atomic_write_text

        atomic_write_text(RESULTS, text)
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
