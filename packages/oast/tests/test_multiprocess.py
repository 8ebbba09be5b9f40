"""Phase C on two processes (``accelerate launch --multi_gpu --num_processes 2`` on CPU, gloo):
the release cannot (its frozen teacher is wrapped in DDP), ours must run and keep the EMA rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import torch
from oast.checkpoint import read_checkpoint, save_checkpoint
from oast.model.network import MobileViTVOS


def test_phase_c_two_processes(synth_root, tmp_path):
    torch.manual_seed(0)
    start = {"model": MobileViTVOS("xxs").state_dict()}
    weights = tmp_path / "start.pth"
    save_checkpoint(weights, **start)
    runs = tmp_path / "runs"
    accelerate = shutil.which("accelerate") or shutil.which(
        "accelerate", path=os.path.dirname(sys.executable)
    )
    assert accelerate, "the accelerate CLI comes with the accelerate dependency"
    cmd = [
        accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "oast.online_finetuning", "--config", "tiny_phase_c", "--weight", str(weights),
        "--data_dir", str(synth_root), "--save_dir", str(runs),
        "--opts", "train.progress_bar", "false", "train.batch_size", "2",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "processes: 2 (MULTI_CPU)" in result.stdout + result.stderr

    student = read_checkpoint(runs / "tiny_phase_c_student.pth")
    teacher = read_checkpoint(runs / "tiny_phase_c_teacher.pth")
    key = "decoder.conv_seg.bias"
    s, t, s0 = student["model"][key], teacher["model"][key], start["model"][key]
    assert not torch.equal(s, s0)  # one synchronised AdamW step of the student
    torch.testing.assert_close(t, 0.9996 * s0 + 0.0004 * s, rtol=0, atol=1e-7)  # EMA teacher
