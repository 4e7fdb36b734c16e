"""Training-test support: a tiny flash-location dataset with real videos and ground-truth evidence, the tiny
student for it, a fast training config, and parameter snapshots."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_CORPUS, write_video
from ffr_data.config import merge
from ffr_train.config import TrainConfig
from ffr_train.rewards import REWARDS

QUADRANTS = ["top-left", "top-right", "bottom-left", "bottom-right"]


def flash_video(quadrant: int, start: int, length: int = 3, n: int = 32, size: int = 112) -> np.ndarray:
    rng = np.random.default_rng(quadrant * 100 + start)
    frames = rng.integers(0, 20, (n, size, size, 3), dtype=np.uint8)
    y0 = 0 if quadrant < 2 else size // 2
    x0 = 0 if quadrant % 2 == 0 else size // 2
    frames[start:start + length, y0 + 16:y0 + 40, x0 + 16:x0 + 40] = (230, 40, 40)
    return frames


def make_rows(root: Path, count: int, prefix: str) -> list[dict]:
    rows = []
    for k in range(count):
        quadrant, start = k % 4, 3 + (k * 5) % 24
        rel = f"videos/{prefix}-{k}.mp4"
        write_video(root / rel, flash_video(quadrant, start))
        t0, t1 = start / 8.0, (start + 3) / 8.0
        x0 = 0.0 if quadrant % 2 == 0 else 0.5
        y0 = 0.0 if quadrant < 2 else 0.5
        box = [x0 + 16 / 112, y0 + 16 / 112, x0 + 40 / 112, y0 + 40 / 112]
        rows.append({
            "problem_id": f"{prefix}-{k}", "data_source": "test", "path": rel, "data_type": "video",
            "problem_type": "multiple choice", "problem": "Where did the brief flash appear?",
            "options": [f"{'ABCD'[i]}. {q}" for i, q in enumerate(QUADRANTS)],
            "solution": f"<answer>{'ABCD'[quadrant]}</answer>",
            "process": f"<think>a flash at {t0:.1f} s, {QUADRANTS[quadrant]}.</think>",
            "evidence": {"windows": [[t0, t1]], "regions": [{"t": (t0 + t1) / 2, "box": box, "label": "the flash"}]},
            "meta": {"family": "location", "candidate_evidence": [
                {"windows": [[t0, t1]], "regions": [{"t": (t0 + t1) / 2, "box": box, "label": "the flash"}]}]},
        })
    return rows


@pytest.fixture(scope="session")
def flash_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("flash")
    for split, count in (("train", 8), ("val", 4), ("warmup", 4)):
        rows = make_rows(root, count, split)
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="session")
def flash_student(tmp_path_factory, flash_data) -> Path:
    from ffr_train.student import build_tiny_student

    return build_tiny_student(tmp_path_factory.mktemp("flash-student") / "tiny", TINY_CORPUS, arch="qwen2_5_vl")


if "test_spread" not in REWARDS.names():
    @REWARDS.register("test_spread")
    def _spread(completion: str, sample) -> float:
        """A test reward that always varies within a group, so every step has non-zero advantages."""
        return (len(completion) % 7) / 7.0


def tiny_train_config(data: Path, student: Path, out: Path, **overrides) -> TrainConfig:
    cfg = TrainConfig()
    updates = {
        "output_dir": str(out), "data.train_file": str(data / "train.jsonl"), "data.val_file": str(data / "val.jsonl"),
        "data.warmup_file": str(data / "warmup.jsonl"), "data.test_file": None,
        "student.path": str(student), "student.sft_before_rl": False,
        "rollout.prompts_per_step": 2, "rollout.group_size": 4, "rollout.max_new_tokens": 12,
        "rollout.repair_max_new_tokens": 12, "rollout.micro_batch_size": 4,
        "optim.steps": 2, "optim.lr": 1e-2, "optim.schedule": "constant",
        "reward.names": ["accuracy", "format", "test_spread"],
        "logging.progress": False, "logging.trackers": [], "logging.rollouts_every": 1,
        "checkpoint.every": 100, "eval.max_new_tokens": 8,
    }
    updates.update(overrides)
    return merge(cfg, updates)


def replace(cfg: TrainConfig, **kw) -> TrainConfig:
    return dataclasses.replace(cfg, **kw)


def snapshot_params(model) -> dict[str, torch.Tensor]:
    inner = getattr(model, "module", model)
    return {name: p.detach().clone() for name, p in inner.named_parameters() if p.requires_grad}
