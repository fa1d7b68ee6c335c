"""I3D ResNet-50 (RGB) in PyTorch: the 2048-d visual extractor ``i3d-resnet50``.

The network of the Caffe2 *non-local* paper's I3D baseline (Wang et al., CVPR
2018, ``i3d_baseline_32x2_IN_pretrain_400k``) in the PyTorch layout of its
common port (pytorch-resnet3d), which RTFM and most weakly-supervised video
anomaly papers used for their 2048-d features:

- stem: ``conv1`` 5x7x7, stride (2,2,2), padding (2,3,3), no bias -> ``bn1``
  -> ReLU -> max pool (2,3,3) stride (2,2,2), no padding;
- ``layer1`` .. ``layer4``: 3, 4, 6, 3 bottlenecks of width 64, 128, 256, 512
  (output 4x wider). A bottleneck is ``conv1`` (kernel 3x1x1 with temporal
  padding 1 where the inflation pattern says 1, else 1x1x1) -> ``conv2`` 1x3x3
  padding (0,1,1) carrying the spatial stride -> ``conv3`` 1x1x1, each followed
  by BatchNorm, ReLU after ``bn1``, ``bn2`` and after the residual sum. Patterns:
  layer1 [1,1,1], layer2 [1,0,1,0], layer3 [1,0,1,0,1,0], layer4 [0,1,0];
  spatial stride 2 in the first block of layer2..4; the first block of every
  layer has a projection shortcut ``downsample`` = 1x1x1 conv (same stride) + BN;
- a max pool (2,1,1) stride (2,1,1) between ``layer1`` and ``layer2``;
- feature: the mean of ``layer4`` over all positions (2048-d); logits ``fc``.

For a 16x224x224 snippet the ``layer4`` map is 2x7x7 (:func:`layer4_size`:
T 16 -> conv1 8 -> pool 4 -> pool 2; H 224 -> 112 -> 55 -> 55 -> 28 -> 14 -> 7).

BatchNorm eps is 1e-5 (Caffe2's and PyTorch's default). Input: RGB pixels in
0..255, ``(x - 114.75) / 57.375`` for every channel (``normalization="caffe2"``,
the training normalisation of the weights); ``normalization="unit"`` gives
``x / 255 * 2 - 1`` instead, as some RTFM-style extraction scripts feed it. No weights are bundled:
the user imports ``i3d_r50_kinetics.pth`` (the PyTorch conversion) or the
original Caffe2 ``i3d_baseline_32x2_IN_pretrain_400k.pkl`` with
``robusta-bench weights import i3d-resnet50 FILE``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import numpy as np

from .extractor import EXTRACTORS, check_state_shapes
from .clip_model import ClipExtractor, as_clip_batch, check_dtype

FEATURE_DIM = 2048
NUM_CLASSES = 400
BN_EPS = 1e-5
PIXEL_MEAN = 114.75
PIXEL_STD = 57.375
EXPANSION = 4

#: ``(width, temporal-conv pattern, spatial stride of the first block)`` of layer1..layer4.
LAYERS: tuple[tuple[int, tuple[int, ...], int], ...] = (
    (64, (1, 1, 1), 1),
    (128, (1, 0, 1, 0), 2),
    (256, (1, 0, 1, 0, 1, 0), 2),
    (512, (0, 1, 0), 2),
)

__all__ = [
    "I3DResNet50",
    "create_i3d_resnet50",
    "i3d_resnet50_state_shapes",
    "layer4_size",
    "preprocess",
    "NORMALIZATIONS",
    "convert_i3d_r50",
    "convert_pytorch_state",
    "convert_caffe2_blobs",
    "load_state",
    "FEATURE_DIM",
]


# --------------------------------------------------------------------------- pure helpers

def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def layer4_size(t: int, h: int, w: int) -> tuple[int, int, int]:
    """``(T', H', W')`` of the ``layer4`` map for a ``t x h x w`` input.

    Raises ``ValueError`` when the input is too small for a stage (the
    stride-2 max pools need ``t >= 7`` frames, and ``h, w >= 5``).
    """
    sizes = [t, h, w]
    stages = [
        ("conv1", (5, 7, 7), (2, 2, 2), (2, 3, 3)),
        ("maxpool1", (2, 3, 3), (2, 2, 2), (0, 0, 0)),
        ("maxpool2", (2, 1, 1), (2, 1, 1), (0, 0, 0)),
        ("layer2", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
        ("layer3", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
        ("layer4", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ]
    for name, k, s, p in stages:
        sizes = [_conv_out(n, kk, ss, pp) for n, kk, ss, pp in zip(sizes, k, s, p)]
        if min(sizes) < 1:
            raise ValueError(f"input {t}x{h}x{w} is too small for I3D ResNet-50 (nothing left after {name})")
    return sizes[0], sizes[1], sizes[2]


#: Input normalisations: ``caffe2`` (default, the weights' training input) and ``unit``.
NORMALIZATIONS = ("caffe2", "unit")
_NORM_ALIASES = {"caffe": "caffe2"}


def _normalization(name: str) -> str:
    name = _NORM_ALIASES.get(name, name)
    if name not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {name!r}")
    return name


def preprocess(batch: np.ndarray, normalization: str = "caffe2") -> np.ndarray:
    """``(B, T, H, W, 3)`` uint8 RGB -> ``(B, 3, T, H, W)`` float32.

    ``normalization="caffe2"``: ``(x - 114.75) / 57.375``; ``"unit"``: ``x / 255 * 2 - 1``.
    """
    normalization = _normalization(normalization)
    x = as_clip_batch(batch, "i3d-resnet50")
    if normalization == "caffe2":
        y = (x.astype(np.float32) - np.float32(PIXEL_MEAN)) / np.float32(PIXEL_STD)
    else:
        y = x.astype(np.float32) / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)
    return np.ascontiguousarray(y.transpose(0, 4, 1, 2, 3))


def _bn_shapes(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{v}": (c,) for v in ("weight", "bias", "running_mean", "running_var")}


def i3d_resnet50_state_shapes(*, num_classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of :func:`create_i3d_resnet50` (no torch needed).

    These are the names of ``i3d_r50_kinetics.pth``: ``conv1.weight``,
    ``bn1.*``, ``layerL.B.conv{1,2,3}.weight``, ``layerL.B.bn{1,2,3}.*``,
    ``layerL.0.downsample.{0,1}.*``, ``fc.{weight,bias}``.
    """
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 5, 7, 7), **_bn_shapes("bn1", 64)}
    c_in = 64
    for li, (width, pattern, _stride) in enumerate(LAYERS, start=1):
        c_out = width * EXPANSION
        for bi, temporal in enumerate(pattern):
            p = f"layer{li}.{bi}"
            shapes[f"{p}.conv1.weight"] = (width, c_in, 1 + 2 * temporal, 1, 1)
            shapes.update(_bn_shapes(f"{p}.bn1", width))
            shapes[f"{p}.conv2.weight"] = (width, width, 1, 3, 3)
            shapes.update(_bn_shapes(f"{p}.bn2", width))
            shapes[f"{p}.conv3.weight"] = (c_out, width, 1, 1, 1)
            shapes.update(_bn_shapes(f"{p}.bn3", c_out))
            if bi == 0:
                shapes[f"{p}.downsample.0.weight"] = (c_out, c_in, 1, 1, 1)
                shapes.update(_bn_shapes(f"{p}.downsample.1", c_out))
            c_in = c_out
    shapes["fc.weight"] = (num_classes, c_in)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def k400_state_shapes() -> dict[str, tuple[int, ...]]:
    """Shapes of the Kinetics-400 weights (zoo ``state_shapes`` hook)."""
    return i3d_resnet50_state_shapes()


