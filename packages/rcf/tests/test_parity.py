"""Parity with the original RCF code (shared/parity/rcf, tolerances of its README).

Weights come from the shared deterministic rule (``vos_common.parity.parity_state_dict``); the
models are built from the shipped configs with the fixtures' one change (``mask_size``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from rcf.config import load_rcf_config
from rcf.model.rcf_model import RCFModel

TRAIN_KEYS = ("seg_logits", "masks")


def build(config: str, mask: list[int], keys_path, object_channel=None, crf=None) -> RCFModel:
    from vos_common.parity import parity_state_dict

    text = f"[{mask[0]}, {mask[1]}]"
    cfg = load_rcf_config(
        config, ["model_kwargs.mask_size", text, "model_kwargs.decode_head.mask_size", text]
    )
    model = RCFModel(cfg.model_kwargs, object_channel=object_channel, crf=crf)
    model.load_state_dict(parity_state_dict(keys_path), strict=True)
    return model


def dropout_off(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout2d):
            module.p = 0.0


def inputs(parity):
    from vos_common.parity import load_case

    data = load_case(parity / "case_stage1.pt")["inputs"]
    imgs = torch.stack(data["imgs"], 1)
    fw = torch.stack(data["gt_fw_flows"], 1)
    bw = torch.stack(data["gt_bw_flows"], 1)
    pls = torch.stack(data["pl_masks"], 1)
    return imgs, fw, bw, pls, data


def check_eval(model: RCFModel, ref: dict, imgs: torch.Tensor, close, ema: bool = False) -> None:
    model.eval()
    with torch.no_grad():
        feats = model.backbone2(imgs[:, 0])
        logits = model.decode_head2(feats)
        close.rel_max(logits, ref["seg_logits"], 1e-4, "seg_logits")
        close.rel_max(torch.softmax(logits, 1), ref["masks"], 1e-4, "masks")
        for i, feat in enumerate(feats):
            assert list(feat.shape) == list(ref["backbone_shapes"][i])
            close.rel_max(feat[:, :8], ref["backbone_first8"][i], 1e-4, f"backbone_first8[{i}]")
            close.scalar(
                feat.double().sum().item(), ref["backbone_sum"][i], 1e-4, f"backbone_sum[{i}]"
            )
            close.scalar(
                (feat.double() ** 2).sum().item(),
                ref["backbone_sq_sum"][i],
                1e-4,
                f"backbone_sq_sum[{i}]",
            )
        layer4 = model.backbone2(imgs.flatten(0, 1))[-1]
        fw, bw = model.residuals([layer4], imgs.shape[0], 2)
        close.rel_max(fw, ref["residual_fw"], 1e-4, "residual_fw")
        close.rel_max(bw, ref["residual_bw"], 1e-4, "residual_bw")
        if ema:
            ema_logits = model.segment_logits(imgs[:, 0], use_ema=True)
            close.rel_max(ema_logits, ref["ema_seg_logits"], 1e-4, "ema_seg_logits")


def check_train(model: RCFModel, out: dict, ref: dict, close) -> None:
    for name, value in ref["losses"].items():
        close.scalar(out["losses"][name].item(), value, 1e-5, name)
    for name, value in ref["flow_loss"].items():
        close.scalar(out["flow_loss"][name].item(), value, 1e-5, f"flow_loss.{name}")
    close.rel_max(out["seg_logits"], ref["seg_logits"], 1e-4, "train seg_logits")
    close.rel_max(out["masks"], ref["masks"], 1e-4, "train masks")
    raw = torch.cat([out["residual_raw_fw"], out["residual_raw_bw"]], 1)
    close.rel_max(raw, ref["residual_raw"], 1e-4, "residual_raw")
    for direction in ("fw", "bw"):
        close.abs(
            out["flows_at_mask_size_unclamped"][direction],
            ref["flows_at_mask_size_unclamped"][direction],
            1e-5,
            f"flows_{direction}",
        )
        for name, value in ref[direction].items():
            close.abs(out[direction][name], value, 1e-5, f"{direction}.{name}")
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    for name, norm in ref["grad_norm_per_param"].items():
        close.scalar(grads[name].double().norm().item(), norm, 1e-3, f"grad norm {name}")
    for name, value in ref["grads_small"].items():
        close.rel_max(grads[name], value, 1e-3, f"grad {name}")
    state = model.state_dict()
    for name, value in ref["buffers_after"].items():
        if value.dtype == torch.int64:
            assert torch.equal(state[name], value), name
        else:
            close.rel_max(state[name], value, 1e-5, name)
    counters = {
        int(v) for k, v in state.items() if k.endswith("num_batches_tracked") and "_ema" not in k
    }
    assert counters == set(ref["num_batches_tracked_after"])


@pytest.fixture(scope="module")
def stage1(parity):
    from vos_common.parity import load_case

    return load_case(parity / "case_stage1.pt")


def test_key_tables_strict(parity):
    """The key tables load strictly into the shipped configs (354 / 686 entries, param count)."""
    from vos_common.parity import parity_state_dict

    for config, table, count in [
        ("configs/rcf/rcf_stage1.yaml", "keys_stage1.json", 354),
        ("configs/rcf/rcf_stage2.1.yaml", "keys_stage2.json", 686),
        ("configs/rcf/rcf_stage2.2.yaml", "keys_stage2.json", 686),
        ("configs/rcf_stv2/rcf_stage1.yaml", "keys_stv2_stage1.json", 354),
        ("configs/rcf_fbms59/rcf_stage1.yaml", "keys_fbms59_stage1.json", 354),
    ]:
        model = RCFModel(load_rcf_config(config).model_kwargs)
        table_keys = json.loads((parity / table).read_text())
        state = model.state_dict()
        assert len(state) == count == len(table_keys)
        for key, spec in table_keys.items():
            assert list(state[key].shape) == list(spec["shape"]), key
        model.load_state_dict(parity_state_dict(parity / table), strict=True)
        if table == "keys_stage1.json":
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            assert trainable == 39_482_902


def test_stage1_eval_and_export(parity, stage1, close):
    imgs, _, _, _, _ = inputs(parity)
    ref = stage1["variant"]["eval"]
    model = build("configs/rcf/rcf_stage1.yaml", [16, 24], parity / "keys_stage1.json")
    check_eval(model, ref, imgs, close)
    with torch.no_grad():
        probs = model(imgs[:, 0])  # eval forward = segmentation only
    close.rel_max(probs, ref["masks_from_model_forward"], 1e-4, "masks_from_model_forward")
    from rcf.inference.export import quantise_probabilities

    png = quantise_probabilities(probs)
    expected = ref["export_png_channel0"]
    diff = (png.int() - expected.int()).abs()
    assert diff.max() <= 1
    if diff.max() == 1:  # only where 255 p + 0.5 sits on an integer boundary
        values = (
            torch.nn.functional.interpolate(
                probs, scale_factor=2, mode="bilinear", align_corners=False
            )
            * 255
            + 0.5
        )
        assert ((values - values.round()).abs()[diff == 1] < 1e-4).all()


def test_stage1_training_step(parity, stage1, close):
    imgs, fw, bw, _, _ = inputs(parity)
    ref = stage1["variant"]["train"]
    model = build("configs/rcf/rcf_stage1.yaml", [16, 24], parity / "keys_stage1.json")
    model.train()
    dropout_off(model)
    out = model.forward_train(imgs, fw, bw)
    out["losses"]["loss"].backward()
    check_train(model, out, ref, close)
    from rcf.model.losses import entropy_loss

    close.scalar(
        entropy_loss(out["masks"], corrected=True).item(),
        ref["entropy_corrected_not_reference"],
        1e-5,
        "corrected entropy switch",
    )
    assert set(out["losses"]) == {"loss_warp_seg", "loss_entropy", "loss"}


def test_stage2_1_crf_loss_and_ema(parity, close):
    from vos_common.parity import load_case

    case = load_case(parity / "case_stage2.pt")["stage2_1"]
    imgs, fw, bw, _, _ = inputs(parity)
    ref = case["train"]
    target = ref["crf_output"]
    calls = []

    def stand_in(images_u8, probs):
        calls.append((images_u8.shape, images_u8.dtype))
        return target

    model = build(
        "configs/rcf/rcf_stage2.1.yaml",
        [16, 24],
        parity / "keys_stage2.json",
        object_channel=1,
        crf=stand_in,
    )
    check_eval(model, case["eval"], imgs, close, ema=True)
    model.train()
    dropout_off(model)
    out = model.forward_train(imgs, fw, bw)
    out["losses"]["loss"].backward()
    assert calls == [(torch.Size([4, 64, 96, 3]), torch.uint8)]
    close.rel_max(out["teacher_seg_logits"], ref["teacher_seg_logits"], 1e-4, "teacher_seg_logits")
    close.rel_max(out["crf_input"], ref["crf_input"], 1e-4, "crf_input")
    check_train(model, out, ref, close)
    state = model.state_dict()
    for name, value in ref["ema_after_small"].items():
        if value.dtype == torch.int64:
            assert torch.equal(state[name], value), name
        else:
            close.rel_max(state[name], value, 1e-5, name)
    for name, norm in ref["ema_after_norm"].items():
        close.scalar(state[name].double().norm().item(), norm, 1e-5, f"EMA norm {name}")
    counters = {
        int(v) for k, v in state.items() if k.endswith("num_batches_tracked") and "_ema" in k
    }
    assert counters == set(ref["ema_num_batches_tracked_after"])


def test_stage2_2_pseudo_label_loss(parity, close):
    from vos_common.parity import load_case

    case = load_case(parity / "case_stage2.pt")["stage2_2"]
    imgs, fw, bw, pls, _ = inputs(parity)
    ref = case["train"]
    model = build(
        "configs/rcf/rcf_stage2.2.yaml", [16, 24], parity / "keys_stage2.json", object_channel=1
    )
    check_eval(model, case["eval"], imgs, close, ema=True)
    model.train()
    dropout_off(model)
    out = model.forward_train(imgs, fw, bw, pl_masks=pls)
    out["losses"]["loss"].backward()
    check_train(model, out, ref, close)
    state = model.state_dict()
    for name, norm in ref["ema_after_norm"].items():
        close.scalar(state[name].double().norm().item(), norm, 1e-5, f"EMA norm {name}")
    counters = {
        int(v) for k, v in state.items() if k.endswith("num_batches_tracked") and "_ema" in k
    }
    assert counters == set(ref["ema_num_batches_tracked_after"])  # 0.999*0 + 0.001*1 truncates to 0


def test_stv2_stage1_affine_and_compactness(parity, close):
    from vos_common.parity import load_case

    case = load_case(parity / "case_stv2_stage1.pt")["variant"]
    imgs, fw, bw, _, _ = inputs(parity)
    model = build("configs/rcf_stv2/rcf_stage1.yaml", [8, 12], parity / "keys_stv2_stage1.json")
    check_eval(model, case["eval"], imgs, close)
    model.train()
    dropout_off(model)
    out = model.forward_train(imgs, fw, bw)
    out["losses"]["loss"].backward()
    check_train(model, out, case["train"], close)
    assert "flow_affine" in out["fw"] and "loss_compactness" in out["losses"]


def test_functional_losses(parity, close):
    from rcf.model.losses import asymmetric_squared_loss, compactness_loss, entropy_loss
    from vos_common.parity import load_case

    case = load_case(parity / "case_functional.pt")["losses"]
    probs = case["inputs"]["probs"]
    soft, binary = case["inputs"]["soft_target"], case["inputs"]["binary_target"]
    oc = case["inputs"]["object_channel"]
    close.scalar(entropy_loss(probs).item(), case["entropy_as_released"], 1e-6, "entropy")
    close.scalar(
        entropy_loss(probs, corrected=True).item(),
        case["entropy_corrected_not_reference"],
        1e-6,
        "entropy fix",
    )
    close.scalar(
        asymmetric_squared_loss(probs, soft, oc, 2, 1, 0.35).item(),
        case["pl_loss_soft_target_th035_pos2_neg1"],
        1e-6,
        "pl soft",
    )
    close.scalar(
        asymmetric_squared_loss(probs, binary, oc, 2, 1, 0.35).item(),
        case["pl_loss_binary_target_th035_pos2_neg1"],
        1e-6,
        "pl bin",
    )
    close.scalar(
        asymmetric_squared_loss(probs, binary, oc, 2, 1, -1).item(),
        case["crf_loss_binary_target_pos2_neg1"],
        1e-6,
        "crf bin",
    )
    close.scalar(
        asymmetric_squared_loss(probs, soft, oc, 2, 1, -1).item(),
        case["crf_loss_soft_target_pos2_neg1"],
        1e-6,
        "crf soft",
    )
    close.scalar(compactness_loss(probs, 0).item(), case["compactness_slot0"], 1e-6, "compactness")


@pytest.mark.parametrize(
    "variant", ["flow_head_free_residual", "flow_head_free_residual_with_affine"]
)
def test_flow_head_alone(parity, close, variant):
    from rcf.model.heads import FlowAggregationHead
    from vos_common.parity import load_case, parity_state_dict

    case = load_case(parity / "case_functional.pt")
    affine = variant.endswith("affine")
    head = FlowAggregationHead(
        mask_layer=4,
        mask_size=(12, 12),
        clamp_flow_t=20.0,
        free_residual=not affine,
        free_residual_with_affine=affine,
        allow_residual_resize=True,
    )
    weights = {
        k[len("decode_head.") :]: v
        for k, v in parity_state_dict(parity / "keys_stage1.json").items()
        if k.startswith("decode_head.")
    }
    head.load_state_dict(weights, strict=True)
    x = case["flow_head_inputs"]
    fw, bw, loss = head(
        x["masks"], x["gt_fw_flows"], x["gt_bw_flows"], x["residual_fw"], x["residual_bw"]
    )
    ref = case[variant]
    for name in ("seg_fw", "seg_bw", "seg"):
        close.scalar(loss[name].item(), ref[name], 1e-5, name)
    for direction, out in (("fw", fw.as_dict()), ("bw", bw.as_dict())):
        for name, value in ref[direction].items():
            close.abs(out[name], value, 1e-5, f"{variant}.{direction}.{name}")


def test_soft_ncut_maa_and_refinement(parity, close):
    from rcf.inference.ncut import ncut_refine, soft_ncut_value
    from vos_common.parity import load_case

    case = load_case(parity / "case_functional.pt")["ncut"]
    keys = case["inputs"]["key_features"]
    close.abs(
        soft_ncut_value(keys, case["inputs"]["mask_binary"]),
        torch.tensor(case["ncut_binary"]),
        1e-5,
        "ncut",
    )
    values = [float(soft_ncut_value(keys, m)) for m in case["inputs"]["slot_masks"]]
    for got, want in zip(values, case["ncut_per_slot"], strict=True):
        assert abs(got - want) <= 1e-5
    maa = [-v for v in values]
    assert int(np.argmax(maa)) == case["maa_object_slot"]
    refined = ncut_refine(keys, case["inputs"]["slot_masks"][1][None])
    close.abs(refined, case["refine_slot1_10steps_lr045_wd1e6"], 1e-4, "refined mask")


def test_functional_export(parity):
    from rcf.inference.export import quantise_probabilities
    from vos_common.parity import load_case

    case = load_case(parity / "case_functional.pt")["export"]
    png = quantise_probabilities(case["probs"])[0]
    assert torch.equal(png, case["png_channel0"])


def test_crf_postprocess_identical(parity, tmp_path):
    """The CPU post-processing CRF reproduces tools/pydenseCRF bit for bit (file to file)."""
    from PIL import Image
    from rcf.inference.crf import PostprocessJob, postprocess_jobs, read_export_channel0
    from vos_common.crf.params import CRFParams
    from vos_common.parity import load_case

    case = load_case(parity / "case_crf_post.pt")
    params = case["params"]
    crf = CRFParams(
        iterations=params["iterations"],
        bilateral_sxy=params["sxy"],
        bilateral_srgb=params["srgb"],
        bilateral_compat=params["compat"],
    )
    for index, item in enumerate(case["cases"]):
        image_path = tmp_path / f"frame{index}.png"
        mask_path = tmp_path / f"mask{index}.png"
        Image.fromarray(item["image"].numpy()).save(image_path)
        Image.fromarray(item["export_png"].numpy(), "RGB").save(mask_path)
        resized = read_export_channel0(mask_path, tuple(item["image"].shape[:2]))
        assert np.array_equal(resized, item["resized_channel0"].numpy())
        out = tmp_path / f"out{index}.png"
        postprocess_jobs(
            [PostprocessJob(image_path, mask_path, out)], crf, params["scale"], progress=False
        )
        assert np.array_equal(np.asarray(Image.open(out)), item["refined_png"].numpy())
