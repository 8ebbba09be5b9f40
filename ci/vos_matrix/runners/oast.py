"""OAST: the supervised phase-A script with the tiny learning config (``tiny_learn.yaml``:
MobileViT-xxs from scratch at 64x64) on the synthetic OAST layout's DAVIS-2016 train split,
then ``oast.test`` on the DAVIS-2016 / FBMS val folders of that layout (real data:
``--oast-root``, prepared with ``python -m vos_common.flow --layout oast``).

Phase C (online self-tuning on the test videos) is not run in the matrix: it is transductive
and costs minutes per video on a CPU.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vos_common.datasets import natural_key
from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_bytes

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
from vos_matrix.weights import Weights, cached_training, given_checkpoint

OAST_DATASETS = {"davis2016": "DAVIS-2016", "fbms59": "FBMS"}


class OASTRunner(Runner):
    name = "oast"

    def _scale(self, ctx: RunContext, cell: Cell) -> str:
        entry = self.weights_entry(cell, ctx)
        return str(entry.get("model_scale", "xxs" if ctx.synthetic else "s"))

    def _size(self, ctx: RunContext, cell: Cell) -> list[int]:
        """The network input: the trained config's ``data.img_size`` (synthetic), else 384x640."""
        entry = self.weights_entry(cell, ctx)
        if "img_size" in entry:
            return [int(x) for x in entry["img_size"]]
        if not ctx.synthetic or "train" not in entry:
            return [384, 640]
        return list(self._config(entry).data.img_size)

    @staticmethod
    def _config(entry: dict, overrides: list[str] = ()):
        from oast.config import PhaseABConfig, config_path
        from vos_common.config import load_config

        config = config_path(entry["train"].removesuffix(".yaml"))
        opts = opts_tokens(entry)
        return load_config(config, PhaseABConfig, [*overrides, *opts])

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        return {
            "model_scale": self._scale(ctx, cell),
            "img_size": self._size(ctx, cell),
            "phase": "A (supervised, tiny)" if ctx.synthetic else "given weights",
        }

    def _data_root(self, ctx: RunContext) -> Path:
        if ctx.data.oast_root is None:
            raise VOSDataError(
                None,
                "OAST reads its own layout: give --oast-root "
                "(python -m vos_common.flow --layout oast prepares it)",
            )
        return ctx.data.oast_root

    def weights(self, cell: Cell, ctx: RunContext) -> Weights:
        entry = self.weights_entry(cell, ctx)
        if "checkpoint" in entry:
            return Weights(given_checkpoint(entry, ctx.weights_dir), "checkpoint")
        from oast import __version__ as version
        from oast.unlabeled_train import train
        from vos_common.config import config_to_dict

        data = self._data_root(ctx)
        resolved = config_to_dict(self._config(entry, ["data.data_dir", "."]))
        resolved.pop("save_dir", None)

        def run(run_dir: Path):
            import torch

            torch.set_num_threads(max(1, ctx.threads))
            overrides = ["data.data_dir", str(data), "save_dir", str(run_dir)]
            cfg = self._config(entry, overrides)
            ctx.log(f"$ oast.unlabeled_train.train({entry['train']}, overrides {overrides})")
            summary = train(cfg, argv=["vos_matrix"])
            record = {"config": entry["train"], "epochs": len(summary["epochs"])}
            return Path(summary["last"]), record

        key = {
            "method": self.name,
            "version": version,
            "config": entry["train"],
            "resolved": resolved,  # the whole resolved config: any change in its chain retrains
            "data": ctx.data.synthetic_folder.name,
        }
        return cached_training(ctx.cache, self.name, key, run, ctx.log)

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        from oast import test

        bench = cell.benchmark.name
        if bench not in OAST_DATASETS:
            raise ValueError(f"oast has no runner for benchmark {bench}")
        dataset = OAST_DATASETS[bench]
        raw = ctx.work / "oast_raw" / cell.slug
        shutil.rmtree(raw, ignore_errors=True)
        with timed() as clock:
            run_entry(
                test.main,
                "oast.test",
                [
                    "--data_dir",
                    self._data_root(ctx),
                    "--save_dir",
                    raw,
                    "--weights",
                    weights.path,
                    "--model_scale",
                    self._scale(ctx, cell),
                    "--test_datasets",
                    dataset,
                    "--img_size",
                    *self._size(ctx, cell),
                    "--device",
                    ctx.device,
                    "--num_workers",
                    0,
                ],
                ctx.log,
            )
        written = raw / "test" / dataset
        frames = _rename_to_benchmark(written, open_benchmark(bench, ctx.data.root(bench)), out)
        return Prediction(out, frames, clock())


def _rename_to_benchmark(written: Path, sequences, out: Path) -> int:
    """Copy OAST's ``<video>/<stem>.png`` to ``<out>/<video>/<benchmark frame name>.png``.

    OAST's layout numbers frames 00000, 00001, ...; the benchmark's own names (FBMS:
    ``<seq>_1``, ...) are matched by position in the video.
    """
    count = 0
    for sequence in sequences:
        folder = written / sequence.name
        files = sorted(folder.glob("*.png"), key=lambda p: natural_key(p.stem))
        if len(files) != len(sequence):
            raise VOSDataError(
                folder, f"oast.test wrote {len(files)} masks for {len(sequence)} frames"
            )
        for path, name in zip(files, sequence.frame_names, strict=True):
            atomic_write_bytes(out / sequence.name / f"{name}.png", path.read_bytes())
            count += 1
    return count
