"""Writers of tiny datasets in the exact on-disk layouts the readers expect (tests only).

Frames are deterministic noise; masks are rectangles of known ids so that tests can compare
what a reader returns with what was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from vos_common.io import write_binary_mask, write_flow_npy, write_frame, write_label_map


def frame(height: int, width: int, seed: int) -> np.ndarray:
    """Deterministic RGB uint8 ``(H, W, 3)`` noise."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def label_map(height: int, width: int, boxes: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """``(H, W)`` uint8 ids: ``boxes[id] = (y0, y1, x0, x1)`` painted in id order."""
    ids = np.zeros((height, width), dtype=np.uint8)
    for obj, (y0, y1, x0, x1) in sorted(boxes.items()):
        ids[y0:y1, x0:x1] = obj
    return ids


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def write_frames(folder: Path, count: int, height: int, width: int, names: list[str] | None = None,
                 ext: str = ".jpg", seed: int = 0) -> list[str]:
    """``count`` frames named ``00000<ext>``... (or ``names``); returns the stems."""
    names = names or [f"{i:05d}" for i in range(count)]
    for i, stem in enumerate(names):
        write_frame(folder / f"{stem}{ext}", frame(height, width, seed + i))
    return names


def forward_value(t: int) -> np.ndarray:
    """The constant flow vector written for forward flow ``t -> t+1`` (u = t, v = 0.5)."""
    return np.array([t, 0.5], dtype=np.float32)


def backward_value(t: int) -> np.ndarray:
    """The constant flow vector written for backward flow ``t -> t-1`` (u = -t, v = -0.5)."""
    return np.array([-t, -0.5], dtype=np.float32)


def write_rcf_flows(forward_dir: Path, backward_dir: Path, names: list[str], height: int,
                    width: int) -> None:
    """RCF naming: the file of frame k >= 1 holds k-1 -> k (forward) and k -> k-1 (backward)."""
    shape = (height, width, 2)
    for k in range(1, len(names)):
        forward, backward = forward_value(k - 1), backward_value(k)
        write_flow_npy(forward_dir / f"{names[k]}.npy", np.broadcast_to(forward, shape))
        write_flow_npy(backward_dir / f"{names[k]}.npy", np.broadcast_to(backward, shape))


def write_davis_sequence(root: Path, name: str, masks: list[np.ndarray], resolution: str = "480p",
                         annotation_dir: str = "Annotations", annotated: list[int] | None = None,
                         seed: int = 0) -> None:
    """``JPEGImages/<res>/<name>/%05d.jpg`` for every mask and indexed PNGs for ``annotated``."""
    height, width = masks[0].shape
    names = write_frames(root / "JPEGImages" / resolution / name, len(masks), height, width,
                         seed=seed)
    for index in (range(len(masks)) if annotated is None else annotated):
        write_label_map(root / annotation_dir / resolution / name / f"{names[index]}.png",
                        masks[index])


def write_ytvos_split(root: Path, split: str, videos: dict[str, dict],
                      size: tuple[int, int] = (36, 64)) -> None:
    """One YouTube-VOS split: frames, sparse masks and ``meta.json``.

    ``videos[vid] = {"frames": [names], "objects": {id: {"category", "frames", "box"}},
    "annotated": [names]}``; each annotated frame holds the objects whose ``frames`` list
    starts there (valid) or contains it (train).
    """
    height, width = size
    meta = {"videos": {}}
    for vid, spec in videos.items():
        write_frames(root / split / "JPEGImages" / vid, 0, height, width, names=spec["frames"])
        for name in spec["annotated"]:
            boxes = {obj: o["box"] for obj, o in spec["objects"].items()
                     if (o["frames"][0] == name if split != "train" else name in o["frames"])}
            write_label_map(root / split / "Annotations" / vid / f"{name}.png",
                            label_map(height, width, boxes))
        objects = {str(obj): {"category": o["category"], "frames": o["frames"]}
                   for obj, o in spec["objects"].items()}
        meta["videos"][vid] = {"objects": objects}
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / split / "meta.json").write_text(json.dumps(meta))


def save_image(path: Path, array: np.ndarray) -> None:
    """Save uint8 ``(H, W)`` / ``(H, W, C)`` as is; format from the extension (PGM, PPM, BMP...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_fbms_def(path: Path, codes: list[int], labelled: list[tuple[int, str, str]], total: int,
                   descriptive: bool = False) -> None:
    """A ``Def.dat`` laid out as evaluation.md 1.4 says; ``descriptive`` adds text lines."""
    n = len(codes)
    note = (lambda text: [text]) if descriptive else (lambda text: [])
    lines = [f"Ground truth definition file; {n} regions"]
    lines += note("Number of regions") + [str(n)]
    for r, code in enumerate(codes):
        lines += note(f"Grey value of region {r}") + [str(code)]
    lines += note("Confusion penality matrix")
    lines += [" ".join("0" if i == j else "1" for j in range(n)) for i in range(n)]
    lines += note("Total number of frames in this shot") + [str(total)]
    lines += note("Total number of labeled frames for this shot") + [str(len(labelled))]
    for number, gt_name, input_name in labelled:
        lines += note("Frame number") + [str(number)] + note("File name") + [gt_name]
        lines += note("Input file name") + [input_name]
    write_lines(path, lines)


def write_oast_video(split_dir: Path, video: str, frames: int, flows: int, labels: list[int] | None,
                     size: tuple[int, int] = (24, 32)) -> list[str]:
    """OAST layout: ``frames`` images, flow pictures for the first ``flows``, labels at indices."""
    height, width = size
    names = write_frames(split_dir / "images" / video, frames, height, width)
    for i in range(flows):
        write_frame(split_dir / "flows" / video / f"{names[i]}.jpg", frame(height, width, 100 + i))
    for i in labels or []:
        mask = np.zeros((height, width), dtype=np.uint8)
        mask[2:10 + i, 3:12] = 1
        write_binary_mask(split_dir / "labels" / video / f"{names[i]}.png", mask)
    return names
