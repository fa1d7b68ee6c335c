"""Anomaly detectors: HL-Net (``hlnet``), RobustA (``robusta``), RTFM (``rtfm``), HyperVD (``hypervd``)
and single-modality ablations; the backbone contract for RobustA in :mod:`.backbone`.

The contract and the registry are in :mod:`.base` (``build_detector``,
``get_detector_class``, ``load_detector``); the networks in :mod:`.hlnet` and
:mod:`.robusta`, the shared loss in :mod:`.mil`, the training loop in
:mod:`.train`, the clean-feature densities in :mod:`.gmm`, the file format in
:mod:`.checkpoint`. Importing this package does not import torch.
"""
