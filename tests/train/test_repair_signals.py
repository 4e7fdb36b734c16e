"""The repair signals beyond the paper (credit=append, self-distillation) and the regime measurements: exact values
on hand-made inputs, bookkeeping on real steps."""

from __future__ import annotations

import math

import pytest
import torch

from ffr_data.clips import FrameCache
from ffr_data.models import load_vlm
from ffr_data.timing import PhaseTimer
from ffr_teacher import TeacherConfig, build_teacher
from ffr_train.data import load_split
from ffr_train.distill import reverse_kl
from ffr_train.engine import HFGenerationEngine
from ffr_train.rir import SlotReward
from ffr_train.step import Slot, StepContext, StepData, collect_step
from ffr_train.step_metrics import regime_metrics
from ffr_train.trainer import RLTrainer
from ffr_train.update import advantage_mass
from train_support import tiny_train_config


def test_reverse_kl_matches_hand_computation_and_leaves_the_target_without_gradient():
    student = torch.tensor([[[0.0, math.log(3.0)]]], requires_grad=True)  # p = (1/4, 3/4)
    target = torch.tensor([[[0.0, 0.0]]], requires_grad=True)  # q = (1/2, 1/2)
    kl = reverse_kl(student, target)
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert kl.shape == (1, 1) and kl.item() == pytest.approx(expected, rel=1e-6)
    kl.sum().backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert target.grad is None
    assert reverse_kl(target.detach(), target.detach()).item() == pytest.approx(0.0, abs=1e-7)


def _slot(group, index, first_acc, final_acc, patched=False, tokens=2):
    reward = SlotReward(final_acc, {"accuracy": final_acc}, 0.0, 0.0, patched)
    return Slot(group, index, None, torch.zeros(tokens, dtype=torch.long), reward, "", {"accuracy": first_acc},
                patched=patched)


def test_regime_shares_per_family_before_and_after_repair():
    from ffr_data.schema import Sample

    samples = [Sample(f"q{i}", "v.mp4", "multiple choice", "?", "<answer>A</answer>", options=("A. x", "B. y"),
                      meta={"family": fam}) for i, fam in enumerate(["count", "count", "location"])]
    slots = [_slot(0, 0, 0, 0), _slot(0, 1, 0, 1, patched=True),  # all fail -> mixed after repair
             _slot(1, 0, 1, 1), _slot(1, 1, 0, 0),  # mixed -> mixed
             _slot(2, 0, 1, 1), _slot(2, 1, 1, 1)]  # all success
    m = regime_metrics(StepData(samples, slots, group_size=2), threshold=1.0)
    assert m["regime/first_pass/all_fail"] == pytest.approx(1 / 3)
    assert m["regime/first_pass/mixed"] == pytest.approx(1 / 3)
    assert m["regime/after_repair/all_fail"] == 0.0 and m["regime/after_repair/mixed"] == pytest.approx(2 / 3)
    assert m["regime/count/first_pass/all_fail"] == 0.5 and m["regime/location/first_pass/all_success"] == 1.0
    # an appended member (index >= G) counts after repair only
    appended = [_slot(0, 0, 0, 0), _slot(0, 1, 0, 0), _slot(0, 2, 0, 1, patched=True)]
    m = regime_metrics(StepData(samples[:1], appended, group_size=2), threshold=1.0)
    assert m["regime/first_pass/all_fail"] == 1.0 and m["regime/after_repair/mixed"] == 1.0


def test_advantage_mass_splits_plain_and_patched_tokens_by_sign():
    slots = [_slot(0, 0, 0, 0, tokens=2), _slot(0, 1, 0, 1, patched=True, tokens=3), _slot(0, 2, 1, 1, tokens=5)]
    m = advantage_mass(slots, torch.tensor([-1.0, 0.5, 2.0]))
    assert m["advantage_mass/plain_negative"] == pytest.approx(-2 / 10)
    assert m["advantage_mass/plain_positive"] == pytest.approx(10 / 10)
    assert m["advantage_mass/patched_positive"] == pytest.approx(1.5 / 10)
    assert m["advantage_mass/patched_negative"] == 0.0


class CountingEngine(HFGenerationEngine):
    calls = 0

    def generate(self, requests, params):
        type(self).calls += 1
        return super().generate(requests, params)


def _collect(flash_data, flash_student, tmp_path, **overrides):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path, **overrides)
    model, processor = load_vlm(flash_student)
    CountingEngine.calls = 0
    ctx = StepContext(cfg, CountingEngine(model, processor.tokenizer), processor,
                      build_teacher(TeacherConfig(backend="annotation")), FrameCache(), PhaseTimer())
    torch.manual_seed(0)
    return cfg, collect_step(ctx, load_split(cfg.data.train_file)[0][:2])


