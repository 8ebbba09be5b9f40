"""Counts that describe a dataset as read (sequences, frames, annotations, objects, flows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vos_common.datasets.base import SequenceDataset


@dataclass
class DatasetSummary:
    """What a reader found. ``flows`` maps ``"forward/1"``-style keys to file counts."""

    sequences: int = 0
    frames: int = 0
    annotated_frames: int = 0
    objects: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    flows: dict[str, int] = field(default_factory=dict)

    @property
    def flow_files(self) -> int:
        return sum(self.flows.values())

    def size_text(self) -> str:
        return ", ".join(f"{w}x{h}" for h, w in sorted(self.sizes)) or "-"


def summarize(dataset: SequenceDataset, validate: bool = False) -> DatasetSummary:
    """Count what ``dataset`` holds; with ``validate`` every file is checked and every mask decoded
    (raises :class:`~vos_common.errors.VOSDataError` naming the first bad file)."""
    summary = DatasetSummary()
    for sequence in dataset:
        if validate:
            sequence.validate(check_masks=True)
        summary.sequences += 1
        summary.frames += len(sequence)
        summary.annotated_frames += len(sequence.annotation_paths)
        summary.objects += len(sequence.objects()) if sequence.annotation_paths else 0
        summary.sizes.add(tuple(sequence.original_size))
        for (direction, gap), table in sequence.flow_paths.items():
            key = f"{direction}/{gap}"
            summary.flows[key] = summary.flows.get(key, 0) + len(table)
    return summary


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table with right-aligned numeric columns (for console summaries)."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width in zip(cells, widths):
            text = str(cell)
            out.append(text.rjust(width) if text.replace(".", "").replace("-", "").isdigit() else text.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
