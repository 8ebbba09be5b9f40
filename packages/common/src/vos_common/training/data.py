"""Deterministic, resumable data order for a global batch split over processes and micro-steps.

Epoch ``e`` visits the dataset in the order ``randperm(n)`` seeded by ``(seed, e)`` (or in index
order without shuffling) and cuts it into global batches of ``batch_size`` samples; the last
incomplete batch is dropped. Global batch ``s`` is split into ``grad_accum × num_processes``
micro-batches of ``batch_size / (num_processes · grad_accum)`` samples; process ``p`` takes
micro-batch ``a·num_processes + p`` at accumulation step ``a``. Every sample is loaded with the
global RNGs seeded by ``(seed, e, position in the epoch)`` (see :class:`SeededSamples`), so its
augmentation is the same whatever the number of processes or loader workers, and a run resumed
at step ``s`` of epoch ``e`` sees exactly the samples and augmentations it would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vos_common.errors import VOSDataError
from vos_common.training.seeding import derive_seed, fork_rng

__all__ = ["GlobalBatchSampler", "SeededSamples", "build_train_loader", "micro_batch_size"]


def micro_batch_size(global_batch: int, num_processes: int, grad_accum: int) -> int:
    """Samples per process per micro-step; refuses a global batch that does not split evenly."""
    parts = num_processes * grad_accum
    if global_batch % parts:
        raise VOSDataError(
            None,
            f"the global batch size {global_batch} does not split over {num_processes} process(es)"
            f" x {grad_accum} accumulation step(s); use a multiple of {parts}",
        )
    return global_batch // parts


class SeededSamples(Dataset):
    """Wrap a map-style dataset: item ``(index, seed)`` is ``dataset[index]`` loaded under ``seed``.

    The global ``random``/NumPy/torch-CPU generators are seeded with ``seed`` while the sample is
    loaded and restored afterwards, so the training process's own random streams are untouched.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        with fork_rng(seed):
            return self.dataset[index]


class GlobalBatchSampler(Sampler):
    """This process's micro-batches of ``(index, sample_seed)`` pairs for one epoch.

    Call :meth:`set_epoch` before iterating; ``start_step`` skips the first optimizer steps of
    the epoch (resume) without touching the skipped samples.
    """

    def __init__(
        self,
        num_samples: int,
        global_batch: int,
        *,
        num_processes: int = 1,
        process_index: int = 0,
        grad_accum: int = 1,
        seed: int = 0,
        shuffle: bool = True,
    ):
        self.micro_batch = micro_batch_size(global_batch, num_processes, grad_accum)
        if num_samples < global_batch:
            raise VOSDataError(
                None,
                f"the dataset has {num_samples} samples, fewer than one global batch"
                f" ({global_batch})",
            )
        self.num_samples = num_samples
        self.global_batch = global_batch
        self.num_processes = num_processes
        self.process_index = process_index
        self.grad_accum = grad_accum
        self.seed = seed
        self.shuffle = shuffle
        self.steps_per_epoch = num_samples // global_batch
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        if not 0 <= start_step <= self.steps_per_epoch:
            raise ValueError(f"start_step {start_step} outside 0..{self.steps_per_epoch}")
        self.epoch = epoch
        self.start_step = start_step

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The dataset indices of ``epoch`` in visiting order (the same on every process)."""
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
        return torch.randperm(self.num_samples, generator=generator)

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.grad_accum

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.epoch_order(self.epoch).tolist()
        b, p, n_proc = self.micro_batch, self.process_index, self.num_processes
        for step in range(self.start_step, self.steps_per_epoch):
            for accum in range(self.grad_accum):
                begin = step * self.global_batch + (accum * n_proc + p) * b
                yield [
                    (order[pos], derive_seed(self.seed, self.epoch, pos))
                    for pos in range(begin, begin + b)
                ]


def build_train_loader(
    dataset: Dataset,
    sampler: GlobalBatchSampler,
    *,
    num_workers: int = 0,
    collate_fn: Callable | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over ``dataset`` in the order of ``sampler``; worker count never changes data.

    The loader gets its own generator, so creating an iterator does not draw from the global
    torch RNG (which would make a resumed run's random stream differ).
    """
    return DataLoader(
        SeededSamples(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(derive_seed(sampler.seed, sampler.process_index)),
    )
