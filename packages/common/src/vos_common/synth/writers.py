"""Write synthetic videos in every dataset layout vos-suite reads (``FORMATS``).

The layouts follow ``shared/specs/evaluation.md`` section 1, ``rcf.md`` 4.1-4.3 and
``oast.md`` section 4; ``docs/synth.md`` lists every path. Each format has a writer class
with ``add(position, video)`` (one video at a time, so long benchmarks never sit in memory)
and ``finish()`` (the list and index files). Every file goes through the atomic writers of
``vos_common.io``; the output is a pure function of the videos.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from vos_common.io import (
    DAVIS_PALETTE,
    VOID_LABEL,
    atomic_path,
    atomic_save,
    atomic_write_text,
    flow_to_color,
    write_binary_mask,
    write_flow,
    write_frame,
    write_label_map,
)
from vos_common.synth.config import SynthConfig
from vos_common.synth.video import DIRECTIONS, FLOW_GAPS, SynthVideo

YTVOS_STRIDE = 5  # YouTube-VOS lists every 5th frame of the 30 fps video
VIDEO_FPS = 30


# ---------------------------------------------------------------------------------- naming
def frame_names(count: int, step: int = 1, digits: int = 5) -> list[str]:
    """``["00000", "00001", ...]`` (``step`` 5 gives YouTube-VOS names 00000, 00005, ...)."""
    return [f"{i * step:0{digits}d}" for i in range(count)]


def assign_splits(count: int) -> list[tuple[str, ...]]:
    """Split of each video position: the first ~2/3 ``"train"``, the rest ``"val"``.

    With two or more videos both splits are non-empty; a single video is in both, so that
    every split file of every format lists something.
    """
    if count == 1:
        return [("train", "val")]
    train = min(count - 1, max(1, round(2 * count / 3)))
    return [("train",) if position < train else ("val",) for position in range(count)]


def fbms_annotated_frames(frames: int, every: int) -> list[int]:
    """0-based indices of FBMS-style sparse annotations: frame 1, then every ``every``-th (1-based)."""
    one_based = sorted({1, *range(every, frames + 1, every)})
    return [n - 1 for n in one_based if n <= frames]


def void_boundaries(ids: np.ndarray) -> np.ndarray:
    """Label map with ``VOID_LABEL`` on the 2-pixel band where neighbouring ids differ."""
    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(ids, kernel) != cv2.erode(ids, kernel)
    out = ids.copy()
    out[band] = VOID_LABEL
    return out


def last_frame_flow(video: SynthVideo, t: int) -> np.ndarray:
    """Forward flow ``t -> t+1``; for the last frame the negated backward flow ``t -> t-1``.

    (OAST needs a flow picture for every frame it predicts; the negated backward flow is the
    best available stand-in for motion continuing past the end.) ``(H, W, 2)``; NaN for a
    1-frame video.
    """
    if t + 1 < len(video):
        return video.flow("forward", 1)[t]
    return -video.flow("backward", 1)[t]


# ---------------------------------------------------------------------------------- output
class Output:
    """All files of one layout under ``root``: written atomically via ``vos_common.io``, counted."""

    def __init__(self, root: Path, jpeg_quality: int = 95):
        self.root = Path(root)
        self.jpeg_quality = jpeg_quality
        self.files = 0

    def _target(self, relative: str) -> Path:
        self.files += 1
        return self.root / relative

    # single files
    def frame(self, relative: str, rgb: np.ndarray) -> None:
        write_frame(self._target(relative), rgb, quality=self.jpeg_quality)

    def label_map(self, relative: str, ids: np.ndarray) -> None:
        write_label_map(self._target(relative), ids)

    def binary_mask(self, relative: str, mask: np.ndarray, channels: int = 1) -> None:
        write_binary_mask(self._target(relative), mask, value=255, channels=channels)

    def flow(self, relative: str, flow: np.ndarray) -> None:
        write_flow(self._target(relative), flow)

    def flow_picture(self, relative: str, flow: np.ndarray) -> None:
        self.frame(relative, flow_to_color(flow))

    def netpbm(self, relative: str, image: np.ndarray) -> None:
        """PGM (``(H, W)`` uint8) or PPM (``(H, W, 3)`` uint8), binary Netpbm."""
        picture = Image.fromarray(image)
        atomic_save(self._target(relative), lambda tmp: picture.save(tmp, format="PPM"))

    def text(self, relative: str, text: str) -> None:
        atomic_write_text(self._target(relative), text)

    def lines(self, relative: str, lines: Sequence[str]) -> None:
        self.text(relative, "".join(f"{line}\n" for line in lines))

    def json(self, relative: str, data: dict) -> None:
        self.text(relative, json.dumps(data, indent=1) + "\n")

    def mp4(self, relative: str, frames: np.ndarray, fps: int = VIDEO_FPS) -> None:
        """Encode ``(T, H, W, 3)`` RGB frames as MPEG-4 Part 2 (``mp4v``) with OpenCV."""
        height, width = frames.shape[1:3]
        with atomic_path(self._target(relative)) as tmp:
            writer = cv2.VideoWriter(os.fspath(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                raise OSError(f"{relative}: OpenCV cannot encode mp4v video")
            for rgb in frames:
                writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            writer.release()

    # whole sequences
    def frames(self, folder: str, frames: np.ndarray, names: Sequence[str], ext: str = ".jpg") -> None:
        for rgb, name in zip(frames, names):
            self.frame(f"{folder}/{name}{ext}", rgb)

    def label_maps(self, folder: str, masks: np.ndarray, names: Sequence[str]) -> None:
        for ids, name in zip(masks, names):
            self.label_map(f"{folder}/{name}.png", ids)

    def binary_masks(self, folder: str, masks: np.ndarray, names: Sequence[str], ext: str = ".png",
                     channels: int = 1) -> None:
        for mask, name in zip(masks, names):
            self.binary_mask(f"{folder}/{name}{ext}", mask, channels=channels)

    def flows(self, folder: str, flow: np.ndarray, names: Sequence[str], ext: str) -> None:
        """One file per frame that has a target (NaN entries skipped), named after the source frame."""
        for entry, name in zip(flow, names):
            if np.isfinite(entry).all():
                self.flow(f"{folder}/{name}{ext}", entry)

    def rcf_flows(self, forward_folder: str, backward_folder: str, video: SynthVideo, names: Sequence[str]) -> None:
        """RCF naming: file ``<frame t>.npy`` holds forward ``t-1 -> t`` and backward ``t -> t-1``."""
        forward, backward = video.flow("forward", 1), video.flow("backward", 1)
        for t in range(1, len(video)):
            self.flow(f"{forward_folder}/{names[t]}.npy", forward[t - 1])
            self.flow(f"{backward_folder}/{names[t]}.npy", backward[t])


def rcf_list_line(folder: str, names: Sequence[str], ext: str = ".jpg") -> str:
    """RCF split-file line: ``JPEGImages/480p/<seq>/ 00000.jpg 00001.jpg ...``."""
    return " ".join([f"{folder}/", *(f"{name}{ext}" for name in names)])


# --------------------------------------------------------------------------------- writers
class BenchmarkWriter(ABC):
    """One layout: ``add`` each video (with its position among ``count``), then ``finish``.

    ``members`` collects, per split, ``(position, entry)`` pairs for the index files.
    """

    name = ""

    def __init__(self, root: Path, count: int, config: SynthConfig):
        self.out = Output(root, config.jpeg_quality)
        self.config = config
        self.splits = assign_splits(count)
        self.members: dict[str, list[tuple[int, object]]] = {}

    def _join(self, position: int, entry: object) -> None:
        """Record ``entry`` in every split of the video at ``position``."""
        for split in self.splits[position]:
            self.members.setdefault(split, []).append((position, entry))

    def entries(self, *splits: str) -> list:
        """Entries of the given splits in video order, each once (a 1-video benchmark is in both)."""
        unique = {position: entry for split in splits for position, entry in self.members.get(split, [])}
        return [unique[position] for position in sorted(unique)]

    @abstractmethod
    def add(self, position: int, video: SynthVideo) -> None:
        """Write everything of one video."""

    def finish(self) -> None:
        """Write the index files (default: none)."""


class Davis2017Writer(BenchmarkWriter):
    """DAVIS 2017 trainval root, plus RCF ``.npy`` flows and Middlebury ``.flo`` flows (gaps 1, 2)."""

    name = "davis2017"

    def add(self, position: int, video: SynthVideo) -> None:
        seq, names = video.name, frame_names(len(video))
        self.out.frames(f"JPEGImages/480p/{seq}", video.frames, names)
        self.out.label_maps(f"Annotations/480p/{seq}", video.masks, names)
        self.out.label_maps(f"Annotations_unsupervised/480p/{seq}", [void_boundaries(m) for m in video.masks], names)
        self.out.rcf_flows(f"Flows_NewCT/480p/{seq}", f"BackwardFlows_NewCT/480p/{seq}", video, names)
        for direction in DIRECTIONS:
            for gap in FLOW_GAPS:
                self.out.flows(f"OpticalFlow/{direction}_gap{gap}/{seq}", video.flow(direction, gap), names, ".flo")
        self._join(position, seq)

    def finish(self) -> None:
        for year in ("2017", "2016"):
            for split in ("train", "val"):
                self.out.lines(f"ImageSets/{year}/{split}.txt", self.entries(split))


class Davis2016Writer(BenchmarkWriter):
    """Original DAVIS 2016 release (binary masks, per-frame image sets, db_info.yml) + RCF files."""

    name = "davis2016"

    def add(self, position: int, video: SynthVideo) -> None:
        seq, names = video.name, frame_names(len(video))
        self.out.frames(f"JPEGImages/480p/{seq}", video.frames, names)
        self.out.binary_masks(f"Annotations/480p/{seq}", video.masks > 0, names)
        self.out.rcf_flows(f"Flows_NewCT/480p/{seq}", f"BackwardFlows_NewCT/480p/{seq}", video, names)
        frame_lines = [f"/JPEGImages/480p/{seq}/{n}.jpg /Annotations/480p/{seq}/{n}.png" for n in names]
        self._join(position, {"name": seq, "frame_lines": frame_lines, "num_frames": len(video),
                              "rcf_line": rcf_list_line(f"JPEGImages/480p/{seq}", names),
                              "set": "val" if "val" in self.splits[position] else "train"})

    def finish(self) -> None:
        for name, splits in (("train", ("train",)), ("val", ("val",)), ("trainval", ("train", "val"))):
            entries = self.entries(*splits)
            self.out.lines(f"ImageSets/480p/{name}.txt", [line for e in entries for line in e["frame_lines"]])
            self.out.lines(f"{name}.txt", [e["rcf_line"] for e in entries])
        sequences = [{"name": e["name"], "attributes": [], "num_frames": e["num_frames"], "set": e["set"],
                      "eval_t": False, "year": 2016} for e in self.entries("train", "val")]
        info = {"attributes": [], "sets": ["train", "val"], "years": [2016], "sequences": sequences}
        self.out.text("Annotations/db_info.yml", yaml.safe_dump(info, sort_keys=False))


def ytvos_valid_id(object_id: int) -> int:
    """Object id written in the YouTube-VOS valid split: 2.. shift up by one (1, 3, 4, ...), so
    valid ids are not contiguous, as in the real valid set."""
    return object_id + 1 if object_id >= 2 else object_id


VALID_ID_LOOKUP = np.array([ytvos_valid_id(i) for i in range(255)] + [255], np.uint8)


class YouTubeVOSWriter(BenchmarkWriter):
    """YouTube-VOS 2019: ``train/``, ``valid/`` (sparse first-appearance masks), ``*_all_frames/``,
    and the full valid ground truth under ``valid_gt/`` for local evaluation."""

    name = "ytvos2019"

    def __init__(self, root: Path, count: int, config: SynthConfig):
        super().__init__(root, count, config)
        self.meta: dict[str, dict] = {"train": {}, "valid": {}, "valid_gt": {}}

    def add(self, position: int, video: SynthVideo) -> None:
        vid = video.name
        listed = list(range(0, len(video), YTVOS_STRIDE))
        names = [f"{t:05d}" for t in listed]
        for split in self.splits[position]:
            ytvos_split = "train" if split == "train" else "valid"
            masks, categories = video.masks[listed], video.categories
            if ytvos_split == "valid":
                masks = VALID_ID_LOOKUP[masks]
                categories = {ytvos_valid_id(i): name for i, name in categories.items()}
            self.out.frames(f"{ytvos_split}/JPEGImages/{vid}", video.frames[listed], names)
            self.out.frames(f"{ytvos_split}_all_frames/JPEGImages/{vid}", video.frames, frame_names(len(video)))
            full_meta = self._full_meta(masks, names, categories)
            if ytvos_split == "train":
                self.out.label_maps(f"train/Annotations/{vid}", masks, names)
                self.meta["train"][vid] = full_meta
                continue
            self.out.label_maps(f"valid_gt/Annotations/{vid}", masks, names)
            self.meta["valid_gt"][vid] = full_meta
            self.meta["valid"][vid] = self._first_masks(vid, masks, names)

    @staticmethod
    def _full_meta(masks: np.ndarray, names: list[str], categories: dict[int, str]) -> dict:
        """Train-style entry: every object with its category and the listed frames showing it."""
        objects = {}
        for object_id in sorted(int(i) for i in np.unique(masks) if i != 0):
            present = [names[k] for k in range(len(names)) if (masks[k] == object_id).any()]
            objects[str(object_id)] = {"category": categories[object_id], "frames": present}
        return {"objects": objects}

    def _first_masks(self, vid: str, masks: np.ndarray, names: list[str]) -> dict:
        """Write the valid masks (each object only where it starts) and return its meta entry."""
        starts: dict[int, int] = {}
        for object_id in sorted(int(i) for i in np.unique(masks) if i != 0):
            areas = (masks == object_id).sum(axis=(1, 2))
            big = np.flatnonzero(areas >= self.config.min_visible_pixels)
            starts[object_id] = int(big[0] if big.size else np.flatnonzero(areas)[0])
        for k in sorted(set(starts.values())):
            starting = [i for i, s in starts.items() if s == k]
            self.out.label_map(f"valid/Annotations/{vid}/{names[k]}.png",
                               np.where(np.isin(masks[k], starting), masks[k], 0).astype(np.uint8))
        return {"objects": {str(i): {"frames": names[s:]} for i, s in starts.items()}}

    def finish(self) -> None:
        self.out.json("train/meta.json", {"videos": self.meta["train"]})
        self.out.json("valid/meta.json", {"videos": self.meta["valid"]})
        self.out.json("valid_gt/meta.json", {"videos": self.meta["valid_gt"]})


def fbms_region_codes(object_ids: Sequence[int], colour: bool) -> dict[int, int]:
    """Region code per mask id (0 = background): grey levels for PGM, ``R*65536+G*256+B`` for PPM."""
    codes = {0: 0}
    for rank, object_id in enumerate(object_ids, start=1):
        if colour:
            r, g, b = (int(c) for c in DAVIS_PALETTE[object_id])
            codes[object_id] = r * 65536 + g * 256 + b
        else:
            codes[object_id] = int(round(255 * rank / len(object_ids)))
    return codes


def fbms_definition(seq: str, codes: dict[int, int], frames: int, labelled: Sequence[int], gt_ext: str) -> str:
    """Text of ``<seq>Def.dat`` (FBMS ground-truth definition file); frame numbers are 0-based."""
    regions = list(codes.values())
    lines = ["Ground truth definition file; do not change!", "", "Total number of regions:", str(len(regions))]
    for index, code in enumerate(regions):
        lines += [f"Scale of region {index}:", str(code)]
    lines += ["", "Confusion penality matrix:"]
    lines += [" ".join("0" if i == j else "1" for j in range(len(regions))) for i in range(len(regions))]
    lines += ["", "Total number of frames in this shot:", str(frames),
              "Total number of labeled frames for this shot:", str(len(labelled))]
    for t in labelled:
        lines += ["Frame number:", str(t), "File name:", f"{seq}_{t + 1}_gt{gt_ext}",
                  "Input file name:", f"{seq}_{t + 1}.jpg"]
    return "\n".join(lines) + "\n"


class FBMSWriter(BenchmarkWriter):
    """FBMS-59 original release (``Trainingset/``, ``Testset/``) and RCF's ``fbms59_resized/``."""

    name = "fbms59"
    FOLDERS = {"train": "Trainingset", "val": "Testset"}

    def add(self, position: int, video: SynthVideo) -> None:
        seq, count = video.name, len(video)
        labelled = fbms_annotated_frames(count, self.config.fbms_every)
        colour = position % 2 == 1  # alternate PGM (grey) and PPM (colour) ground truth
        gt_ext = ".ppm" if colour else ".pgm"
        codes = fbms_region_codes(video.object_ids, colour)
        for split in self.splits[position]:
            folder = f"{self.FOLDERS[split]}/{seq}"
            self.out.frames(folder, video.frames, [f"{seq}_{t + 1}" for t in range(count)])
            for t in labelled:
                self.out.netpbm(f"{folder}/GroundTruth/{seq}_{t + 1}_gt{gt_ext}", self._regions(video.masks[t], codes, colour))
            self.out.text(f"{folder}/GroundTruth/{seq}Def.dat", fbms_definition(seq, codes, count, labelled, gt_ext))

        names = frame_names(count)
        resized = "fbms59_resized"
        self.out.frames(f"{resized}/JPEGImages/{seq}", video.frames, names)
        self.out.binary_masks(f"{resized}/Annotations/{seq}", video.masks[labelled] > 0, [names[t] for t in labelled])
        self.out.rcf_flows(f"{resized}/Flows_NewCT/{seq}", f"{resized}/BackwardFlows_NewCT/{seq}", video, names)
        self._join(position, {"all": rcf_list_line(f"JPEGImages/{seq}", names),
                              "ann": rcf_list_line(f"JPEGImages/{seq}", [names[t] for t in labelled])})

    @staticmethod
    def _regions(ids: np.ndarray, codes: dict[int, int], colour: bool) -> np.ndarray:
        lookup = np.zeros(256, np.int64)
        for object_id, code in codes.items():
            lookup[object_id] = code
        values = lookup[ids]
        if not colour:
            return values.astype(np.uint8)
        return np.stack([values >> 16, (values >> 8) & 255, values & 255], axis=-1).astype(np.uint8)

    def finish(self) -> None:
        for name, entries in (("trainval", self.entries("train", "val")), ("val", self.entries("val"))):
            self.out.lines(f"fbms59_resized/{name}.txt", [e["all"] for e in entries])
            self.out.lines(f"fbms59_resized/{name}_ann.txt", [e["ann"] for e in entries])