def _check_shapes(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], what: str) -> None:
    non_local = any(".nl." in k for k in set(state) - set(expected))
    hint = " (the non-local variant is not supported: use the I3D baseline weights)" if non_local else ""
    check_state_shapes(state, expected, what, "I3D ResNet-50", hint=hint)


# --------------------------------------------------------------------------- converters

_C2_BRANCH = re.compile(r"^res(\d)_(\d+)_branch(1|2[abc])_(w|bn_s|bn_b|bn_rm|bn_riv)$")
_C2_SUFFIX = {"w": "weight", "bn_s": "weight", "bn_b": "bias", "bn_rm": "running_mean", "bn_riv": "running_var"}
_C2_FIXED = {
    "conv1_w": "conv1.weight",
    "res_conv1_bn_s": "bn1.weight",
    "res_conv1_bn_b": "bn1.bias",
    "res_conv1_bn_rm": "bn1.running_mean",
    "res_conv1_bn_riv": "bn1.running_var",
    "pred_w": "fc.weight",
    "pred_b": "fc.bias",
}


def convert_caffe2_blobs(blobs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Caffe2 non-local-net blob names -> torch names (``res3_1_branch2a_w`` -> ``layer2.1.conv1.weight``).

    ``resN`` is ``layer{N-1}``; ``branch2a/b/c`` are ``conv1/2/3`` (``bn1/2/3``
    for the ``_bn_*`` blobs); ``branch1`` is the ``downsample`` projection.
    ``_bn_riv`` is the running variance. Optimiser state (``*_momentum``,
    ``lr``, ``model_iter`` ...) is dropped; non-local blobs are refused.
    """
    out: dict[str, np.ndarray] = {}
    for key, value in blobs.items():
        key = str(key)
        if key.startswith("nonlocal"):
            raise ValueError(f"blob {key}: the non-local variant is not supported (use the I3D baseline weights)")
        if key in _C2_FIXED:
            name = _C2_FIXED[key]
        else:
            m = _C2_BRANCH.match(key)
            if m is None:
                continue  # optimiser state / bookkeeping blobs
            stage, block, branch, suffix = m.groups()
            prefix = f"layer{int(stage) - 1}.{int(block)}"
            if branch == "1":
                name = f"{prefix}.downsample.{0 if suffix == 'w' else 1}.{_C2_SUFFIX[suffix]}"
            else:
                idx = "abc".index(branch[1]) + 1
                kind = "conv" if suffix == "w" else "bn"
                name = f"{prefix}.{kind}{idx}.{_C2_SUFFIX[suffix]}"
        out[name] = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
    return out


def convert_i3d_r50(paths: Mapping[str, str | Path]) -> dict[str, np.ndarray]:
    """Zoo converter for user-supplied I3D ResNet-50 Kinetics-400 weights (``{"file": path}``).

    - ``*.pth`` / ``*.pt``: the PyTorch conversion ``i3d_r50_kinetics.pth``,
      read with ``torch.load(weights_only=True)``; ``num_batches_tracked``
      counters and a ``module.`` prefix are dropped;
    - ``*.pkl``: the original Caffe2 ``i3d_baseline_32x2_IN_pretrain_400k.pkl``
      (``{"blobs": {...}}``, a Python 2 pickle), read with the allow-list
      unpickler and renamed by :func:`convert_caffe2_blobs`.

    Names and shapes must match the model exactly (strict).
    """
    if len(paths) != 1:
        raise ValueError(f"expected one weights file, got {sorted(map(str, paths))}")
    (path,) = (Path(p) for p in paths.values())
    if path.suffix.lower() == ".pkl":
        from .safe_pickle import safe_load

        obj = safe_load(path, encoding="latin1")
        blobs = obj.get("blobs", obj) if isinstance(obj, Mapping) else None
        if not isinstance(blobs, Mapping):
            raise ValueError(f"{path}: not a Caffe2 weights pickle (no 'blobs' dict)")
        state = convert_caffe2_blobs(blobs)
    else:
        from .safe_pickle import load_torch_state

        state = {
            k: np.ascontiguousarray(v, dtype=np.float32)
            for k, v in load_torch_state(path).items()
            if not k.endswith("num_batches_tracked")
        }
    n_cls = int(state["fc.bias"].shape[0]) if "fc.bias" in state else NUM_CLASSES
    _check_shapes(state, i3d_resnet50_state_shapes(num_classes=n_cls), str(path))
    return state


#: The name the extractor spec uses for :func:`convert_i3d_r50`.
convert_pytorch_state = convert_i3d_r50


# --------------------------------------------------------------------------- torch network

@functools.lru_cache(maxsize=1)
def _torch_classes() -> Any:
    """Define the torch modules on first use (torch is imported lazily)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class BatchNorm(nn.Module):
        """Inference BatchNorm3d (eps 1e-5) without a ``num_batches_tracked`` counter."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(c))
            self.bias = nn.Parameter(torch.zeros(c))
            self.register_buffer("running_mean", torch.zeros(c))
            self.register_buffer("running_var", torch.ones(c))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, BN_EPS)

    @torch.no_grad()
    def folded(conv: "nn.Conv3d", bn: BatchNorm) -> "nn.Conv3d":
        """A conv with bias computing ``bn(conv(x))``."""
        scale = bn.weight * torch.rsqrt(bn.running_var + BN_EPS)
        new = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True)
        new = new.to(device=conv.weight.device, dtype=conv.weight.dtype)
        new.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1, 1))
        new.bias.copy_(bn.bias - bn.running_mean * scale)
        return new

    class Bottleneck(nn.Module):
        def __init__(self, c_in: int, width: int, stride: int, temporal: int, downsample: bool) -> None:
            super().__init__()
            c_out = width * EXPANSION
            self.conv1 = nn.Conv3d(c_in, width, (1 + 2 * temporal, 1, 1), padding=(temporal, 0, 0), bias=False)
            self.bn1 = BatchNorm(width)
            self.conv2 = nn.Conv3d(width, width, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
            self.bn2 = BatchNorm(width)
            self.conv3 = nn.Conv3d(width, c_out, 1, bias=False)
            self.bn3 = BatchNorm(c_out)
            self.downsample = (
                nn.Sequential(nn.Conv3d(c_in, c_out, 1, (1, stride, stride), bias=False), BatchNorm(c_out))
                if downsample
                else None
            )

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            out = F.relu(self.bn1(self.conv1(x)), inplace=True)
            out = F.relu(self.bn2(self.conv2(out)), inplace=True)
            out = self.bn3(self.conv3(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return F.relu(out.add_(shortcut), inplace=True)

        def fold_batchnorm(self) -> None:
            for i in (1, 2, 3):
                conv, bn = getattr(self, f"conv{i}"), getattr(self, f"bn{i}")
                if not isinstance(bn, nn.Identity):
                    setattr(self, f"conv{i}", folded(conv, bn))
                    setattr(self, f"bn{i}", nn.Identity())
            if self.downsample is not None and not isinstance(self.downsample[1], nn.Identity):
                self.downsample = nn.Sequential(folded(self.downsample[0], self.downsample[1]), nn.Identity())

    class I3DResNet(nn.Module):
        """I3D ResNet-50 (see the module docstring).

        ``forward(x)`` takes ``(B, 3, T, H, W)`` normalised float input and
        returns ``(features (B, 2048), logits (B, num_classes))``.
        """

        def __init__(self, num_classes: int = NUM_CLASSES) -> None:
            super().__init__()
            self.conv1 = nn.Conv3d(3, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), bias=False)
            self.bn1 = BatchNorm(64)
            c = 64
            for li, (width, pattern, stride) in enumerate(LAYERS, start=1):
                blocks = []
                for bi, temporal in enumerate(pattern):
                    blocks.append(Bottleneck(c, width, stride if bi == 0 else 1, temporal, bi == 0))
                    c = width * EXPANSION
                self.add_module(f"layer{li}", nn.Sequential(*blocks))
            self.fc = nn.Linear(c, num_classes)
            self.num_classes = num_classes

        def feature_map(self, x: "torch.Tensor") -> "torch.Tensor":
            """The ``layer4`` map ``(B, 2048, T', H', W')``."""
            x = F.relu(self.bn1(self.conv1(x)), inplace=True)
            x = F.max_pool3d(x, (2, 3, 3), (2, 2, 2))
            x = self.layer1(x)
            x = F.max_pool3d(x, (2, 1, 1), (2, 1, 1))
            return self.layer4(self.layer3(self.layer2(x)))

        def features(self, x: "torch.Tensor") -> "torch.Tensor":
            """``(B, 2048)``: ``layer4`` averaged over all positions."""
            return self.feature_map(x).mean(dim=(2, 3, 4))

        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            f = self.features(x)
            return f, self.fc(f)

        def fold_batchnorm(self) -> "I3DResNet":
            """Fold every BatchNorm into its convolution, in place; returns ``self``."""
            if not isinstance(self.bn1, nn.Identity):
                self.conv1 = folded(self.conv1, self.bn1)
                self.bn1 = nn.Identity()
            for mod in self.modules():
                if isinstance(mod, Bottleneck):
                    mod.fold_batchnorm()
            return self

    return SimpleNamespace(I3DResNet=I3DResNet, Bottleneck=Bottleneck)


def create_i3d_resnet50(*, num_classes: int = NUM_CLASSES) -> Any:
    """Build the randomly initialised I3D ResNet-50 ``torch.nn.Module`` (pure builder; weights bound by the caller)."""
    return _torch_classes().I3DResNet(num_classes=num_classes)


def load_state(model: Any, state: Mapping[str, np.ndarray]) -> None:
    """Strictly load numpy ``state`` into ``model``: missing, extra or misshapen entries raise ``ValueError``."""
    import torch

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    _check_shapes(state, expected, "weights")
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}, strict=True
    )


# --------------------------------------------------------------------------- extractor



@EXTRACTORS.register("i3d-resnet50")
class I3DResNet50(ClipExtractor):
    """I3D ResNet-50 RGB features: ``(B, T, H, W, 3)`` uint8 -> ``(B, 2048)`` float32.

    Args:
        weights_set: a weight set of ``extractors/i3d-resnet50.json`` (default
            ``kinetics``, imported by the user with ``robusta-bench weights import
            i3d-resnet50 i3d_r50_kinetics.pth``).
        device: torch device, ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
        dtype: compute dtype, ``"float32"`` (default) or, explicitly,
            ``"bfloat16"`` / ``"float16"`` (faster on GPU, less exact).
        state_dict: use these arrays instead of the zoo (e.g. random weights in tests).
        fold_bn: fold BatchNorm into the convolutions (same features within float
            rounding, fewer passes over memory).
        normalization: ``"caffe2"`` (default, ``(x - 114.75) / 57.375``) or
            ``"unit"`` (``x / 255 * 2 - 1``), see :func:`preprocess`.
    """

    name = "i3d-resnet50"
    modality = "visual"
    feature_dim = FEATURE_DIM
    n_crops = 10
    version = 1

    def __init__(
        self,
        weights_set: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        state_dict: Mapping[str, np.ndarray] | None = None,
        fold_bn: bool = True,
        normalization: str = "caffe2",
    ) -> None:
        check_dtype(dtype)
        self.normalization = _normalization(normalization)
        state_dict = self._weights(weights_set, state_dict)
        n_cls = int(np.shape(state_dict["fc.bias"])[0]) if "fc.bias" in state_dict else NUM_CLASSES
        model = create_i3d_resnet50(num_classes=n_cls)
        load_state(model, state_dict)
        if fold_bn:
            model.fold_batchnorm()
        # channels-last weights run in the fast NDHWC convolution kernels (~1.5x on CPU)
        self._bind(model, device, dtype, channels_last=True)

    def _check_clips(self, x: np.ndarray) -> None:
        layer4_size(*x.shape[1:4])  # clear error for too-small clips

    def _normalise(self, t: Any) -> Any:
        # the same float32 operations as :func:`preprocess`
        if self.normalization == "caffe2":
            return t.sub_(PIXEL_MEAN).div_(PIXEL_STD)
        return t.div_(255.0).mul_(2.0).sub_(1.0)

    def feature_map(self, batch: np.ndarray) -> np.ndarray:
        """The ``layer4`` map before averaging, ``(B, T', H', W', 2048)`` float32."""
        return self._map(self.model.feature_map, batch)
