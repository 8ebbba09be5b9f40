"""MiVOS propagation: ``mivos_prop.train`` (tiny config) and its ``eval_davis``,
``eval_davis_2016``, ``eval_youtube`` entry points."""

from __future__ import annotations

from pathlib import Path

from vos_common.io import atomic_write_text

from vos_matrix.benchmark import staged_davis
from vos_matrix.cells import Cell
from vos_matrix.runners.base import (
    Prediction,
    RunContext,
    Runner,
    open_benchmark,
    opts_tokens,
    timed,
)
from vos_matrix.runners.entry import latest_file, run_entry
from vos_matrix.weights import Weights, cached_training, file_digest, given_checkpoint


def _config_file(name: str) -> Path:
    from mivos_prop import train

    return Path(train.__file__).with_name("configs") / name


class MiVOSProp(Runner):
    name = "mivos_prop"

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        return {
            "top_k": 50,
            "mem_every": 5,
            "model": "smoke ResNet-18" if ctx.synthetic else "ResNet-50",
        }

    def weights(self, cell: Cell, ctx: RunContext) -> Weights:
        entry = self.weights_entry(cell, ctx)
        if "checkpoint" in entry:
            return Weights(given_checkpoint(entry, ctx.weights_dir), "checkpoint")
        from mivos_prop import __version__ as version
        from mivos_prop import train

        config = _config_file(entry["train"])
        overrides = opts_tokens(entry)
        staged = staged_davis(ctx.work, ctx.data)

        def run(run_dir: Path):
            run_entry(
                train.main,
                "mivos_prop.train",
                [
                    "--config",
                    config,
                    "--id",
                    "tiny",
                    "--output",
                    run_dir,
                    "--threads",
                    ctx.threads,
                    "--opts",
                    "data.davis_root",
                    staged,
                    *overrides,
                ],
                ctx.log,
            )
            return latest_file(run_dir, "tiny_*.pth"), {"config": str(config)}

        key = {
            "method": self.name,
            "version": version,
            "config": config.name,
            "config_digest": file_digest(config),
            "overrides": overrides,
            "data": ctx.data.synthetic_folder.name,
        }
        return cached_training(ctx.cache, self.name, key, run, ctx.log)

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        from mivos_prop import eval_davis, eval_davis_2016, eval_youtube

        common = ["--model", weights.path, "--threads", ctx.threads, "--device", ctx.device]
        if ctx.synthetic:
            common.append("--smoke-model")
        bench = cell.benchmark.name
        with timed() as clock:
            if bench == "davis2017":
                staged = staged_davis(ctx.work, ctx.data)
                run_entry(
                    eval_davis.main,
                    "mivos_prop.eval_davis",
                    [*common, "--davis", staged / "2017", "--output", out],
                    ctx.log,
                )
                results = out
            elif bench == "davis2016":
                staged = staged_davis(ctx.work, ctx.data)
                names = [s.name for s in open_benchmark(bench, ctx.data.root(bench))]
                imset = ctx.work / "mivos_prop_davis2016_val.txt"
                atomic_write_text(imset, "\n".join(names) + "\n")
                run_entry(
                    eval_davis_2016.main,
                    "mivos_prop.eval_davis_2016",
                    [*common, "--davis", staged / "2016", "--imset", imset, "--output", out],
                    ctx.log,
                )
                results = out
            elif bench == "ytvos2019":
                root = ctx.data.root(bench)
                short = (
                    ["--short-side", str(min(open_benchmark(bench, root)[0].original_size))]
                    if ctx.synthetic
                    else []
                )
                run_entry(
                    eval_youtube.main,
                    "mivos_prop.eval_youtube",
                    [*common, "--yv", root, "--output", out, *short],
                    ctx.log,
                )
                results = out
            else:
                raise ValueError(f"mivos_prop has no runner for benchmark {bench}")
        frames = sum(1 for _ in results.rglob("*.png"))
        return Prediction(results, frames, clock())