class SegTrackV2Writer(BenchmarkWriter):
    """SegTrackv2: PNG or BMP frames, 3-channel 0/255 masks (per-object folders when several)."""

    name = "segtrackv2"

    def add(self, position: int, video: SynthVideo) -> None:
        seq = video.name
        names = [f"{seq}_{t:05d}" for t in range(len(video))]
        self.out.frames(f"JPEGImages/{seq}", video.frames, names, ext=".png" if position % 2 == 0 else ".bmp")
        objects = video.object_ids
        if len(objects) <= 1:
            self.out.binary_masks(f"GroundTruth/{seq}", video.masks > 0, names,
                                  ext=".png" if position % 2 == 0 else ".bmp", channels=3)
        else:
            for number, object_id in enumerate(objects, start=1):
                # Mask extensions differ between objects of a sequence, as in cheetah/penguin.
                ext = ".png" if (position + number) % 2 == 1 else ".bmp"
                self.out.binary_masks(f"GroundTruth/{seq}/{number}", video.masks == object_id, names,
                                      ext=ext, channels=3)
        self.out.lines(f"ImageSets/{seq}.txt", [f"{seq}/", *names])
        self._join(position, seq)

    def finish(self) -> None:
        self.out.lines("ImageSets/all.txt", [f"*{seq}" for seq in self.entries("train", "val")])


