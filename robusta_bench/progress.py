"""Progress reporting that also works without a terminal.

On a terminal, long loops show a tqdm bar. When stderr is not a terminal (``nohup``,
a pipe, a log file, a job scheduler) a bar is useless, so :func:`progress_bar`
returns a :class:`LineProgress` instead: one plain status line on stderr every
``interval`` seconds (default 30), from a background timer so that a line appears
even while one slow item is being processed, plus a last line when the loop ends::

    extract: 2/3 videos (67%), 0.05 videos/s, elapsed 40 s, ETA 20 s

``--quiet`` turns both off. The settings are process-wide (:func:`configure`, set
by the CLI's ``--quiet`` / ``--progress-interval`` options, or the environment
variables ``ROBUSTA_QUIET=1`` / ``ROBUSTA_PROGRESS_INTERVAL``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from typing import Any, Iterable, Iterator, TextIO

#: Seconds between two status lines when stderr is not a terminal.
DEFAULT_INTERVAL = 30.0

_settings: dict[str, Any] = {"interval": None, "quiet": None}


def configure(*, interval: float | None = None, quiet: bool | None = None) -> None:
    """Set the process-wide progress options (``None`` leaves an option as it is)."""
    if interval is not None:
        if not interval > 0:
            raise ValueError(f"progress interval must be > 0 seconds, got {interval}")
        _settings["interval"] = float(interval)
    if quiet is not None:
        _settings["quiet"] = bool(quiet)


def reset() -> None:
    """Back to the defaults (environment variables, then :data:`DEFAULT_INTERVAL`)."""
    _settings.update(interval=None, quiet=None)


def interval() -> float:
    """Seconds between two status lines (``configure``, else ``ROBUSTA_PROGRESS_INTERVAL``, else 30)."""
    if _settings["interval"] is not None:
        return _settings["interval"]
    env = os.environ.get("ROBUSTA_PROGRESS_INTERVAL", "").strip()
    try:
        return float(env) if env and float(env) > 0 else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def quiet() -> bool:
    """True when progress output is off (``--quiet`` or ``ROBUSTA_QUIET=1``)."""
    if _settings["quiet"] is not None:
        return _settings["quiet"]
    return os.environ.get("ROBUSTA_QUIET", "").strip().lower() in ("1", "true", "yes")


def progress_enabled() -> bool:
    """Whether commands should report progress at all (everything but ``--quiet``)."""
    return not quiet()


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class LineProgress:
    """A tqdm-like counter that prints a status line every ``interval`` seconds to ``file``.

    Supports the parts of tqdm's interface the library uses: ``update``, ``write``,
    ``close``, ``set_postfix`` / ``set_postfix_str``, ``set_description``, iteration
    over ``iterable`` and ``with``.
    """

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", interval: float = DEFAULT_INTERVAL, file: TextIO | None = None) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc or "progress"
        self.unit = "byte" if unit == "B" else unit
        self.n = 0
        self.postfix = ""
        self.interval = float(interval)
        self.file = file if file is not None else sys.stderr
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._printed = 0
        # the timer holds only a weak reference: a bar never closed stops printing once it is garbage
        self._thread = threading.Thread(target=_tick, args=(weakref.ref(self), self._stop, self.interval),
                                        name=f"progress-{self.desc}", daemon=True)
        self._thread.start()

    def status(self) -> str:
        """The current status line (done/total, percent, rate, elapsed, ETA)."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.n / elapsed
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {done} {self.unit}s"]
        if self.total:
            parts[0] += f" ({100.0 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:.3g} {self.unit}s/s" if rate >= 0.01 or self.n == 0 else f"{1 / rate:.0f} s/{self.unit}")
        parts.append(f"elapsed {_fmt_seconds(elapsed)}")
        if self.total and self.n > 0 and self.n < self.total:
            parts.append(f"ETA {_fmt_seconds((self.total - self.n) / rate)}")
        elif self.total and self.n == 0:
            parts.append("ETA unknown")
        line = ", ".join(parts)
        return f"{line} [{self.postfix}]" if self.postfix else line

    def _emit(self, line: str) -> None:
        with self._lock:
            try:
                self.file.write(line + "\n")
                self.file.flush()
            except (ValueError, OSError):  # the stream was closed under us
                pass

    def update(self, n: int = 1) -> None:
        self.n += int(n)

    def write(self, message: str) -> None:
        self._emit(str(message))

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = str(text)

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or self.desc

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        """Stop the timer; print a final line (``desc: done n/total in X s``) when status lines were printed
        (a loop shorter than the interval stays silent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        if not self._printed:
            return
        elapsed = time.monotonic() - self.start
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        self._emit(f"{self.desc}: done {done} {self.unit}s in {_fmt_seconds(elapsed)}")

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave the timer printing
        self._stop.set()


def _tick(ref: "weakref.ref[LineProgress]", stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        bar = ref()
        if bar is None:
            return
        bar._printed += 1
        bar._emit(bar.status())
        del bar


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
                 disable: bool = False, file: TextIO | None = None, **tqdm_kwargs: Any):
    """A tqdm bar on a terminal, a :class:`LineProgress` otherwise; a silent tqdm when disabled or quiet.

    ``disable`` is the caller's own switch (e.g. ``progress=False``); ``--quiet``
    disables every bar. Extra keyword arguments go to tqdm only.
    """
    from tqdm import tqdm

    stream = file if file is not None else sys.stderr
    if disable or quiet():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=True)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=stream, **tqdm_kwargs)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, interval=interval(), file=stream)
