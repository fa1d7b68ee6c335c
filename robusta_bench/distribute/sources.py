"""Where a release is read from: a local folder or an HTTP(S) server, one interface.

:func:`resolve_source` turns ``--from`` (or ``ROBUSTA_MIRROR``) into a
:class:`Source`. A source opens one release-relative path at a byte offset and
yields its bytes in chunks (:class:`Stream`); it reports failures as
:class:`TransientSourceError` (worth retrying) or :class:`PermanentSourceError`.
Retrying, resuming and verifying live in :mod:`robusta_bench.distribute.fetch`,
identical for both kinds of source.

Accepted forms: ``https://host/path/`` or ``http://...`` (the release root, or
the URL of its ``release.json``), ``file:///abs/path``, or a plain folder path
(or the path of its ``release.json``). Nothing else: no default mirror is built
in, because none is guaranteed to exist.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from .. import __version__
from .errors import NoSourceError, PermanentSourceError, TransientSourceError, UnsafeReleaseError
from .release import RELEASE_FILE, check_relpath

if TYPE_CHECKING:  # pragma: no cover
    import httpx

#: Environment variable naming the default mirror.
MIRROR_ENV = "ROBUSTA_MIRROR"
CHUNK = 1 << 20
_RETRY_STATUS = {408, 429}


@dataclass
class Stream:
    """Bytes of one file from ``start`` on; ``total`` is the file's full size when known."""

    start: int
    total: int | None
    chunks: Iterator[bytes]


