"""Parity with the original OAST code (shared/parity/oast, README tolerances)."""

from __future__ import annotations

import copy

import pytest
import torch
from oast.checkpoint import backbone_to_encoder, load_backbone
from oast.engine import phase_ab_iteration, phase_c_iteration, rescaled_size, teacher_views
from oast.model.discriminator import DiscriminatorFinetuning, DiscriminatorTrain
from oast.model.losses import (
    ab_adversarial_loss,
    c_adversarial_loss,
    iou_metric,
    online_seg_loss,
    seg_loss,
)
from oast.model.network import MobileViTVOS
from vos_common.training.ema import ModelEMA

FWD = {"rtol": 1e-5, "atol": 1e-5}


def close(actual, expected, **tol):
    torch.testing.assert_close(actual, expected.to(actual.dtype), **(tol or FWD))


def loss_close(actual: float, expected: torch.Tensor) -> None:
    assert actual == pytest.approx(float(expected), rel=1e-5, abs=0)


def grad_close(actual: torch.Tensor, expected: torch.Tensor, rel_to_max: float) -> None:
    bound = rel_to_max * float(expected.abs().max())
    err = float((actual.double() - expected.double()).abs().max())
    assert err <= bound, f"gradient off by {err:.3g} > {bound:.3g}"


def global_norm(module: torch.nn.Module) -> torch.Tensor:
    return (
        torch.stack(
            [p.grad.double().pow(2).sum() for p in module.parameters() if p.grad is not None]
        )
        .sum()
        .sqrt()
    )


def make_net(scale, filled_state, table=None):
    net = MobileViTVOS(scale)
    net.load_state_dict(filled_state(table or f"keys_oast_{scale}.json"), strict=True)
    return net


def make_disc(cls, filled_state):
    disc = cls()
    disc.load_state_dict(filled_state("keys_discriminator.json"), strict=True)
    return disc


@pytest.mark.parametrize("scale", ["xxs", "s"])
def test_forward_eval(scale, parity, filled_state):
    _, load = parity
    case = load(f"case_forward_{scale}.pt")
    img, flow = case["inputs"]["img"].float(), case["inputs"]["flow"].float() / 255
    net = make_net(scale, filled_state).eval()
    out = case["outputs"]
    with torch.no_grad():
        feats = net.forward_features(img, flow)
        for i in range(4):  # encoder stages first: they localise a mistake
            close(feats[i], out[f"encoder.{i}"])
        close(net.decoder(feats), out["decoder_raw"])
        logits, feature_map = net(img, flow)
    close(logits, out["logits"])
    close(feature_map, out["feature_map"])


@pytest.mark.parametrize(
    "name,cls,source",
    [("D_A", DiscriminatorTrain, "feature_map"), ("D_C", DiscriminatorFinetuning, "logits")],
)
def test_discriminators(name, cls, source, parity, filled_state):
    _, load = parity
    case = load("case_discriminators.pt")
    x = load("case_forward_xxs.pt")["outputs"][source]
    disc = make_disc(cls, filled_state).train()
    with torch.no_grad():
        close(disc(x), case["outputs"][f"{name}.train"], rtol=1e-5, atol=1e-6)
    state = disc.state_dict()
    for key, value in case["bn_buffers_after_one_train_call"][name].items():
        if key.endswith("num_batches_tracked"):
            assert int(state[key]) == int(value)
        else:
            close(state[key], value, rtol=1e-5, atol=1e-6)
    disc = make_disc(cls, filled_state).eval()
    with torch.no_grad():
        close(disc(x), case["outputs"][f"{name}.eval"], rtol=1e-5, atol=1e-6)


def test_backbone_mapping(parity, filled_state, tmp_path):
    _, load = parity
    case = load("case_backbone2d_mapping.pt")
    sd2d = filled_state("keys_backbone2d_xxs.json")
    path = tmp_path / "mobilevit_xxs.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in sd2d.items()}}, path)
    net = MobileViTVOS("xxs")
    assert load_backbone(net, path) == 268
    encoder = net.encoder.state_dict()
    assert set(encoder) == set(case["encoder_fingerprint"])
    for key, (total, total_abs, nonzero) in case["encoder_fingerprint"].items():
        t = encoder[key].double()
        assert float(t.sum()) == pytest.approx(float(total), rel=1e-9, abs=1e-12), key
        assert float(t.abs().sum()) == pytest.approx(float(total_abs), rel=1e-9, abs=1e-12), key
        assert int((t != 0).sum()) == int(nonzero), key
    # the in-memory converter gives the same encoder tensors
    mapped = backbone_to_encoder(sd2d)
    assert len(mapped) == 268
    assert all(torch.equal(mapped[k], net.state_dict()[k]) for k in mapped)
    net.eval()
    with torch.no_grad():
        feats = net.forward_features(
            case["inputs"]["img"].float(), case["inputs"]["flow"].float() / 255
        )
    close(feats[2], case["outputs"]["encoder.2"])
    close(feats[3], case["outputs"]["encoder.3"])


