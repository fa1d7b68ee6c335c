"""Speed of the visual corruptions: numpy and torch paths against a per-frame reference.

    .venv/bin/python benchmarks/corruptions.py [CLIP] [--frames N] [--repeat R] [--severity S] [--gpu]

CLIP defaults to the shared XD-Violence clip ``explosion1.mp4`` (640x360). The
reference formulations below are written the way the reference code of Yi et
al. / ImageNet-C works: one frame at a time, float64 numpy, skimage
``rgb2hsv``/``hsv2rgb`` for brightness and saturate, ``Generator.poisson`` for
shot noise, ``cv2.line`` streaks for rain, the fog fractal regenerated for
every frame (ImageNet-C style), the temporal blur as a sum per output frame.

Everything runs in ONE process on ONE core (``cv2.setNumThreads(1)``,
``torch.set_num_threads(1)``) on the same decoded frames and is timed in CPU
seconds of the process, so frames/s are per CPU core even on a machine shared
with other jobs (the table also says what share of a core the process got). For each corruption the table gives the numpy path, the torch path on
CPU tensors, the reference, the speed ratios, the max abs difference to the
reference (random corruptions: where the same draws are used), and how many
CPU cores would keep one GPU fed at ``--snippets-per-s`` (default 2,000
five-crop snippets/s = 32,000 frames/s; corruption alone, decode and resize not
counted). With ``--gpu`` and a CUDA device, the torch path is also timed on the
GPU (frames already on the device, synchronised). Timings are the best of
``--repeat`` runs. A second table times the numpy path at every severity.
Then, if ``benchmarks/corruptions_audio.py`` exists, its ``run()`` table is
printed. Everything is written to ``benchmarks/results/corruptions.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("ROBUSTA_SHARED", ROOT.parent / "shared"))
DEFAULT_CLIP = SHARED / "data" / "xd-violence" / "clips" / "explosion1.mp4"
AUDIO_CLIP = DEFAULT_CLIP.with_name("fighting2.mp4")


from corruptions_reference import (  # noqa: E402  (benchmarks/ is the script's folder)
    ref_brightness,
    ref_contrast,
    ref_fog,
    ref_motion_blur,
    ref_rain,
    ref_saturate,
    ref_shot_noise,
)

# ---------------------------------------------------------------------------


#: wall and CPU seconds of every timed CPU run (their ratio shows how contended the machine was)
CLOCKS = {"wall": 0.0, "cpu": 0.0}


def best_time(fn, repeat, sync=None):
    """Best of ``repeat`` runs: CPU seconds of this process (single-threaded work, so core-seconds), or
    wall seconds when ``sync`` is given (device work). CPU time makes frames/s *per core* meaningful on a
    machine shared with other jobs, where wall time also counts the time other processes held the core."""
    best, result = float("inf"), None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        if sync is not None:
            sync()
            best = min(best, time.perf_counter() - w)
            continue
        c, w = time.process_time() - c, time.perf_counter() - w
        CLOCKS["wall"] += w
        CLOCKS["cpu"] += c
        best = min(best, c)
    return best, result


HSV = ("brightness", "saturate")
RANDOM = ("shot_noise", "rain")


def targets(name: str, fps: float, ratio: float) -> str:
    """The issue's targets: >= 400 f/s per core (random: 200), >= 3x the reference (HSV: 20x)."""
    if "(" in name:
        return "n/a (informational row)"
    need_fps = 200 if name.startswith(RANDOM) else 400
    need_ratio = 20 if name in HSV else 3
    missed = [f"{fps:.0f} < {need_fps} f/s" for _ in [0] if fps < need_fps]
    missed += [f"{ratio:.1f}x < {need_ratio}x" for _ in [0] if ratio < need_ratio]
    return "met" if not missed else "MISSED: " + ", ".join(missed)


