"""The feature extraction pipeline.

The official snippet protocol (:mod:`.protocol`), the variants to extract
(:mod:`.variants`), decoding and corrupting each video once for all of them
(:mod:`.producer`), batching across videos (:mod:`.batching`), reduced
precision calibration (:mod:`.precision`) and the run itself
(:mod:`.pipeline`). Reads networks from :mod:`robusta_bench.models`, writes to
:mod:`robusta_bench.store`.
"""
