"""The streaming InferenceCore follows the reference procedure (DAVIS and YouTube-VOS cores),
in every configuration of the hidden parity cases, and its memory bound behaves as documented.

The reference procedure is ``mivos_prop.inference.reference.reference_propagate`` (a batch
re-creation of the original inference cores, dense readout). Both run the same small network
(ResNet-18 smoke widths, seeded random weights, BN statistics perturbed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mivos_prop.inference import InferenceCore, normalise_frame, probabilities_to_labels
from mivos_prop.inference.reference import reference_propagate
from mivos_prop.model import ModelSpec, PropagationNetwork
from vos_common.synth import SynthConfig, generate_video


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.fixture(scope="module")
def video():
    cfg = SynthConfig(height=60, width=90, frames=9, num_objects=2, seed=11, late_objects=0)
    return generate_video(cfg, 0)


def make_net(top_k=10, km=None, fast=True) -> PropagationNetwork:
    torch.manual_seed(0)
    net = PropagationNetwork(top_k=top_k, km_sigma=km, spec=ModelSpec.smoke(), fast_readout=fast)
    for name, buf in net.named_buffers():
        if name.endswith("running_var"):
            buf.uniform_(0.5, 1.5)
        elif name.endswith("running_mean"):
            buf.normal_(0, 0.1)
    with torch.no_grad():
        net.kv_m_f16.key_proj.weight.mul_(8)  # a peaked affinity, so top-k matters
        net.kv_q_f16.key_proj.weight.mul_(8)
    return net.eval()


def run_core(net, frames, masks, ids, mem_every, max_frames=None, declare=True):
    core = InferenceCore(
        net, object_ids=ids if declare else None, mem_every=mem_every, max_memory_frames=max_frames
    )
    out, reads = [], {}
    for t, frame in enumerate(frames):
        prob = core.step(normalise_frame(frame), masks.get(t))
        out.append(prob)
        if prob is not None and t not in masks or (t in masks and t != min(masks)):
            reads[t] = list(core.last_read)
    return out, reads, core


def frames_and_masks(video, late_object: int | None = None, late_frame: int = 2):
    masks = {0: video.masks[0].copy()}
    if late_object is not None:
        masks[0][masks[0] == late_object] = 0
        later = video.masks[late_frame].copy()
        later[later != late_object] = 0
        masks[late_frame] = later
    return video.frames, masks


@pytest.mark.parametrize(
    "top_k,km,mem_every",
    [(10, None, 2), (None, None, 2), (10, 5.6, 2), (None, 5.6, 3), (10, None, 5)],
)
def test_davis_style_matches_reference(video, top_k, km, mem_every):
    net = make_net(top_k, km, fast=False)
    frames, masks = frames_and_masks(video)
    ids = sorted(int(i) for i in np.unique(masks[0]) if i)
    ours, reads, _ = run_core(net, frames, masks, ids, mem_every)
    record = []
    ref = reference_propagate(
        net,
        torch.stack([normalise_frame(f) for f in frames]),
        {0: torch.from_numpy(masks[0])},
        ids,
        mem_every,
        record,
    )
    for t in range(len(frames)):
        assert torch.allclose(ours[t], ref[:, t], atol=2e-5), t
    assert reads == {t: r for t, r in record}


def test_single_object_and_padded_input(video):
    net = make_net(10, None, fast=True)
    assert video.frames.shape[1:3] == (60, 90)  # pads to 64 x 96 with (3, 3, 2, 2)
    masks = {0: (video.masks[0] == 1).astype(np.uint8)}
    ours, _, core = run_core(net, video.frames, masks, [1], 2)
    assert core.pad == (3, 3, 2, 2)
    assert ours[3].shape == (2, 60, 90)
    ref = reference_propagate(
        net,
        torch.stack([normalise_frame(f) for f in video.frames]),
        {0: torch.from_numpy(masks[0])},
        [1],
        2,
    )
    assert max((ours[t] - ref[:, t]).abs().max().item() for t in range(9)) < 1e-4


@pytest.mark.parametrize("mem_every", [1, 5])
def test_youtube_style_late_object_matches_reference(video, mem_every):
    net = make_net(10, None, fast=False)
    frames, masks = frames_and_masks(video, late_object=2, late_frame=2)
    ids = [1, 2]
    ours, reads, core = run_core(net, frames, masks, ids, mem_every)
    record = []
    ref = reference_propagate(
        net,
        torch.stack([normalise_frame(f) for f in frames]),
        {t: torch.from_numpy(m) for t, m in masks.items()},
        ids,
        mem_every,
        record,
    )
    for t in range(len(frames)):
        assert torch.allclose(ours[t], ref[:, t], atol=2e-5), t
    # object 2 has zero probability before it is given, and its own memory starts at frame 2
    assert ours[1][2].abs().max() == 0
    assert core.memory.frames(2)[0] == 2 and core.memory.frames(1)[0] == 0
    # the annotated frame is overwritten: object 2's given pixels are object 2
    labels = probabilities_to_labels(ours[2], ids=ids)
    assert (labels[masks[2] == 2] == 2).all()


def test_frames_before_the_first_annotation_give_nothing(video):
    net = make_net()
    core = InferenceCore(net, object_ids=[1, 2])
    assert core.step(normalise_frame(video.frames[0])) is None
    prob = core.step(normalise_frame(video.frames[1]), video.masks[1])
    assert prob.shape == (3, 60, 90)


def test_undeclared_objects_get_channels_in_order_of_appearance(video):
    net = make_net()
    frames, masks = frames_and_masks(video, late_object=2)
    ours, _, core = run_core(net, frames, masks, None, 2, declare=False)
    assert core.object_ids == [1, 2]
    assert ours[0].shape[0] == 2 and ours[3].shape[0] == 3


def test_bound_not_reached_gives_the_original_result(video):
    net = make_net(10, None, fast=True)
    frames, masks = frames_and_masks(video)
    unbounded, _, _ = run_core(net, frames, masks, [1, 2], 2)
    bounded, _, core = run_core(net, frames, masks, [1, 2], 2, max_frames=5)  # 0,2,4,6 < 5
    assert core.memory.evicted == 0
    for a, b in zip(unbounded, bounded, strict=True):
        assert torch.equal(a, b)


def test_bound_keeps_memory_flat(video):
    net = make_net(10, None, fast=True)
    frames, masks = frames_and_masks(video)
    core = InferenceCore(net, object_ids=[1, 2], mem_every=1, max_memory_frames=2)
    sizes = []
    for t, frame in enumerate(frames):
        core.step(normalise_frame(frame), masks.get(t))
        sizes.append(core.memory.nbytes())
        if t >= 2:
            assert core.memory.permanent_frames(1)[0] == 0  # the annotated frame stays
            assert len(core.memory.permanent_frames(1)) == 2
    assert len(set(sizes[3:])) == 1  # flat once the bound is reached


def test_mask_of_wrong_size_is_refused(video):
    core = InferenceCore(make_net(), object_ids=[1, 2])
    with pytest.raises(ValueError, match="mask of frame 0"):
        core.step(normalise_frame(video.frames[0]), video.masks[0][:-1])


def test_fast_readout_equals_dense_readout_at_480p_size():
    from mivos_prop.model.readout import readout, readout_reference

    gen = torch.Generator().manual_seed(0)
    mk = torch.randn(1, 128, 4, 30, 54, generator=gen)
    mv = torch.randn(1, 64, 4, 30, 54, generator=gen)
    qk = torch.randn(1, 128, 30, 54, generator=gen)
    for top, km in ((50, None), (50, 5.6)):
        assert torch.allclose(
            readout(mk, mv, qk, top, km), readout_reference(mk, mv, qk, top, km), atol=1e-4
        )