def bench_visual(clip: Path, n_frames: int, repeat: int, severity: int, frames_per_s_needed: float, gpu: bool) -> list[dict]:
    import torch

    from robusta_bench.corruptions import get_corruption
    from robusta_bench.corruptions.visual import device as D
    from robusta_bench.corruptions.visual import functional as F
    from robusta_bench.media.decode import read_frames
    from robusta_bench.seeding import rng_for

    frames = read_frames(clip, max_frames=n_frames)
    frames_t = torch.from_numpy(frames)
    cuda = gpu and torch.cuda.is_available()
    frames_d = frames_t.to("cuda") if cuda else None
    n = len(frames)
    seed = 1234
    chunks = [frames[i : i + 64] for i in range(0, n, 64)]
    rows = []

    def torch_run(name, batch):
        if name == "motion_blur":  # chunked, like the numpy side
            return torch.cat(list(D.torch_stream(name, [batch[i : i + 64] for i in range(0, n, 64)], severity, seed)))
        return D.apply_torch(name, batch, severity, seed)

    def add(name, ours_fn, ref_fn, note="", compare=True, label=None):
        label = label or name
        # warm-up: per-process tables and the per-video fog layer are made once, not per frame
        ours_fn()
        torch_run(name, frames_t[:2])
        t_np, a = best_time(ours_fn, repeat)
        t_th, _ = best_time(lambda: torch_run(name, frames_t), repeat)
        t_ref, b = best_time(ref_fn, repeat)
        t_dev = None
        if cuda:
            torch_run(name, frames_d)  # warm-up: tables to the device, kernels compiled
            t_dev, _ = best_time(lambda: torch_run(name, frames_d), repeat, sync=torch.cuda.synchronize)
        diff = int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) if compare else None
        row = {"corruption": label, "frames": n, "numpy_fps": n / t_np, "torch_cpu_fps": n / t_th, "ref_fps": n / t_ref,
               "ratio": t_ref / t_np, "torch_ratio": t_ref / t_th, "max_abs_diff": diff,
               "cores_numpy": frames_per_s_needed / (n / t_np), "cores_torch": frames_per_s_needed / (n / t_th),
               "device_fps": None if t_dev is None else n / t_dev, "target": targets(label, n / t_np, t_ref / t_np),
               "note": note}
        rows.append(row)
        dev = "" if t_dev is None else f"  gpu {n / t_dev:9.0f} f/s"
        print(f"{label:<24} numpy {n / t_np:7.1f} f/s  torch-cpu {n / t_th:7.1f} f/s  ref {n / t_ref:6.1f} f/s  "
              f"x{t_ref / t_np:5.1f}  max|diff| {diff}  cores/GPU {row['cores_numpy']:6.1f}{dev}  {row['target']}", flush=True)

    def corr(name):
        return get_corruption(name), get_corruption(name).params(severity)

    c, p = corr("brightness")
    add("brightness", lambda: c.apply(frames, severity, seed), lambda: ref_brightness(frames, p["hsv_value_delta"]))
    c2, p2 = corr("saturate")
    add("saturate", lambda: c2.apply(frames, severity, seed),
        lambda: ref_saturate(frames, p2["saturation_scale"], p2["saturation_shift"]))
    c3, p3 = corr("contrast")
    add("contrast", lambda: c3.apply(frames, severity, seed), lambda: ref_contrast(frames, p3["contrast_scale"]))
    c4, p4 = corr("fog")
    F.fog_layer.cache_clear()
    t_layer, _ = best_time(lambda: F.fog_layer(*frames.shape[1:3], float(p4["fog_strength"]), float(p4["wibble_decay"]), seed), 1)
    fog_note = f"+ {1000 * t_layer:.0f} ms once per video for the fractal"
    add("fog", lambda: c4.apply(frames, severity, seed),
        lambda: ref_fog(frames, p4["fog_strength"], p4["wibble_decay"], seed, per_frame=True),
        "ref regenerates the fractal per frame (ImageNet-C); " + fog_note)
    add("fog", lambda: (F.fog_layer.cache_clear(), c4.apply(frames, severity, seed))[1],
        lambda: ref_fog(frames, p4["fog_strength"], p4["wibble_decay"], seed, per_frame=False),
        f"both make the fractal once per {n} frames (Yi et al.'s per-clip fractal)", label="fog (ref: once per clip)")
    c5, p5 = corr("motion_blur")
    add("motion_blur", lambda: np.concatenate(list(c5.stream(chunks, severity, seed))),
        lambda: ref_motion_blur(frames, p5["half_window_frames"]), "chunked via stream()")
    c6, p6 = corr("shot_noise")
    add("shot_noise", lambda: c6.apply(frames, severity, seed),
        lambda: ref_shot_noise(frames, p6["photons_at_white"], [rng_for(seed, "shot_noise-frame", i) for i in range(n)]),
        "same law, other random stream (inverse CDF vs Generator.poisson): diff n/a", compare=False)
    c7, p7 = corr("rain")
    add("rain", lambda: c7.apply(frames, severity, seed), lambda: ref_rain(frames, p7, seed),
        "same drops; ref rasterises with cv2.line")
    return rows


