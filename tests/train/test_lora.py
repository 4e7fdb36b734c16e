"""LoRA through peft with a frozen vision tower: only adapters train, final/ holds merged weights that load and
evaluate like any model, resume is exact."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from ffr_data.cli_root import build_app
from ffr_data.models import load_vlm
from ffr_train.policy import lora_target_names
from ffr_train.trainer import RLTrainer
from train_support import tiny_train_config

LORA = {"student.lora_rank": 8, "student.lora_alpha": 16, "student.freeze_vision": True, "optim.steps": 3,
        "loss.beta": 0.04}


def _all_params(trainer) -> dict[str, torch.Tensor]:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.fixture(scope="module")
def lora_run(flash_data, flash_student, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "run"
    trainer = RLTrainer(tiny_train_config(flash_data, flash_student, out, **LORA))
    before = _all_params(trainer)
    trainer.train()
    return trainer, before, _all_params(trainer), out


def test_only_adapters_change_and_the_vision_tower_stays_bit_identical(lora_run):
    trainer, before, after, _ = lora_run
    adapters = [n for n in before if "lora_" in n]
    frozen = [n for n in before if "lora_" not in n]
    assert adapters and all(".visual." not in n for n in adapters)
    assert any(".visual." in n for n in frozen)
    assert [n for n in adapters if torch.equal(before[n], after[n])] == []
    assert [n for n in frozen if not torch.equal(before[n], after[n])] == []
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(adapters)


def test_merged_final_model_gives_the_trained_models_logits(lora_run, flash_data):
    trainer, _, _, out = lora_run
    assert (out / "final" / "adapter" / "adapter_config.json").is_file()
    merged, processor = load_vlm(out / "final")
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    trained = trainer.accelerator.unwrap_model(trainer.model).eval()
    ids = processor.tokenizer("<think>a flash</think><answer>B</answer>", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = trained(input_ids=ids).logits
        got = merged.eval()(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5), (expected - got).abs().max()


def test_ffr_eval_evaluates_the_lora_final_model(lora_run, flash_data, tmp_path):
    _, _, _, out = lora_run
    root = tmp_path / "bench"
    root.mkdir()
    shutil.copy(flash_data / "val.jsonl", root / "test.jsonl")
    (root / "videos").symlink_to(flash_data / "videos")
    result = CliRunner().invoke(build_app(), [
        "eval", "--model", str(out / "final"), "--benchmarks", "synth", "--data-root", str(root),
        "--out", str(tmp_path / "eval"), "decoding.max_new_tokens=8", "progress=false"])
    assert result.exit_code == 0, result.output
    synth = json.loads((tmp_path / "eval" / "results.json").read_text())["benchmarks"]["synth"]
    assert synth["counts"]["scored"] == 4 and synth["counts"]["errors"] == 0


def test_lora_resume_equals_the_uninterrupted_run(flash_data, flash_student, tmp_path):
    common = {**LORA, "checkpoint.every": 1}
    straight = RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "a", **{**common, "optim.steps": 2}))
    straight.train()
    first = RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "b", **{**common, "optim.steps": 1}))
    first.train()
    resumed = RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "b", **{**common, "optim.steps": 2}),
                        resume=True)
    resumed.train()
    a, b = _all_params(straight), _all_params(resumed)
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_lora_targets_leave_out_a_frozen_vision_tower(flash_student):
    model, _ = load_vlm(flash_student)
    with_vision = lora_target_names(model, ("q_proj", "gate_proj", "qkv"), freeze_vision=False)
    without = lora_target_names(model, ("q_proj", "gate_proj", "qkv"), freeze_vision=True)
    assert any(".visual." in n for n in with_vision) and not any(".visual." in n for n in without)
    assert {n for n in with_vision if ".visual." not in n} == set(without)
    assert all(n.rsplit(".", 1)[-1] in ("q_proj", "gate_proj") for n in without)
