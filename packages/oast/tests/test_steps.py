"""One tiny iteration of each phase on the synthetic benchmark (64×64), loss decreasing over a
few iterations on a fixed batch."""

from __future__ import annotations

import pytest
import torch
from oast.data.datasets import OASTFrames
from oast.engine import phase_ab_iteration, phase_c_iteration
from oast.model.discriminator import DiscriminatorFinetuning, DiscriminatorTrain
from oast.model.network import MobileViTVOS
from oast.runner import collate
from vos_common.training.ema import ModelEMA
from vos_common.training.seeding import fork_rng


def _batch(dataset, indices):
    samples = []
    for i in indices:
        with fork_rng(i):
            samples.append(dataset[i])
    return collate(samples)


@pytest.mark.parametrize(
    "phase,labeled", [("A", ["YouTubeVOS-2018", "DAVIS-2016"]), ("B", ["DAVIS-2016"])]
)
def test_phase_ab_loss_decreases(phase, labeled, synth_root):
    size = (64, 64)
    lab = OASTFrames(synth_root, labeled, "labeled", size, youtube_stride=2)
    unl = OASTFrames(synth_root, ["Youtube-objects"], "unlabeled", size)
    batch, batch_u = _batch(lab, [0, len(lab) - 1]), _batch(unl, [0, 3])
    torch.manual_seed(0)
    model, disc = MobileViTVOS("xxs").train(), DiscriminatorTrain().train()
    opt_g = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4, weight_decay=1e-2)
    history = [
        phase_ab_iteration(model, disc, batch, batch_u, opt_g=opt_g, opt_d=opt_d) for _ in range(5)
    ]
    for h in history:
        assert set(h) == {"seg", "adv_g", "g_total", "d_real", "d_fake", "d_total"}
        assert 0.313 < h["adv_g"] < 0.694  # -log σ(p) with p in (0, 1): the double sigmoid
    assert history[-1]["seg"] < 0.8 * history[0]["seg"]
    # the supervised-only branch (epochs before start_adv) leaves D_A untouched
    before = {k: v.clone() for k, v in disc.state_dict().items()}
    out = phase_ab_iteration(model, disc, batch, None, adversarial=False, opt_g=opt_g)
    assert set(out) == {"seg", "g_total"}
    assert all(torch.equal(before[k], v) for k, v in disc.state_dict().items())


def test_phase_c_loss_decreases(synth_root):
    frames = OASTFrames(synth_root, ["DAVIS-2016", "FBMS"], "test", (64, 64), colour_copy=True)
    batch = _batch(frames, [0, 1])
    torch.manual_seed(0)
    student = MobileViTVOS("xxs").eval()
    teacher = ModelEMA(student, 0.9996, buffers="keep")
    disc = DiscriminatorFinetuning().train()
    opt_g = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=1e-2)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-5, weight_decay=1e-2)
    tensors = {k: batch[k] for k in ("image", "flow", "image_c", "mask")}
    history = [
        phase_c_iteration(
            student,
            teacher.module,
            disc,
            tensors,
            1.5,
            opt_g=opt_g,
            opt_d=opt_d,
            ema_update=lambda: teacher.update(student),
        )
        for _ in range(4)
    ]
    assert history[-1]["g_total"] < history[0]["g_total"]
    assert history[-1]["seg"] < history[0]["seg"]
    assert all(0 <= h["student_iou"] <= 1 and 0 <= h["teacher_iou"] <= 1 for h in history)
    assert not student.training and not teacher.module.training and disc.training
    assert teacher.num_updates == 4