def bench_severities(clip: Path, n_frames: int, repeat: int) -> list[dict]:
    """The numpy path at every severity (frames/s per core)."""
    from robusta_bench.corruptions import get_corruption
    from robusta_bench.media.decode import read_frames

    frames = read_frames(clip, max_frames=n_frames)
    n = len(frames)
    out = []
    for name in ("brightness", "saturate", "contrast", "fog", "motion_blur", "shot_noise", "rain"):
        c = get_corruption(name)
        row = {"corruption": name}
        for s in range(1, 6):
            c.apply(frames[:2], s, 1)  # warm-up: per-severity tables and the fog layer are made once
            if name == "motion_blur":
                t, _ = best_time(lambda: list(c.stream([frames[i : i + 64] for i in range(0, n, 64)], s, 1)), repeat)
            else:
                t, _ = best_time(lambda: c.apply(frames, s, 1), repeat)
            row[f"s{s}"] = n / t
        out.append(row)
        print(f"{name:<12} " + "  ".join(f"s{s} {row[f's{s}']:7.1f}" for s in range(1, 6)) + "  (numpy f/s)", flush=True)
    return out


def bench_bit_error(clip: Path, severity: int, repeat: int) -> dict:
    """Damage + remux of the whole clip, ours vs FFmpeg's noise bsf through PyAV (outputs differ by design)."""
    import tempfile

    import av
    from av.bitstream import BitStreamFilterContext

    from robusta_bench.corruptions.visual.bit_error import BitError, corrupt_file

    n_per = BitError.params(severity)["bytes_per_error"]
    with tempfile.TemporaryDirectory() as tmp:
        def ours():
            return corrupt_file(clip, Path(tmp) / "ours.mp4", severity, 1234)

        def ffmpeg_bsf():
            src = av.open(str(clip))
            out = av.open(str(Path(tmp) / "ref.mp4"), "w")
            v = src.streams.video[0]
            streams = [v, *src.streams.audio]
            omap = {s.index: out.add_stream_from_template(s) for s in streams}
            bsf = BitStreamFilterContext(f"noise=amount={n_per}", v)
            frames = 0
            for packet in src.demux(*streams):
                if not packet.size:
                    continue
                if packet.stream.index == v.index:
                    for q in bsf.filter(packet):
                        q.stream = omap[v.index]
                        out.mux(q)
                        frames += 1
                else:
                    packet.stream = omap[packet.stream.index]
                    out.mux(packet)
            out.close()
            src.close()
            return frames

        t_ours, stats = best_time(ours, repeat)
        t_ref, _ = best_time(ffmpeg_bsf, repeat)
    n = stats.packets
    print(f"{'bit_error (remux)':<24} ours {n / t_ours:8.1f} f/s  ref {n / t_ref:7.1f} f/s  x{t_ref / t_ours:6.1f}  "
          f"(FFmpeg noise bsf; outputs differ by design)", flush=True)
    return {"corruption": "bit_error (remux)", "frames": n, "ours_fps": n / t_ours, "ref_fps": n / t_ref,
            "ratio": t_ref / t_ours, "max_abs_diff": None, "share_differing": None,
            "note": "packets/s incl. remux; ref = FFmpeg noise bsf (unseeded, different damage)"}


