"""End-to-end training on the tiny student: real videos, real teacher (annotation backend), real save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ffr_data.clips import sample_frames
from ffr_data.models import load_vlm
from ffr_data.prompting import build_prompt
from ffr_data.schema import load_samples
from ffr_train.batching import encode_prompt
from ffr_train.rollout import completion_logprobs
from ffr_train.trainer import RLTrainer
from train_support import snapshot_params, tiny_train_config


def test_video_reaches_the_model(flash_data, flash_student):
    model, processor = load_vlm(flash_student)
    cfg = tiny_train_config(flash_data, flash_student, flash_data / "unused")
    sample = load_samples(flash_data / "train.jsonl").samples[0]
    sample = sample.__class__(**{**sample.__dict__, "path": str(flash_data / sample.path)})
    frames = sample_frames(sample.path, cfg.sampling)
    completion = torch.tensor(processor.tokenizer("<think>x</think><answer>A</answer>")["input_ids"])
    prompt = encode_prompt(processor, build_prompt(sample, frames, cfg.prompt))
    frames.array = np.ascontiguousarray(255 - frames.array)
    flipped = encode_prompt(processor, build_prompt(sample, frames, cfg.prompt))
    with torch.no_grad():
        a, _ = completion_logprobs(model, [prompt], [completion], processor.tokenizer.pad_token_id)
        b, _ = completion_logprobs(model, [flipped], [completion], processor.tokenizer.pad_token_id)
    assert torch.equal(prompt.input_ids, flipped.input_ids)
    assert (a - b).abs().max() > 1e-4


@pytest.mark.parametrize("algo", ["ffr", "grpo"])
def test_a_few_steps_change_every_trainable_parameter(flash_data, flash_student, tmp_path, algo):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / algo, algo=algo, **{"optim.steps": 3})
    trainer = RLTrainer(cfg)
    before = snapshot_params(trainer.model)
    summary = trainer.train()
    after = snapshot_params(trainer.model)
    unchanged = [name for name in before if torch.equal(before[name], after[name])]
    assert not unchanged, f"parameters that did not change: {unchanged[:10]}"
    rows = [json.loads(line) for line in (tmp_path / algo / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "reward/total" in r]
    assert len(steps) == 3
    calls = sum(r["teacher/calls"] for r in steps)
    if algo == "ffr":
        assert calls > 0 and sum(r["teacher/patches"] for r in steps) > 0
    else:
        assert calls == 0
    model, _ = load_vlm(summary["final_model"])
    reloaded = dict(model.named_parameters())
    assert all(torch.allclose(reloaded[n], after[n]) for n in after)
