"""RobustA (the paper's method) on the HL-Net backbone.

- **Alignment**: a learned ``Linear(audio_dim, visual_dim)`` projection maps
  audio features into the visual feature space (``align="project"``), or, for
  the Table V ablation, audio is zero-padded to ``visual_dim``
  (``align="pad"``).
- **One modality-agnostic detector**: a single HL-Net whose input is ONE
  modality (visual, or the aligned audio). Training follows Eq. 2: each
  epoch has ``2n`` samples for ``n`` training videos, every video's visual
  features (one crop, drawn per epoch) and its aligned audio features
  (:func:`epoch_samples`; ``sampling="crop_coin"`` keeps the older
  one-coin-per-crop scheme). Projection and detector are trained jointly with
  the HL-Net MIL objective (top-k MIL on both heads + distillation), with the
  recipe of :mod:`.recipes` (default ``paper``).
- **Dynamic weighting at test time** (Eq. 3-5): each modality is scored
  alone; a per-modality reliability model of clean training features
  (:mod:`.reliability`: a GMM plus calibrations) gives each segment a weight
  ``lambda = 0.5 / (1 + exp(c (score + x0)))`` by the weighting option
  ``weighting`` (:mod:`.weighting`: ``typicality`` by default, ``gmm-paper``
  = the paper's NLL rule); the weights are normalised over the present
  modalities (a missing modality gets 0) and ``S = w_A A(audio) + w_V
  A(visual)`` for both heads. ``fusion="gmm"`` (the default) applies the
  detector's ``weighting``; ``fusion`` may also name any weighting option
  (``average`` = 0.5/0.5, the Fig. 4 ablation), all from the same states.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import DETECTORS, Detector, ScoreOut, TrainSet
from .gmm import GMMConfig, ModalityGMM, fusion_weights
from .graph import as_tensor, cosine_from_gram
from .hlnet import DROPOUT, HLNet
from .inference import FusedTail, SharedInputs, check_visual, compute_dtype, product, rows_per_pass
from .mil import cap_length, pad_batch
from .reliability import ModalityReliability, fit_reliability
from .sampling import epoch_samples
from .weighting import DEFAULT_WEIGHTING, WEIGHTINGS, WeightingConfig, get_weighting, weighting_names

ALIGNS = ("project", "pad")
#: ``gmm`` = the detector's own dynamic ``weighting``; the others name a weighting option
FUSIONS = ("gmm", *weighting_names())


def project_audio(
    projection: nn.Linear | None, audio: torch.Tensor, visual_dim: int, seq_len: torch.Tensor | None = None
) -> torch.Tensor:
    """Audio ``(B, T, da)`` in the visual space ``(B, T, dv)``: the learned ``projection``, or zero padding
    when it is None (the ``pad`` ablation); steps beyond ``seq_len`` stay zero."""
    if projection is None:
        return F.pad(audio, (0, visual_dim - audio.shape[-1]))
    out = projection(audio)
    if seq_len is not None:
        steps = torch.arange(out.shape[1], device=out.device)
        out = out * (steps[None, :] < seq_len.to(out.device)[:, None]).unsqueeze(-1).to(out.dtype)
    return out


class RobustANet(nn.Module):
    """The trainable part: the audio alignment and one HL-Net on ``visual_dim`` inputs."""

    def __init__(self, visual_dim: int, audio_dim: int, align: str = "project", dropout: float = DROPOUT) -> None:
        super().__init__()
        if align not in ALIGNS:
            raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
        if align == "pad" and audio_dim >= visual_dim:
            raise ValueError(
                f"align='pad' (the Table V padding ablation) needs audio features narrower than the visual ones, got "
                f"{audio_dim}-d audio and {visual_dim}-d visual: zero-padding {audio_dim}-d audio to {visual_dim}-d "
                + ("appends nothing, so the ablation would not test padding at all" if audio_dim == visual_dim
                   else "is impossible")
                + " (use 128-d VGGish audio, as the paper does, for Table V)"
            )
        self.align = align
        self.visual_dim = int(visual_dim)
        self.audio_dim = int(audio_dim)
        self.detector = HLNet(visual_dim, dropout=dropout)
        self.projection = nn.Linear(audio_dim, visual_dim) if align == "project" else None

    def reset_parameters(self, bias_init: str = "default") -> None:
        """Official HL-Net init for the detector; the projection gets the same rule (Xavier weight, ``bias_init``)."""
        self.detector.reset_parameters(bias_init=bias_init)
        if self.projection is not None:
            self.projection.reset_parameters()
            nn.init.xavier_uniform_(self.projection.weight)
            if bias_init == "zero":
                nn.init.zeros_(self.projection.bias)

    def online_parameters(self) -> list[nn.Parameter]:
        """The detector's online head (trained at ``online_lr_scale`` x lr)."""
        return self.detector.online_parameters()

    def embed_audio(self, audio: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
        """Audio (B, T, da) in the visual space (B, T, dv); padded steps (beyond ``seq_len``) stay zero."""
        return project_audio(self.projection, audio, self.visual_dim, seq_len)


class _RobustAScorer:
    """Scores each modality alone, then fuses (see the module docstring).

    The batched :meth:`visual_states` / :meth:`audio_states` (what the
    evaluation uses) run the detector through the inference fast path
    (:mod:`.inference`); the one-input :meth:`visual_state` /
    :meth:`audio_state` run the reference network, and the tests check that
    both agree.
    """

    def __init__(self, det: "RobustADetector", device: str, precision: str = "float32") -> None:
        self.det = det
        self.device = torch.device(device)
        self.net = det.net.to(self.device).eval()
        self.precision = precision
        dt = compute_dtype(precision)
        with torch.no_grad():
            conv1 = self.net.detector.conv1d1
            self.w1 = conv1.weight[:, :, 0].T.contiguous().to(dt)  # (dv, 512)
            self.b1 = conv1.bias.detach().clone()
        self.tail = FusedTail(self.net.detector, precision)
        self._audio_maps: tuple | None = None

    @torch.no_grad()
    def _run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        off, on = self.net.detector(x, None)
        return torch.sigmoid(off[..., 0]).mean(0).cpu().numpy(), torch.sigmoid(on[..., 0]).mean(0).cpu().numpy()

    @torch.no_grad()
    def _tails(self, pre: torch.Tensor, cos: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Sigmoid of both heads (two (N, T) arrays) of first-layer pre-activations (N, T, 512) and cosines (N, T, T).

        Sequences run through the fused tail together, in chunks that keep the
        (chunk, T, T) adjacencies within ~128 MB.
        """
        n, t = pre.shape[0], pre.shape[1]
        step = rows_per_pass(t)
        offs, ons = [], []
        for i in range(0, n, step):
            off, on = self.tail(pre[i : i + step], cos[i : i + step])
            offs.append(off.cpu().numpy())
            ons.append(on.cpu().numpy())
        return np.concatenate(offs), np.concatenate(ons)

    def _health(self, modality: str, seg_features: np.ndarray) -> dict[str, Any]:
        """Reliability statistics of one video's ``(T, d)`` segment features and the detector's own weights."""
        rel = self.det.reliability.get(modality)
        if rel is None:
            return {"nll": None, "logw": None, "stats": None}
        stats = rel.statistics(seg_features)
        return {"nll": stats["nll"], "logw": rel.log_weight(seg_features, self.det.weighting, stats), "stats": stats}

    def _log_weight(self, modality: str, state: dict[str, Any], fusion: str) -> np.ndarray:
        """``log lambda`` of one modality's state under the weighting option ``fusion``."""
        if fusion == self.det.weighting:
            return state["logw"]
        return self.det.reliability[modality].log_weight_of(state["stats"], fusion)

    def visual_state(self, visual: np.ndarray | None, length: int) -> dict[str, Any] | None:
        if visual is None:
            return None
        v = np.ascontiguousarray(visual[:, :length], dtype=np.float32)
        off, on = self._run(as_tensor(v, self.device))
        return {"off": off, "on": on, **self._health("visual", v.mean(0))}

    @torch.no_grad()
    def visual_states(
        self, inputs: Mapping[Any, np.ndarray | None], length: int, shared: SharedInputs | None = None
    ) -> dict[Any, dict[str, Any] | None]:
        """:meth:`visual_state` of several inputs of one video (same ``length``), in one network pass.

        ``shared`` (one per video) lends the stacked inputs and their Gram
        matrices computed for another detector of the same features.
        """
        keys = check_visual(inputs, self.det.visual_dim)
        out: dict[Any, dict[str, Any] | None] = {k: None for k, v in inputs.items() if v is None}
        if not keys:
            return out
        shared = shared if shared is not None else SharedInputs()
        x = shared.stack(inputs, keys, length, self.device)
        gram, sq = shared.gram(inputs, keys, length, self.device)
        off, on = self._tails(product(x, self.w1, self.b1), cosine_from_gram(gram, sq))
        counts = [inputs[k].shape[0] for k in keys]
        bounds = np.cumsum([0] + counts)
        for j, k in enumerate(keys):
            part = slice(bounds[j], bounds[j + 1])
            means = x[part].mean(0).cpu().numpy()  # crop mean (T, dv)
            out[k] = {"off": off[part].mean(0), "on": on[part].mean(0), **self._health("visual", means)}
        return out

    @torch.no_grad()
    def audio_states(self, inputs: Mapping[Any, np.ndarray | None], length: int) -> dict[Any, dict[str, Any] | None]:
        """:meth:`audio_state` of several inputs of one video (same ``length``), in one network pass.

        The alignment is affine and the detector's first layer and cosine
        similarity see it only through products, so both are computed in the
        audio space (:meth:`_aligned_inputs`) and the ``dv``-d aligned audio is
        never materialised.
        """
        keys = [k for k, v in inputs.items() if v is not None]
        out: dict[Any, dict[str, Any] | None] = {k: None for k, v in inputs.items() if v is None}
        if not keys:
            return out
        a = np.stack([np.ascontiguousarray(inputs[k][:length], dtype=np.float32) for k in keys])  # (K, T, da)
        off, on = self._tails(*self._aligned_inputs(torch.as_tensor(a, device=self.device)))
        for j, k in enumerate(keys):
            out[k] = {"off": off[j], "on": on[j], **self._health("audio", a[j])}
        return out

    def _aligned_inputs(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First-layer pre-activation (K, T, 512) and cosine similarity (K, T, T) of aligned audio (K, T, da).

        With the alignment ``x = a P^T + p`` (``pad``: ``P = [I; 0]``, ``p = 0``):
        ``conv1d1(x) = a (W P)^T + (W p + b)`` and
        ``x x^T = a (P^T P) a^T + (a u) 1^T + 1 (a u)^T + |p|^2`` with ``u = P^T p``.
        """
        if self._audio_maps is None:  # audio-space weights, once per scorer
            w1 = self.net.detector.conv1d1.weight[:, :, 0]  # (512, dv)
            b1 = self.net.detector.conv1d1.bias
            proj = self.net.projection
            if proj is None:
                self._audio_maps = (w1[:, : self.det.audio_dim].T.contiguous(), b1.clone(), None, None, None)
            else:
                p_w, p_b = proj.weight, proj.bias  # (dv, da), (dv,)
                self._audio_maps = ((w1 @ p_w).T.contiguous(), w1 @ p_b + b1, p_w.T @ p_b, p_w.T @ p_w, p_b.dot(p_b))
        w_pre, b_pre, u, ptp, pp = self._audio_maps
        pre = audio.matmul(w_pre) + b_pre
        if ptp is None:
            gram = audio.matmul(audio.transpose(1, 2))
        else:
            au = audio.matmul(u)  # (K, T)
            gram = audio.matmul(ptp).matmul(audio.transpose(1, 2))
            gram = gram + au[:, :, None] + au[:, None, :] + pp
        return pre, cosine_from_gram(gram, torch.diagonal(gram, dim1=1, dim2=2))

    @torch.no_grad()
    def audio_state(self, audio: np.ndarray | None, length: int) -> dict[str, Any] | None:
        if audio is None:
            return None
        a = np.ascontiguousarray(audio[:length], dtype=np.float32)
        x = self.net.embed_audio(as_tensor(a, self.device)[None])
        off, on = self._run(x)
        return {"off": off, "on": on, **self._health("audio", a)}

    def combine(self, vs: dict[str, Any] | None, as_: dict[str, Any] | None, fusion: str | None = None) -> ScoreOut:
        fusion = fusion or self.det.options["fusion"]
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if fusion == "gmm":
            fusion = self.det.weighting
        if vs is None and as_ is None:
            raise ValueError("both modalities are missing: nothing to score")
        logw: dict[str, np.ndarray] = {}
        if vs is None:
            wv = np.zeros(len(as_["off"]))
        elif as_ is None:
            wv = np.ones(len(vs["off"]))
        elif not WEIGHTINGS.get(fusion).dynamic:
            wv = np.full(len(vs["off"]), 0.5)
        else:
            if vs["logw"] is None or as_["logw"] is None:
                raise ValueError(f"fusion {fusion!r} needs fitted GMMs for both modalities (train the detector first)")
            logw = {"visual": self._log_weight("visual", vs, fusion), "audio": self._log_weight("audio", as_, fusion)}
            wv, _ = fusion_weights(logw["visual"], logw["audio"])
        wa = 1.0 - wv
        off = (wv * vs["off"] if vs is not None else 0.0) + (wa * as_["off"] if as_ is not None else 0.0)
        on = (wv * vs["on"] if vs is not None else 0.0) + (wa * as_["on"] if as_ is not None else 0.0)
        extras = {}
        for mod, st in (("visual", vs), ("audio", as_)):
            if st is not None:
                extras[f"{mod}_offline"] = st["off"]
                if st["nll"] is not None:
                    extras[f"{mod}_nll"] = st["nll"]
                    extras[f"{mod}_lambda"] = np.exp(logw.get(mod, st["logw"]))
        return ScoreOut(np.asarray(off, dtype=np.float64), np.asarray(on, dtype=np.float64), wv, extras)


@DETECTORS.register("robusta")
class RobustADetector(Detector):
    """RobustA: audio projection + one modality-agnostic HL-Net + reliability-weighted late fusion.

    ``weighting`` names the dynamic option ``fusion="gmm"`` applies
    (:mod:`.weighting`); ``weighting_config`` its unit and calibration anchors.
    """

    modalities = ("visual", "audio")
    fusions = FUSIONS
    summary = "RobustA: shared HL-Net over visual or projected audio, GMM-weighted late fusion"

    def __init__(
        self,
        visual_dim: int = 1024,
        audio_dim: int = 128,
        align: str = "project",
        fusion: str = "gmm",
        dropout: float = DROPOUT,
        gmm: dict[str, Any] | GMMConfig | None = None,
        weighting: str = DEFAULT_WEIGHTING,
        weighting_config: dict[str, Any] | WeightingConfig | None = None,
        **options: Any,
    ) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if weighting not in weighting_names(dynamic_only=True):
            raise ValueError(f"weighting must be one of {weighting_names(dynamic_only=True)}, got {weighting!r}")
        gcfg = gmm if isinstance(gmm, GMMConfig) else GMMConfig.from_dict(gmm or {})
        wcfg = weighting_config if isinstance(weighting_config, WeightingConfig) else WeightingConfig.from_dict(weighting_config)
        super().__init__(
            visual_dim, audio_dim, align=align, fusion=fusion, dropout=float(dropout), gmm=gcfg.to_dict(),
            weighting=weighting, weighting_config=wcfg.to_dict(), **options,
        )
        self.gmm_config = gcfg
        self.weighting = weighting
        self.weighting_config = wcfg
        self.net = RobustANet(self.visual_dim, self.audio_dim, align=align, dropout=dropout)
        self.reliability: dict[str, ModalityReliability | None] = {"visual": None, "audio": None}

    @property
    def gmm(self) -> dict[str, ModalityGMM | None]:
        """The clean-feature GMM of each modality (inside its reliability model)."""
        return {m: (r.gmm if r is not None else None) for m, r in self.reliability.items()}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            **super().describe(),
            "input": "visual (dv) or audio projected da->dv, one at a time",
            "options": {"align": list(ALIGNS), "fusion": list(FUSIONS), "weighting": weighting_names(dynamic_only=True)},
        }

    # ----------------------------------------------------------------- training
    def fit(self, train: TrainSet, cfg: Any, seed: int = 0, progress: bool = False, fit_gmm: bool = True) -> Any:
        """Joint training of projection + detector (Eq. 2, ``cfg.sampling``), then the per-modality GMMs (clean train only)."""
        from .train import train_network

        train.require("visual", "audio")
        if train.visual_dim != self.visual_dim or train.audio_dim != self.audio_dim:
            raise ValueError(
                f"features are {train.visual_dim}/{train.audio_dim}-d, detector expects {self.visual_dim}/{self.audio_dim}"
            )
        if fit_gmm:
            check_probe_data(self.weighting, train)
        sampling = getattr(cfg, "sampling", "eq2")
        n_samples = len(epoch_samples(train, sampling, int(seed), 0))
        device = torch.device(cfg.device)
        labels_all = torch.as_tensor(train.labels)
        dv = self.visual_dim
        cache: dict[int, list[tuple[int, str, int]]] = {}

        def batch_fn(idx: np.ndarray, epoch: int):
            if epoch not in cache:
                cache.clear()
                cache[epoch] = epoch_samples(train, sampling, int(seed), epoch)
            items = cache[epoch]
            vis = [items[k] for k in idx if items[k][1] == "visual"]
            aud = [items[k] for k in idx if items[k][1] == "audio"]
            parts = []
            if vis:
                xv, lv = pad_batch([cap_length(train.visual[i][c], cfg.max_seq_len) for i, _, c in vis], dv)
                parts.append((xv.to(device), lv))
            if aud:
                xa, la = pad_batch([cap_length(train.audio[i], cfg.max_seq_len) for i, _, _ in aud], self.audio_dim)
                parts.append((self.net.embed_audio(xa.to(device), la), la))
            t = max(int(p[1].max()) for p in parts)
            x = torch.cat([F.pad(p[0], (0, 0, 0, t - p[0].shape[1])) for p in parts], dim=0)
            lengths = torch.cat([p[1] for p in parts])
            off, on = self.net.detector(x, lengths)
            labels = labels_all[[i for i, _, _ in vis + aud]].to(device)
            return off, on, labels, lengths

        tlog = train_network(self.net, batch_fn, n_samples, cfg, seed, progress=progress, desc=self.name)
        self.train_info = {"seed": int(seed), "config": cfg.to_dict(), "log": tlog.to_dict(), "videos": len(train)}
        if fit_gmm:
            self.fit_gmms(train, seed)
        return tlog

    def fit_gmms(self, train: TrainSet, seed: int = 0) -> dict[str, ModalityReliability]:
        """Fit and calibrate both modalities' reliability models on clean training videos (cross-fitted)."""
        self.reliability = {"visual": None, "audio": None, **fit_gmms(train, self.gmm_config, seed, self.weighting_config)}
        return self.reliability

    # ------------------------------------------------------------------ scoring
    def scorer(self, device: str = "cpu", precision: str = "float32") -> _RobustAScorer:
        """The scorer on ``device``; ``precision`` as in :mod:`.inference`."""
        return _RobustAScorer(self, device, precision)

    # ---------------------------------------------------------------- save/load
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return network_state(self.net, self.reliability)

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.reliability = load_network_state(self.net, tensors, meta)


def network_state(net: Any, reliability: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors and metadata of a RobustA detector: the network (``model.*``, cloned: a backbone may share
    one tensor between two keys) and each modality's reliability model (``gmm.<modality>.*``)."""
    tensors: dict[str, Any] = {f"model.{k}": v.detach().clone() for k, v in net.state_dict().items()}
    gmeta = {}
    for mod, g in reliability.items():
        if g is not None:
            arrays, m = g.to_arrays(f"gmm.{mod}")
            tensors.update(arrays)
            gmeta[mod] = m
    return tensors, {"gmm": gmeta}


def load_network_state(net: Any, tensors: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`network_state`: load ``net`` (eval mode) and return the reliability models."""
    sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    net.load_state_dict(sd, strict=True)
    net.eval()
    arrays = {k: v.numpy() for k, v in tensors.items() if k.startswith("gmm.")}
    reliability: dict[str, Any] = {mod: None for mod in ("visual", "audio")}
    for mod, m in meta.get("gmm", {}).items():
        reliability[mod] = ModalityReliability.from_arrays(arrays, m, f"gmm.{mod}")
    return reliability


def segment_features(train: TrainSet, modality: str) -> list[np.ndarray]:
    """Per-video segment features for the GMM: visual averaged over crops (T, dv), audio as is (T, da)."""
    if modality == "visual":
        return [v.mean(0) for v in train.visual]
    return list(train.audio)


def check_probe_data(weighting: str, train: TrainSet) -> None:
    """Refuse, before any training, a weighting that reads the probe when ``train`` has no perturbed features."""
    from .reliability import needs_probe_message

    if "probe" in get_weighting(weighting).statistics:
        missing = [m for m in ("visual", "audio") if getattr(train, m) is not None and not any(train.perturbed.get(m) or [])]
        if missing:
            raise ValueError(f"{needs_probe_message(weighting)}; no perturbed {'/'.join(missing)} training features")


def fit_gmms(
    train: TrainSet, cfg: GMMConfig, seed: int = 0, wcfg: WeightingConfig | None = None
) -> dict[str, ModalityReliability]:
    """One calibrated :class:`~.reliability.ModalityReliability` per modality present in ``train``.

    Reads the clean training videos of ``train`` only, plus their self-made perturbations when
    ``train.perturbed`` has them (:func:`~.reliability.fit_reliability`: cross-fitted calibration
    over ``wcfg.folds`` groups of videos).
    """
    out = {}
    for mod in ("visual", "audio"):
        if getattr(train, mod) is None:
            continue
        out[mod] = fit_reliability(segment_features(train, mod), cfg, wcfg, seed=int(seed), perturbed=train.perturbed.get(mod))
    return out


DETECTORS.register_ablation("robusta-pad", "robusta", align="pad", summary="RobustA with zero-padded audio instead of the projection (Table V)")
DETECTORS.register_ablation(
    "robusta-learned-video", "robusta", weighting="learned-gmm", weighting_config={"unit": "video"},
    summary="RobustA weighted by the degradation probe + GMM on the video mean (issue 18; needs "
            "'extract --variants perturbations --variant-split train')",
)
DETECTORS.register_ablation("robusta-average", "robusta", fusion="average", summary="RobustA with 0.5/0.5 late fusion instead of GMM weights (Fig. 4)")
for _name in weighting_names(dynamic_only=True):
    # robusta-gmm-paper, robusta-gmm-two-sided, robusta-typicality, robusta-gmm-norm: one trained
    # detector fused at test time by that weighting option (Fig. 4 per option; see detectors/weighting.py)
    DETECTORS.register_ablation(
        f"robusta-{_name}", "robusta", fusion=_name,
        summary=f"RobustA fused by the {_name!r} weighting option (robusta-bench list weightings)",
    )
del _name
