"""The shipped GPU configs' settings, run for a step on CPU with the tiny student: ZeRO-2 / ZeRO-3 (one process),
gradient checkpointing, bf16 weights, the Video-R1 prompt template, the teacher section swapped for the annotation
teacher and the sizes for CPU ones — so a setting in them cannot silently rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffr_data.config import resolve
from ffr_train.config import TrainConfig
from ffr_train.trainer import RLTrainer

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen2_5_vl-3b-zero2.yaml", "paper-qwen2_5_vl-7b-zero3.yaml"])
def test_gpu_config_runs_a_step_on_cpu(name, flash_data, flash_student, tmp_path):
    cfg = resolve(TrainConfig(), CONFIGS / name, [
        f"output_dir={tmp_path / 'run'}", f"student.path={flash_student}", f"data.train_file={flash_data / 'train.jsonl'}",
        "data.val_file=null", "data.video_root=null", "teacher.backend=annotation", "teacher.base_url=null",
        "teacher.model=null", "teacher.cache_dir=null", "sampling.num_frames=4", "sampling.max_pixels=3136",
        "sampling.min_pixels=784", "rollout.group_size=4", "rollout.prompts_per_step=2", "rollout.max_new_tokens=8",
        "rollout.repair_max_new_tokens=8", "logging.progress=false", "logging.trackers=[]"])
    assert cfg.student.gradient_checkpointing and cfg.dist.deepspeed in ("zero2", "zero3")
    assert cfg.student.dtype == "bfloat16" and cfg.prompt.template == "video-r1"
    trainer = RLTrainer(cfg)
    metrics = trainer.train_step()
    assert metrics["teacher/calls"] > 0 and metrics["update/grad_norm"] == metrics["update/grad_norm"]
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert next(model.parameters()).dtype.is_floating_point and model.is_activation_checkpointing
