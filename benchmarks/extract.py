"""Speed of the extraction pipeline: batched vs a per-snippet loop, and fused variants vs separate runs.

    .venv/bin/python benchmarks/extract.py [CLIPS_DIR] [--clips N] [--crops C] [--batch-size B]
                                           [--workers W] [--variants N] [--threads T] [--device cpu|cuda:0]

CLIPS_DIR defaults to the shared XD-Violence clips. The extractor is the real
``i3d-inception`` (weights from the cache when present, else the same
architecture with random weights: the speed is the same; the output says
which). Three measurements, in one process on the same videos:

1. *batched*: ``robusta_bench.extraction.pipeline.extract`` (decode in a
   background thread, snippets of several videos batched ``B`` at a time, store
   writes included) against *unbatched*: the way common extraction scripts
   work, decode the whole video, then one forward per snippet (its ``C``
   crops stacked), nothing overlapped. The loop runs twice: with the stock
   model as such scripts run it (BatchNorm layers, channels-first NCDHW
   tensors; the reference) and with our CPU model (BatchNorm folded,
   channels-last), which separates what batching adds from what the model
   layout adds. Snippets/s of each and the ratios; the max |difference| of the
   features checks all compute the same thing.
2. *fused*: one run with N visual variants (clean + N-1 corruptions: one decode
   serves all) against N separate runs (one decode each), end to end; and the
   same on the decode side only (decode + corrupt + resize, no model, all the
   clips, best of ``--repeat``), which is what remains when the model is cheap
   (GPU).
3. the time share of decode / corrupt / resize / model in the fused run.

``--decode-only`` runs only the decode-side comparison (fast; use it with
``--variants 9 --clips 8`` for the 8 visual corruptions).

Every timing is the best of ``--repeat`` runs, alternating the two sides (the
build machine is shared). Defaults (3 clips, 1 crop, 3 variants, 2 repeats)
keep the run to about 3 minutes on 2 CPU cores; ``--clips 8 --crops 5
--variants 9`` is the full run. The table is written to
``benchmarks/results/extract.md`` (``--append`` adds a section, ``--no-write``
skips).
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_CLIPS = ROOT.parent / "shared" / "data" / "xd-violence" / "clips"
# smallest first: the default subset stays quick
CLIP_ORDER = ["car2", "abuse1", "explosion1", "riot1", "fighting2", "n3", "shooting1", "n1"]
CORRUPTIONS = ["brightness@3", "contrast@3", "saturate@3", "fog@3", "motion_blur@3", "shot_noise@3", "rain@3", "bit_error@3"]


def make_extractor(name: str, device: str):
    """The registered extractor with cached weights, else the same architecture with random weights."""
    from robusta_bench.models.extractor import get_extractor_class
    from robusta_bench.extraction.pipeline import build_extractor

    try:
        return build_extractor(name, device), "pretrained weights from the cache"
    except Exception as exc:  # weights not fetched: random weights, same speed
        reason = f"{type(exc).__name__}: {str(exc)[:120]}"
    import torch

    cls = get_extractor_class(name)
    module = sys.modules[cls.__module__]
    builders = [f for n, f in vars(module).items() if n.startswith("create_") and callable(f)]
    if not builders or "state_dict" not in inspect.signature(cls).parameters:
        raise SystemExit(f"cannot build {name} with random weights ({reason})")
    torch.manual_seed(0)
    net = builders[0]()
    sd = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return cls(state_dict=sd, device=device), f"RANDOM weights (no cached weights: {reason})"


def stock_model(ext, device: str):
    """The same network and weights the way common scripts run it: BatchNorm kept, channels-first (NCDHW).

    None when the extractor has no such switches (then the loop rows use ``ext``).
    """
    params = inspect.signature(type(ext)).parameters
    if not {"fold_bn", "channels_last"} <= set(params):
        return None
    import torch

    if getattr(ext, "weights_set", "custom") != "custom":
        return type(ext)(weights_set=ext.weights_set, device=device, fold_bn=False, channels_last=False)
    torch.manual_seed(0)
    module = sys.modules[type(ext).__module__]
    net = [f for n, f in vars(module).items() if n.startswith("create_") and callable(f)][0]()
    sd = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return type(ext)(state_dict=sd, device=device, fold_bn=False, channels_last=False)


def unbatched(videos, ext, crops) -> tuple[float, int, dict[str, np.ndarray]]:
    """Decode a whole video, then one forward per snippet (its crops stacked): the common script."""
    from robusta_bench.extraction import protocol as P
    from robusta_bench.media.decode import read_frames

    t0 = time.perf_counter()
    n, out = 0, {}
    for v in videos:
        frames = P.resize_frames(read_frames(v.path, fps=24))
        t = P.n_snippets(len(frames))
        feats = np.zeros((len(crops), t, ext.feature_dim), np.float32)
        for i in range(t):
            stack = np.ascontiguousarray(P.crop_clips(frames[16 * i : 16 * i + 16], crops))
            feats[:, i] = ext.embed(stack)
        out[v.name] = feats
        n += t
    return time.perf_counter() - t0, n, out


def decode_side(videos, variants, seed=0, timings=None) -> float:
    """Seconds to decode + corrupt + resize ``videos`` for ``variants`` in one fused pass (no model).

    ``timings`` (a dict) receives the seconds per stage reported by the producer.
    """
    from robusta_bench.corruptions.base import get_corruption
    from robusta_bench.extraction.producer import produce
    from robusta_bench.extraction.protocol import OFFICIAL
    from robusta_bench.extraction.variants import VideoJob
    from robusta_bench.seeding import corruption_seed

    t0 = time.perf_counter()
    for v in videos:
        job = VideoJob(v, visual={var: ["x"] for var in variants})
        for _ in produce(job, proto=OFFICIAL, seed_of=lambda n, var: corruption_seed(n, var.corruption, var.severity, seed),
                         corruption_of=get_corruption):
            if _[0] == "video_end" and timings is not None:
                for k, sec in _[3].items():
                    timings[k] = timings.get(k, 0.0) + sec
    return time.perf_counter() - t0


def run_decode_only(args) -> str:
    """Only the decode side (decode + corrupt + resize, no model): fused N variants vs N separate passes."""
    from robusta_bench.corruptions.base import corruption_names
    from robusta_bench.extraction.variants import VideoItem, parse_variants

    clips_dir = Path(args.clips_dir)
    names = [n for n in CLIP_ORDER if (clips_dir / f"{n}.mp4").exists()][: args.clips]
    videos = [VideoItem(n, clips_dir / f"{n}.mp4", "test") for n in names]
    known = set(corruption_names("visual"))
    variants = ["clean", *[c for c in CORRUPTIONS if c.split("@")[0] in known][: max(args.variants - 1, 0)]]
    vlist = parse_variants(variants)
    lines = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731
    say(f"decode side only (no model): clips {', '.join(names)}; load average at start {os.getloadavg()[0]:.2f}")
    say(f"variants: {', '.join(variants)}")
    say()
    decode_side(videos[:1], vlist)  # warm-up
    best, tm = float("inf"), {}
    for _ in range(args.repeat):
        t = {}
        d = decode_side(videos, vlist, timings=t)
        if d < best:
            best, tm = d, t
    per = {str(v.slug): min(decode_side(videos, [v]) for _ in range(args.repeat)) for v in vlist}
    sep = sum(per.values())
    say("| run | seconds | speed-up |")
    say("|---|---:|---:|")
    say(f"| {len(vlist)} separate passes (one decode each) | {sep:.2f} | 1.00x |")
    say(f"| one fused pass (one decode for all) | {best:.2f} | {sep / best:.2f}x |")
    say()
    say("separate passes: " + ", ".join(f"{k} {v:.2f}s" for k, v in per.items()))
    total = sum(tm.values()) or 1.0
    say("fused pass by stage: " + ", ".join(f"{k} {v:.2f}s ({100 * v / total:.0f}%)" for k, v in sorted(tm.items())))
    say(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return "\n".join(lines)


def run(args) -> str:
    import torch

    from robusta_bench.corruptions.base import corruption_names
    from robusta_bench.extraction.pipeline import crop_order_for, extract
    from robusta_bench.store.feature_store import FeatureStore, Variant
    from robusta_bench.extraction.variants import VideoItem, parse_variants

    torch.set_num_threads(args.threads)
    clips_dir = Path(args.clips_dir)
    names = [n for n in CLIP_ORDER if (clips_dir / f"{n}.mp4").exists()][: args.clips]
    if not names:
        raise SystemExit(f"no clips in {clips_dir}")
    videos = [VideoItem(n, clips_dir / f"{n}.mp4", "test") for n in names]
    ext, weights = make_extractor(args.extractor, args.device)
    crops = crop_order_for(ext, None, args.crops)
    lines = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731

    say(f"extractor {args.extractor}: {weights}")
    say(f"clips: {', '.join(names)} ({clips_dir}); crops {len(crops)}; batch {args.batch_size}; "
        f"workers {args.workers}; torch threads {args.threads}; device {args.device}")
    say(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), torch {torch.__version__}, "
        f"load average at start {os.getloadavg()[0]:.2f} (other processes share the CPUs)")
    say()

    # warm-up (first-call allocations, oneDNN kernel selection)
    ext.embed(np.zeros((1, 16, 224, 224, 3), np.uint8))
    ext.embed(np.zeros((min(args.batch_size, 4), 16, 224, 224, 3), np.uint8))

    with tempfile.TemporaryDirectory() as tmp:
        # 1. batched pipeline vs per-snippet loops (stock model, then ours), alternated, best of --repeat each
        stock = stock_model(ext, args.device)
        if stock is not None:
            stock.embed(np.zeros((1, 16, 224, 224, 3), np.uint8))
        t_loop = t_pipe = t_stock = float("inf")
        for r in range(args.repeat):
            if stock is not None:
                t, n_stock, ref_stock = unbatched(videos, stock, crops)
                t_stock = min(t_stock, t)
            t, n_loop, ref = unbatched(videos, ext, crops)
            t_loop = min(t_loop, t)
            rep = extract(videos, [ext], "clean", Path(tmp) / f"b{r}", crops=len(crops), batch_size=args.batch_size,
                          workers=args.workers, device=args.device)
            assert rep.ok, rep.summary()
            t_pipe = min(t_pipe, rep.seconds)
        got = FeatureStore(Path(tmp) / "b0").read(ext.name, Variant())
        diff = max(float(np.abs(got[n] - ref[n]).max()) for n in names)
        assert rep.snippets == n_loop
        sps_loop, sps_pipe = n_loop / t_loop, rep.snippets / t_pipe
        base = n_stock / t_stock if stock is not None else sps_loop
        say("| run | snippets | seconds | snippets/s | vs common script | vs same-model loop |")
        say("|---|---:|---:|---:|---:|---:|")
        if stock is not None:
            say(f"| common script: per-snippet loop, stock model (BatchNorm, NCDHW) | {n_stock} | {t_stock:.1f} | "
                f"{base:.2f} | 1.00x | {base / sps_loop:.2f}x |")
        say(f"| per-snippet loop, our model ({getattr(ext, 'memory_format', 'default layout')}, BN folded) | {n_loop} | "
            f"{t_loop:.1f} | {sps_loop:.2f} | {sps_loop / base:.2f}x | 1.00x |")
        say(f"| batched pipeline (B={args.batch_size}, {args.workers} decode worker) | {rep.snippets} | {t_pipe:.1f} | "
            f"{sps_pipe:.2f} | {sps_pipe / base:.2f}x | {sps_pipe / sps_loop:.2f}x |")
        say(f"\nmax |batched - loop| feature difference: {diff:.2e}")
        if stock is not None:
            diff_s = max(float(np.abs(got[n] - ref_stock[n]).max()) for n in names)
            say(f"max |batched - common script| feature difference: {diff_s:.2e}")
        say()

        # 2. fused variants vs separate runs
        known = set(corruption_names("visual"))
        corr = [c for c in CORRUPTIONS if c.split("@")[0] in known][: max(args.variants - 1, 0)]
        variants = ["clean", *corr]
        fv = videos[: args.fused_clips]
        vlist = parse_variants(variants)
        t_fused = t_sep = float("inf")
        for r in range(args.repeat):
            rep_f = extract(fv, [ext], variants, Path(tmp) / f"f{r}", crops=len(crops), batch_size=args.batch_size,
                            workers=args.workers, device=args.device)
            assert rep_f.ok, rep_f.summary()
            if rep_f.seconds < t_fused:
                t_fused, best_f = rep_f.seconds, rep_f
            total = 0.0
            for i, v in enumerate(variants):
                one = extract(fv, [ext], v, Path(tmp) / f"s{r}-{i}", crops=len(crops), batch_size=args.batch_size,
                              workers=args.workers, device=args.device)
                assert one.ok, one.summary()
                total += one.seconds
            t_sep = min(t_sep, total)
        # decode side only (no model), on all the clips, best of --repeat
        decode_side(videos[:1], vlist)  # warm-up: first-call costs of the corruptions
        d_fused = min(decode_side(videos, vlist) for _ in range(args.repeat))
        d_sep = sum(min(decode_side(videos, [v]) for _ in range(args.repeat)) for v in vlist)
        say(f"fused: {len(variants)} visual variants ({', '.join(variants)})")
        say()
        say("| run | clips | seconds | speed-up |")
        say("|---|---:|---:|---:|")
        say(f"| {len(variants)} separate runs, end to end | {len(fv)} | {t_sep:.1f} | 1.00x |")
        say(f"| one fused run, end to end | {len(fv)} | {t_fused:.1f} | {t_sep / t_fused:.2f}x |")
        say(f"| {len(variants)} separate decode+corrupt+resize passes (no model) | {len(videos)} | {d_sep:.2f} | 1.00x |")
        say(f"| one fused decode+corrupt+resize pass (no model) | {len(videos)} | {d_fused:.2f} | {d_sep / d_fused:.2f}x |")
        say()

        # 3. where the time goes
        tm = dict(best_f.timings)
        total = sum(tm.values()) or 1.0
        say("time by stage in the best fused run (summed over threads; decode overlaps the model):")
        say()
        say("| stage | seconds | share |")
        say("|---|---:|---:|")
        for k in ("decode", "decode_own", "corrupt", "resize", "model"):
            if k in tm:
                say(f"| {k} | {tm[k]:.1f} | {100 * tm[k] / total:.0f}% |")
    say()
    say(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips_dir", nargs="?", default=str(DEFAULT_CLIPS), help="folder of clips (default: the shared XD-Violence clips)")
    ap.add_argument("--clips", type=int, default=3, help="number of clips, smallest first (default 3; 8 = all)")
    ap.add_argument("--fused-clips", type=int, default=1, help="clips used for the end-to-end fused-variant comparison (default 1)")
    ap.add_argument("--crops", type=int, default=1, help="crops per snippet (default 1; 5 = the official protocol)")
    ap.add_argument("--batch-size", type=int, default=4, help="pipeline batch size (default 4, the CPU default of extract)")
    ap.add_argument("--workers", type=int, default=1, help="pipeline decode workers (default 1)")
    ap.add_argument("--variants", type=int, default=3, help="visual variants in the fused comparison, clean included (default 3; 9 = all)")
    ap.add_argument("--repeat", type=int, default=2, help="repeats of every timing, alternating the sides; the best counts (default 2)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N (default cpu)")
    ap.add_argument("--extractor", default="i3d-inception", help="visual extractor (default i3d-inception)")
    ap.add_argument("--decode-only", action="store_true",
                    help="only the fused vs separate decode+corrupt+resize comparison (no model: the GPU-relevant part)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/extract.md")
    ap.add_argument("--append", action="store_true", help="append this run to benchmarks/results/extract.md instead of replacing it")
    args = ap.parse_args()
    table = run_decode_only(args) if args.decode_only else run(args)
    if not args.no_write:
        cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/extract.py", *sys.argv[1:]])
        out = HERE / "results" / "extract.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        section = f"Command:\n\n    {cmd}\n\n{table}\n"
        if args.append and out.exists():
            out.write_text(out.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
        else:
            out.write_text(f"# Extraction pipeline speed\n\n{section}", encoding="utf-8")
        print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
