"""RobustA around any backbone (paper Sec. V-B, Table III): ``robusta-rtfm``, ``robusta-hypervd``, ``robusta-backbone``.

The RobustA components wrap a network that meets the backbone contract
(:mod:`.backbone`):

- **Alignment**: ``Linear(audio_dim, visual_dim)`` learned jointly with the
  backbone (``align="project"``), or zero-padding of the audio to the visual
  width (``align="pad"``, the Table V ablation; ``-pad`` suffix).
- **One modality-agnostic detector**, trained on ``2n`` samples (Eq. 2): each
  training sample (each visual crop of each video) takes, in each epoch,
  either its visual crop or its video's aligned audio, 50/50, drawn from a
  generator seeded by ``(seed, epoch)`` (the same draw as ``robusta``); the
  loss is the backbone's own :meth:`training_loss` on the mixed batch.
- **Dynamic weighting at inference** (Eq. 3-5): each modality is scored alone
  by the same backbone; the clean-feature GMMs of :mod:`.gmm`, fitted by
  :func:`.robusta.fit_gmms`, give per-snippet weights (:func:`.gmm.fusion_weights`);
  ``fusion="average"`` (``-average`` suffix) uses 0.5/0.5. A missing modality
  gets weight 0.

``robusta`` stays RobustA(HL-Net) (:mod:`.robusta`, with its fast scoring
path); ``robusta-backbone`` with ``backbone="hlnet"`` is the same method
through this generic wrapper. A user's own backbone is registered in
:data:`.backbone.BACKBONES` and named with ``backbone=<name>``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..seeding import rng_for
from .backbone import build_backbone, crop_scores
from .base import DETECTORS, Detector, ScoreOut, TrainSet
from .gmm import GMMConfig, fusion_weights
from .reliability import ModalityReliability
from .robusta import project_audio
from .weighting import DEFAULT_WEIGHTING

ALIGNS = ("project", "pad")
FUSIONS = ("gmm", "average")


class WrappedNet(nn.Module):
    """The trainable part: the audio alignment and one backbone on ``visual_dim`` inputs."""

    def __init__(self, backbone: nn.Module, visual_dim: int, audio_dim: int, align: str = "project") -> None:
        super().__init__()
        if align not in ALIGNS:
            raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
        if align == "pad" and audio_dim > visual_dim:
            raise ValueError(f"align='pad' needs audio_dim <= visual_dim ({audio_dim} > {visual_dim})")
        if int(backbone.input_dim) != int(visual_dim):
            raise ValueError(f"the backbone takes {backbone.input_dim}-d inputs, the visual features are {visual_dim}-d")
        self.visual_dim, self.audio_dim, self.align = int(visual_dim), int(audio_dim), align
        self.backbone = backbone
        self.projection = nn.Linear(audio_dim, visual_dim) if align == "project" else None

    def reset_parameters(self) -> None:
        """The backbone's own initialisation, Xavier-uniform/zero for the projection."""
        self.backbone.reset_parameters()
        if self.projection is not None:
            nn.init.xavier_uniform_(self.projection.weight)
            nn.init.zeros_(self.projection.bias)

    def embed_audio(self, audio: torch.Tensor, seq_len: torch.Tensor | None = None) -> torch.Tensor:
        """Audio ``(B, T, da)`` in the visual space ``(B, T, dv)``; steps beyond ``seq_len`` stay zero."""
        return project_audio(self.projection, audio, self.visual_dim, seq_len)


