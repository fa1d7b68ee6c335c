"""The inference fast path: fused tail == the reference network, shared inputs, the bfloat16 option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import XD, need
from robusta_bench.detectors.base import build_detector
from robusta_bench.detectors.graph import cosine_similarity
from robusta_bench.detectors.hlnet import HLNet, HLNetDetector, load_official_checkpoint
from robusta_bench.detectors.inference import FusedTail, SharedInputs, compute_dtype
from robusta_bench.evaluation.scoring import make_scorer, modality_states

torch.set_num_threads(1)
CKPT = XD / "checkpoints" / "hlnet_xdviolence_mix2.pt"


def _reference(net: HLNet, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        off, on = net(x, None)
    return torch.sigmoid(off[..., 0]).numpy(), torch.sigmoid(on[..., 0]).numpy()


def _fused(net: HLNet, x: torch.Tensor, precision: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    tail = FusedTail(net, precision)
    with torch.no_grad():
        pre = torch.nn.functional.linear(x, net.conv1d1.weight[:, :, 0], net.conv1d1.bias)
        off, on = tail(pre, cosine_similarity(x))
    return off.numpy(), on.numpy()


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 6, 37])
def test_fused_tail_equals_official_network(length):
    """Every branch, residual tap and the causal head, including sequences shorter than the kernels."""
    net = load_official_checkpoint(str(need(CKPT)))
    g = torch.Generator().manual_seed(length)
    x = torch.relu(torch.randn(3, length, 1152, generator=g))
    ref_off, ref_on = _reference(net, x)
    got_off, got_on = _fused(net, x)
    assert got_off.shape == ref_off.shape == (3, length)
    assert np.abs(got_off - ref_off).max() < 1e-5
    assert np.abs(got_on - ref_on).max() < 1e-5


def test_fused_tail_on_fresh_weights_and_any_width():
    """Random (untrained) weights of a 40-d network: the regrouping does not depend on the checkpoint."""
    torch.manual_seed(0)
    net = HLNet(40).eval()
    for m in net.modules():  # non-zero biases everywhere, so a mis-placed bias shows
        if getattr(m, "bias", None) is not None:
            torch.nn.init.normal_(m.bias, std=0.3)
    x = torch.randn(4, 23, 40)
    ref_off, ref_on = _reference(net, x)
    got_off, got_on = _fused(net, x)
    assert np.abs(got_off - ref_off).max() < 1e-5 and np.abs(got_on - ref_on).max() < 1e-5


def test_fused_tail_is_a_snapshot():
    net = HLNet(16).eval()
    x = torch.randn(2, 9, 16)
    before = _fused(net, x)[0]
    tail = FusedTail(net)
    with torch.no_grad():
        net.classifier.bias += 5.0
        pre = torch.nn.functional.linear(x, net.conv1d1.weight[:, :, 0], net.conv1d1.bias)
        off, _ = tail(pre, cosine_similarity(x))
    assert np.allclose(off.numpy(), before, atol=1e-6)  # built before the change: old weights


def test_precision_names():
    assert compute_dtype("float32") == torch.float32 and compute_dtype("bfloat16") == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        compute_dtype("float16")


def test_bfloat16_scores_close_to_float32():
    """The opt-in bfloat16 products move the official checkpoint's scores by less than 0.02 (and not by 0)."""
    det = HLNetDetector.from_official_checkpoint(str(need(CKPT)))
    rng = np.random.default_rng(1)
    visual = np.maximum(rng.normal(0, 0.5, (5, 41, 1024)), 0).astype(np.float32)
    audio = np.maximum(rng.normal(0, 0.5, (41, 128)), 0).astype(np.float32)
    outs = {}
    for prec in ("float32", "bfloat16"):
        sc = det.scorer(precision=prec)
        outs[prec] = sc.combine(sc.visual_state(visual, 41), sc.audio_state(audio, 41))
    d_off = np.abs(outs["float32"].offline - outs["bfloat16"].offline).max()
    d_on = np.abs(outs["float32"].online - outs["bfloat16"].online).max()
    assert 0 < d_off < 0.02 and 0 < d_on < 0.02
    with pytest.raises(ValueError, match="precision"):
        det.scorer(precision="int8")


