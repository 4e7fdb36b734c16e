"""A real two-process CPU run (gloo): plain data parallel, and DeepSpeed ZeRO-3 (every rank joins every generation)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from ffr_data.models import load_vlm


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("deepspeed", ["null", "zero3"])
def test_two_process_cpu_run(flash_data, flash_student, tmp_path, deepspeed):
    out = tmp_path / f"run-{deepspeed}"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_port()),
           "-m", "ffr_data.cli_root", "train", f"output_dir={out}", f"data.train_file={flash_data / 'train.jsonl'}",
           "data.val_file=null", "data.warmup_file=null", f"student.path={flash_student}",
           "student.sft_before_rl=false", "rollout.prompts_per_step=2", "rollout.group_size=4",
           "rollout.max_new_tokens=10", "rollout.repair_max_new_tokens=10", "rollout.micro_batch_size=4",
           "optim.steps=2", "logging.progress=false", "logging.tensorboard=false", f"dist.deepspeed={deepspeed}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["teacher/calls"] > 0 for r in rows)
    load_vlm(out / "final")
