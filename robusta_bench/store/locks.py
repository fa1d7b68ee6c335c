"""OS file locks and writer identities for stores that several processes share.

Every process that writes into a store (an ``extract`` run, a Ray actor, a
Slurm array task, a ``corrupt`` run) is a *writer* with a unique id
``<host>-<pid>-<random>``. While it runs it holds an exclusive ``flock`` on
``<root>/writers/<id>.lock``; the kernel drops that lock when the process dies
in any way (``kill -9``, OOM kill, preemption), so another process can tell a
live writer from a dead one by trying to take the lock without blocking.

Shared metadata (``store.json``, ``videos.csv``, a group's ``index.json``, its
claims) is only changed while holding :func:`file_lock` on a lock file next to
it. ``flock`` locks belong to an open file description, so two writers in one
process exclude each other like two processes do. On NFS, Linux maps
``flock`` onto POSIX locks served by the lock daemon (NFSv4 or ``lockd``),
which must be enabled on the mount.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Iterator

WRITERS_DIR = "writers"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class LockBusy(RuntimeError):
    """A non-blocking lock attempt found the lock held by someone else."""


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, *, blocking: bool = True) -> Iterator[int]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    ``blocking=False`` raises :class:`LockBusy` instead of waiting.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    locked = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockBusy(str(path)) from None
        locked = True
        yield fd
    finally:
        _unlock_and_close(fd, locked)


def _unlock_and_close(fd: int, locked: bool = True) -> None:
    """Release an ``flock`` explicitly, then close.

    Closing alone is not enough: a child forked (by another thread) while the
    lock was held shares the open file description, and the lock would stay
    held until that child exits too (a deadlock for the next locker).
    """
    if locked:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def new_writer_id() -> str:
    """A writer id unique across hosts and processes: ``<host>-<pid>-<6 hex>`` (file-name safe)."""
    host = _SAFE.sub("_", socket.gethostname().split(".")[0])[:32] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class WriterLease:
    """The liveness lock of one writer: ``<root>/writers/<id>.lock`` held while it is open."""

    def __init__(self, root: str | os.PathLike, writer_id: str | None = None) -> None:
        self.root = Path(root)
        self.id = writer_id or new_writer_id()
        self.path = self.root / WRITERS_DIR / f"{self.id}.lock"
        self._fd: int | None = None

    def acquire(self) -> "WriterLease":
        """Take the lease (idempotent)."""
        while self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed as a dead writer's between open and lock: take a fresh file
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
            self._fd = fd
        return self

    def release(self) -> None:
        """Give the lease up and remove its file."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            _unlock_and_close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "WriterLease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def writer_alive(root: str | os.PathLike, writer_id: str) -> bool:
    """Whether the writer ``writer_id`` of the store at ``root`` still holds its lease.

    A missing lease file or one whose lock can be taken means the writer is gone.
    """
    path = Path(root) / WRITERS_DIR / f"{writer_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
    finally:
        _unlock_and_close(fd)


def writer_of(file_name: str) -> str | None:
    """The writer id in a shard or temp name ``part-<writer>-<seq>.parquet`` (None for legacy ``part-00000``)."""
    m = re.match(r"^\.?part-(?P<w>.+)-(?P<seq>\d{6})\.parquet(?:\.tmp)?$", file_name)
    return m["w"] if m else None


def clean_dead_leases(root: str | os.PathLike, min_age_s: float = 60.0) -> list[Path]:
    """Remove the lease files of writers that are gone (older than ``min_age_s``)."""
    import time

    wdir = Path(root) / WRITERS_DIR
    removed = []
    if not wdir.is_dir():
        return removed
    for p in wdir.glob("*.lock"):
        try:
            old = time.time() - p.stat().st_mtime > min_age_s
        except FileNotFoundError:
            continue
        if old and not writer_alive(root, p.stem):
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed
