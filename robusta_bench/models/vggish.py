"""VGGish (Hershey et al. 2017, Google AudioSet) in PyTorch: 128-d audio embeddings.

Front end (:mod:`robusta_bench.models.audio_frontend`): 16 kHz mono, STFT
400/160/512 with a periodic Hann window, magnitude, 64 HTK mel bands
125-7500 Hz, ``log(mel + 0.01)``, 96-frame examples.

Network (:func:`create_vggish`): on a ``(96, 64)`` patch (one channel),
conv 64, pool, conv 128, pool, conv 256 twice, pool, conv 512 twice, pool.
All convs are 3x3 stride 1 with SAME padding and ReLU, all pools 2x2 stride 2.
This leaves ``(512, 6, 4)``, which is flattened in TensorFlow's **NHWC**
order (height, width, channel) into 12288 values. Then FC 4096, FC 4096 and
FC 128, with a ReLU after each. The final ReLU is the pre-2020 model that
torchvggish ports; ``final_relu=False`` gives the later TF model's linear
embedding.

Postprocessing (optional, the AudioSet release format): PCA with whitening
``E @ (x - mu)`` using the released ``pca_eigen_vectors`` (128x128) and
``pca_means`` (128), then 8-bit quantisation: clip to [-2, 2] and map to
``(x + 2) * 255 / 4``, rounded (torchvggish) or truncated (TF's
``vggish_postprocess.py``, ``astype(uint8)``).

No weights ship with any PyPI package: users supply the official files.
:func:`convert_user_file` reads

- torchvggish ``vggish-10086976.pth`` (keys ``features.{0,3,6,8,11,13}.{weight,bias}``,
  ``embeddings.{0,2,4}.{weight,bias}``) and ``vggish_pca_params-970ea276.pth``
  (``pca_eigen_vectors``, ``pca_means``);
- TF ``vggish_model.ckpt`` (V1 single file, or a V2 ``.index`` + ``.data``
  bundle; variables ``vggish/conv1/weights``, ``vggish/conv3/conv3_1/weights``,
  ..., ``vggish/fc1/fc1_1/weights``, ``vggish/fc2/weights`` and ``.../biases``)
  through the numpy TensorBundle reader, and ``vggish_pca_params.npz``.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import audio_frontend as af
from .extractor import EXTRACTORS, Extractor, check_state_shapes

EMBEDDING_DIM = 128
QUANTIZE_MIN = -2.0
QUANTIZE_MAX = 2.0

#: Conv layers: (state-dict name, TF variable scope, out channels); ``None`` = max pool.
CONV_LAYERS: tuple[tuple[str, str, int] | None, ...] = (
    ("conv1", "vggish/conv1", 64),
    None,
    ("conv2", "vggish/conv2", 128),
    None,
    ("conv3_1", "vggish/conv3/conv3_1", 256),
    ("conv3_2", "vggish/conv3/conv3_2", 256),
    None,
    ("conv4_1", "vggish/conv4/conv4_1", 512),
    ("conv4_2", "vggish/conv4/conv4_2", 512),
    None,
)
#: Fully connected layers: (state-dict name, TF variable scope, in, out).
FC_LAYERS: tuple[tuple[str, str, int, int], ...] = (
    ("fc1_1", "vggish/fc1/fc1_1", 512 * 6 * 4, 4096),
    ("fc1_2", "vggish/fc1/fc1_2", 4096, 4096),
    ("fc2", "vggish/fc2", 4096, EMBEDDING_DIM),
)
#: torchvggish module indices of the same layers (``features.N`` / ``embeddings.N``).
TORCHVGGISH_NAMES: dict[str, str] = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3_1": "features.6",
    "conv3_2": "features.8",
    "conv4_1": "features.11",
    "conv4_2": "features.13",
    "fc1_1": "embeddings.0",
    "fc1_2": "embeddings.2",
    "fc2": "embeddings.4",
}
PCA_KEYS = ("pca.eigen_vectors", "pca.means")
POSTPROCESS_MODES = ("none", "pca", "pca_quantize")

__all__ = [
    "VGGish",
    "create_vggish",
    "vggish_state_shapes",
    "convert_user_file",
    "convert_torchvggish",
    "convert_tf_variables",
    "convert_pca",
    "postprocess",
]


def vggish_state_shapes() -> dict[str, tuple[int, ...]]:
    """State-dict names of :func:`create_vggish` and their (torch-layout) shapes."""
    shapes: dict[str, tuple[int, ...]] = {}
    c = 1
    for layer in CONV_LAYERS:
        if layer is None:
            continue
        name, _scope, out = layer
        shapes[f"{name}.weight"] = (out, c, 3, 3)
        shapes[f"{name}.bias"] = (out,)
        c = out
    for name, _scope, n_in, n_out in FC_LAYERS:
        shapes[f"{name}.weight"] = (n_out, n_in)
        shapes[f"{name}.bias"] = (n_out,)
    return shapes


# --------------------------------------------------------------------------- torch network

@functools.lru_cache(maxsize=1)
def _torch_module() -> Any:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class VGGishNet(nn.Module):
        """VGGish: ``(N, 96, 64)`` log-mel examples -> ``(N, 128)`` embeddings."""

        def __init__(self, final_relu: bool = True) -> None:
            super().__init__()
            self.final_relu = final_relu
            self.order: list[str | None] = []
            c = 1
            for layer in CONV_LAYERS:
                if layer is None:
                    self.order.append(None)
                    continue
                name, _scope, out = layer
                self.add_module(name, nn.Conv2d(c, out, 3, 1, padding=1))
                self.order.append(name)
                c = out
            for name, _scope, n_in, n_out in FC_LAYERS:
                self.add_module(name, nn.Linear(n_in, n_out))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            x = x.unsqueeze(1) if x.dim() == 3 else x
            for name in self.order:
                x = F.max_pool2d(x, 2, 2) if name is None else F.relu(getattr(self, name)(x))
            # TF flattens NHWC: (N, C, H, W) -> (N, H, W, C) -> (N, H*W*C)
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
            for i, (name, *_rest) in enumerate(FC_LAYERS):
                x = getattr(self, name)(x)
                if i < len(FC_LAYERS) - 1 or self.final_relu:
                    x = F.relu(x)
            return x

    return VGGishNet


def create_vggish(final_relu: bool = True) -> Any:
    """Build the (randomly initialised) VGGish ``torch.nn.Module``; pure builder.

    ``forward(x)`` maps ``(N, 96, 64)`` (or ``(N, 1, 96, 64)``) float32 log-mel
    examples to ``(N, 128)`` embeddings.
    """
    return _torch_module()(final_relu)


# --------------------------------------------------------------------------- postprocessing

def postprocess(
    embeddings: np.ndarray,
    eigen_vectors: np.ndarray,
    means: np.ndarray,
    quantize: bool = True,
    rounding: str = "round",
) -> np.ndarray:
    """AudioSet postprocessing of ``(N, 128)`` embeddings (float32 out).

    PCA/whitening ``(E @ (x - mu).T).T``; with ``quantize``, clip to [-2, 2] and
    map to [0, 255] by ``(x + 2) * 255 / 4``, then ``rounding`` = ``"round"``
    (torchvggish) or ``"floor"`` (TF's ``astype(uint8)``).
    """
    if rounding not in ("round", "floor"):
        raise ValueError(f"rounding must be 'round' or 'floor', got {rounding!r}")
    x = np.asarray(embeddings, dtype=np.float64)
    e = np.asarray(eigen_vectors, dtype=np.float64)
    mu = np.asarray(means, dtype=np.float64).reshape(-1)
    out = (e @ (x - mu).T).T
    if quantize:
        out = (np.clip(out, QUANTIZE_MIN, QUANTIZE_MAX) - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))
        out = np.round(out) if rounding == "round" else np.floor(out)
    return out.astype(np.float32)


# --------------------------------------------------------------------------- conversion

def _as_vggish_state(state: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """The VGGish weights of ``state`` (other names ignored) as contiguous float32, names and shapes checked."""
    expected = vggish_state_shapes()
    out = {k: np.ascontiguousarray(np.asarray(state[k], dtype=np.float32)) for k in expected if k in state}
    check_state_shapes(out, expected, what, "VGGish")
    return out


def convert_torchvggish(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """torchvggish ``vggish-10086976.pth`` state dict -> this module's names (same layout)."""
    arrays = {k: _to_numpy(v) for k, v in state.items()}
    renamed = {}
    for ours, theirs in TORCHVGGISH_NAMES.items():
        for p in ("weight", "bias"):
            key = f"{theirs}.{p}"
            if key in arrays:
                renamed[f"{ours}.{p}"] = arrays[key]
    return _as_vggish_state(renamed, "torchvggish state dict")


def convert_tf_variables(variables: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF VGGish checkpoint variables -> this module's names.

    Conv ``weights`` go from ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``, FC
    ``weights`` from ``(in, out)`` to ``(out, in)``; FC inputs keep TF's NHWC
    flatten order, which the network reproduces.
    """
    state = {}
    for layer in CONV_LAYERS:
        if layer is None:
            continue
        name, scope, _out = layer
        for ours, theirs, perm in (("weight", "weights", (3, 2, 0, 1)), ("bias", "biases", None)):
            key = f"{scope}/{theirs}"
            if key not in variables:
                raise ValueError(f"TF checkpoint has no variable {key!r}")
            a = np.asarray(variables[key])
            state[f"{name}.{ours}"] = a.transpose(perm) if perm else a
    for name, scope, _i, _o in FC_LAYERS:
        for ours, theirs in (("weight", "weights"), ("bias", "biases")):
            key = f"{scope}/{theirs}"
            if key not in variables:
                raise ValueError(f"TF checkpoint has no variable {key!r}")
            a = np.asarray(variables[key])
            state[f"{name}.{ours}"] = a.T if ours == "weight" else a
    return _as_vggish_state(state, "TF VGGish checkpoint")


def convert_pca(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """PCA parameters (``pca_eigen_vectors`` 128x128, ``pca_means`` 128 or 128x1) -> ``pca.*``."""
    try:
        e = _to_numpy(params["pca_eigen_vectors"]).astype(np.float32)
        mu = _to_numpy(params["pca_means"]).astype(np.float32).reshape(-1)
    except KeyError as exc:
        raise ValueError(f"PCA parameters lack {exc.args[0]!r}") from None
    if e.shape != (EMBEDDING_DIM, EMBEDDING_DIM) or mu.shape != (EMBEDDING_DIM,):
        raise ValueError(f"bad PCA parameter shapes {e.shape}, {mu.shape}")
    return {"pca.eigen_vectors": np.ascontiguousarray(e), "pca.means": mu}


def _to_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    return np.asarray(v)


def _torch_load(path: Path) -> Mapping[str, Any]:
    """``torch.load`` restricted to tensors and plain numpy arrays (never arbitrary pickles)."""
    import pickle

    import torch

    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # torchvggish's PCA file stores numpy arrays: allow exactly their reconstruction.
            core = getattr(np, "_core", None) or np.core
            allowed: list[Any] = [np.ndarray, np.dtype, core.multiarray._reconstruct]
            allowed += [type(np.dtype(t)) for t in ("f4", "f8", "i4", "i8")]
            with torch.serialization.safe_globals(allowed):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure means "not a weights file"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{path}: not a torchvggish .pth, a TF checkpoint or a PCA .npz ({first[:200]})"
        ) from None
    if hasattr(obj, "state_dict") and not isinstance(obj, Mapping):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def _convert_one(path: Path) -> dict[str, np.ndarray]:
    from .tensorbundle import is_sstable, read_checkpoint

    if not path.exists() and not Path(f"{path}.index").exists():
        raise FileNotFoundError(f"no such weights file: {path}")
    if path.suffix == ".index" or Path(f"{path}.index").exists() or is_sstable(path):
        return convert_tf_variables(read_checkpoint(path))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if names and all(n.endswith(".npy") for n in names):
            with np.load(path, allow_pickle=False) as z:
                return convert_pca({k: z[k] for k in z.files})
    obj = _torch_load(path)
    if "pca_eigen_vectors" in obj:
        return convert_pca(obj)
    return convert_torchvggish(obj)


def convert_user_file(paths: Mapping[str, str | Path]) -> dict[str, np.ndarray]:
    """Zoo converter for user-supplied VGGish files: ``{key: path}`` -> state dict arrays.

    Usually ``{"file": path}``; more files (e.g. ``{"file": ..., "pca": ...}``)
    are merged. Each file is recognised by its content: a torchvggish ``.pth``
    (network or PCA), a TF checkpoint (V1 single file, or V2 prefix / ``.index``)
    or a ``vggish_pca_params.npz``. The result holds the network weights
    (:func:`vggish_state_shapes` names) and/or ``pca.eigen_vectors`` /
    ``pca.means``; the same weights from two files is an error.
    """
    merged: dict[str, np.ndarray] = {}
    for key, p in paths.items():
        try:
            part = _convert_one(Path(p))
        except (ValueError, OSError) as exc:
            raise ValueError(f"cannot read VGGish weights from {key}={p}: {exc}") from exc
        dup = set(part) & set(merged)
        if dup:
            raise ValueError(f"{p}: duplicates weights already given ({sorted(dup)[0]}, ...)")
        merged.update(part)
    if not merged:
        raise ValueError("no VGGish weight files given")
    return merged


# --------------------------------------------------------------------------- extractor

class _ClassOrInstanceMethod:
    """Bind a function to the instance when there is one, else to the class."""

    def __init__(self, func: Any) -> None:
        self.func = func

    def __get__(self, obj: Any, cls: type) -> Any:
        return functools.partial(self.func, cls if obj is None else obj)


def _spec_preprocessing() -> dict[str, Any]:
    from .extractor import load_spec

    try:
        return dict(load_spec("vggish").get("preprocessing", {}))
    except FileNotFoundError:
        return {}


@EXTRACTORS.register("vggish")
class VGGish(Extractor):
    """VGGish audio extractor: ``(B, 15360)`` 16 kHz windows -> ``(B, 128)``.

    Args:
        weights_set: weights set of ``extractors/vggish.json`` (a user set),
            loaded through the zoo.
        device: torch device string.
        state_dict: use these arrays (names of :func:`vggish_state_shapes`,
            plus ``pca.*`` if postprocessing) instead of the zoo.
        postprocess: ``"none"`` (raw embedding), ``"pca"`` or ``"pca_quantize"``;
            default from the spec's ``preprocessing.postprocess``.
        final_relu: ReLU on the 128-d layer (pre-2020 model; spec default).
        rounding: quantisation rounding, ``"round"`` or ``"floor"`` (spec default).
    """

    name = "vggish"
    modality = "audio"
    feature_dim = EMBEDDING_DIM
    n_crops = 1
    version = 1
    log_offset = af.VGGISH_LOG_OFFSET

    def __init__(
        self,
        weights_set: str | None = None,
        device: str = "cpu",
        state_dict: Mapping[str, np.ndarray] | None = None,
        postprocess: str | None = None,
        final_relu: bool | None = None,
        rounding: str | None = None,
    ) -> None:
        import torch

        from .yamnet import _load_into, state_dict_sha256

        cfg = _spec_preprocessing()
        self.postprocess_mode = postprocess if postprocess is not None else cfg.get("postprocess", "none")
        self.final_relu = bool(cfg.get("final_relu", True) if final_relu is None else final_relu)
        self.rounding = rounding if rounding is not None else cfg.get("quantize_rounding", "round")
        if self.postprocess_mode not in POSTPROCESS_MODES:
            raise ValueError(f"postprocess must be one of {POSTPROCESS_MODES}, got {self.postprocess_mode!r}")
        if self.rounding not in ("round", "floor"):
            raise ValueError(f"rounding must be 'round' or 'floor', got {self.rounding!r}")
        if state_dict is None:
            from .zoo import load_weights

            state_dict = load_weights(self.name, weights_set)
        net = {k: v for k, v in state_dict.items() if k not in PCA_KEYS}
        self.pca: tuple[np.ndarray, np.ndarray] | None = None
        if self.postprocess_mode != "none":
            if not all(k in state_dict for k in PCA_KEYS):
                raise ValueError(
                    f"postprocess={self.postprocess_mode!r} needs the PCA parameters "
                    "(vggish_pca_params .pth/.npz) next to the network weights"
                )
            self.pca = (np.asarray(state_dict[PCA_KEYS[0]]), np.asarray(state_dict[PCA_KEYS[1]]))
        self.device = torch.device(device)
        self.weights_sha256 = state_dict_sha256(state_dict)
        model = create_vggish(final_relu=self.final_relu)
        _load_into(model, net, "VGGish")
        self.model = model.eval().to(self.device)

    def describe_config(self) -> dict[str, Any]:
        """The options that change the features (postprocess, final ReLU, rounding)."""
        return {"postprocess": self.postprocess_mode, "final_relu": self.final_relu, "rounding": self.rounding}

    def _describe(self_or_cls: Any) -> dict[str, Any]:
        """Class description; on an instance also its feature-changing options."""
        is_cls = isinstance(self_or_cls, type)
        d = Extractor.describe.__func__(self_or_cls if is_cls else type(self_or_cls))  # type: ignore[attr-defined]
        if not is_cls:
            d.update(self_or_cls.describe_config())
        return d

    describe = _ClassOrInstanceMethod(_describe)  # type: ignore[assignment]

    def patches(self, batch: np.ndarray) -> np.ndarray:
        """The ``(B, 96, 64)`` log-mel example of each 0.96 s window (zero-padded to 15600 samples)."""
        return af.window_patches(batch, self.log_offset)

    def forward_examples(self, examples: np.ndarray) -> np.ndarray:
        """Run network (+ postprocessing) on ``(N, 96, 64)`` examples -> ``(N, 128)`` float32."""
        import torch

        x = np.require(examples, dtype=np.float32, requirements=["C", "W"])
        if x.ndim != 3 or x.shape[1:] != (af.PATCH_FRAMES, 64):
            raise ValueError(f"expected (N, 96, 64) log-mel examples, got shape {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        with torch.inference_mode():
            emb = self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()
        if self.pca is not None:
            emb = postprocess(emb, *self.pca, quantize=self.postprocess_mode == "pca_quantize", rounding=self.rounding)
        return emb

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 15360)`` float32 mono 16 kHz windows -> ``(B, 128)`` float32."""
        return self.forward_examples(self.patches(batch))

    def embed_waveform(self, waveform: np.ndarray) -> np.ndarray:
        """Official VGGish framing of a whole 1-D 16 kHz waveform -> ``(N, 128)``."""
        return self.forward_examples(af.vggish_examples(np.asarray(waveform, dtype=np.float32)))