def test_shared_inputs_are_computed_once_and_reused():
    rng = np.random.default_rng(2)
    inputs = {"clean": rng.standard_normal((2, 7, 6), dtype=np.float32),
              "fog": rng.standard_normal((2, 9, 6), dtype=np.float32)}
    shared = SharedInputs()
    x = shared.stack(inputs, ["clean", "fog"], 7, "cpu")
    assert x.shape == (4, 7, 6) and np.array_equal(x[2:].numpy(), inputs["fog"][:, :7])
    assert shared.stack(inputs, ["clean", "fog"], 7, "cpu") is x
    gram, sq = shared.gram(inputs, ["clean", "fog"], 7, "cpu")
    assert shared.gram(inputs, ["clean", "fog"], 7, "cpu")[0] is gram
    xn = x.numpy()
    assert np.allclose(gram.numpy(), xn @ xn.transpose(0, 2, 1), atol=1e-5)
    assert np.allclose(sq.numpy(), (xn * xn).sum(-1), atol=1e-5)
    # another length or other arrays: another entry
    assert shared.stack(inputs, ["clean", "fog"], 5, "cpu").shape == (4, 5, 6)
    other = {"clean": inputs["clean"] + 1, "fog": inputs["fog"]}
    assert not np.array_equal(shared.stack(other, ["clean", "fog"], 7, "cpu").numpy(), xn)


def test_detectors_share_the_gram_work_and_keep_their_scores():
    """HL-Net and RobustA scored through one SharedInputs give the same states as scored alone."""
    rng = np.random.default_rng(3)
    hl = build_detector("hlnet", visual_dim=12, audio_dim=4)
    ra = build_detector("robusta", visual_dim=12, audio_dim=4)
    vis = {"clean": rng.standard_normal((3, 10, 12), dtype=np.float32),
           "fog": rng.standard_normal((3, 10, 12), dtype=np.float32), "missing": None}
    shared = SharedInputs()
    calls = []
    original = SharedInputs.gram

    def counting(self, *args, **kw):
        calls.append(args[1])
        return original(self, *args, **kw)

    SharedInputs.gram = counting
    try:
        together = [modality_states(d.scorer(), "visual", vis, 10, shared) for d in (hl, ra)]
    finally:
        SharedInputs.gram = original
    assert len(calls) == 2 and len(shared._memo) == 2  # one stack + one Gram entry for both detectors
    alone = [d.scorer().visual_states(vis, 10) for d in (hl, ra)]
    for key in ("clean", "fog"):
        assert torch.equal(together[0][key]["pre"], alone[0][key]["pre"])
        assert np.array_equal(together[1][key]["off"], alone[1][key]["off"])
    assert together[1]["missing"] is None and together[0]["missing"]["pre"] is None


def test_make_scorer_precision():
    det = build_detector("robusta", visual_dim=8, audio_dim=4)
    assert make_scorer(det, "cpu", "bfloat16").precision == "bfloat16"

    class Plain:
        name = "plain"

        def scorer(self, device="cpu"):
            return object()

    assert make_scorer(Plain(), "cpu") is not None
    with pytest.raises(ValueError, match="plain.*bfloat16"):
        make_scorer(Plain(), "cpu", "bfloat16")


def test_check_precision_on_classes_and_names():
    """The check ``evaluate()`` runs before training: on detector classes, and unknown names refused."""
    from robusta_bench.detectors.base import get_detector_class
    from robusta_bench.evaluation.scoring import check_scoring_precision

    for name in ("hlnet", "robusta"):
        check_scoring_precision(get_detector_class(name), "bfloat16")
        check_scoring_precision(get_detector_class(name), "float32")
    with pytest.raises(ValueError, match="precision must be one of"):
        check_scoring_precision(get_detector_class("hlnet"), "int8")
