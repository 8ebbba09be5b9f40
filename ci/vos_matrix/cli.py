"""The main job of vos-suite: the evaluation matrix (``python ci/matrix.py``, ``hatch run matrix``).

Every method on every benchmark it supports, each scored with vos_eval under the protocol
named in ``ci/matrix.yaml``:

1. data: the synthetic benchmark, generated in every dataset format and cached under
   ``--cache`` (default), or the real datasets given with ``--davis-root`` & co.;
2. weights: each learned method's tiny config trained on the synthetic train split (cached
   per config hash under ``<cache>/weights/``), or the official checkpoints in
   ``--weights-dir`` (real data);
3. per cell: inference, scoring, a contact sheet and a GIF of overlays;
4. ``<out>/matrix.md`` (one table per protocol), ``<out>/matrix.json``, ``<out>/matrix.log``.

A failing cell is reported as failed with a one-line reason (traceback in
``<out>/logs/<cell>.log``) and the others still run; the exit status is 1 if any cell failed.

    python ci/matrix.py                              # the synthetic matrix (the README's main job)
    python ci/matrix.py --only rcf flow-threshold    # some cells (method, benchmark or protocol)
    python ci/matrix.py --davis-root /data/DAVIS --davis2016-root /data/DAVIS2016 \\
        --weights-dir /data/weights --device cuda    # the real matrix (paper-scale protocol)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import datetime, timezone
from pathlib import Path

from vos_common.errors import VOSDataError, cli_errors

from vos_matrix import benchmark as bench
from vos_matrix.cells import BENCHMARK_ROOT_OPTIONS, DEFAULT_MATRIX, Cell, load_matrix, select_cells
from vos_matrix.report import (
    CellOutcome,
    console_tables,
    versus_baseline,
    write_json,
    write_markdown,
)
from vos_matrix.runners import RUNNERS, RunContext
from vos_matrix.runners.base import BINARY_PROTOCOLS, open_benchmark
from vos_matrix.scoring import score
from vos_matrix.visuals import cell_pictures, most_visible, write_overview


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python ci/matrix.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--matrix",
        type=Path,
        default=DEFAULT_MATRIX,
        help="matrix declaration (default ci/matrix.yaml)",
    )
    what.add_argument(
        "--only",
        nargs="+",
        metavar="PATTERN",
        default=None,
        help="run only cells whose id method/benchmark/protocol, or any part of it, "
        "matches a glob pattern (e.g. rcf, davis2016, 'mivos_prop/*')",
    )
    what.add_argument("--list", action="store_true", help="print the selected cells and exit")
    what.add_argument(
        "--require-beat-baseline",
        action="store_true",
        help="also exit with status 1 when a learned cell scores below its baseline",
    )
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "--out",
        type=Path,
        default=Path("matrix-out"),
        help="output folder: matrix.md, matrix.json, matrix.log, cells/, logs/ "
        "(default matrix-out)",
    )
    out.add_argument(
        "--no-pictures", action="store_true", help="skip the contact sheet and GIF of each cell"
    )
    out.add_argument(
        "--no-progress", action="store_true", help="no progress bars, only status lines"
    )
    synth = parser.add_argument_group("synthetic benchmark (defaults from the matrix file)")
    synth.add_argument(
        "--cache",
        type=Path,
        default=Path(".vos-cache"),
        help="cache of generated benchmarks and trained weights (default .vos-cache)",
    )
    synth.add_argument(
        "--videos", type=int, default=None, help="synthetic videos (2/3 train, 1/3 val)"
    )
    synth.add_argument("--frames", type=int, default=None, help="frames per synthetic video")
    synth.add_argument("--size", default=None, help="synthetic frame size HxW, e.g. 96x160")
    synth.add_argument("--seed", type=int, default=None, help="synthetic benchmark seed")
    synth.add_argument(
        "--force",
        action="store_true",
        help="regenerate the benchmark and retrain the tiny configs even if cached",
    )
    synth.add_argument(
        "--check-formats",
        action="store_true",
        help="also read every synthetic layout back through vos_common.datasets "
        "with full validation and print a summary per dataset view",
    )
    real = parser.add_argument_group(
        "real data (any of these switches to the real matrix: official checkpoints, paper-scale "
        "settings; cells whose data is not given are skipped)"
    )
    real.add_argument(
        "--davis-root",
        type=Path,
        default=None,
        help="DAVIS 2017 trainval root (JPEGImages/480p, Annotations/480p, "
        "Annotations_unsupervised/480p, ImageSets/2017, ImageSets/2016)",
    )
    real.add_argument(
        "--davis2016-root",
        type=Path,
        default=None,
        help="DAVIS 2016 original release root (JPEGImages/480p, ImageSets/480p)",
    )
    real.add_argument(
        "--ytvos-root",
        type=Path,
        default=None,
        help="YouTube-VOS 2019 root (valid/, valid_all_frames/); valid is packed "
        "into a server zip, not scored locally",
    )
    real.add_argument(
        "--fbms-root",
        type=Path,
        default=None,
        help="FBMS-59 original release root (Trainingset/, Testset/)",
    )
    real.add_argument(
        "--segtrack-root",
        type=Path,
        default=None,
        help="SegTrackv2 original release root (JPEGImages/, GroundTruth/)",
    )
    real.add_argument(
        "--oast-root",
        type=Path,
        default=None,
        help="OAST's layout <Dataset>/val/{images,flows,labels} "
        "(python -m vos_common.flow --layout oast)",
    )
    real.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="folder of the official checkpoints under their official file names "
        "(see ci/matrix.yaml and each package's README)",
    )
    compute = parser.add_argument_group("compute")
    compute.add_argument(
        "--device",
        default=None,
        help="torch device for inference (default: cuda if available, else cpu); "
        "training of the tiny configs always runs where each trainer puts it",
    )
    compute.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the tiny synthetic models gain little "
        "from more, and more threads than free cores slow torch down many "
        "times on a shared machine)",
    )
    compute.add_argument(
        "--workers",
        type=int,
        default=1,
        help="vos_eval worker processes per scoring run (default 1)",
    )
    return parser


def parse_size(text: str) -> list[int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise VOSDataError(None, f"--size must look like HxW (e.g. 96x160), got {text!r}") from None
    return [height, width]


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def _fileno(stream) -> int | None:
    """The OS file descriptor behind ``stream``, or None (e.g. an in-memory capture)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class Console:
    """Status lines on the real stdout, also while a cell's output goes to its log file."""

    def __init__(self, run_log: Path):
        fd = _fileno(sys.stdout)
        self.owned = fd is not None
        self.stream = os.fdopen(os.dup(fd), "w", buffering=1) if self.owned else sys.stdout
        self.run_log = run_log
        run_log.parent.mkdir(parents=True, exist_ok=True)
        self.run_log_file = open(run_log, "a", buffering=1)

    def print(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self.record(text)

    def record(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        for line in text.splitlines() or [""]:
            self.run_log_file.write(f"{stamp} {line}\n")

    def close(self) -> None:
        self.run_log_file.close()
        if self.owned:
            self.stream.close()


@contextmanager
def captured_output(log_path: Path, console: Console):
    """Send everything written to fd 1 and 2 (prints, logging, tqdm, C code) to ``log_path``.

    Progress bars of the methods therefore end up in the log; the console shows one line per
    step of the cell.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if _fileno(sys.stdout) != 1 or _fileno(sys.stderr) != 2:  # streams replaced in-process
        with (
            open(log_path, "a", buffering=1) as log_file,
            redirect_stdout(log_file),
            redirect_stderr(log_file),
        ):
            yield log_file
        return
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a", buffering=1) as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield log_file
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class MatrixRun:
    """Runs cells one after the other, each isolated from the others' failures."""

    def __init__(self, ctx: RunContext, out: Path, console: Console, pictures: bool, workers: int):
        self.ctx, self.out, self.console = ctx, out, console
        self.pictures, self.workers = pictures, workers
        self.runners = {name: runner() for name, runner in RUNNERS.items()}
        self.weights_cache: dict[str, object] = {}

    def _weights(self, cell: Cell, log_file) -> tuple[object, bool]:
        """The cell's weights, and whether they were obtained (e.g. trained) in this call."""
        runner = self.runners[cell.method]
        mode = "synthetic" if self.ctx.synthetic else "real"
        key = json.dumps([cell.method, cell.weights_for(mode)], sort_keys=True, default=str)
        first = key not in self.weights_cache
        if first:
            try:
                self.weights_cache[key] = runner.weights(cell, self.ctx)
            except BaseException as err:  # noqa: BLE001 - remembered, reported per cell
                if isinstance(err, KeyboardInterrupt):
                    raise
                self.weights_cache[key] = err
                traceback.print_exc(file=log_file)
        result = self.weights_cache[key]
        if isinstance(result, BaseException):
            raise result
        return result, first

    def skip_reason(self, cell: Cell) -> str | None:
        if cell.benchmark.name not in self.ctx.data.roots:
            return f"no --{cell.benchmark.real_root} given"
        if cell.method == "oast" and self.ctx.data.oast_root is None:
            return "no --oast-root given"
        if not self.ctx.synthetic and cell.kind != "baseline" and cell.weights_for("real") is None:
            return "no real weights declared"
        return None

    def run_cell(self, cell: Cell, number: int, total: int) -> CellOutcome:
        outcome = CellOutcome(cell)
        prefix = f"[{number}/{total}] {cell.id}"
        reason = self.skip_reason(cell)
        if reason:
            outcome.status, outcome.reason = "skipped", reason
            self.console.print(f"{prefix}: skipped ({reason})")
            return outcome
        folder = self.out / "cells" / cell.slug
        shutil.rmtree(folder, ignore_errors=True)
        log_path = self.out / "logs" / f"{cell.slug}.log"
        log_path.unlink(missing_ok=True)
        outcome.log = str(log_path)
        runner = self.runners[cell.method]
        start = time.perf_counter()
        self.console.print(f"{prefix}: running")
        with captured_output(log_path, self.console) as log_file:
            self.ctx.log = lambda text: (print(text, flush=True), self.console.record(f"  {text}"))
            try:
                outcome.settings = runner.settings(cell, self.ctx)
                self.console.record(f"  settings: {json.dumps(outcome.settings, default=str)}")
                weights, first = self._weights(cell, log_file)
                outcome.weights = weights.describe()
                outcome.training_seconds = weights.seconds if first else 0.0
                if weights.extra:
                    outcome.settings["weights_info"] = weights.extra
                prediction = runner.predict(cell, weights, self.ctx, folder / "predictions")
                outcome.frames, outcome.inference_seconds = prediction.frames, prediction.seconds
                outcome.notes += prediction.notes
                root = self.ctx.data.root(cell.benchmark.name)
                outcome.score = score(
                    cell.protocol,
                    root,
                    prediction.results,
                    cell.task,
                    self.ctx.synthetic,
                    folder / "reports",
                    self.workers,
                )
                if self.pictures and outcome.score.headline != "server":
                    outcome.pictures = cell_pictures(
                        open_benchmark(cell.benchmark.name, root),
                        prediction.results,
                        folder,
                        f"{cell.method} on {cell.benchmark.label}",
                        cell.protocol in BINARY_PROTOCOLS,
                    )
                outcome.status = "ok"
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - one cell never stops the others
                outcome.status, outcome.reason = "failed", one_line(err)
                traceback.print_exc(file=log_file)
        # training happens once per method (in its first cell) and is reported on its own
        outcome.wall_seconds = time.perf_counter() - start - outcome.training_seconds
        if outcome.status == "ok":
            s = outcome.score
            headline = (
                "packed for the server"
                if s.headline == "server"
                else f"{s.headline} {100 * s.headline_value:.1f}"
                if s.headline_value is not None
                else s.headline
            )
            fps = f", {outcome.fps:.1f} frames/s" if outcome.fps else ""
            self.console.print(f"{prefix}: ok, {headline}{fps}, {outcome.wall_seconds:.1f} s")
        else:
            self.console.print(f"{prefix}: FAILED ({outcome.reason}); log {log_path}")
        return outcome


OVERVIEWS = (("davis2017", "davis2017-semi-supervised"), ("davis2016", "davis2016"))


def run_overviews(
    outcomes: list[CellOutcome], ctx: RunContext, out: Path, console: Console
) -> None:
    """``<out>/overview_<benchmark>.png``: ground truth and every method side by side."""
    for benchmark, protocol in OVERVIEWS:
        columns = [
            (o.cell.method, out / "cells" / o.cell.slug / "predictions")
            for o in outcomes
            if o.status == "ok"
            and o.cell.benchmark.name == benchmark
            and o.cell.protocol == protocol
        ]
        if not columns:
            continue
        try:
            sequence = most_visible(list(open_benchmark(benchmark, ctx.data.root(benchmark))))
            path = write_overview(
                out / f"overview_{benchmark}.png", sequence, columns, protocol in BINARY_PROTOCOLS
            )
            console.print(f"overview picture: {path}")
        except Exception as err:  # noqa: BLE001 - a picture never fails the run
            console.print(f"overview picture of {benchmark} not written: {one_line(err)}")


def machine_description(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores ({cpu}), "
        f"Python {platform.python_version()}, torch {torch.__version__}, device {device}"
    )


def check_formats(folder: Path, console: Console) -> None:
    """Read every synthetic layout back with full validation (the previous main job)."""
    from vos_common.datasets import open_dataset
    from vos_common.datasets.summary import summarize

    views = [
        ("davis2017", "davis2017", {"split": "val"}),
        ("davis2017", "davis2017", {"split": "val", "task": "unsupervised"}),
        ("davis2016", "davis2016", {"split": "val"}),
        ("ytvos", "ytvos2019", {"split": "valid"}),
        ("fbms59", "fbms59", {"split": "test"}),
        ("segtrackv2", "segtrackv2", {}),
        ("oast", "oast/DAVIS-2016", {"split": "val"}),
    ]
    for kind, sub, options in views:
        summary = summarize(open_dataset(kind, folder / sub, **options), validate=True)
        console.print(
            f"  {kind} {sub} {options}: {summary.sequences} sequences, {summary.frames} "
            f"frames, {summary.annotated_frames} annotated, valid"
        )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    matrix = load_matrix(args.matrix, set(RUNNERS))
    cells = select_cells(matrix.cells, args.only)
    if not cells:
        raise VOSDataError(args.matrix, f"no cell matches --only {' '.join(args.only)}")
    if args.list:
        for cell in cells:
            print(f"{cell.id:60s} weights: {json.dumps(cell.weights, default=str)}")
        return 0
    if args.threads < 1 or args.workers < 1:
        raise VOSDataError(None, "--threads and --workers must be at least 1")
    real_roots = {
        option: getattr(args, option.replace("-", "_")) for option in BENCHMARK_ROOT_OPTIONS
    }
    real = any(v is not None for v in real_roots.values()) or args.weights_dir or args.oast_root
    import torch

    torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    console = Console(out / "matrix.log")
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python ci/matrix.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    console.record(f"=== {started}: {command}")
    start = time.perf_counter()
    cache = args.cache.resolve()
    if real:
        if args.weights_dir is not None and not args.weights_dir.is_dir():
            raise VOSDataError(args.weights_dir, "--weights-dir: folder does not exist")
        data = bench.DataRoots.real(real_roots, args.oast_root)
        data_text = "real datasets: " + ", ".join(f"--{k} {v}" for k, v in real_roots.items() if v)
    else:
        overrides = {
            "videos": args.videos,
            "frames": args.frames,
            "seed": args.seed,
            "size": parse_size(args.size) if args.size else None,
        }
        try:
            config, count = bench.synth_config(matrix.synthetic, overrides)
        except (ValueError, KeyError, TypeError) as err:
            raise VOSDataError(args.matrix, f"synthetic block: {err}") from None
        folder = bench.benchmark_folder(cache, config, count)
        t0 = time.perf_counter()
        generated = bench.ensure_benchmark(folder, config, count, args.force, not args.no_progress)
        console.print(
            f"synthetic benchmark: {count} videos x {config.frames} frames of "
            f"{config.height}x{config.width}, seed {config.seed}: "
            f"{'generated' if generated else 'cached'} in {time.perf_counter() - t0:.1f} s "
            f"at {folder}"
        )
        data = bench.DataRoots.synthetic(folder)
        data_text = (
            f"synthetic benchmark ({count} videos x {config.frames} frames, "
            f"{config.height}x{config.width}, seed {config.seed}; {folder.name})"
        )
        if args.check_formats:
            check_formats(folder, console)
        if args.force:
            shutil.rmtree(cache / "weights", ignore_errors=True)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        data=data,
        work=work,
        cache=cache,
        weights_dir=args.weights_dir,
        device=device,
        threads=args.threads,
        progress=not args.no_progress,
    )
    machine = machine_description(device)
    console.print(f"{len(cells)} cells on {machine}; outputs in {out}")
    runner = MatrixRun(ctx, out, console, not args.no_pictures, args.workers)
    outcomes = []
    for number, cell in enumerate(cells, 1):
        outcomes.append(runner.run_cell(cell, number, len(cells)))
    if not args.no_pictures:
        run_overviews(outcomes, ctx, out, console)
    run = {
        "command": command,
        "machine": machine,
        "data": data_text,
        "started": started,
        "wall_seconds": time.perf_counter() - start,
        "mode": data.mode,
        "matrix": str(args.matrix),
        "out": str(out),
        "synthetic_folder": str(data.synthetic_folder) if data.synthetic_folder else None,
    }
    write_markdown(out / "matrix.md", outcomes, run)
    write_json(out / "matrix.json", outcomes, run)
    console.print("")
    console.print(console_tables(outcomes))
    failed = [o for o in outcomes if o.status == "failed"]
    losing = [o for o in outcomes if versus_baseline(o, outcomes)[1] is False]
    console.print(
        f"{len(outcomes)} cells: {sum(o.status == 'ok' for o in outcomes)} ok, "
        f"{len(failed)} failed, {sum(o.status == 'skipped' for o in outcomes)} skipped; "
        f"{len(losing)} below their baseline; total {run['wall_seconds']:.0f} s. "
        f"Wrote {out / 'matrix.md'} and {out / 'matrix.json'}."
    )
    for outcome in failed:
        console.print(f"failed: {outcome.cell.id}: {outcome.reason} (log {outcome.log})")
    for outcome in losing:
        console.print(
            f"below baseline: {outcome.cell.id} ({versus_baseline(outcome, outcomes)[0]})"
        )
    console.close()
    if failed or (args.require_beat_baseline and losing):
        return 1
    return 0
