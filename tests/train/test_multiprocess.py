"""Real two-process CPU runs (gloo): plain data parallel and DeepSpeed ZeRO-3 with gradient checkpointing, where
one rank's only video is corrupt in every step — every rank must still join every collective — and the ZeRO-3
generation gathers the model once, not per token."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ffr_data.models import load_vlm


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_port()),
            *args]


@pytest.mark.slow
@pytest.mark.parametrize("deepspeed", ["null", "zero3"])
def test_two_process_run_where_one_ranks_only_video_is_corrupt(flash_data, flash_student, tmp_path, deepspeed):
    data = tmp_path / "data"
    shutil.copytree(flash_data, data)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()][:2]
    (data / rows[1]["path"]).write_bytes(b"not an mp4 at all")
    for split in ("train", "val"):  # one prompt per rank per step: the rank that draws row 1 has nothing to decode
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / f"run-{deepspeed}"
    cmd = _launch("-m", "ffr_data.cli_root", "train", f"output_dir={out}", f"data.train_file={data / 'train.jsonl'}",
                  f"data.val_file={data / 'val.jsonl'}", "data.warmup_file=null", f"student.path={flash_student}",
                  "student.sft_before_rl=false", "rollout.prompts_per_step=1", "rollout.group_size=4",
                  "rollout.max_new_tokens=10", "rollout.repair_max_new_tokens=10", "rollout.micro_batch_size=2",
                  "optim.steps=2", "logging.progress=false", "logging.trackers=[]", f"dist.deepspeed={deepspeed}",
                  f"student.gradient_checkpointing={'true' if deepspeed == 'zero3' else 'false'}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "reward/total" in r] == [1, 2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["distributed"] == ("DEEPSPEED" if deepspeed == "zero3" else "MULTI_CPU")
    validation = summary["validation"]
    assert validation["val/samples"] == 1 and validation["val/decode_errors"] == 1  # added up over both ranks
    load_vlm(out / "final")


@pytest.mark.slow
def test_zero3_generation_gathers_the_model_once_not_per_token(flash_student, video_path):
    script = Path(__file__).parent / "scripts" / "zero3_gathers.py"
    proc = subprocess.run(_launch(str(script), str(flash_student), str(video_path)), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 2
    for r in results:
        assert r["gathers_2_tokens"] > 0
        assert r["gathers_12_tokens"] == r["gathers_2_tokens"]  # independent of the number of generated tokens
        assert r["train_step_loss"] == r["train_step_loss"]  # finite, so the hooks are back for training