def fuse(vs: dict | None, as_: dict | None, fusion: str) -> ScoreOut:
    """``S = w_V A(visual) + w_A A(audio)`` on both heads from the two modality states (either may be None)."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    if vs is None and as_ is None:
        raise ValueError("both modalities are missing: nothing to score")
    if vs is None:
        wv = np.zeros(len(as_["off"]))
    elif as_ is None:
        wv = np.ones(len(vs["off"]))
    elif fusion == "average":
        wv = np.full(len(vs["off"]), 0.5)
    else:
        if vs["logw"] is None or as_["logw"] is None:
            raise ValueError("fusion 'gmm' needs fitted GMMs for both modalities (train the detector first)")
        wv, _ = fusion_weights(vs["logw"], as_["logw"])
    heads = []
    for key in ("off", "on"):
        s = np.zeros(len(wv))
        if vs is not None:
            s = s + wv * vs[key]
        if as_ is not None:
            s = s + (1.0 - wv) * as_[key]
        heads.append(np.asarray(s, dtype=np.float64))
    extras = {}
    for mod, st in (("visual", vs), ("audio", as_)):
        if st is not None:
            extras[f"{mod}_offline"] = st["off"]
            if st["nll"] is not None:
                extras[f"{mod}_nll"] = st["nll"]
                extras[f"{mod}_lambda"] = np.exp(st["logw"])
    return ScoreOut(heads[0], heads[1], wv, extras)


class WrappedScorer:
    """Scores each modality alone through the backbone (crops averaged), then fuses (:func:`fuse`)."""

    def __init__(self, det: "RobustABackboneDetector", device: str = "cpu") -> None:
        self.det = det
        self.device = torch.device(device)
        self.net = det.net.to(self.device).eval()

    def _health(self, modality: str, feats: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        rel = self.det.gmm.get(modality)  # a calibrated ModalityReliability (robusta.fit_gmms)
        if rel is None:
            return None, None
        stats = rel.statistics(feats)
        return stats["nll"], rel.log_weight_of(stats, DEFAULT_WEIGHTING)

    def visual_state(self, visual: np.ndarray | None, length: int) -> dict[str, Any] | None:
        if visual is None:
            return None
        if visual.ndim != 3 or visual.shape[2] != self.det.visual_dim:
            raise ValueError(f"visual features must be (crops, T, {self.det.visual_dim}), got {visual.shape}")
        v = np.ascontiguousarray(visual[:, :length], dtype=np.float32)
        off, on = crop_scores(self.net.backbone, v, self.device)
        nll, logw = self._health("visual", v.mean(0))
        return {"off": off, "on": on, "nll": nll, "logw": logw}

    @torch.no_grad()
    def audio_state(self, audio: np.ndarray | None, length: int) -> dict[str, Any] | None:
        if audio is None:
            return None
        a = np.ascontiguousarray(audio[:length], dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != self.det.audio_dim:
            raise ValueError(f"audio features must be (T, {self.det.audio_dim}), got {a.shape}")
        x = self.net.embed_audio(torch.as_tensor(a, device=self.device)[None])
        off, on = crop_scores(self.net.backbone, x.cpu().numpy(), self.device)
        nll, logw = self._health("audio", a)
        return {"off": off, "on": on, "nll": nll, "logw": logw}

    def combine(self, vs: dict | None, as_: dict | None, fusion: str | None = None) -> ScoreOut:
        return fuse(vs, as_, fusion or self.det.options["fusion"])


@DETECTORS.register("robusta-backbone")
class RobustABackboneDetector(Detector):
    """RobustA around a registered backbone (option ``backbone``; see the module docstring)."""

    modalities = ("visual", "audio")
    fusions = FUSIONS
    #: the backbone a registered subclass is fixed to (None: the ``backbone`` option, default hlnet)
    fixed_backbone: ClassVar[str | None] = None
    summary = "RobustA on any registered backbone (option backbone=<name>): projection + shared detector + GMM fusion"

    def __init__(
        self,
        visual_dim: int = 1024,
        audio_dim: int = 128,
        backbone: str | None = None,
        align: str = "project",
        fusion: str = "gmm",
        gmm: dict[str, Any] | GMMConfig | None = None,
        backbone_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if self.fixed_backbone is not None and backbone not in (None, self.fixed_backbone):
            raise ValueError(f"{self.name} is RobustA on {self.fixed_backbone}; use robusta-backbone for backbone={backbone!r}")
        backbone = backbone or self.fixed_backbone or "hlnet"
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        gcfg = gmm if isinstance(gmm, GMMConfig) else GMMConfig.from_dict(gmm or {})
        bopts = dict(backbone_options or {})
        super().__init__(
            visual_dim, audio_dim, backbone=backbone, align=align, fusion=fusion, gmm=gcfg.to_dict(),
            backbone_options=bopts, **options,
        )
        self.gmm_config = gcfg
        self.net = WrappedNet(build_backbone(backbone, self.visual_dim, **bopts), self.visual_dim, self.audio_dim, align)
        self.gmm: dict[str, ModalityReliability | None] = {"visual": None, "audio": None}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            **super().describe(),
            "backbone": cls.fixed_backbone or "option",
            "options": {"align": list(ALIGNS), "fusion": list(FUSIONS)},
            # registered with DETECTORS.register_ablation at the end of this module
            "ablations": [f"{cls.name}-pad", f"{cls.name}-average"],
        }

    # ----------------------------------------------------------------- training
    def fit(self, train: TrainSet, cfg: Any, seed: int = 0, progress: bool = False, fit_gmm: bool = True) -> Any:
        """Joint training of alignment + backbone on the Eq.-2 samples with the backbone's loss, then the GMMs."""
        from .loss_loop import train_with_loss
        from .mil import cap_length, pad_batch
        from .robusta import fit_gmms

        train.require("visual", "audio")
        if train.visual_dim != self.visual_dim or train.audio_dim != self.audio_dim:
            raise ValueError(
                f"{self.name}: features are {train.visual_dim}/{train.audio_dim}-d, expected {self.visual_dim}/{self.audio_dim}"
            )
        items = [(i, c) for i, v in enumerate(train.visual) for c in range(v.shape[0])]
        labels_all = torch.as_tensor(train.labels, dtype=torch.float32)
        device = torch.device(cfg.device)

        def step_fn(idx: np.ndarray, epoch: int):
            use_visual = rng_for("robusta-modality", int(seed), epoch).random(len(items)) < 0.5
            vis = [k for k in idx if use_visual[k]]
            aud = [k for k in idx if not use_visual[k]]
            parts = []
            if vis:
                xv, lv = pad_batch([cap_length(train.visual[items[k][0]][items[k][1]], cfg.max_seq_len) for k in vis], self.visual_dim)
                parts.append((xv.to(device), lv))
            if aud:
                xa, la = pad_batch([cap_length(train.audio[items[k][0]], cfg.max_seq_len) for k in aud], self.audio_dim)
                parts.append((self.net.embed_audio(xa.to(device), la), la))
            t = max(int(p[1].max()) for p in parts)
            x = torch.cat([F.pad(p[0], (0, 0, 0, t - p[0].shape[1])) for p in parts], dim=0)
            lengths = torch.cat([p[1] for p in parts]).to(device)
            labels = labels_all[[items[k][0] for k in vis + aud]].to(device)
            return self.net.backbone.training_loss(x, lengths, labels)

        tlog = train_with_loss(self.net, step_fn, len(items), cfg, seed, progress=progress, desc=self.name)
        self.train_info = {"seed": int(seed), "config": cfg.to_dict(), "log": tlog.to_dict(), "videos": len(train)}
        if fit_gmm:
            self.gmm = fit_gmms(train, self.gmm_config, seed)
        return tlog

    # ------------------------------------------------------------------ scoring
    def scorer(self, device: str = "cpu") -> WrappedScorer:
        """A :class:`WrappedScorer` on ``device``."""
        return WrappedScorer(self, device)

    # ---------------------------------------------------------------- save/load
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from .robusta import network_state

        return network_state(self.net, self.gmm)

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        from .robusta import load_network_state

        self.gmm = load_network_state(self.net, tensors, meta)


@DETECTORS.register("robusta-rtfm")
class RobustARTFMDetector(RobustABackboneDetector):
    """RobustA(RTFM): the wrapper with the RTFM backbone adapter."""

    fixed_backbone = "rtfm"
    summary = "RobustA on RTFM: audio projected to the visual width, one RTFM on either modality, GMM fusion"


@DETECTORS.register("robusta-hypervd")
class RobustAHyperVDDetector(RobustABackboneDetector):
    """RobustA(HyperVD): the wrapper with the HyperVD backbone adapter."""

    fixed_backbone = "hypervd"
    summary = "RobustA on HyperVD: audio projected to the visual width, one HyperVD on either modality, GMM fusion"


for _name in ("robusta-backbone", "robusta-rtfm", "robusta-hypervd"):
    DETECTORS.register_ablation(f"{_name}-pad", _name, align="pad",
                                summary=f"{_name} with zero-padded audio instead of the projection (Table V)")
    DETECTORS.register_ablation(f"{_name}-average", _name, fusion="average",
                                summary=f"{_name} with 0.5/0.5 late fusion instead of GMM weights (Fig. 4)")
del _name
