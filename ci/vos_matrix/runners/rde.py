"""RDE-VOS: ``rde.train`` (tiny config) and its ``eval_davis``, ``eval_davis_2016`` and
``eval_youtube`` entry points (the released defaults: two-frames-compress, mem_every 3 on
DAVIS, 4 with top-k 20 on YouTube-VOS)."""

from __future__ import annotations

from pathlib import Path

from vos_matrix.benchmark import staged_davis
from vos_matrix.cells import Cell
from vos_matrix.runners.base import Prediction, RunContext, Runner, opts_tokens, timed
from vos_matrix.runners.entry import latest_file, run_entry
from vos_matrix.weights import Weights, cached_training, file_digest, given_checkpoint


def _config_file(name: str) -> Path:
    from rde import train

    return Path(train.__file__).with_name("configs") / name


class RDE(Runner):
    name = "rde"

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        youtube = cell.benchmark.name == "ytvos2019"
        return {
            "mode": "two-frames-compress",
            "mem_every": 4 if youtube else 3,
            "top": 20 if youtube else 40,
        }

    def weights(self, cell: Cell, ctx: RunContext) -> Weights:
        entry = self.weights_entry(cell, ctx)
        if "checkpoint" in entry:
            return Weights(given_checkpoint(entry, ctx.weights_dir), "checkpoint")
        from rde import __version__ as version
        from rde import train

        config = _config_file(entry["train"])
        overrides = opts_tokens(entry)
        staged = staged_davis(ctx.work, ctx.data)

        def run(run_dir: Path):
            torch_threads(ctx.threads)
            run_entry(
                train.main,
                "rde.train",
                [
                    "--id",
                    "tiny",
                    "--config",
                    config,
                    "--davis_root",
                    staged / "2017",
                    "--output",
                    run_dir,
                    *(["--opts", *overrides] if overrides else []),
                ],
                ctx.log,
            )
            return latest_file(run_dir, "model_*.pth"), {"config": str(config)}

        key = {
            "method": self.name,
            "version": version,
            "config": config.name,
            "config_digest": file_digest(config),
            "base_digest": file_digest(config.with_name("base.yaml")),
            "overrides": overrides,
            "data": ctx.data.synthetic_folder.name,
        }
        return cached_training(ctx.cache, self.name, key, run, ctx.log)

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        from rde import eval_davis, eval_davis_2016, eval_youtube

        common = [
            "--model",
            weights.path,
            "--output",
            out,
            "--threads",
            ctx.threads,
            "--device",
            ctx.device,
        ]
        bench = cell.benchmark.name
        with timed() as clock:
            if bench in ("davis2017", "davis2016"):
                staged = staged_davis(ctx.work, ctx.data)
                main, prog = (
                    (eval_davis.main, "rde.eval_davis")
                    if bench == "davis2017"
                    else (eval_davis_2016.main, "rde.eval_davis_2016")
                )
                extra = ["--mem_every", 3] + (["--top", 40] if bench == "davis2016" else [])
                run_entry(main, prog, [*common, "--davis_path", staged / "2017", *extra], ctx.log)
                results = out
            elif bench == "ytvos2019":
                res = ["--res", -1] if ctx.synthetic else []
                run_entry(
                    eval_youtube.main,
                    "rde.eval_youtube",
                    [
                        *common,
                        "--yv_path",
                        ctx.data.root(bench),
                        "--mem_every",
                        4,
                        "--top",
                        20,
                        *res,
                    ],
                    ctx.log,
                )
                results = out / "Annotations"
            else:
                raise ValueError(f"rde has no runner for benchmark {bench}")
        frames = sum(1 for _ in results.rglob("*.png"))
        return Prediction(results, frames, clock())


def torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))
