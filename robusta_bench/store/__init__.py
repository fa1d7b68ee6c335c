"""The feature store and its exchange with the official layout.

:mod:`.feature_store` keeps features as Parquet shards with a JSON index per
(extractor, variant) group; :mod:`.xdviolence` exports a store to the official
XD-Violence ``.npy`` layout and imports it back. Evaluation and distribution
read features through this package alone, without the networks.
"""
