"""vos_common.training: schedules, EMA, data order, the Trainer (resume, accumulation, clipping)
and the real 2-process ``accelerate launch`` run of the toy entry point."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from vos_common.errors import VOSDataError
from vos_common.training import (
    GlobalBatchSampler,
    LinearWarmup,
    ModelEMA,
    PerEpoch,
    PolySchedule,
    ScheduleConfig,
    ScheduledLR,
    SeededSamples,
    StepSchedule,
    build_schedule,
    build_train_parser,
    load_train_config,
    read_metrics_csv,
    toy,
)
from vos_common.training.schedules import ConstantSchedule, CosineSchedule

TOY_CONFIG = toy.CONFIG_DIR / "toy.yaml"
TEACHER_CONFIG = toy.CONFIG_DIR / "toy_teacher.yaml"


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each Trainer in this process starts from a clean Accelerate singleton."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


# ------------------------------------------------------------------------------------------
# schedules


def test_step_schedule_matches_hand_values_and_multisteplr():
    schedule = StepSchedule((125_000,), gamma=0.1)  # MiVOS stage 2
    assert schedule(0, 1e-5) == 1e-5
    assert schedule(124_999, 1e-5) == 1e-5
    assert schedule(125_000, 1e-5) == pytest.approx(1e-6)
    periodic = StepSchedule(step_size=10, gamma=0.1)  # OAST StepLR(10, 0.1) per epoch
    assert [periodic(e, 1.0) for e in (0, 9, 10, 19, 20)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])

    param = nn.Parameter(torch.zeros(1))
    ours = torch.optim.SGD([param], lr=0.5)
    reference = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = ScheduledLR(ours, StepSchedule((3, 5), gamma=0.5))
    ref = torch.optim.lr_scheduler.MultiStepLR(reference, milestones=[3, 5], gamma=0.5)
    for _ in range(7):
        assert ours.param_groups[0]["lr"] == pytest.approx(reference.param_groups[0]["lr"])
        ours.step(), reference.step(), sched.step(), ref.step()


def test_poly_per_iteration_and_per_epoch_rcf_formula():
    poly = PolySchedule(total=100, power=0.9)
    assert poly(0, 0.01) == 0.01
    assert poly(50, 0.01) == pytest.approx(0.01 * 0.5**0.9)
    assert poly(100, 0.01) == 0.0 and poly(150, 0.01) == 0.0
    # RCF stage 1: lr(e) = (1e-4 - 1e-6)(1 - e/200)^0.9 + 1e-6, stepped per epoch of 216 its.
    rcf = PerEpoch(PolySchedule(total=200, power=0.9, min_lr=1e-6), steps_per_epoch=216)
    assert rcf(0, 1e-4) == rcf(215, 1e-4) == pytest.approx(1e-4)
    assert rcf(216, 1e-4) == pytest.approx(9.9e-5 * (199 / 200) ** 0.9 + 1e-6)
    assert rcf(216 * 100 + 5, 1e-4) == pytest.approx(9.9e-5 * 0.5**0.9 + 1e-6)
    assert rcf(216 * 200 - 1, 1e-4) == pytest.approx(9.9e-5 * (1 / 200) ** 0.9 + 1e-6)


def test_cosine_and_linear_warmup_compose():
    cosine = CosineSchedule(total=10, min_lr=0.1)
    assert [cosine(t, 1.1) for t in (0, 5, 10, 12)] == pytest.approx([1.1, 0.6, 0.1, 0.1])
    warm = LinearWarmup(ConstantSchedule(), warmup_iters=4, start_factor=0.2)
    assert [warm(t, 1.0) for t in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    warm_step = LinearWarmup(StepSchedule((2,), 0.1), warmup_iters=4, start_factor=0.0)
    assert [warm_step(t, 1.0) for t in range(5)] == pytest.approx([0.0, 0.25, 0.05, 0.075, 0.1])


def test_build_schedule_from_config_and_scheduler_state_loads_weights_only(tmp_path):
    cfg = ScheduleConfig(
        name="poly", unit="epoch", power=1.0, min_lr=0.0, warmup_iters=2, warmup_start_factor=0.5
    )
    schedule = build_schedule(cfg, total_steps=40, steps_per_epoch=10)  # 4 epochs
    assert [schedule(t, 1.0) for t in (0, 1, 2, 9, 10, 35)] == pytest.approx(
        [0.5, 0.75, 1.0, 1.0, 0.75, 0.25]
    )
    with pytest.raises(ValueError, match="milestones or step_size"):
        build_schedule(ScheduleConfig(name="step"), 10, 5)
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = ScheduledLR(optimizer, schedule)
    for _ in range(12):
        optimizer.step()
        scheduler.step()
    torch.save(scheduler.state_dict(), tmp_path / "sched.pt")
    state = torch.load(tmp_path / "sched.pt", weights_only=True)
    restored_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    restored = ScheduledLR(restored_opt, schedule)
    restored.load_state_dict(state)
    assert restored.last_epoch == 12
    assert restored_opt.param_groups[0]["lr"] == pytest.approx(schedule(12, 1.0))


# ------------------------------------------------------------------------------------------
# EMA


class TinyBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.norm = nn.BatchNorm1d(2)


def test_ema_update_by_hand_for_each_buffer_rule():
    model = TinyBN()
    for rule in ("copy", "average", "keep"):
        ema = ModelEMA(model, momentum=0.75, buffers=rule)
        start_weight = ema.module.linear.weight.clone()
        start_mean = ema.module.norm.running_mean.clone()
        assert not any(p.requires_grad for p in ema.module.parameters())
        with torch.no_grad():
            model.linear.weight.add_(1.0)
            model.norm.running_mean.fill_(4.0)
            model.norm.num_batches_tracked.fill_(10)
        ema.update(model)
        torch.testing.assert_close(
            ema.module.linear.weight, 0.75 * start_weight + 0.25 * model.linear.weight
        )
        buffers = ema.module.norm
        if rule == "copy":
            assert buffers.running_mean.tolist() == [4.0, 4.0]
            assert int(buffers.num_batches_tracked) == 10
        elif rule == "average":
            torch.testing.assert_close(buffers.running_mean, 0.75 * start_mean + 0.25 * 4.0)
            assert int(buffers.num_batches_tracked) == 2  # 0.75*0 + 0.25*10 = 2.5, truncated
        else:
            assert buffers.running_mean.tolist() == start_mean.tolist()
            assert int(buffers.num_batches_tracked) == 0
        with torch.no_grad():
            model.linear.weight.sub_(1.0)
            model.norm.running_mean.zero_()
            model.norm.num_batches_tracked.zero_()
    ema = ModelEMA(model, momentum=0.9)
    with torch.no_grad():
        model.linear.bias.fill_(2.0)
    before = ema.module.linear.bias.clone()
    ema.update(model, momentum=0.0)  # a per-call momentum (SFC's cosine schedule)
    assert ema.module.linear.bias.tolist() == [2.0, 2.0] and ema.num_updates == 1
    restored = ModelEMA(model, momentum=0.5)
    restored.load_state_dict(ema.state_dict())
    assert restored.momentum == 0.9 and restored.num_updates == 1
    assert not torch.equal(before, restored.module.linear.bias)


# ------------------------------------------------------------------------------------------
# data order


def test_global_batches_are_independent_of_process_count_and_accumulation():
    def global_batches(processes: int, accum: int, epoch: int):
        parts = []
        for rank in range(processes):
            sampler = GlobalBatchSampler(
                20, 8, num_processes=processes, process_index=rank, grad_accum=accum, seed=3
            )
            sampler.set_epoch(epoch)
            parts.append(list(sampler))
        steps = []
        for step in range(2):  # 20 // 8 = 2 steps per epoch, the rest dropped
            items = []
            for micro in range(accum):
                for rank in range(processes):
                    items += parts[rank][step * accum + micro]
            steps.append(sorted(items))
        return steps

    single = global_batches(1, 1, epoch=0)
    assert global_batches(2, 1, epoch=0) == single
    assert global_batches(2, 2, epoch=0) == single
    assert global_batches(1, 4, epoch=0) == single
    assert global_batches(1, 1, epoch=1) != single  # a new permutation each epoch
    indices = [i for batch in single for i, _ in batch]
    assert len(set(indices)) == 16


def test_sampler_resumes_mid_epoch_and_refuses_uneven_batches():
    sampler = GlobalBatchSampler(24, 4, num_processes=2, process_index=1, grad_accum=2, seed=0)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_step=4)
    assert list(sampler) == full[4 * 2 :] and len(sampler) == 2 * 2
    with pytest.raises(VOSDataError, match="does not split over 2 process"):
        GlobalBatchSampler(24, 6, num_processes=2, grad_accum=2)
    with pytest.raises(VOSDataError, match="fewer than one global batch"):
        GlobalBatchSampler(3, 4)


def test_seeded_samples_are_reproducible_and_leave_global_rngs_alone():
    class Noisy(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return (index, random.random(), float(np.random.rand()), float(torch.rand(1)))

    data = SeededSamples(Noisy())
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    first = data[(1, 1234)]
    assert torch.equal(torch.rand(1), expected_next)
    assert data[(1, 1234)] == first
    assert data[(1, 999)] != first


# ------------------------------------------------------------------------------------------
# Trainer, in-process (single process)


def run_toy(config: Path, output: Path, *opts: str, resume: Path | None = None) -> dict:
    argv = [
        str(config),
        "--output",
        str(output),
        "--opts",
        "train.tensorboard",
        "false",
        "train.progress_bar",
        "false",
        *opts,
    ]
    if resume is not None:
        argv += ["--resume", str(resume)]
    toy.main(argv)
    return json.loads((output / "final_rank0.json").read_text())


def test_resume_gives_bit_identical_weights_in_process(tmp_path):
    full = run_toy(TEACHER_CONFIG, tmp_path / "full", "train.num_workers", "1")
    step_dir = tmp_path / "full" / "checkpoints" / "step_6"
    assert sorted(p.name for p in step_dir.iterdir()) == [
        "config.yaml",
        "model.safetensors",
        "optimizer.bin",
        "random_states_0.pkl",
        "trainer_state.pt",
    ]
    assert (tmp_path / "full" / "checkpoints" / "step_10").is_dir()
    resumed = run_toy(TEACHER_CONFIG, tmp_path / "resumed", resume=step_dir)
    assert resumed == full and full["ema"] is not None and full["step"] == 10
    rows_full = read_metrics_csv(tmp_path / "full" / "metrics.csv")
    rows_resumed = read_metrics_csv(tmp_path / "resumed" / "metrics.csv")
    assert [r["step"] for r in rows_resumed] == ["3", "6", "9", "10"]
    for key in ("loss", "mae", "lr", "grad_norm"):
        assert [r[key] for r in rows_resumed] == [r[key] for r in rows_full]
    # The released weights load strictly into a fresh model.
    from vos_common.checkpoint import load_weights

    net = toy.ToyNet(toy.ToyModelConfig())
    assert load_weights(net, tmp_path / "full" / "toy_final.pth").loaded == 8


def test_resume_into_the_same_run_and_refusals(tmp_path):
    run = tmp_path / "run"
    first = run_toy(TOY_CONFIG, run, "train.max_steps", "4", "train.checkpoint_every", "2")
    again = run_toy(
        TOY_CONFIG,
        run,
        "train.max_steps",
        "4",
        "train.checkpoint_every",
        "2",
        resume=run / "checkpoints" / "step_2",
    )
    assert again == first
    with pytest.raises(SystemExit) as exit_info:  # a fresh run must not mix into old checkpoints
        run_toy(TOY_CONFIG, run, "train.max_steps", "4")
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):  # the global batch changed: no exact resume possible
        run_toy(
            TOY_CONFIG,
            tmp_path / "other",
            "train.batch_size",
            "4",
            "train.max_steps",
            "4",
            resume=run / "checkpoints" / "step_2",
        )


def test_refuses_global_batch_that_does_not_split(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_toy(TOY_CONFIG, tmp_path / "r", "train.batch_size", "6", "train.grad_accum", "4")
    assert "global batch size 6 does not split over 1 process(es) x 4" in capsys.readouterr().err


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    plain = [
        "model.batch_norm",
        "false",
        "model.dropout",
        "0.0",
        "train.max_steps",
        "3",
        "train.grad_clip",
        "null",
        "train.optimizer.name",
        "sgd",
        "train.optimizer.momentum",
        "0.0",
        "train.checkpoint_every",
        "0",
    ]
    run_toy(TOY_CONFIG, tmp_path / "a1", *plain, "train.grad_accum", "1")
    run_toy(TOY_CONFIG, tmp_path / "a4", *plain, "train.grad_accum", "4")
    one = torch.load(tmp_path / "a1" / "toy_final.pth", weights_only=True)
    four = torch.load(tmp_path / "a4" / "toy_final.pth", weights_only=True)
    for key in one:
        torch.testing.assert_close(one[key], four[key], rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_the_update(tmp_path):
    opts = [
        "train.max_steps",
        "1",
        "train.optimizer.name",
        "sgd",
        "train.optimizer.momentum",
        "0.0",
        "train.optimizer.weight_decay",
        "0.0",
        "train.optimizer.lr",
        "1.0",
        "train.checkpoint_every",
        "0",
        "train.grad_clip",
        "1e-3",
    ]
    run_toy(TOY_CONFIG, tmp_path / "clip", *opts)
    torch.manual_seed(7)  # the toy config's seed: the trainer built the same initial weights
    initial = toy.ToyNet(toy.ToyModelConfig())
    end = torch.load(tmp_path / "clip" / "toy_final.pth", weights_only=True)
    update = torch.cat(
        [(end[name] - p.detach()).flatten() for name, p in initial.named_parameters()]
    )
    assert float(update.norm()) == pytest.approx(1e-3, rel=1e-3)
    row = read_metrics_csv(tmp_path / "clip" / "metrics.csv")[0]
    assert float(row["grad_norm"]) > 1e-3  # the logged norm is the one before clipping


def test_bf16_runs_on_cpu_and_start_log_states_the_global_batch(tmp_path, capsys):
    run_toy(
        TOY_CONFIG,
        tmp_path / "bf16",
        "train.mixed_precision",
        "bf16",
        "train.max_steps",
        "2",
        "train.checkpoint_every",
        "0",
    )
    err = capsys.readouterr().err
    assert "precision: bf16" in err
    assert "global batch size 8 = 1 process(es) x 2 accumulation step(s) x 4 sample(s)" in err
    assert "command: python -m vos_common.training.toy" in err and "versions: python" in err
    assert "resolved config:" in err and "mixed_precision: bf16" in err


class CallCounter:
    """Extra state a method may checkpoint with the run (e.g. a curriculum position)."""

    def __init__(self):
        self.calls = 0

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]


def test_trainer_api_context_custom_scheduler_registered_state_and_pruning(tmp_path):
    from accelerate.state import AcceleratorState
    from vos_common.config import load_config
    from vos_common.training import Trainer

    opts = [
        "train.max_steps",
        "6",
        "train.checkpoint_every",
        "2",
        "train.keep_checkpoints",
        "2",
        "train.tensorboard",
        "false",
        "train.progress_bar",
        "false",
    ]
    cfg = load_config(TOY_CONFIG, toy.ToyConfig, opts)

    def linear_decay(optimizer, total_steps, steps_per_epoch):
        return ScheduledLR(optimizer, PolySchedule(total_steps, power=1.0))

    def run(resume=None):
        counter, seen = CallCounter(), []

        def step(batch, ctx):
            seen.append((ctx.step, ctx.epoch, ctx.micro_step, len(batch["image"])))
            counter.calls += 1
            return toy.toy_step(batch, ctx)

        trainer = Trainer(cfg.train, tmp_path / "run", config=cfg, resume=resume, argv=["test"])
        trainer.register_state("counter", counter)
        trainer.setup(toy.ToyNet(cfg.model), toy.ToyDataset(cfg.data), scheduler=linear_decay)
        trainer.fit(step)
        return trainer, counter, seen

    trainer, counter, seen = run()
    # 40 samples / global batch 8 = 5 steps per epoch; 2 micro-batches of 4 per step.
    assert seen[:3] == [(0, 0, 0, 4), (0, 0, 1, 4), (1, 0, 0, 4)]
    assert seen[-2:] == [(5, 1, 0, 4), (5, 1, 1, 4)]
    assert trainer.optimizer.param_groups[0]["lr"] == 0.0  # linear decay to zero at step 6
    checkpoints = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step_4", "step_6"]  # keep 2
    state = torch.load(checkpoints / "step_4" / "trainer_state.pt", weights_only=True)
    assert state["extra"]["counter"] == {"calls": 8} and state["step_in_epoch"] == 4

    AcceleratorState._reset_state(reset_partial_state=True)
    _, resumed_counter, resumed_seen = run(resume=checkpoints / "step_4")
    assert resumed_counter.calls == 12 and resumed_seen == seen[8:]


def test_train_parser_and_seed_override(tmp_path):
    parser = build_train_parser("pkg.train")
    args = parser.parse_args(
        [
            str(TOY_CONFIG),
            "--opts",
            "train.max_steps",
            "3",
            "model.channels",
            "2",
            "--seed",
            "11",
            "--output",
            str(tmp_path),
        ]
    )
    cfg = load_train_config(args, toy.ToyConfig)
    assert (cfg.train.seed, cfg.train.max_steps, cfg.model.channels) == (11, 3, 2)
    assert args.resume is None and args.output == str(tmp_path)
    with pytest.raises(TypeError, match="needs a field 'train: TrainConfig'"):
        load_train_config(args, toy.ToyModelConfig)


# ------------------------------------------------------------------------------------------
# The real multi-process launch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    launcher = Path(sys.executable).with_name("accelerate")
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), OMP_NUM_THREADS="1")
    command = [
        str(launcher) if launcher.exists() else shutil.which("accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "vos_common.training.toy",
        *args,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_two_process_accelerate_launch_gives_identical_ranks_and_resumes(tmp_path):
    opts = ["--opts", "train.progress_bar", "false"]
    first = accelerate_launch(tmp_path, str(TEACHER_CONFIG), "--output", str(tmp_path / "a"), *opts)
    ranks = [json.loads((tmp_path / "a" / f"final_rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1] and ranks[0]["step"] == 10 and ranks[0]["ema"] is not None
    assert "processes: 2 (MULTI_CPU)" in first.stderr
    assert (
        "global batch size 8 = 2 process(es) x 2 accumulation step(s) x 2 sample(s)" in first.stderr
    )
    assert first.stderr.count("resolved config:") == 1  # printed by the main process only
    checkpoint = tmp_path / "a" / "checkpoints" / "step_6"
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in checkpoint.iterdir()}

    accelerate_launch(
        tmp_path,
        str(TEACHER_CONFIG),
        "--output",
        str(tmp_path / "b"),
        "--resume",
        str(checkpoint),
        *opts,
    )
    resumed = [json.loads((tmp_path / "b" / f"final_rank{r}.json").read_text()) for r in (0, 1)]
    assert resumed == ranks
    assert math.isclose(
        float(read_metrics_csv(tmp_path / "b" / "metrics.csv")[-1]["loss"]),
        float(read_metrics_csv(tmp_path / "a" / "metrics.csv")[-1]["loss"]),
        rel_tol=0,
        abs_tol=0,
    )
