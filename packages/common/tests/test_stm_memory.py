"""vos_common.stm.MemoryBank: the STM schedule, per-object memories and the FIFO bound."""

from __future__ import annotations

import pytest
import torch
from vos_common.stm import MemoryBank, memory_frames_schedule


def entry(value: float, objects=(1,)) -> dict:
    value = float(value)
    return {
        o: (torch.full((1, 2, 1, 1, 1), value), torch.full((1, 3, 1, 1, 1), -value))
        for o in objects
    }


def test_reference_schedule_with_mem_every_5():
    reads = memory_frames_schedule(12, annotated=[0], mem_every=5)
    assert reads[1] == [0]
    assert reads[2] == [0, 1] and reads[5] == [0, 4]
    assert reads[6] == [0, 5] and reads[7] == [0, 5, 6] and reads[11] == [0, 5, 10]
    assert 11 not in sum(reads.values(), [])  # the last frame is never memorised


def test_later_annotation_restarts_the_schedule():
    reads = memory_frames_schedule(10, annotated=[1, 4], mem_every=2)
    assert 0 not in reads  # nothing before the first annotation
    assert reads[2] == [1] and reads[3] == [1, 2] and reads[4] == [1, 3]
    assert reads[5] == [1, 3, 4] and reads[6] == [1, 3, 4, 5] and reads[7] == [1, 3, 4, 6]


def test_read_concatenates_permanent_then_temporary():
    bank = MemoryBank(mem_every=3)
    bank.add_annotated(0, entry(0))
    assert bank.add(1, entry(1)) is False
    keys, values = bank.read(1)
    assert keys[0, 0, :, 0, 0].tolist() == [0, 1] and values.shape == (1, 3, 2, 1, 1)
    assert bank.add(2, entry(2)) is False
    assert bank.frames(1) == [0, 2]
    assert bank.add(3, entry(3)) is True
    assert bank.frames(1) == [0, 3] and bank.temporary_frame is None
    assert bank.nbytes() == 2 * (2 + 3) * 4


def test_objects_have_their_own_memories():
    bank = MemoryBank(mem_every=1)
    bank.add_annotated(0, entry(0, objects=(1,)))
    bank.add(1, entry(1, objects=(1,)))
    bank.add_annotated(2, entry(2, objects=(1, 5)))
    assert bank.frames(1) == [0, 1, 2] and bank.frames(5) == [2]
    assert bank.objects == [1, 5]


def test_fifo_bound_drops_oldest_unpinned_frame():
    bank = MemoryBank(mem_every=1, max_frames=3)
    bank.add_annotated(0, entry(0))
    for t in range(1, 6):
        bank.add(t, entry(t))
    assert bank.permanent_frames(1) == [0, 4, 5]
    keys, _ = bank.read(1)
    assert keys[0, 0, :, 0, 0].tolist() == [0, 4, 5]
    assert bank.evicted == 3


def test_bound_never_reached_changes_nothing():
    unbounded = memory_frames_schedule(30, mem_every=5)
    assert memory_frames_schedule(30, mem_every=5, max_frames=7) == unbounded
    bounded = memory_frames_schedule(30, mem_every=5, max_frames=3)
    assert bounded[29] == [0, 20, 25, 28]
    assert max(len(v) for v in bounded.values()) == 4


def test_annotated_frames_are_never_evicted():
    bank = MemoryBank(mem_every=1, max_frames=2)
    bank.add_annotated(0, entry(0))
    bank.add_annotated(1, entry(1))
    bank.add_annotated(2, entry(2))
    bank.add(3, entry(3))
    assert bank.permanent_frames(1) == [0, 1, 2]  # the new frame 3 is the only one that can go


def test_bad_arguments():
    with pytest.raises(ValueError):
        MemoryBank(mem_every=0)
    with pytest.raises(ValueError):
        MemoryBank(max_frames=0)