def test_losses_and_metric(parity):
    _, load = parity
    case = load("case_losses.pt")
    i, want = case["inputs"], case["losses"]
    z, t, y, y_empty = i["z"], i["t"], i["y"].float(), i["y_empty"].float()
    got = {
        "seg(z, y)": seg_loss(z, y),
        "seg(z, y_empty)": seg_loss(z, y_empty),
        "online_seg(z, t)": online_seg_loss(z, t),
        "ab_adv_released(p_img, 1)": ab_adversarial_loss(i["p_img"], True),
        "ab_adv_released(p_img, 0)": ab_adversarial_loss(i["p_img"], False),
        "ab_adv_corrected(p_img, 1)": ab_adversarial_loss(i["p_img"], True, double_sigmoid=False),
        "ab_adv_corrected(p_img, 0)": ab_adversarial_loss(i["p_img"], False, double_sigmoid=False),
        "c_adv(p_pix, 1)": c_adversarial_loss(i["p_pix"], True),
        "c_adv(p_pix, 0)": c_adversarial_loss(i["p_pix"], False),
    }
    assert set(got) == set(want)
    for key, value in want.items():
        loss_close(float(got[key]), value)
    pred = (torch.sigmoid(z) >= 0.5).float()
    m = case["metric"]
    assert iou_metric(pred, y) == pytest.approx(m["iou(y, sigmoid(z)>=0.5)"], abs=1e-6)
    assert iou_metric(pred, y_empty) == pytest.approx(m["iou(y_empty, sigmoid(z)>=0.5)"], abs=1e-6)
    zeros = torch.zeros(2, 1, 8, 8)
    assert iou_metric(zeros, zeros) == m["iou(zeros, zeros)"] == 1.0


def test_metric_matches_vos_eval(parity):
    from vos_eval.oast import oast_batch_iou

    _, load = parity
    i = load("case_losses.pt")["inputs"]
    pred = (torch.sigmoid(i["z"]) >= 0.5).float()
    for y in (i["y"], i["y_empty"]):
        assert iou_metric(pred, y.float()) == pytest.approx(
            oast_batch_iou(pred.numpy(), y.numpy()), abs=1e-12
        )


def test_phase_ab_step(parity, filled_state, step_inputs, no_dropout):
    _, load = parity
    case = load("case_phase_ab_step.pt")
    s = step_inputs
    net = no_dropout(make_net("xxs", filled_state)).train()
    disc = make_disc(DiscriminatorTrain, filled_state).train()
    result = phase_ab_iteration(
        net,
        disc,
        {"image": s["img"], "flow": s["flow"], "mask": s["mask"]},
        {"image": s["img_u"], "flow": s["flow_u"]},
        lambda_adv=1e-4,
        double_sigmoid=True,
        keep=True,
    )
    tensors = result["tensors"]
    for key, value in case["outputs"].items():
        close(tensors[key], value)
    for key, value in case["losses_released"].items():
        loss_close(result[key], value)
    params = dict(net.named_parameters())
    for key, value in case["grads"]["model"].items():
        actual = global_norm(net) if key == "__global_l2_norm__" else params[key].grad
        grad_close(actual, value, 1e-3)
    dparams = dict(disc.named_parameters())
    for key, value in case["grads"]["D_A"].items():
        actual = global_norm(disc) if key == "__global_l2_norm__" else dparams[key].grad
        grad_close(actual, value, 1e-2)
    for module, name in ((net, "model"), (disc, "D_A")):
        state = module.state_dict()
        for key, value in case["bn_buffers_after"][name].items():
            if key.endswith("num_batches_tracked"):
                assert int(state[key]) == int(value), key
            else:
                close(state[key], value, rtol=1e-5, atol=1e-6)
    # the corrected loss (plain BCE, config loss.adv_loss: corrected) on the same D_A outputs
    want = case["losses_corrected_single_sigmoid"]
    call1, call2, call3 = (
        tensors[f"D_A_call{k}"] for k in ("1_unlabeled", "2_labeled", "3_unlabeled")
    )
    adv_g = ab_adversarial_loss(call1, True, double_sigmoid=False)
    d_real = ab_adversarial_loss(call2, True, double_sigmoid=False)
    d_fake = ab_adversarial_loss(call3, False, double_sigmoid=False)
    loss_close(float(adv_g), want["adv_g"])
    loss_close(float(d_real), want["d_real"])
    loss_close(float(d_fake), want["d_fake"])
    loss_close(float(0.5 * 1e-4 * (d_real + d_fake)), want["d_total"])
    loss_close(float(tensors["seg"] + 1e-4 * adv_g), want["g_total"])


def test_phase_ab_corrected_switch(filled_state, step_inputs, no_dropout):
    """double_sigmoid=False changes only the adversarial terms of the iteration."""
    s = step_inputs
    small = {k: v[:1, :, :, :64] for k, v in s.items()}
    results = []
    for double in (True, False):
        net = no_dropout(make_net("xxs", filled_state)).train()
        disc = make_disc(DiscriminatorTrain, filled_state).train()
        results.append(
            phase_ab_iteration(
                net,
                disc,
                {"image": small["img"], "flow": small["flow"], "mask": small["mask"]},
                {"image": small["img_u"], "flow": small["flow_u"]},
                double_sigmoid=double,
            )
        )
    released, corrected = results
    assert released["seg"] == corrected["seg"]
    assert released["adv_g"] < 0.6932 < corrected["adv_g"] + 0.05
    assert corrected["d_fake"] != pytest.approx(released["d_fake"], rel=1e-3)


