"""What the torch video-clip extractors (I3D Inception, I3D ResNet-50) share.

:class:`ClipExtractor` binds a network whose ``forward`` returns
``(features (B, D), logits (B, classes))`` to a device, a compute dtype and a
memory layout, and turns uint8 ``(B, T, H, W, 3)`` RGB clips into features:
the uint8 batch is moved first (4x less transfer than float), normalised on
the device by the subclass's :meth:`ClipExtractor._normalise` and viewed as
``(B, 3, T, H, W)`` (a channels-last view of the clip memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .extractor import Extractor

#: compute dtypes of the clip extractors (float32 is the parity-tested path)
DTYPES = ("float32", "bfloat16", "float16")


def check_dtype(dtype: str) -> None:
    """Raise ``ValueError`` unless ``dtype`` is one of :data:`DTYPES`."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")


def as_clip_batch(batch: np.ndarray, who: str) -> np.ndarray:
    """``batch`` as a uint8 ``(B, T, H, W, 3)`` array (one ``(T, H, W, 3)`` clip gets a batch axis); else ``ValueError``."""
    x = np.asarray(batch)
    if x.dtype != np.uint8:
        raise ValueError(f"{who} expects uint8 RGB clips, got dtype {x.dtype}")
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"expected (B, T, H, W, 3) RGB clips, got shape {x.shape}")
    return x


class ClipExtractor(Extractor):
    """Base of the torch clip extractors: device/dtype/layout binding, input checks, forward, embed, logits."""

    def _weights(self, weights_set: str | None, state_dict: Any) -> Any:
        """``state_dict`` as given (weights set ``custom``), else the zoo's verified weight set; records its sha256."""
        from .zoo import load_weights, resolve_weight_set, state_sha256

        if state_dict is None:
            self.weights_set = resolve_weight_set(self.name, weights_set)[0]
            state_dict = load_weights(self.name, self.weights_set)
        else:
            self.weights_set = "custom"
        self.weights_sha256 = state_sha256(state_dict)
        return state_dict

    def _bind(self, model: Any, device: str, dtype: str, channels_last: bool) -> None:
        """Put ``model`` (eval mode) on ``device`` in ``dtype`` and the chosen memory layout."""
        import torch

        check_dtype(dtype)
        self.device = torch.device(device)
        self.dtype = dtype
        self.torch_dtype = getattr(torch, dtype)
        self.channels_last = bool(channels_last)
        self.memory_format = torch.channels_last_3d if self.channels_last else torch.contiguous_format
        self.model = model.eval().to(device=self.device, dtype=self.torch_dtype, memory_format=self.memory_format)

    def _check_clips(self, x: np.ndarray) -> None:
        """Hook for size checks of a validated ``(B, T, H, W, 3)`` batch (default: none)."""

    def _normalise(self, t: Any) -> Any:
        """Float32 ``(B, T, H, W, 3)`` pixel values in [0, 255] -> the network's input range (in place allowed)."""
        raise NotImplementedError

    def _input(self, batch: np.ndarray) -> Any:
        """uint8 ``(B, T, H, W, 3)`` (or one ``(T, H, W, 3)`` clip) -> ``(B, 3, T, H, W)`` on the device."""
        import torch

        x = as_clip_batch(batch, self.name)
        self._check_clips(x)
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True).to(torch.float32)
        t = self._normalise(t)
        # (B, T, H, W, C) memory viewed as (B, C, T, H, W) is already channels-last
        return t.permute(0, 4, 1, 2, 3).to(self.torch_dtype).contiguous(memory_format=self.memory_format)

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(features (B, feature_dim), logits (B, classes))`` float32 for uint8 RGB clips."""
        import torch

        if len(batch) == 0:
            return np.zeros((0, self.feature_dim), np.float32), np.zeros((0, self.model.num_classes), np.float32)
        with torch.inference_mode():
            f, logits = self.model(self._input(batch))
        return f.float().cpu().numpy(), logits.float().cpu().numpy()

    def _map(self, fn: Any, batch: np.ndarray) -> np.ndarray:
        """``fn(input)`` -> ``(B, C, t, h, w)`` map, returned as ``(B, t, h, w, C)`` float32."""
        import torch

        with torch.inference_mode():
            m = fn(self._input(batch))
        return m.permute(0, 2, 3, 4, 1).float().cpu().numpy()

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 16, 224, 224, 3)`` uint8 RGB (other sizes accepted) -> ``(B, feature_dim)`` float32."""
        return self.forward(batch)[0]

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Kinetics logits (pre-softmax), ``(B, classes)`` float32."""
        return self.forward(batch)[1]
