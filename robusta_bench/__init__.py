"""robusta-bench: corruption robustness benchmark for audio-visual anomaly detection.

The package follows the RobustA paper (arXiv 2511.07276): corrupt the test videos
of XD-Violence, re-extract features, and score detectors with the official
frame-level AP. Public entry points live in the sub-packages:

- :mod:`robusta_bench.dataset`      indexing, ground truth, synthetic data
- :mod:`robusta_bench.corruptions`  the corruption registry, plans, runner
- :mod:`robusta_bench.models`       extractor networks, weight readers, weights zoo
- :mod:`robusta_bench.extraction`   the feature extraction pipeline (protocol, variants, batching)
- :mod:`robusta_bench.store`        the feature store and the official-layout export/import
- :mod:`robusta_bench.detectors`    HL-Net and RobustA detectors
- :mod:`robusta_bench.evaluation`   metrics, tables, plots, reports
- :mod:`robusta_bench.distribute`   publish / download prebuilt shards
"""

__version__ = "0.3.0"

#: Version of the benchmark definition (video lists, corruption tables, plans).
BENCHMARK_VERSION = "v1"

#: The benchmark's default corruption severity: the store variants ``evaluate`` reads
#: (``--severity``) and what ``corrupt`` writes unless told otherwise.
DEFAULT_SEVERITY = 3

__all__ = ["__version__", "BENCHMARK_VERSION", "DEFAULT_SEVERITY"]