class Source:
    """A release location. Use as a context manager (closes connections)."""

    label: str = ""
    index_name: str = RELEASE_FILE

    def open(self, rel: str, offset: int = 0) -> contextlib.AbstractContextManager[Stream]:
        """Open ``rel`` (a checked release-relative path) at byte ``offset``."""
        raise NotImplementedError

    def read_bytes(self, rel: str, limit: int) -> bytes:
        """The whole of a small file (one attempt); refuse more than ``limit`` bytes."""
        parts, size = [], 0
        with self.open(rel, 0) as stream:
            if stream.total is not None and stream.total > limit:
                raise PermanentSourceError(f"{self.describe(rel)} is {stream.total} bytes, more than the {limit} allowed")
            for chunk in stream.chunks:
                size += len(chunk)
                if size > limit:
                    raise PermanentSourceError(f"{self.describe(rel)} is larger than the {limit} bytes allowed")
                parts.append(chunk)
        return b"".join(parts)

    def preflight(self, rels: Iterable[str]) -> None:
        """Refuse unsafe files up front (before anything is written). No-op for HTTP."""

    def describe(self, rel: str) -> str:
        """Human-readable location of ``rel``."""
        return f"{self.label.rstrip('/')}/{rel}"

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalSource(Source):
    """A release in a local folder (a mirror on disk, a network mount, a ``file://`` URL).

    Symbolic links below the release root are refused: a mirror must hold plain
    files, and a link could point anywhere on the machine.
    """

    def __init__(self, root: str | os.PathLike, index_name: str = RELEASE_FILE) -> None:
        self.root = Path(root)
        self.index_name = index_name
        self.label = str(self.root)

    def _path(self, rel: str) -> Path:
        check_relpath(rel)
        path = self.root
        for part in rel.split("/"):
            path = path / part
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                raise PermanentSourceError(f"{self.describe(rel)}: not found in the mirror") from None
            except OSError as exc:
                raise PermanentSourceError(f"{self.describe(rel)}: {exc.strerror or exc}") from None
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeReleaseError(f"{self.describe(rel)}: refusing a symbolic link in the mirror ({path})")
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeReleaseError(f"{self.describe(rel)}: not a regular file")
        return path

    def preflight(self, rels: Iterable[str]) -> None:
        """Every file must exist as a regular file, with no symbolic link on its path."""
        problems = []
        for rel in rels:
            try:
                self._path(rel)
            except UnsafeReleaseError as exc:
                problems.append(str(exc))
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise UnsafeReleaseError("; ".join(problems[:5]) + more)

    @contextlib.contextmanager
    def open(self, rel: str, offset: int = 0) -> Iterator[Stream]:
        path = self._path(rel)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise PermanentSourceError(f"{self.describe(rel)}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = offset if 0 <= offset <= size else 0
            fh.seek(start)
            yield Stream(start=start, total=size, chunks=iter(lambda: fh.read(CHUNK), b""))


class HttpSource(Source):
    """A release on any static HTTP(S) server (via httpx; Range requests for resuming)."""

    def __init__(self, base_url: str, index_name: str = RELEASE_FILE, timeout: float = 30.0, jobs: int = 4) -> None:
        import httpx

        self.base = base_url if base_url.endswith("/") else base_url + "/"
        self.index_name = index_name
        self.label = self.base
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            headers={"User-Agent": f"robusta-bench/{__version__}", "Accept-Encoding": "identity"},
            limits=httpx.Limits(max_connections=max(1, jobs) + 1, max_keepalive_connections=max(1, jobs) + 1),
        )

    def url(self, rel: str) -> str:
        return self.base + urllib.parse.quote(check_relpath(rel))

    def describe(self, rel: str) -> str:
        return self.url(rel)

    def close(self) -> None:
        self.client.close()

    @contextlib.contextmanager
    def open(self, rel: str, offset: int = 0) -> Iterator[Stream]:
        import httpx

        url = self.url(rel)
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        try:
            resp = self.client.send(self.client.build_request("GET", url, headers=headers), stream=True)
        except httpx.TimeoutException as exc:
            raise TransientSourceError(f"{url}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransientSourceError(f"{url}: {type(exc).__name__}: {exc}") from None
        try:
            status = resp.status_code
            if status == 206:
                start, total = _content_range(resp.headers.get("content-range", ""))
                if start is None:
                    raise TransientSourceError(f"{url}: 206 response without a usable Content-Range")
            elif status == 200:
                start, total = 0, _int_or_none(resp.headers.get("content-length"))
            elif status == 416:
                _, total = _content_range(resp.headers.get("content-range", ""))
                raise TransientSourceError(f"{url}: range from byte {offset} not satisfiable (file size {total})")
            elif status in _RETRY_STATUS or status >= 500:
                raise TransientSourceError(
                    f"{url}: HTTP {status} {resp.reason_phrase}", retry_after=_retry_after(resp.headers)
                )
            else:
                raise PermanentSourceError(f"{url}: HTTP {status} {resp.reason_phrase}")
            # no chunk_size: bytes are handed over as they arrive, so a cut connection
            # loses nothing that was received (the partial file keeps it for resuming)
            yield Stream(start=start, total=total, chunks=_guarded(resp.iter_bytes(), url))
        finally:
            resp.close()


def _guarded(chunks: Iterator[bytes], url: str) -> Iterator[bytes]:
    """Re-raise httpx errors met while reading a body as transient failures."""
    import httpx

    try:
        yield from chunks
    except httpx.TimeoutException as exc:
        raise TransientSourceError(f"{url}: timed out while reading ({type(exc).__name__})") from None
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise TransientSourceError(f"{url}: connection lost while reading ({type(exc).__name__}: {exc})") from None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _content_range(text: str) -> tuple[int | None, int | None]:
    """``bytes a-b/total`` -> (a, total); ``bytes */total`` -> (None, total)."""
    m = re.match(r"^\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*$", text or "")
    if not m:
        return None, None
    start = int(m[1]) if m[1] is not None else None
    total = int(m[2]) if m[2] != "*" else None
    return start, total


def _retry_after(headers: "httpx.Headers") -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def resolve_source(text: str | None, timeout: float = 30.0, jobs: int = 4) -> Source:
    """The :class:`Source` for ``text``, or for ``$ROBUSTA_MIRROR`` when ``text`` is None.

    Raises :class:`NoSourceError` when neither is set, for an unsupported URL
    scheme, or for a local path that does not exist.
    """
    if text is None or not str(text).strip():
        text = os.environ.get(MIRROR_ENV, "").strip()
    if not text:
        raise NoSourceError(
            f"no mirror given: pass --from URL_OR_PATH or set {MIRROR_ENV} to the folder, file:// URL "
            "or http(s):// URL of a published release (robusta-bench has no built-in default mirror)"
        )
    text = str(text).strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) and not re.match(r"^[A-Za-z]:[\\/]", text):
        parsed = urllib.parse.urlsplit(text)
        scheme = parsed.scheme.lower()
        if scheme in ("http", "https"):
            if not parsed.netloc:
                raise NoSourceError(f"bad mirror URL {text!r}: no host")
            base, index_name = text, RELEASE_FILE
            path = parsed.path
            if path.endswith(".json"):
                cut = path.rsplit("/", 1)
                index_name = cut[-1]
                base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, cut[0] + "/", "", ""))
            elif parsed.query or parsed.fragment:
                raise NoSourceError(f"bad mirror URL {text!r}: give the release folder URL without query or fragment")
            return HttpSource(base, index_name=index_name, timeout=timeout, jobs=jobs)
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise NoSourceError(f"file:// URL {text!r} names a remote host; mount it and pass the path")
            return _local(Path(urllib.request.url2pathname(parsed.path)), text)
        raise NoSourceError(f"unsupported mirror scheme {scheme!r} in {text!r}: use http(s)://, file:// or a folder path")
    return _local(Path(text).expanduser(), text)


def _local(path: Path, text: str) -> LocalSource:
    if path.is_dir():
        return LocalSource(path)
    if path.is_file() and path.suffix == ".json":
        return LocalSource(path.parent, index_name=path.name)
    raise NoSourceError(f"mirror {text!r} is not a folder (or a release .json file) on this machine")