class OASTWriter(BenchmarkWriter):
    """OAST's ``<Dataset>/<split>/{images,flows,labels}/<video>/`` for all five datasets it reads.

    train videos -> ``DAVIS-2016/train`` and ``YouTubeVOS-2018/train``; val videos ->
    ``DAVIS-2016/val``, ``FBMS/val`` (labels on the FBMS-sparse frames only) and
    ``Youtube-objects/val`` (no labels).
    """

    name = "oast"
    TARGETS = {"train": (("DAVIS-2016", "all"), ("YouTubeVOS-2018", "all")),
               "val": (("DAVIS-2016", "all"), ("FBMS", "sparse"), ("Youtube-objects", None))}

    def add(self, position: int, video: SynthVideo) -> None:
        seq, names = video.name, frame_names(len(video))
        pictures = [flow_to_color(last_frame_flow(video, t)) for t in range(len(video))]
        for split in self.splits[position]:
            for dataset, labels in self.TARGETS[split]:
                base = f"{dataset}/{split}"
                self.out.frames(f"{base}/images/{seq}", video.frames, names)
                self.out.frames(f"{base}/flows/{seq}", pictures, names)
                if labels is None:
                    continue
                keep = range(len(video)) if labels == "all" else fbms_annotated_frames(len(video), self.config.fbms_every)
                self.out.binary_masks(f"{base}/labels/{seq}", video.masks[list(keep)] > 0, [names[t] for t in keep])


