"""Native-crash isolation: each video's media work runs in its own child process.

Decoding (FFmpeg through PyAV), corruption (OpenCV, NumPy, audiomentations)
and cutting run in native code that can crash the interpreter: a segmentation
fault, an ``abort()`` or the kernel's OOM killer. :func:`isolated` wraps a
producer (``job -> iterator of items``, see :mod:`.producer`) so that it runs
in a forked child per video and its items come back through a pipe. When the
child dies, the parent turns it into that video's error (the signal named:
``media worker for <video> died: SIGSEGV (signal 11)``), every group of the
video not yet finished fails with it, and the run goes on with the next video
(and exits 1 at the end, as for any failed video).

The child is forked, so it shares the parent's registries (extractors and
corruptions registered at run time included) without pickling any code; only
the items (NumPy arrays) are pickled through the pipe. Where ``fork`` is not
available the producer runs in-process, unisolated. ``memory_limit`` (bytes)
caps the child's address space, so a runaway allocation fails that video with
a ``MemoryError`` instead of waking the OOM killer.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from typing import Any, Callable, Iterator

_END = "__isolated_end__"


def fork_available() -> bool:
    """Whether per-video child processes can be forked here (POSIX)."""
    return "fork" in mp.get_all_start_methods()


def describe_exit(code: int | None) -> str:
    """``SIGSEGV (signal 11)`` for a child killed by a signal, ``exit status N`` otherwise."""
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal"
        hint = ", likely out of memory" if -code == signal.SIGKILL else ""
        return f"{name} (signal {-code}{hint})"
    return f"exit status {code}"


def _quiet_faulthandler() -> None:
    """No interpreter stack dump from a crashing child (the parent reports it), unless PYTHONFAULTHANDLER asks."""
    if not os.environ.get("PYTHONFAULTHANDLER"):
        import faulthandler

        faulthandler.disable()


def _child(produce_fn: Callable[[Any], Iterator[tuple]], job: Any, conn, memory_limit: int | None,
           parent: int = 0, other_end: Any = None) -> None:
    from . import producer

    if other_end is not None:
        other_end.close()  # only the parent reads: its death then ends our writes (EPIPE) instead of blocking
    if parent:
        _die_with_parent(parent)

    producer.GLOBAL_RNG_LOCK = threading.Lock()  # a lock held by another parent thread at fork time stays held here
    _quiet_faulthandler()
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(memory_limit), int(memory_limit)))
    try:
        for item in produce_fn(job):
            conn.send(item)
    except Exception as exc:  # ordinary errors come back as the producer's own crash item
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))
    conn.send((_END,))
    conn.close()


def _die_with_parent(parent: int) -> None:
    """In a forked child: be killed when the parent dies (Linux ``PR_SET_PDEATHSIG``).

    A ``kill -9`` of a run must not leave children behind that still hold its
    pipes, its store leases and claims, or the stdout of whoever started it.
    Elsewhere (no ``prctl``) this does nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _serial_cv2() -> None:
    """OpenCV without its thread pool, set in the parent before forking.

    Calling ``cv2.setNumThreads`` in a forked child can deadlock on the pool's
    lock when a parent thread held it at fork time; the media work runs in the
    children, so the parent's OpenCV needs no pool.
    """
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _serial_blas() -> None:
    """NumPy's OpenBLAS without its thread pool in a process that forks media workers.

    Recent OpenBLAS (NumPy 2.4's 0.3.31 here) can deadlock the PARENT in its next
    threaded call after a fork (OpenMathLib/OpenBLAS#5520): an extraction here hung for 10 minutes at
    full CPU in YAMNet's log-mel matrix product, at its 6th forked video. With one
    thread OpenBLAS never takes that path; the parent's NumPy products are tiny
    (the models run in torch, which has its own thread pool).
    """
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def isolated(produce_fn: Callable[[Any], Iterator[tuple]], *, memory_limit: int | None = None,
             name_of: Callable[[Any], str] = lambda job: job.video.name) -> Callable[[Any], Iterator[tuple]]:
    """``produce_fn`` run in a forked child per job (see the module docstring); in-process without fork."""
    if not fork_available():
        return produce_fn
    _serial_cv2()
    _serial_blas()
    ctx = mp.get_context("fork")

    def run(job: Any) -> Iterator[tuple]:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(produce_fn, job, send, memory_limit, os.getpid(), recv), daemon=True)
        proc.start()
        send.close()
        ended = False
        try:
            while True:
                try:
                    item = recv.recv()
                except (EOFError, OSError):
                    break
                if item and item[0] == _END:
                    ended = True
                    break
                yield item
        finally:
            recv.close()
            if not ended and proc.is_alive():
                proc.kill()
            proc.join()
        if not ended:
            yield ("video_end", 0, f"media worker for {name_of(job)} died: {describe_exit(proc.exitcode)} "
                                   "(a crash in decoding or corruption; the run went on)", {})

    return run


def _call_child(fn: Callable[[Any], Any], arg: Any, conn, parent: int = 0, other_end: Any = None) -> None:
    if other_end is not None:
        other_end.close()
    if parent:
        _die_with_parent(parent)
    _quiet_faulthandler()
    try:
        conn.send(("ok", fn(arg)))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    conn.close()


def call_isolated(fn: Callable[[Any], Any], arg: Any) -> tuple[bool, Any]:
    """``fn(arg)`` in a forked child: ``(True, result)``, or ``(False, message)`` when it raised or died.

    The message of a dead child names the signal (:func:`describe_exit`). In-process where fork is unavailable.
    """
    if not fork_available():
        try:
            return True, fn(arg)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
    _serial_cv2()
    _serial_blas()
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_call_child, args=(fn, arg, send, os.getpid(), recv), daemon=True)
    proc.start()
    send.close()
    try:
        kind, value = recv.recv()
    except (EOFError, OSError):
        proc.join()
        return False, f"worker process died: {describe_exit(proc.exitcode)}"
    finally:
        recv.close()
    proc.join()
    return kind == "ok", value
