"""The whole README sequence in one command, passing the object slot along by itself.

    python -m rcf.pipeline configs/rcf --data-path data/data_davis --work-dir saved \\
        --dino-weights dino_deitsmall8_300ep_pretrain.pth
    python -m rcf.pipeline configs/smoke --data-path /tmp/rcf_smoke --work-dir /tmp/run --random-vit

stage 1 -> MAA (object slot) -> stage 2.1 -> export trainval with the EMA teacher -> semantic
constraints (pseudo-labels) -> stage 2.2 -> CRF post-processing -> evaluation (RCF's protocol
and standard DAVIS-2016 J&F, before and after CRF). CONFIG_DIR (a shipped folder such as
``configs/rcf`` or a folder on disk) must hold ``rcf_stage1.yaml``, ``rcf_stage2.1.yaml``,
``rcf_export_trainval_ema.yaml`` and ``rcf_stage2.2.yaml``. Each stage writes under
``<work-dir>/saved_rcf_<stage>/`` and the summary goes to ``<work-dir>/pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text

from rcf.config import load_rcf_config, shipped_config_root
from rcf.tools import DATASETS, add_vit_arguments, run_cli

STAGE_FILES = (
    "rcf_stage1.yaml",
    "rcf_stage2.1.yaml",
    "rcf_export_trainval_ema.yaml",
    "rcf_stage2.2.yaml",
)


def resolve_config_dir(name: str) -> Path:
    path = Path(name)
    if path.is_dir():
        return path
    rel = name.strip("/")
    if rel.startswith("configs/"):
        rel = rel[len("configs/") :]
    candidate = shipped_config_root() / rel
    if candidate.is_dir():
        return candidate
    raise VOSDataError(
        name, "config folder not found (neither a folder nor a shipped one such as configs/rcf)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.pipeline",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config_dir", metavar="CONFIG_DIR", help="folder of stage configs (e.g. configs/rcf)"
    )
    parser.add_argument(
        "--data-path", default=None, help="dataset root (default: the configs' data_path)"
    )
    parser.add_argument(
        "--work-dir", default="saved", help="where every stage writes (default ./saved)"
    )
    parser.add_argument(
        "--dataset",
        default="davis",
        choices=sorted(DATASETS),
        help="protocol family (default davis)",
    )
    parser.add_argument(
        "--eval-data-path",
        default=None,
        help="ground truth for the evaluation (default --data-path; "
        "SegTrackv2/FBMS: the original dataset)",
    )
    parser.add_argument(
        "--object-channel", type=int, default=None, help="skip MAA and use this slot"
    )
    parser.add_argument(
        "--crf-workers",
        type=int,
        default=2,
        help="processes for the CRF post-processing (default 2)",
    )
    parser.add_argument(
        "--skip-eval", action="store_true", help="stop after the CRF post-processing"
    )
    parser.add_argument(
        "--opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="overrides applied to every training stage ('key value' pairs; must come last)",
    )
    add_vit_arguments(parser)
    return parser


def _global_step(checkpoint: Path) -> int:
    from vos_common.checkpoint import load_checkpoint

    return int(load_checkpoint(checkpoint).get("global_step", 0))


def _vit_args(args) -> list[str]:
    out = [
        "--vit-arch",
        args.vit_arch,
        "--patch-size",
        str(args.patch_size),
        "--vit-seed",
        str(args.vit_seed),
    ]
    if args.random_vit:
        out.append("--random-vit")
    if args.dino_weights:
        out += ["--dino-weights", args.dino_weights]
    return out


def _run(label: str, function, argv: list[str], log: list) -> None:
    print(f"\n===== rcf.pipeline: {label}\n      {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    status = function(argv)
    log.append({"stage": label, "argv": argv, "seconds": round(time.perf_counter() - start, 2)})
    if status not in (0, None):
        raise VOSDataError(None, f"stage '{label}' failed with status {status}")


def main(argv: list[str] | None = None) -> int:
    from rcf import crf_postprocess, evaluate, maa, semantic_constraints, train

    args = build_parser().parse_args(argv)
    config_dir = resolve_config_dir(args.config_dir)
    for name in STAGE_FILES:
        if not (config_dir / name).is_file():
            raise VOSDataError(config_dir / name, "stage config missing from the config folder")
    stage1_cfg = load_rcf_config(config_dir / "rcf_stage1.yaml", args.opts)
    data_path = args.data_path or stage1_cfg.data_path
    if not Path(data_path).is_dir():
        raise VOSDataError(data_path, "data path does not exist")
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    slots = stage1_cfg.model_kwargs.mask_layer
    if args.object_channel is not None and not 0 <= args.object_channel < slots:
        raise VOSDataError(
            None, f"--object-channel {args.object_channel} is out of range for {slots} slots"
        )
    crf_cfg = load_rcf_config(config_dir / "rcf_stage2.1.yaml", args.opts).model_kwargs.crf_head
    log: list = []
    started = time.perf_counter()
    common = ["data_path", str(data_path), *args.opts]

    s1 = work / "saved_rcf_stage1"
    _run(
        "stage 1",
        train.main,
        [str(config_dir / "rcf_stage1.yaml"), "--opts", *common, "checkpoints_dir", str(s1)],
        log,
    )
    step1 = _global_step(s1 / "last.ckpt")

    if args.object_channel is None:
        _run(
            "motion-appearance alignment",
            maa.main,
            [
                "--pretrain_dir",
                str(s1),
                "--first-frames-only",
                "--step",
                str(step1),
                "--dataset",
                args.dataset,
                "--data-path",
                str(data_path),
                "--num-channels",
                str(slots),
                "--exit-zero",
                "--no-progress",
                *_vit_args(args),
            ],
            log,
        )
        channel = int((s1 / "object_channel.txt").read_text().strip())
    else:
        channel = args.object_channel
    print(f"rcf.pipeline: object channel {channel}", flush=True)

    s21 = work / "saved_rcf_stage2.1"
    _run(
        "stage 2.1",
        train.main,
        [
            str(config_dir / "rcf_stage2.1.yaml"),
            "--opts",
            *common,
            "checkpoints_dir",
            str(s21),
            "pretrained_model",
            str(s1 / "last.ckpt"),
            "object_channel",
            str(channel),
        ],
        log,
    )
    _run(
        "export trainval (EMA)",
        train.main,
        [
            str(config_dir / "rcf_export_trainval_ema.yaml"),
            "--test",
            "--test-override-pretrained",
            str(s21 / "last.ckpt"),
            "--opts",
            *common,
            "object_channel",
            str(channel),
        ],
        log,
    )
    export_name = load_rcf_config(
        config_dir / "rcf_export_trainval_ema.yaml"
    ).saved_eval_export_dir_name
    _run(
        "semantic constraints",
        semantic_constraints.main,
        [
            "--pretrain_dir",
            str(s21),
            "--object-channel",
            str(channel),
            "--num-channels",
            str(slots),
            "--dataset",
            args.dataset,
            "--data-path",
            str(data_path),
            "--export-dir-name",
            export_name,
            "--crf-sxy",
            str(crf_cfg.sxy),
            "--crf-iterations",
            str(crf_cfg.refine_iters),
            "--crf-backend",
            crf_cfg.backend,
            "--overwrite",
            "--no-progress",
            *_vit_args(args),
        ],
        log,
    )
    pl_root = s21 / (export_name + "_torchcrf_ncut_torchcrf") / str(channel)

    s22 = work / "saved_rcf_stage2.2"
    _run(
        "stage 2.2",
        train.main,
        [
            str(config_dir / "rcf_stage2.2.yaml"),
            "--opts",
            *common,
            "checkpoints_dir",
            str(s22),
            "pretrained_model",
            str(s21 / "last.ckpt"),
            "object_channel",
            str(channel),
            "train_dataset_kwargs.pl_root",
            str(pl_root),
        ],
        log,
    )
    step22 = _global_step(s22 / "last.ckpt")
    stage22 = load_rcf_config(config_dir / "rcf_stage2.2.yaml", args.opts)
    export_dir = s22 / stage22.saved_eval_export_dir_name
    images = Path(data_path) / (
        "JPEGImages/480p" if (Path(data_path) / "JPEGImages/480p").is_dir() else "JPEGImages"
    )
    _run(
        "CRF post-processing",
        crf_postprocess.main,
        [
            "--input",
            str(images),
            "--annotation-dir",
            str(export_dir),
            "--step",
            str(step22),
            "--workers",
            str(args.crf_workers),
            "--sxy",
            str(crf_cfg.sxy),
            "--iterations",
            str(crf_cfg.refine_iters),
            "--allow_skip",
            "--no-progress",
        ],
        log,
    )
    summary = {
        "object_channel": channel,
        "stage1_step": step1,
        "stage2_2_step": step22,
        "export_dir": str(export_dir),
        "crf_dir": str(crf_postprocess.output_dir_for(export_dir)),
        "stages": log,
    }
    if not args.skip_eval:
        eval_root = args.eval_data_path or data_path
        folders = [str(export_dir), summary["crf_dir"]]
        if args.dataset == "davis":
            scores = [evaluate.evaluate_davis(eval_root, f, step22) for f in folders]
        else:
            scores = [evaluate.evaluate_iou(args.dataset, eval_root, f, step22) for f in folders]
        summary["evaluation"] = {"without_crf": scores[0], "with_crf": scores[1]}
        print("\n===== rcf.pipeline: evaluation")
        print(evaluate.format_table([("stage 2.2", scores[0]), ("stage 2.2 + CRF", scores[1])]))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    atomic_write_text(work / "pipeline.json", json.dumps(summary, indent=2) + "\n")
    print(
        f"\nrcf.pipeline: done in {summary['seconds']:.1f} s; object channel {channel}; summary in "
        f"{work / 'pipeline.json'}"
    )
    return 0


def entry(argv: list[str] | None = None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(entry())
