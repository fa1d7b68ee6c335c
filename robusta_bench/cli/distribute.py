"""CLI: ``publish`` and ``download``."""

from .base import not_built

COMMANDS = [
    not_built("publish", "lay out a release of prebuilt feature shards"),
    not_built("download", "download verified prebuilt feature shards"),
]
