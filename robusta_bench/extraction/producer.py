"""The decode side of the pipeline: one video in, model-ready snippets and audio windows out.

:func:`produce` runs in a background worker. It decodes the video ONCE and
feeds the decoded chunks to every visual variant the job needs, in lockstep
(a variant's corrupted frames come from the corruption's ``stream()`` over the
shared clean chunks, at the native resolution, before resizing, exactly as a
corrupted file would be decoded), through the corruption's media-level entry
point :meth:`~robusta_bench.corruptions.base.Corruption.frames`, the one
``corrupt`` writes files with. Packet-level corruptions (bit error) decode
their own damaged stream there; ``--corrupted-dir`` variants decode their file. Then
the audio track is read once at its native rate and channel count, corrupted
per audio variant, mixed to mono, resampled to 16 kHz and cut into one window
per snippet. Nothing is written to disk and memory stays bounded by a few
chunks per variant, whatever the video's length.

Items yielded (plain tuples, cheap to queue):

- ``("visual", variant, index, snippet)``  resized ``(16, h, w, 3)`` uint8
- ``("visual_end", variant, n_snippets, error_or_None)``
- ``("audio", variant, first_index, windows)``  ``(k, 15360)`` float32
- ``("audio_end", variant, n_snippets, error_or_None)``
- ``("video_end", n_snippets_clean, error_or_None, timings)``
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

import numpy as np

from .protocol import Protocol, Snippetizer, audio_windows, n_snippets, resize_frames, to_model_audio
from ..store.feature_store import Variant
from .variants import VideoJob

AUDIO_ITEM_WINDOWS = 128
#: Audio corruptions may seed Python's / NumPy's global generators for the
#: duration of a call (audiomentations, see ``isolated_global_rng``): with
#: several decode threads those calls must not interleave.
GLOBAL_RNG_LOCK = threading.Lock()


class SourceFailed(RuntimeError):
    """The clean source of a video failed to decode: every variant of it fails."""


def too_short_message(n_frames: int, proto: Protocol) -> str:
    """The error recorded for a video with no complete snippet."""
    return (
        f"too short: {n_frames} frame(s) at {proto.fps:g} fps, "
        f"needs at least {proto.snippet_len + 1} for one snippet"
    )


class Timings(dict):
    """Seconds spent per stage (``decode``, ``corrupt``, ``resize``, ``audio`` ...)."""

    def add(self, key: str, seconds: float) -> None:
        self[key] = self.get(key, 0.0) + float(seconds)


class _Broadcast:
    """Feed one chunk iterator to several consumers that advance (nearly) together.

    Unlike :func:`itertools.tee`, an error of the source is re-raised to every
    consumer (so no consumer mistakes a failed decode for the end of the video),
    and a consumer that is dropped stops buffering.
    """

    def __init__(self, source: Iterator[np.ndarray], n: int, timings: Timings) -> None:
        self._src = source
        self._bufs: list[deque | None] = [deque() for _ in range(n)]
        self._timings = timings
        self.done = False
        self.error: BaseException | None = None
        self.n_frames = 0

    def _pull(self) -> None:
        t0 = time.perf_counter()
        try:
            chunk = next(self._src)
        except StopIteration:
            self.done = True
            return
        except Exception as exc:  # a decode problem: every consumer must see it
            self.done, self.error = True, exc
            return
        finally:
            self._timings.add("decode", time.perf_counter() - t0)
        self.n_frames += len(chunk)
        for buf in self._bufs:
            if buf is not None:
                buf.append(chunk)

    def consumer(self, k: int) -> Iterator[np.ndarray]:
        buf = self._bufs[k]
        assert buf is not None
        try:
            while True:
                if buf:
                    yield buf.popleft()
                    continue
                if self.done:
                    if self.error is not None:
                        raise SourceFailed(_describe(self.error)) from self.error
                    return
                self._pull()
        finally:
            self._bufs[k] = None

    def drain(self) -> None:
        """Decode the rest of the source (to count its frames), keeping nothing."""
        while not self.done:
            self._pull()
            for i, buf in enumerate(self._bufs):
                if buf is not None:
                    buf.clear()
        if self.error is not None:
            raise SourceFailed(_describe(self.error)) from self.error


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if type(exc).__name__ in text or "MediaError" in type(exc).__name__ else f"{type(exc).__name__}: {text}"


def _timed(it: Iterator[np.ndarray], timings: Timings, key: str, exclude: Callable[[], float] | None = None) -> Iterator[np.ndarray]:
    """Time each ``next()`` of ``it`` under ``key`` (minus time ``exclude()`` grew by meanwhile)."""
    while True:
        t0 = time.perf_counter()
        inner0 = exclude() if exclude else 0.0
        try:
            chunk = next(it)
        except StopIteration:
            return
        finally:
            dt = time.perf_counter() - t0 - ((exclude() - inner0) if exclude else 0.0)
            timings.add(key, max(dt, 0.0))
        yield chunk


def _route_visual(
    job: VideoJob,
    proto: Protocol,
    seed_of: Callable[[str, Variant], int],
    corruption_of: Callable[[str], Any],
    chunk_size: int,
    iter_frames: Callable[..., Iterator[np.ndarray]],
) -> tuple[list[Variant], dict[Variant, Callable[[], Iterator[np.ndarray]]], dict[Variant, str]]:
    """Sort the visual variants of ``job``: ``(fused, own, errors)``.

    ``fused`` share the one decode (the clean video and frame-level
    corruptions), ``own`` decode their own stream (given corrupted media, or a
    packet-level corruption such as bit error), ``errors`` failed before
    decoding (a media error recorded for the variant, an unknown corruption).
    """
    name = job.video.name
    path = job.video.path
    fused: list[Variant] = []
    own: dict[Variant, Callable[[], Iterator[np.ndarray]]] = {}
    variant_errors: dict[Variant, str] = {}
    for v in job.visual:
        if v in job.media_errors:
            variant_errors[v] = job.media_errors[v]
        elif v in job.media:
            media = job.media[v]
            own[v] = lambda media=media: iter_frames(media, chunk_size=chunk_size, fps=proto.fps)
        elif v.is_clean:
            fused.append(v)
        else:
            try:
                corr = corruption_of(v.corruption)
            except Exception as exc:
                variant_errors[v] = f"corruption {v.corruption}: {exc}"
                continue
            if getattr(corr, "packet_level", False):  # decodes its own damaged stream
                seed = seed_of(name, v)
                own[v] = lambda corr=corr, sev=v.severity, seed=seed: corr.frames(path, sev, seed, chunk_size=chunk_size, fps=proto.fps)
            else:
                fused.append(v)
    return fused, own, variant_errors


def _open_streams(
    job: VideoJob,
    fused: list[Variant],
    own: dict[Variant, Callable[[], Iterator[np.ndarray]]],
    bcast: _Broadcast,
    proto: Protocol,
    seed_of: Callable[[str, Variant], int],
    corruption_of: Callable[[str], Any],
    timings: Timings,
    corrupt_device: str | None,
) -> list[list]:
    """One ``[variant, chunk iterator, snippetizer, frames emitted]`` per visual variant:
    the fused ones read the broadcast decode (corrupted on the CPU or on ``corrupt_device``),
    the others their own stream."""
    from ..corruptions.visual.device import ChunkUploader, device_stream

    uploader = ChunkUploader(corrupt_device) if corrupt_device else None
    streams: list[list] = []
    for k, v in enumerate(fused):
        chunks = bcast.consumer(k)
        if not v.is_clean:
            corr = corruption_of(v.corruption)
            seed = seed_of(job.video.name, v)
            if uploader is None:
                stream = corr.frames(job.video.path, v.severity, seed, decoded=chunks)
            else:
                stream = device_stream(corr, chunks, v.severity, seed, uploader=uploader)
            chunks = _timed(iter(stream), timings, "corrupt", exclude=lambda: timings.get("decode", 0.0))
        streams.append([v, iter(chunks), Snippetizer(proto.snippet_len), 0])
    for v, make in own.items():
        it = _timed(iter(make()), timings, "decode_own")
        streams.append([v, it, Snippetizer(proto.snippet_len), 0])
    return streams


def _cut_streams(
    streams: list[list], fused: list[Variant], bcast: _Broadcast, proto: Protocol, timings: Timings, media_error: type
) -> Generator[tuple, None, str | None]:
    """Advance the streams in lockstep, yielding ``visual`` snippets and each variant's ``visual_end``.

    Returns the error of the shared source decode (which ends every stream), or None.
    """
    while streams:
        # advance the stream that is furthest behind: all variants move in lockstep
        entry = min(streams, key=lambda s: s[3])
        v, it, cutter, _ = entry
        try:
            chunk = next(it)
        except StopIteration:
            streams.remove(entry)
            n = cutter.n_snippets
            err = None
            if n == 0:
                err = too_short_message(cutter.n_frames, proto)
            elif v in fused and not v.is_clean and cutter.n_frames != bcast.n_frames:
                err = f"corruption {v.corruption} changed the frame count ({bcast.n_frames} -> {cutter.n_frames})"
            yield ("visual_end", v, n, err)
            continue
        except SourceFailed as exc:
            return str(exc)
        except (media_error, Exception) as exc:  # this variant only
            streams.remove(entry)
            where = f"corruption {v.corruption}" if not v.is_clean else "decode"
            yield ("visual_end", v, 0, f"{where}: {_describe(exc)}")
            continue
        entry[3] += len(chunk)
        if len(chunk) == 0:
            continue
        # resize a snippet's worth of frames at a time: little memory even for upscaled videos
        for a in range(0, len(chunk), proto.snippet_len):
            t0 = time.perf_counter()
            small = resize_frames(chunk[a : a + proto.snippet_len], proto.short_side)
            timings.add("resize", time.perf_counter() - t0)
            first = cutter.n_snippets
            for j, snippet in enumerate(cutter.push(small)):
                yield ("visual", v, first + j, snippet)
    return None


def produce(
    job: VideoJob,
    *,
    proto: Protocol,
    seed_of: Callable[[str, Variant], int],
    corruption_of: Callable[[str], Any],
    chunk_size: int = 64,
    corrupt_device: str | None = None,
) -> Iterator[tuple]:
    """Decode, corrupt and cut one video (see the module docstring for the items).

    ``corrupt_device``: make the visual variants with the torch path on this
    device (each decoded chunk moved there once), else with the numpy path.
    """
    from ..media.decode import MediaError, NoAudioStream, iter_frames, read_audio

    timings = Timings()
    if job.video.error:
        yield ("video_end", 0, f"unreadable at indexing: {job.video.error}", timings)
        return

    # ---------------------------------------------------------------- visual
    fused, own, variant_errors = _route_visual(job, proto, seed_of, corruption_of, chunk_size, iter_frames)
    for v, err in variant_errors.items():
        yield ("visual_end", v, 0, err)

    source = iter_frames(job.video.path, chunk_size=chunk_size, fps=proto.fps)
    bcast = _Broadcast(source, len(fused), timings)
    streams = _open_streams(job, fused, own, bcast, proto, seed_of, corruption_of, timings, corrupt_device)
    source_error = yield from _cut_streams(streams, fused, bcast, proto, timings, MediaError)

    if source_error is None and not bcast.done:
        try:
            bcast.drain()  # no fused consumer: decode only to count the frames
        except SourceFailed as exc:
            source_error = str(exc)
    if source_error is not None:
        yield ("video_end", 0, source_error, timings)
        return

    n_clean = n_snippets(bcast.n_frames, proto.snippet_len)

    # ----------------------------------------------------------------- audio
    if job.audio:
        if n_clean == 0:
            for v in job.audio:
                yield ("audio_end", v, 0, too_short_message(bcast.n_frames, proto))
        else:
            yield from _produce_audio(job, n_clean, proto, seed_of, corruption_of, timings, read_audio, NoAudioStream)

    yield ("video_end", n_clean, None, timings)


def _produce_audio(job, n, proto, seed_of, corruption_of, timings, read_audio, NoAudioStream) -> Iterator[tuple]:
    name = job.video.name
    clean: tuple[np.ndarray, int] | None = None
    clean_error: str | None = None
    needs_clean = any(v not in job.media and v not in job.media_errors for v in job.audio)
    if needs_clean:
        t0 = time.perf_counter()
        try:
            clean = read_audio(job.video.path)
        except NoAudioStream:
            clean_error = "no audio stream"
        except Exception as exc:
            clean_error = f"audio: {_describe(exc)}"
        timings.add("decode_audio", time.perf_counter() - t0)
    for v in job.audio:
        if v in job.media_errors:
            yield ("audio_end", v, 0, job.media_errors[v])
            continue
        try:
            if v in job.media:
                t0 = time.perf_counter()
                try:
                    samples, rate = read_audio(job.media[v])
                except NoAudioStream:
                    raise RuntimeError(f"no audio stream in {Path(job.media[v]).name}") from None
                timings.add("decode_audio", time.perf_counter() - t0)
            else:
                if clean is None:
                    yield ("audio_end", v, 0, clean_error)
                    continue
                samples, rate = clean
                if not v.is_clean:
                    corr = corruption_of(v.corruption)
                    t0 = time.perf_counter()
                    with GLOBAL_RNG_LOCK:
                        samples = corr.apply(samples, v.severity, seed_of(name, v), rate=rate)
                    timings.add("corrupt", time.perf_counter() - t0)
            t0 = time.perf_counter()
            mono = to_model_audio(samples, rate, proto)
            windows = audio_windows(mono, n, proto)
            timings.add("audio", time.perf_counter() - t0)
        except Exception as exc:
            where = f"corruption {v.corruption}" if not v.is_clean else "audio"
            yield ("audio_end", v, 0, f"{where}: {_describe(exc)}")
            continue
        for start in range(0, n, AUDIO_ITEM_WINDOWS):
            yield ("audio", v, start, windows[start : start + AUDIO_ITEM_WINDOWS])
        yield ("audio_end", v, n, None)
