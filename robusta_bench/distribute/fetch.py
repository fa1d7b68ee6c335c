"""Fetch one file from a :class:`~robusta_bench.distribute.sources.Source`: retry, resume, verify.

:func:`fetch_file` downloads into ``<dest>.partial`` next to the destination
(never under the final name), resumes an existing partial file with a byte
offset (an HTTP ``Range`` request), retries transient failures with bounded
exponential backoff, checks size and sha256, and only then renames the partial
file onto ``dest`` (atomic on one file system).

Outcomes for the partial file: kept after transient failures that exhausted
the retries (the next run resumes it); deleted after a sha256/size mismatch or
a permanent failure (404, refused file). A resumed download whose sha256 does
not match is restarted once from byte 0 (the partial may be a leftover of an
older release) before it is declared corrupt.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from .errors import (
    DistributeError,
    IntegrityError,
    PermanentSourceError,
    SourceError,
    TransientSourceError,
    UnsafeReleaseError,
)
from .release import ReleaseFile
from .sources import Source

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Longest wait between two attempts, seconds (also caps a server's Retry-After).
MAX_BACKOFF = 30.0
PARTIAL_SUFFIX = ".partial"
_READ = 1 << 20


class Interrupted(DistributeError):
    """The run was interrupted (Ctrl-C) while this file was being fetched."""


def partial_path(dest: Path) -> Path:
    """Where ``dest`` is written while incomplete: ``<name>.partial`` in the same folder."""
    return dest.with_name(dest.name + PARTIAL_SUFFIX)


def backoff_delay(attempt: int, base: float, retry_after: float | None = None) -> float:
    """Wait before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)``, jittered, capped.

    The jitter (x0.5..1) spreads parallel workers; a server's ``Retry-After`` is
    honoured up to :data:`MAX_BACKOFF`.
    """
    delay = min(MAX_BACKOFF, base * (2 ** (attempt - 1))) * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF))
    return delay


def with_retries(
    fn: Callable[[], T], *, what: str, retries: int, backoff: float, stop: threading.Event | None = None
) -> T:
    """Call ``fn`` until it succeeds, retrying :class:`TransientSourceError` at most ``retries`` times."""
    attempt = 0
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted(f"{what}: interrupted")
        try:
            return fn()
        except TransientSourceError as exc:
            attempt += 1
            if attempt > retries:
                raise SourceError(f"{what}: giving up after {attempt} attempt(s): {exc}") from None
            delay = backoff_delay(attempt, backoff, exc.retry_after)
            log.info("%s: %s; retry %d/%d in %.2fs", what, exc, attempt, retries, delay)
            if stop is not None:
                if stop.wait(delay):
                    raise Interrupted(f"{what}: interrupted") from None
            else:
                threading.Event().wait(delay)


@dataclass
class _State:
    counted: int = 0  # bytes of this file reported to the progress callback
    resumed: bool = False
    restarted: bool = False


def fetch_file(
    source: Source,
    entry: ReleaseFile,
    dest: Path,
    *,
    retries: int = 4,
    backoff: float = 0.5,
    advance: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Download ``entry`` to ``dest`` (see module docstring). Raises a :class:`DistributeError` on failure.

    ``advance(n)`` is called with byte counts as data arrives (negative when
    bytes already reported are thrown away), for a progress bar.
    """
    advance = advance or (lambda n: None)
    partial = partial_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    state = _State()

    def discard() -> None:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        advance(-state.counted)
        state.counted = 0

    def attempt() -> None:
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        with os.fdopen(fd, "r+b") as fh:
            _lock(fh, partial)
            _one_attempt(source, entry, partial, fh, state, advance, stop)

    try:
        with_retries(attempt, what=entry.path, retries=retries, backoff=backoff, stop=stop)
    except (IntegrityError, PermanentSourceError, UnsafeReleaseError):
        discard()  # useless bytes; transient failures keep theirs for the next run
        raise


def _one_attempt(
    source: Source,
    entry: ReleaseFile,
    partial: Path,
    fh,
    state: _State,
    advance: Callable[[int], None],
    stop: threading.Event | None,
) -> None:
    dest = partial.with_name(partial.name[: -len(PARTIAL_SUFFIX)])
    expected = entry.bytes
    offset = os.fstat(fh.fileno()).st_size
    if offset > expected:  # longer than the file can be: useless
        fh.truncate(0)
        offset = 0
    advance(offset - state.counted)
    state.counted = offset
    state.resumed = offset > 0  # bytes from an earlier attempt or run are part of the result

    digest = hashlib.sha256()
    fh.seek(0)
    remaining = offset
    while remaining:
        block = fh.read(min(_READ, remaining))
        if not block:
            break
        digest.update(block)
        remaining -= len(block)

    if offset < expected:
        with source.open(entry.path, offset) as stream:
            if stream.total is not None and stream.total != expected:
                raise IntegrityError(
                    f"{entry.path}: the mirror has {stream.total} bytes, the release index lists {expected} "
                    "(the release on the mirror changed?)"
                )
            if stream.start != offset:  # the server ignored the range: start over
                if stream.start != 0:
                    raise TransientSourceError(
                        f"{entry.path}: the mirror answered from byte {stream.start}, asked for byte {offset}"
                    )
                fh.truncate(0)
                advance(-state.counted)
                state.counted = 0
                digest = hashlib.sha256()
                offset = 0
                state.resumed = False
            fh.seek(offset)
            written = offset
            for chunk in stream.chunks:
                if stop is not None and stop.is_set():
                    fh.flush()
                    raise Interrupted(f"{entry.path}: interrupted after {written} bytes (the next run resumes)")
                written += len(chunk)
                if written > expected:
                    raise IntegrityError(
                        f"{entry.path}: the mirror sent more than the {expected} bytes the release index lists"
                    )
                fh.write(chunk)
                digest.update(chunk)
                advance(len(chunk))
                state.counted += len(chunk)
            fh.flush()
        if written < expected:
            raise TransientSourceError(f"{entry.path}: connection ended after {written} of {expected} bytes")

    got = digest.hexdigest()
    if got != entry.sha256:
        fh.truncate(0)
        advance(-state.counted)
        state.counted = 0
        if state.resumed and not state.restarted:
            state.restarted = True
            state.resumed = False
            raise TransientSourceError(f"{entry.path}: sha256 mismatch after resuming; restarting from byte 0")
        raise IntegrityError(
            f"{entry.path}: sha256 mismatch (expected {entry.sha256}, got {got}); the file was discarded"
        )
    fh.flush()
    os.fsync(fh.fileno())
    os.replace(partial, dest)


def _lock(fh, partial: Path) -> None:
    """Refuse to share a partial file with another running download (POSIX advisory lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise DistributeError(f"{partial} is being written by another robusta-bench download") from None


def fetch_small(source: Source, rel: str, limit: int, *, retries: int, backoff: float) -> bytes:
    """A small file (an index) in memory, with the same retry policy."""
    return with_retries(lambda: source.read_bytes(rel, limit), what=source.describe(rel), retries=retries, backoff=backoff)
