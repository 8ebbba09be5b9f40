"""The reference's inference procedure, re-created as a batch over a whole video.

This is how the original ``inference_core.py`` / ``inference_core_yv.py`` run, kept as a
baseline: the whole padded video is held in memory, the probabilities of every frame are
stored in one ``(K+1, T, 1, H, W)`` tensor, the memory is one growing concatenation per object
(never pruned), and the readout is the reference's dense one (``fast_readout=False`` on the
network gives exactly the reference's arithmetic). Propagation runs from each annotated frame
up to and including the next annotated frame, which is then overwritten.

It is used by the benchmark (``benchmarks/mivos_bench.py``) as "the original implementation"
and by the tests to check that the streaming :class:`~mivos_prop.inference.core.InferenceCore`
follows the same procedure. Use :class:`InferenceCore` for real work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from vos_common.stm import pad_divide_by, soft_aggregate, unpad

from mivos_prop.model.network import PropagationNetwork

__all__ = ["reference_propagate"]


@torch.inference_mode()
def reference_propagate(
    network: PropagationNetwork,
    frames: torch.Tensor,
    masks: dict[int, torch.Tensor],
    object_ids: Sequence[int],
    mem_every: int = 5,
    record: list | None = None,
) -> torch.Tensor:
    """Propagate given masks through a video the way the reference does.

    Args:
        frames: normalised ``(T, 3, H, W)``.
        masks: annotated frame index -> ``(H, W)`` id map of the objects first given there.
        object_ids: all object ids; channel ``c`` of the output is ``object_ids[c-1]``.
        record: if a list, ``(frame, [memory frames read])`` is appended per segmented frame.

    Returns the probabilities ``(K+1, T, H, W)`` (unpadded; frames before the first annotated
    frame are background 1e-7 and objects 0, as in the reference).
    """
    t_len = frames.shape[0]
    images, pad = pad_divide_by(frames, 16)
    k = len(object_ids)
    prob = torch.zeros(
        k + 1, t_len, 1, *images.shape[-2:], dtype=torch.float32, device=images.device
    )
    prob[0] = 1e-7
    keys: dict[int, torch.Tensor] = {}
    values: dict[int, torch.Tensor] = {}
    frames_in: dict[int, list[int]] = {}
    enabled: list[int] = []
    annotated = sorted(masks)
    for n, g in enumerate(annotated):
        end = annotated[n + 1] + 1 if n + 1 < len(annotated) else t_len
        mask = masks[g]
        new = sorted(int(i) for i in torch.unique(mask).tolist() if i != 0)
        onehot = torch.stack([(mask == o).float() for o in object_ids])[:, None]
        onehot = pad_divide_by(onehot, 16)[0]
        enabled.extend(o for o in new if o not in enabled)
        regions = onehot.sum(0)[0] > 0.5
        prob[:, g, :, regions] = 0
        for o in new:
            c = object_ids.index(o)
            prob[c + 1, g] = onehot[c]
        prob[:, g] = soft_aggregate(prob[1:, g], dim=0, keep_bg=True)
        channels = [object_ids.index(o) + 1 for o in enabled]
        key_k, key_v = network.memorize(images[g : g + 1], prob[channels, g])
        for i, o in enumerate(enabled):
            if o in keys:
                keys[o] = torch.cat([keys[o], key_k[i : i + 1]], 2)
                values[o] = torch.cat([values[o], key_v[i : i + 1]], 2)
                frames_in[o].append(g)
            else:
                keys[o], values[o], frames_in[o] = key_k[i : i + 1], key_v[i : i + 1], [g]
        prev_in_mem, prev_k, prev_v, prev_t, last_t = True, None, None, None, g
        for t in range(g + 1, end):
            if prev_in_mem:
                this_k, this_v = keys, values
            else:
                this_k = {
                    o: torch.cat([keys[o], prev_k[i : i + 1]], 2) for i, o in enumerate(enabled)
                }
                this_v = {
                    o: torch.cat([values[o], prev_v[i : i + 1]], 2) for i, o in enumerate(enabled)
                }
            if record is not None:
                o0 = enabled[0]
                record.append((t, frames_in[o0] + ([] if prev_in_mem else [prev_t])))
            query = network.get_query_values(images[t : t + 1])
            out = torch.cat(
                [network.segment_with_query(this_k[o], this_v[o], *query) for o in enabled], 0
            )
            out = soft_aggregate(out, dim=0, keep_bg=True)
            prob[0, t] = out[0]
            for i, o in enumerate(enabled):
                prob[object_ids.index(o) + 1, t] = out[i + 1]
            if t != end - 1:
                prev_k, prev_v = network.memorize(images[t : t + 1], out[1:])
                prev_t = t
                if abs(t - last_t) >= mem_every:
                    for i, o in enumerate(enabled):
                        keys[o] = torch.cat([keys[o], prev_k[i : i + 1]], 2)
                        values[o] = torch.cat([values[o], prev_v[i : i + 1]], 2)
                        frames_in[o].append(t)
                    last_t, prev_in_mem = t, True
                else:
                    prev_in_mem = False
    return unpad(prob[:, :, 0], pad)