class FramesWriter(BenchmarkWriter):
    """A user's own clip: ``<seq>/frames/00000.jpg ...`` and the first-frame mask ``<seq>/00000.png``."""

    name = "frames"

    def add(self, position: int, video: SynthVideo) -> None:
        seq = video.name
        self.out.frames(f"{seq}/frames", video.frames, frame_names(len(video)))
        self.out.label_map(f"{seq}/00000.png", video.masks[0])


class VideoFileWriter(BenchmarkWriter):
    """A user's own video file: ``<seq>/<seq>.mp4`` (mp4v, 30 fps) and ``<seq>/00000.png``.

    MPEG-4 encoders store even sizes only (an odd width comes back one pixel narrower), so
    frames and mask are cropped to even height and width: the mask always matches the
    decoded frames.
    """

    name = "video"

    def add(self, position: int, video: SynthVideo) -> None:
        seq = video.name
        height, width = video.frames.shape[1] // 2 * 2, video.frames.shape[2] // 2 * 2
        self.out.mp4(f"{seq}/{seq}.mp4", video.frames[:, :height, :width])
        self.out.label_map(f"{seq}/00000.png", video.masks[0, :height, :width])


WRITERS: dict[str, type[BenchmarkWriter]] = {
    writer.name: writer
    for writer in (Davis2017Writer, Davis2016Writer, YouTubeVOSWriter, FBMSWriter, SegTrackV2Writer,
                   OASTWriter, FramesWriter, VideoFileWriter)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)


