"""Chosen-rollout bookkeeping: which tokens, under which prompt, with which reward — for both credit modes."""

from __future__ import annotations

import pytest
import torch

from ffr_data.clips import FrameCache
from ffr_data.models import load_vlm
from ffr_data.timing import PhaseTimer
from ffr_teacher import TeacherConfig, build_teacher
from ffr_train.data import load_split
from ffr_train.engine import HFGenerationEngine
from ffr_train.step import StepContext, collect_step
from train_support import tiny_train_config


def _collect(flash_data, flash_student, tmp_path, **overrides):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path, **overrides)
    model, processor = load_vlm(flash_student)
    teacher = build_teacher(TeacherConfig(backend="annotation"))
    samples, _ = load_split(cfg.data.train_file)
    ctx = StepContext(cfg, HFGenerationEngine(model, processor.tokenizer), processor, teacher, FrameCache(),
                      PhaseTimer())
    torch.manual_seed(0)
    return cfg, collect_step(ctx, samples[:2])


@pytest.mark.parametrize("credit", ["repaired", "released"])
def test_repaired_slot_bookkeeping(flash_data, flash_student, tmp_path, credit):
    cfg, data = _collect(flash_data, flash_student, tmp_path, **{"repair.credit": credit})
    kappa = cfg.reward.kappa
    repaired = [s for s in data.slots if s.reward.repaired]
    kept = [s for s in data.slots if not s.reward.repaired]
    assert len(data.slots) == 2 * cfg.rollout.group_size
    assert repaired, "the random student fails, so the annotation teacher must repair slots"
    first_prompt = {s.group: s for s in kept}
    for slot in repaired:
        assert slot.patch is not None and slot.repaired_text is not None
        assert slot.reward.total == pytest.approx(sum(slot.repaired_parts.values()) - kappa)
        assert slot.reward.parts == slot.repaired_parts
        if credit == "repaired":
            # the repaired rollout's own tokens, under the patched prompt (longer: patch text + evidence media)
            assert slot.prompt.length > data.slots[slot.group * cfg.rollout.group_size].prompt.length or \
                slot.group not in first_prompt
            assert "pixel_values" in slot.prompt.media  # the zoomed crop
            assert slot.prompt.media["video_grid_thw"].shape[0] == 2  # the student's video + the dense window
            assert slot.completion.numel() > 0
        else:
            # the released code's reading: the failed first-pass tokens under the plain prompt, repaired reward
            assert slot.prompt.media["video_grid_thw"].shape[0] == 1
            assert "pixel_values" not in slot.prompt.media
    for slot in kept:
        assert slot.reward.total == pytest.approx(sum(slot.first_parts.values()))
        assert slot.reward.tax == 0.0
        assert slot.prompt.media["video_grid_thw"].shape[0] == 1


def test_grpo_never_calls_the_teacher(flash_data, flash_student, tmp_path):
    _, data = _collect(flash_data, flash_student, tmp_path, algo="grpo")
    assert data.teacher.calls == 0
    assert not any(s.reward.repaired for s in data.slots)


def test_all_failed_groups_trigger_only_repairs_groups_without_a_success(flash_data, flash_student, tmp_path):
    cfg, data = _collect(flash_data, flash_student, tmp_path, **{"repair.trigger": "all_failed_groups"})
    g = cfg.rollout.group_size
    for group in range(2):
        slots = data.slots[group * g:(group + 1) * g]
        any_correct = any(s.first_parts["accuracy"] >= 1.0 for s in slots)
        assert not (any_correct and any(s.reward.repaired for s in slots))
