"""Exceptions of the distribution area.

The CLI maps :class:`SelectionError` and :class:`NoSourceError` to usage errors
(exit 2) and every other :class:`DistributeError` to a failed run (exit 1).
"""

from __future__ import annotations


class DistributeError(RuntimeError):
    """Base class: a publish/download problem a user must act on."""


class NoSourceError(DistributeError):
    """Neither ``--from`` nor ``ROBUSTA_MIRROR`` names a mirror, or it is malformed."""


class SelectionError(DistributeError):
    """``--variants`` / ``--extractors`` name something the store or release lacks."""


class UnsafeReleaseError(DistributeError):
    """A release index (or mirror) that could write outside the store or is malformed."""


class PublishError(DistributeError):
    """Publishing refused (corrupted store, unsafe output folder)."""


class SourceError(DistributeError):
    """A file could not be fetched from the mirror."""


class TransientSourceError(SourceError):
    """A failure worth retrying: connection error, timeout, HTTP 5xx/429/408, short body.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    """A failure that retrying will not fix: HTTP 404/403, a missing or unsafe mirror file."""


class IntegrityError(DistributeError):
    """Downloaded bytes do not match the size or sha256 the release index promises."""
