"""The settings of the GPU configs, exercised on CPU: gradient checkpointing, a Qwen3-VL student on the default
frame size, and the `ffr` command leaving the user's environment alone."""

from __future__ import annotations

import subprocess
import sys

import torch

from ffr_train.trainer import RLTrainer
from train_support import snapshot_params, tiny_train_config


def test_gradient_checkpointing_trains_and_generation_restores_it(flash_data, flash_student, tmp_path):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "gc", **{"student.gradient_checkpointing": True,
                                                                          "optim.steps": 1})
    trainer = RLTrainer(cfg)
    before = snapshot_params(trainer.model)
    metrics = trainer.train_step()
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert model.training and model.is_activation_checkpointing
    assert metrics["teacher/calls"] > 0
    after = snapshot_params(trainer.model)
    assert all(not torch.equal(before[n], after[n]) for n in before)


def test_qwen3_vl_student_runs_an_ffr_step_on_the_default_frame_size(flash_data, tmp_path):
    from conftest import TINY_CORPUS
    from ffr_train.student import build_tiny_student

    student = build_tiny_student(tmp_path / "qwen3", TINY_CORPUS, arch="qwen3_vl")
    cfg = tiny_train_config(flash_data, student, tmp_path / "run")
    assert cfg.sampling.max_pixels == 56 * 56  # the default: 56 px is not a multiple of Qwen3-VL's 32 px patches
    trainer = RLTrainer(cfg)
    assert trainer.cfg.sampling.patch_multiple == 32
    metrics = trainer.train_step()
    assert metrics["data/skipped_samples"] == 0 and metrics["teacher/calls"] > 0


def test_ffr_command_does_not_force_cpu_or_offline_settings():
    code = ("import os, sys; from unittest import mock; import ffr_data.cli_root as c\n"
            "for k in ('DS_ACCELERATOR', 'HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE'): os.environ.pop(k, None)\n"
            "sys.argv = ['ffr', '--version']\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print([k for k in ('DS_ACCELERATOR', 'HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE') if k in os.environ])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_rank_seeds_differ_per_rank_and_rank_zero_keeps_the_run_seed():
    from ffr_train.distributed import rank_seed

    assert rank_seed(7, 0) == 7
    seeds = {rank_seed(s, r) for s in range(4) for r in range(8)}
    assert len(seeds) == 32  # no two (seed, rank) pairs share a sampling seed


def test_attention_implementation_is_passed_to_the_model_and_a_missing_kernel_is_one_line(flash_student):
    import pytest

    from ffr_data.errors import FFRError
    from ffr_train.config import StudentConfig
    from ffr_train.policy import load_student

    model, _ = load_student(StudentConfig(path=str(flash_student), attn_implementation="eager"))
    assert model.config._attn_implementation == "eager"
    with pytest.raises(FFRError, match=r"cannot load the model \(.*[Ff]lash"):
        load_student(StudentConfig(path=str(flash_student), attn_implementation="flash_attention_2"))
