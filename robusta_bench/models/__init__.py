"""Extractor networks and their weights.

The extractor registry and contract (:mod:`.extractor`), the PyTorch ports of
the networks (I3D Inception, I3D ResNet-50, YAMNet, VGGish) with their audio
front end, the readers of external weight formats (TensorBundle, restricted
pickles) and the verified weights cache (:mod:`.zoo`). Imports nothing of the
extraction pipeline or the store.
"""
