"""Distribute prebuilt feature shards: ``publish`` a store as a release, ``download`` one.

- :func:`publish` lays out a release folder (shards, group indexes,
  ``release.json``, ``SHA256SUMS``) to upload as is to any static host.
- :func:`download` fetches chosen groups from an HTTP(S) server or a local
  mirror into a :class:`~robusta_bench.store.feature_store.FeatureStore`, verifying
  every byte, resuming and retrying.

See ``docs/distribute.md`` for the hosting layout and the index schema.
"""

from .download import DownloadReport, download
from .errors import (
    DistributeError,
    IntegrityError,
    NoSourceError,
    PublishError,
    SelectionError,
    SourceError,
    UnsafeReleaseError,
)
from .publish import publish
from .release import RELEASE_FILE, RELEASE_SCHEMA_VERSION, Release, parse_release

__all__ = [
    "DistributeError",
    "DownloadReport",
    "IntegrityError",
    "NoSourceError",
    "PublishError",
    "RELEASE_FILE",
    "RELEASE_SCHEMA_VERSION",
    "Release",
    "SelectionError",
    "SourceError",
    "UnsafeReleaseError",
    "download",
    "parse_release",
    "publish",
]
