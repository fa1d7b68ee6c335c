"""Corruptions: one registry (:data:`CORRUPTIONS`), visual and audio suites, plans."""

from .base import CORRUPTIONS, SEVERITIES, Corruption, corruption_names, get_corruption

__all__ = ["CORRUPTIONS", "SEVERITIES", "Corruption", "corruption_names", "get_corruption"]
