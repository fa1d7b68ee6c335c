"""Corruptions: one registry (:data:`CORRUPTIONS`), visual and audio suites, plans."""

from .base import CORRUPTIONS, SEVERITIES, Corruption, benchmark_corruptions, corruption_names, get_corruption

__all__ = ["CORRUPTIONS", "SEVERITIES", "Corruption", "benchmark_corruptions", "corruption_names", "get_corruption"]
