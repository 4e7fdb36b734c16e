"""The update's micro-batching changes memory, not the gradient; experiment trackers through accelerate."""

from __future__ import annotations

import pytest
import torch

from ffr_data.errors import ConfigError
from ffr_train.logs import check_trackers
from ffr_train.trainer import RLTrainer
from train_support import tiny_train_config


def test_token_packed_micro_batches_give_the_same_update_as_one_big_batch(flash_data, flash_student, tmp_path):
    results = {}
    for name, packing in {"one_each": {"rollout.micro_batch_tokens": 1, "rollout.micro_batch_size": 1},
                          "all_in_one": {"rollout.micro_batch_tokens": 0, "rollout.micro_batch_size": 64}}.items():
        cfg = tiny_train_config(flash_data, flash_student, tmp_path / name, **{"loss.beta": 0.04, **packing})
        trainer = RLTrainer(cfg)
        grads = {}
        step = trainer.optimizer.step

        def recording_step(*args, _step=step, _trainer=trainer, _grads=grads, **kwargs):
            model = _trainer.accelerator.unwrap_model(_trainer.model)
            _grads.update({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
            return _step(*args, **kwargs)

        trainer.optimizer.step = recording_step
        metrics = trainer.train_step()
        results[name] = (grads, metrics)
    (one_each, m1), (all_in_one, m2) = results["one_each"], results["all_in_one"]
    assert m1["update/micro_batches"] == 8 and m2["update/micro_batches"] == 1  # 2 prompts x G 4
    assert m1["reward/total"] == m2["reward/total"]  # same rollouts
    assert one_each.keys() == all_in_one.keys() and len(one_each) > 10
    for name in one_each:
        assert torch.allclose(one_each[name], all_in_one[name], rtol=1e-4, atol=1e-7), name


def test_tracker_names_are_checked_before_training():
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbored'"):
        check_trackers(["tensorbored"])
    with pytest.raises(ConfigError, match="'aim' is not installed"):
        check_trackers(["aim"])
    check_trackers(["wandb"])


def test_wandb_offline_run_receives_the_metrics(flash_data, flash_student, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "tracked"
    cfg = tiny_train_config(flash_data, flash_student, out, **{"logging.trackers": ["wandb"], "optim.steps": 2})
    RLTrainer(cfg).train()
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    history = runs[0] / "files" / "wandb-summary.json"
    records = list(runs[0].glob("run-*.wandb"))
    assert records and records[0].stat().st_size > 0
    if history.is_file():  # written when the run finishes
        assert "reward/total" in history.read_text()