def test_phase_c_views_and_sizes(parity, filled_state, step_inputs):
    _, load = parity
    out = load("case_phase_c_step.pt")
    s = step_inputs
    teacher = make_net("xxs", filled_state).eval()
    views = teacher_views(teacher, s["img"], s["flow"], s["img_c"], 1.25)
    for name in ("plain", "flip", "colour"):
        close(views[name], out["outputs"]["teacher_views"][name])
    close(views["rescaled"], out["outputs"]["teacher_views"]["rescaled_1.25"])
    pseudo = (views["plain"] + views["flip"] + views["colour"] + views["rescaled"]) / 4
    close(pseudo, out["outputs"]["pseudo_logits"]["1.25"])
    for rate in (1.25, 1.5):
        assert list(rescaled_size(64, 128, rate)) == list(out["outputs"]["rescaled_hw"][str(rate)])
    for key, expected in out["rescale_size_table"].items():
        hw, rate = key.split("@")
        height, width = map(int, hw.split("x"))
        if 0 in list(expected):
            with pytest.raises(ValueError, match="turns the"):
                rescaled_size(height, width, float(rate))
        else:
            assert list(rescaled_size(height, width, float(rate))) == list(expected), key


def test_phase_c_step(parity, filled_state, step_inputs):
    _, load = parity
    case = load("case_phase_c_step.pt")
    s = step_inputs
    student = make_net("xxs", filled_state).eval()
    ema = ModelEMA(student, 0.9996, buffers="keep")
    disc = make_disc(DiscriminatorFinetuning, filled_state).train()
    opt_g = torch.optim.AdamW(student.parameters(), lr=1e-5, weight_decay=1e-2)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-5, weight_decay=1e-2)
    batch = {"image": s["img"], "flow": s["flow"], "image_c": s["img_c"], "mask": s["mask"]}
    result = phase_c_iteration(
        student,
        ema.module,
        disc,
        batch,
        1.5,
        lambda_adv=1e-4,
        opt_g=opt_g,
        opt_d=opt_d,
        ema_update=lambda: ema.update(student),
        keep=True,
    )
    out = case["outputs"]
    tensors = result["tensors"]
    close(tensors["pseudo_logits"], out["pseudo_logits"]["1.5"])
    close(tensors["student_logits"], out["teacher_views"]["plain"])
    close(tensors["D_C_call1_student"], out["D_C_call1_student"])
    close(tensors["D_C_call2_pseudo"], out["D_C_call2_pseudo"])
    close(tensors["D_C_call3_student"], out["D_C_call1_student"])
    assert result["student_iou"] == pytest.approx(out["student_iou_metric"], abs=1e-6)
    assert result["teacher_iou"] == pytest.approx(out["teacher_iou_metric"], abs=1e-6)
    for key, value in case["losses"].items():
        loss_close(result[key], value)
    params = dict(student.named_parameters())
    for key, value in case["grads"]["model"].items():
        actual = global_norm(student) if key == "__global_l2_norm__" else params[key].grad
        grad_close(actual, value, 1e-3)
    dparams = dict(disc.named_parameters())
    for key, value in case["grads"]["D_C"].items():
        actual = global_norm(disc) if key == "__global_l2_norm__" else dparams[key].grad
        grad_close(actual, value, 1e-2)
    for who, module in (("student", student), ("teacher_ema", ema.module), ("D_C", disc)):
        state = module.state_dict()
        for key, value in case["after_step"][who].items():
            close(state[key], value, rtol=0, atol=2e-7)
    state = disc.state_dict()
    for key, value in case["bn_buffers_after"]["D_C"].items():
        if key.endswith("num_batches_tracked"):
            assert int(state[key]) == int(value) == 3
        else:
            close(state[key], value, rtol=1e-5, atol=1e-6)


def test_ema_formula():
    """teacher ← 0.9996·teacher + 0.0004·student for parameters only (buffers untouched)."""
    torch.manual_seed(0)
    student = MobileViTVOS("xxs").eval()
    ema = ModelEMA(student, 0.9996, buffers="keep")
    before = copy.deepcopy(ema.module.state_dict())
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
        for b in student.buffers():
            if b.is_floating_point():
                b.add_(1.0)
    ema.update(student)
    after, src = ema.module.state_dict(), student.state_dict()
    names = {n for n, _ in student.named_parameters()}
    for key in [
        "encoder.stem.0.weight",
        "decoder.conv_seg.bias",
        "decoder.stage1.0.transformer.layers.0.1.fn.net.3.bias",
    ]:
        assert key in names
        torch.testing.assert_close(
            after[key], 0.9996 * before[key] + 0.0004 * src[key], rtol=0, atol=1e-7
        )
    for key in after:
        if key not in names:
            assert torch.equal(after[key], before[key]), key