def audio_rows(clip: Path) -> list[dict] | None:
    path = HERE / "corruptions_audio.py"
    if not path.exists():
        print("(benchmarks/corruptions_audio.py not present: no audio table)")
        return None
    spec = importlib.util.spec_from_file_location("corruptions_audio", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.run(clip)
    for r in rows:
        print("  " + "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    return rows


def write_markdown(rows, sev_rows, bit_error, audio, clip: Path, args, command: str, gpu_note: str) -> Path:
    out = HERE / "results" / "corruptions.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    need = args.snippets_per_s * 16
    lines = [
        "# Visual corruption speed",
        "",
        f"Command: `{command}`",
        "",
        f"Clip: `{clip.name}`, first {rows[0]['frames']} frames, severity {args.severity}, best of {args.repeat} runs; "
        f"one process on one core (cv2 and torch single-threaded), timed in CPU seconds of the process (= core-seconds); "
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other work (this process got "
        f"{100 * CLOCKS['cpu'] / max(CLOCKS['wall'], 1e-9):.0f} % of a core over its timed runs), "
        f"Python {platform.python_version()}. {gpu_note}",
        "",
        f"Cores per GPU = CPU cores that keep one GPU fed at {args.snippets_per_s:g} five-crop snippets/s "
        f"= {need:g} frames/s (corruption alone).",
        "",
        "| corruption | numpy f/s/core | torch-CPU f/s/core | reference f/s | numpy vs ref | torch-CPU vs ref "
        "| max abs diff | cores per GPU (numpy) | cores per GPU (torch-CPU) | GPU f/s | targets | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        diff = "n/a" if r["max_abs_diff"] is None else str(r["max_abs_diff"])
        dev = "n/a" if r["device_fps"] is None else f"{r['device_fps']:.0f}"
        lines.append(
            f"| {r['corruption']} | {r['numpy_fps']:.1f} | {r['torch_cpu_fps']:.1f} | {r['ref_fps']:.1f} | {r['ratio']:.1f}x "
            f"| {r['torch_ratio']:.1f}x | {diff} | {r['cores_numpy']:.1f} | {r['cores_torch']:.1f} | {dev} | {r['target']} | {r['note']} |"
        )
    if bit_error:
        r = bit_error
        lines += ["", f"Bit error (packet level, numpy only): {r['ours_fps']:.0f} packets/s incl. remux vs "
                  f"{r['ref_fps']:.0f} for FFmpeg's unseeded `noise` bsf ({r['ratio']:.1f}x)."]
    lines += ["", "## numpy path at every severity (frames/s per core)", "",
              "| corruption | s1 | s2 | s3 | s4 | s5 |", "|---|---:|---:|---:|---:|---:|"]
    for r in sev_rows:
        lines.append(f"| {r['corruption']} | " + " | ".join(f"{r[f's{s}']:.1f}" for s in range(1, 6)) + " |")
    lines += [
        "",
        "Notes: the reference side is written in the benchmark, per frame, the way the reference code",
        "works (float64 numpy, skimage rgb2hsv/hsv2rgb, Generator.poisson, cv2.line, truncation to uint8).",
        "Targets (issue 21): every deterministic corruption >= 400 frames/s per core, shot noise and rain",
        ">= 200, every corruption >= 3x the reference, brightness and saturate >= 20x. Shot noise draws one",
        "random byte per value, a second byte for values whose first byte falls on a CDF step (10 % of the",
        "table at severity 1, 1 % at severity 5) and 53 bits for the < 0.6 % left, so its speed is bound by",
        "the bit generator (PCG64 random_raw) and one 64K-entry table lookup per value. The fog row against",
        "Yi et al.'s per-clip fractal is bound by the fractal itself (made once per video on both sides,",
        "here amortised over only the timed frames); over a whole video the ratio tends to the main fog row.",
        "The torch path on CPU works on whole batches (large temporaries): it is the device path's CPU",
        "form and equality reference, not the CPU fast path.",
    ]
    if audio:
        keys = list(audio[0])
        lines += ["", "## Audio corruptions (benchmarks/corruptions_audio.py)", "",
                  "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for r in audio:
            lines.append("| " + " | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    lines.append("")
    out.write_text("\n".join(lines))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP), help="video to decode frames from (default: shared explosion1.mp4)")
    ap.add_argument("--frames", type=int, default=48, help="frames to time (default 48)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side; the best counts (default 2)")
    ap.add_argument("--severity", type=int, default=3, help="severity of the main table (default 3)")
    ap.add_argument("--gpu", action="store_true", help="also time the torch path on the CUDA device (skipped with a message without one)")
    ap.add_argument("--snippets-per-s", type=float, default=2000.0,
                    help="GPU throughput to feed, in 16-frame snippets/s (default 2000: one H100 at ~30%% of bf16 peak, 5 crops)")
    ap.add_argument("--no-bit-error", action="store_true", help="skip the bit error remux timing")
    ap.add_argument("--audio-clip", default=str(AUDIO_CLIP), help="clip for the audio benchmark (default: shared fighting2.mp4)")
    ap.add_argument("--no-audio", action="store_true", help="skip the audio table")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/corruptions.md")
    args = ap.parse_args(argv)
    clip = Path(args.clip)
    if not clip.exists():
        print(f"clip not found: {clip} (pass a 640x360 video path; the default is the shared XD-Violence clip)", file=sys.stderr)
        return 2
    try:
        import skimage  # noqa: F401
    except ImportError:
        print("the reference needs scikit-image (pip install scikit-image)", file=sys.stderr)
        return 2
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    gpu_note = "No --gpu: GPU column not measured."
    if args.gpu:
        if torch.cuda.is_available():
            gpu_note = f"GPU: {torch.cuda.get_device_name(0)} (frames already on the device)."
        else:
            gpu_note = "--gpu given but no CUDA device here: GPU column not measured."
            print(gpu_note)
    rows = bench_visual(clip, args.frames, args.repeat, args.severity, args.snippets_per_s * 16, args.gpu)
    sev_rows = bench_severities(clip, args.frames, args.repeat)
    bit_error = None if args.no_bit_error else bench_bit_error(clip, args.severity, args.repeat)
    audio = None
    if not args.no_audio and Path(args.audio_clip).exists():
        audio = audio_rows(Path(args.audio_clip))
    if not args.no_write:
        command = "python benchmarks/corruptions.py " + " ".join(argv if argv is not None else sys.argv[1:])
        path = write_markdown(rows, sev_rows, bit_error, audio, clip, args, command.strip(), gpu_note)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