def test_append_keeps_the_failed_first_pass_and_adds_the_taxed_repair(flash_data, flash_student, tmp_path):
    cfg, data = _collect(flash_data, flash_student, tmp_path, **{"repair.credit": "append"})
    g = cfg.rollout.group_size
    first, appended = data.slots[:2 * g], data.slots[2 * g:]
    assert [(s.group, s.index) for s in first] == [(gr, i) for gr in range(2) for i in range(g)]
    assert appended and all(s.patched and s.index >= g and s.reward.repaired for s in appended)
    assert len(appended) == data.teacher.patches
    for slot in first:  # untaxed, its own tokens under the plain prompt
        assert not slot.patched and slot.reward.tax == 0.0
        assert slot.reward.total == pytest.approx(sum(slot.first_parts.values()))
    for slot in appended:
        assert slot.reward.total == pytest.approx(sum(slot.repaired_parts.values()) - cfg.reward.kappa)
        assert "pixel_values" in slot.prompt.media
    for group in range(2):
        members = [s.index for s in data.slots if s.group == group]
        assert sorted(members) == list(range(len(members)))


def test_credit_none_with_distillation_samples_no_repair_and_collects_the_failures(flash_data, flash_student,
                                                                                   tmp_path):
    _, data = _collect(flash_data, flash_student, tmp_path, **{"repair.credit": "none", "repair.distill_weight": 1.0})
    assert CountingEngine.calls == 1  # the first pass only
    assert data.generated_tokens["repair"] == 0
    assert not any(s.patched or s.reward.repaired for s in data.slots)
    assert len(data.distill) == data.teacher.patches > 0
    for item in data.distill:
        assert item.patched_prompt.length > item.prompt.length


def test_distillation_pulls_the_plain_policy_towards_the_patched_one(flash_data, flash_student, tmp_path):
    _, data = _collect(flash_data, flash_student, tmp_path, **{"repair.credit": "none", "repair.distill_weight": 1.0})
    trainer = RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "run", **{
        "repair.credit": "none", "repair.distill_weight": 1.0, "loss.beta": 0.0, "optim.lr": 3e-3}))
    items = data.distill[:3]

    def mean_kl() -> float:
        from ffr_train.rollout import completion_logits

        model = trainer.accelerator.unwrap_model(trainer.model)
        with torch.no_grad():
            total, count = 0.0, 0
            for item in items:
                plain, _, mask = completion_logits(model, [item.prompt], [item.completion], trainer.updater.pad_id)
                patched, _, _ = completion_logits(model, [item.patched_prompt], [item.completion],
                                                  trainer.updater.pad_id)
                total += float((reverse_kl(plain, patched) * mask).sum())
                count += int(mask.sum())
        return total / count

    before = mean_kl()
    stats = {}
    for step in range(3):
        stats = trainer.updater.update([], step, items)
    assert stats["distill_kl"] > 0 and stats["distill_micro_batches"] >= 1
    assert mean_kl() < before


def test_ffr_append_and_distill_train_end_to_end(flash_data, flash_student, tmp_path):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "run", **{
        "repair.credit": "append", "repair.distill_weight": 0.5, "optim.steps": 2})
    trainer = RLTrainer(cfg)
    metrics = trainer.train_step()
    assert metrics["distill/items"] > 0 and metrics["update/distill_kl"] >= 0
    assert {"regime/first_pass/all_fail", "regime/after_repair/mixed",
            "advantage_mass/plain_negative"} <= {k.removeprefix("update/") for k in metrics}


def test_gold_supervision_control_covers_the_failed_prompts_and_raises_their_gold_likelihood(
        flash_data, flash_student, tmp_path):
    _, data = _collect(flash_data, flash_student, tmp_path, **{"algo": "grpo", "repair.gold_weight": 1.0})
    failed = [sum(s.first_parts["accuracy"] < 1.0 for s in data.slots if s.group == g) for g in range(2)]
    assert [(item.failures) for item in data.gold] == [n for n in failed if n]
    assert data.teacher.calls == 0
    tok = load_vlm(flash_student)[1].tokenizer
    assert tok.decode(data.gold[0].completion, skip_special_tokens=True).endswith("</answer>")
    trainer = RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "run", **{
        "algo": "grpo", "repair.gold_weight": 1.0, "loss.beta": 0.0, "optim.lr": 3e-3}))

    def nll() -> float:
        from ffr_train.rollout import completion_logprobs

        model = trainer.accelerator.unwrap_model(trainer.model)
        with torch.no_grad():
            logp, mask = completion_logprobs(model, [i.prompt for i in data.gold], [i.completion for i in data.gold],
                                             trainer.updater.pad_id)
        return float(-(logp * mask).sum() / mask.sum())

    before = nll()
    for step in range(3):
        stats = trainer.updater.update([], step, gold=data.gold)
    assert stats["gold_nll"] > 0
    assert nll() < before
