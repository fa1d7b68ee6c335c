"""Decoding ahead: each video's items produced in a background thread, consumed in manifest order.

:func:`job_streams` yields ``(job, items)`` in job order; with ``workers`` > 0
the next videos are decoded ahead in threads, each into a bounded queue, so
memory stays bounded and the result does not depend on timing. An error inside
a worker becomes a ``("crash", message)`` item of that video only.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from typing import Any, Iterator, Sequence

from .variants import VideoJob

QUEUE_ITEMS = 16

_DONE = object()


class _Stopped(Exception):
    pass


def _pump(produce_fn, job: VideoJob, q: queue.Queue, stop: threading.Event) -> None:
    """Worker body: push a video's items into its bounded queue (stops when asked)."""

    def put(item: Any) -> None:
        while True:
            if stop.is_set():
                raise _Stopped()
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    gen = produce_fn(job)
    try:
        for item in gen:
            put(item)
    except _Stopped:
        return
    except Exception as exc:  # a bug or an unexpected error: fail this video, not the run
        try:
            put(("crash", f"{type(exc).__name__}: {exc}"))
        except _Stopped:
            return
    finally:
        gen.close()
    with contextlib.suppress(_Stopped):
        put(_DONE)


def _drain(q: queue.Queue) -> Iterator[tuple]:
    while True:
        item = q.get()
        if item is _DONE:
            return
        yield item


def _inline(produce_fn, job: VideoJob) -> Iterator[tuple]:
    try:
        yield from produce_fn(job)
    except Exception as exc:
        yield ("crash", f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def job_streams(jobs: Sequence[VideoJob], produce_fn, workers: int) -> Iterator[Iterator[tuple[VideoJob, Iterator[tuple]]]]:
    """``(job, items)`` in job order; with workers > 0 the next videos are decoded ahead in threads."""
    if workers <= 0:
        yield ((job, _inline(produce_fn, job)) for job in jobs)
        return
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="robusta-decode")
    pending: deque = deque()
    todo = iter(jobs)

    def submit() -> None:
        job = next(todo, None)
        if job is None:
            return
        q: queue.Queue = queue.Queue(maxsize=QUEUE_ITEMS)
        pool.submit(_pump, produce_fn, job, q, stop)
        pending.append((job, q))

    def gen() -> Iterator[tuple[VideoJob, Iterator[tuple]]]:
        for _ in range(workers + 1):
            submit()
        while pending:
            job, q = pending.popleft()
            submit()
            yield job, _drain(q)

    try:
        yield gen()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
