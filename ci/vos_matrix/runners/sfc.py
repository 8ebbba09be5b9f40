"""SFC: fine-grained correspondence pre-training (``sfc.train``, tiny config on the synthetic
train split's frames) and label propagation (``sfc.test_vos --davis-out``).

Synthetic matrix: FC only (the README's "FC only" settings: top-k 10, radius 12, temperature
0.05), since the semantic encoder (MoCo-v1 ResNet-50) has no tiny training here. Real matrix:
the README's SFC settings (fine-grained + mocov1, top-k 15, radius 15, temperature 0.1,
lambda 1.75) with the official checkpoints under ``--weights-dir``.
"""

from __future__ import annotations

from pathlib import Path

from vos_common.io import atomic_write_text

from vos_matrix.cells import Cell
from vos_matrix.runners.base import (
    Prediction,
    RunContext,
    Runner,
    open_benchmark,
    opts_tokens,
    timed,
)
from vos_matrix.runners.entry import run_entry
from vos_matrix.weights import Weights, cached_training, file_digest, given_checkpoint

FC_ONLY = {"topk": 10, "radius": 12, "temperature": 0.05, "videoLen": 20}
SFC = {"topk": 15, "radius": 15, "temperature": 0.1, "videoLen": 20, "lambd": 1.75}


def _config_file(name: str) -> Path:
    from sfc import train

    return Path(train.__file__).with_name("configs") / name


class SFCRunner(Runner):
    name = "sfc"

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        if ctx.synthetic:
            return {"fc_model": "fine-grained (tiny, trained here)", **FC_ONLY}
        return {"fc_model": "fine-grained", "semantic_model": "mocov1", **SFC}

    def weights(self, cell: Cell, ctx: RunContext) -> Weights:
        entry = self.weights_entry(cell, ctx)
        if "checkpoint" in entry:
            extra = (
                {"semantic": str(given_checkpoint(entry, ctx.weights_dir, "semantic"))}
                if "semantic" in entry
                else None
            )
            return Weights(given_checkpoint(entry, ctx.weights_dir), "checkpoint", extra=extra)
        from sfc import __version__ as version
        from sfc import train

        config = _config_file(entry["train"])
        opts = opts_tokens(entry)
        davis = ctx.data.root("davis2017")

        def run(run_dir: Path):
            run_entry(
                train.main,
                "sfc.train",
                [
                    config,
                    "--dataset",
                    "davis2017",
                    "--split",
                    "train",
                    "--data-path",
                    davis,
                    "--output-dir",
                    run_dir,
                    "--device",
                    "cpu",
                    *(["--opts", *opts] if opts else []),
                ],
                ctx.log,
            )
            return run_dir / "pretrained_fc.pth", {"config": str(config)}

        key = {
            "method": self.name,
            "version": version,
            "config": config.name,
            "config_digest": file_digest(config),
            "base_digest": file_digest(config.with_name("fc_pretrain.yaml")),
            "opts": opts,
            "data": ctx.data.synthetic_folder.name,
        }
        return cached_training(ctx.cache, self.name, key, run, ctx.log)

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        from sfc import test_vos

        bench = cell.benchmark.name
        if bench != "davis2017":
            raise ValueError(f"sfc has no runner for benchmark {bench}")
        root = ctx.data.root(bench)
        sequences = open_benchmark(bench, root)
        filelist = ctx.work / "sfc_davis2017_val.txt"
        atomic_write_text(
            filelist,
            "".join(
                f"{s.frame_paths[0].parent.resolve()} {s.annotation_paths[0].parent.resolve()}\n"
                for s in sequences
            ),
        )
        settings = FC_ONLY if ctx.synthetic else SFC
        argv = [
            "--filelist",
            filelist,
            "--fc-model",
            "fine-grained",
            "--fc-checkpoint",
            weights.path,
            "--cropSize",
            -1,
            "--save-path",
            ctx.work / "sfc_raw" / cell.slug,
            "--davis-out",
            out,
            "--no-blend",
            "--device",
            ctx.device,
        ]
        if not ctx.synthetic:
            argv += [
                "--semantic-model",
                "mocov1",
                "--semantic-checkpoint",
                weights.extra["semantic"],
            ]
        for key, value in settings.items():
            argv += [f"--{key}", value]
        with timed() as clock:
            run_entry(test_vos.main, "sfc.test_vos", argv, ctx.log)
        frames = sum(1 for _ in out.rglob("*.png"))
        return Prediction(out, frames, clock())