@dataclass(frozen=True)
class WriteSummary:
    """What ``write_benchmark`` wrote: counts and the output folder."""

    formats: tuple[str, ...]
    videos: int
    frames: int
    objects: int
    files: int
    out: Path

    def __str__(self) -> str:
        return (f"wrote {self.videos} videos ({self.frames} frames, {self.objects} objects) in "
                f"{', '.join(self.formats)}: {self.files} files under {self.out}")


def write_benchmark(videos: Sequence[SynthVideo], format: str = "davis2017", out: str | os.PathLike = ".",
                    progress: bool = False) -> WriteSummary:
    """Write ``videos`` in one layout (``format`` in ``FORMATS``) under ``out``.

    ``format="all"`` writes every layout, each into ``out/<format>/``, in one pass over the
    videos (``videos`` may be a lazy sequence such as ``LazyVideos``: each is visited once).
    Split (train/val) is by position: see :func:`assign_splits`. Returns a :class:`WriteSummary`.
    """
    if format != "all" and format not in WRITERS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)} or 'all'")
    if len(videos) == 0:
        raise ValueError("no videos to write")
    out = Path(out)
    names = FORMATS if format == "all" else (format,)
    writers: list[BenchmarkWriter] = []
    frames = objects = 0
    for position, video in enumerate(tqdm(videos, desc="synth", unit="video", disable=not progress)):
        if position == 0:  # settings (JPEG quality, FBMS step, ...) come from the first video's config
            writers = [WRITERS[n](out / n if format == "all" else out, len(videos), video.config) for n in names]
        for writer in writers:
            writer.add(position, video)
        frames += len(video)
        objects += len(video.object_ids)
    for writer in writers:
        writer.finish()
    return WriteSummary(tuple(names), len(videos), frames, objects, sum(w.out.files for w in writers), out)
