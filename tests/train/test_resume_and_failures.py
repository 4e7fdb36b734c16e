"""Resume equivalence, a DeepSpeed ZeRO-2 step on CPU, NaN handling, corrupt videos, bad config keys, SFT."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from ffr_data.config import resolve
from ffr_data.errors import ConfigError, FFRError
from ffr_data.models import load_vlm
from ffr_train.checkpoint import latest_checkpoint
from ffr_train.config import TrainConfig
from ffr_train.trainer import RLTrainer
from ffr_train.update import NonFiniteLossError
from train_support import snapshot_params, tiny_train_config


def _train(cfg, resume=False):
    trainer = RLTrainer(cfg, resume=resume)
    trainer.train()
    return snapshot_params(trainer.model), trainer


def _rewards(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["reward/total"] for r in rows if "reward/total" in r]


def test_four_steps_equal_two_then_resume_then_two(flash_data, flash_student, tmp_path):
    common = {"checkpoint.every": 2, "loss.beta": 0.04}
    straight, _ = _train(tiny_train_config(flash_data, flash_student, tmp_path / "a", **{"optim.steps": 4, **common}))
    _train(tiny_train_config(flash_data, flash_student, tmp_path / "b", **{"optim.steps": 2, **common}))
    resumed, _ = _train(tiny_train_config(flash_data, flash_student, tmp_path / "b", **{"optim.steps": 4, **common}),
                        resume=True)
    assert all(torch.equal(straight[n], resumed[n]) for n in straight)
    assert _rewards(tmp_path / "a") == _rewards(tmp_path / "b")


def test_resume_refuses_changed_settings_and_missing_checkpoints(flash_data, flash_student, tmp_path):
    with pytest.raises(FFRError, match="no complete checkpoint"):
        RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "none"), resume=True)
    _train(tiny_train_config(flash_data, flash_student, tmp_path / "c", **{"optim.steps": 1, "checkpoint.every": 1}))
    with pytest.raises(FFRError, match=r"reward\.kappa"):
        RLTrainer(tiny_train_config(flash_data, flash_student, tmp_path / "c", **{"reward.kappa": 0.9}), resume=True)


def test_deepspeed_zero2_step_on_cpu(flash_data, flash_student, tmp_path):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "ds", **{"dist.deepspeed": "zero2", "optim.steps": 1})
    trainer = RLTrainer(cfg)
    assert type(trainer.model).__name__ == "DeepSpeedEngine"
    before = snapshot_params(trainer.model)
    trainer.train()
    after = snapshot_params(trainer.model)
    assert any(not torch.equal(before[n], after[n]) for n in before)
    assert latest_checkpoint(tmp_path / "ds") is not None
    load_vlm(tmp_path / "ds" / "final")


def test_non_finite_loss_stops_without_writing_a_checkpoint(flash_data, flash_student, tmp_path, monkeypatch):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "nan", **{"optim.steps": 3, "checkpoint.every": 1})
    trainer = RLTrainer(cfg)
    import ffr_train.update as update

    original = update.policy_loss

    def poisoned(*args, **kwargs):
        loss, stats = original(*args, **kwargs)
        return loss * float("nan"), stats

    monkeypatch.setattr(update, "policy_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        trainer.train()
    assert latest_checkpoint(tmp_path / "nan") is None


def test_corrupt_video_is_skipped_and_counted(flash_data, flash_student, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(flash_data, data)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    (data / rows[0]["path"]).write_bytes(b"this is not an mp4")
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    cfg = tiny_train_config(data, flash_student, tmp_path / "run", **{"optim.steps": 2})
    trainer = RLTrainer(cfg)
    summary = trainer.train()
    assert summary["skipped_samples"] >= 1
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r.get("data/skipped_samples", 0) for r in metrics) == summary["skipped_samples"]


def test_unknown_config_key_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'reward\.kapa'"):
        resolve(TrainConfig(), None, ["reward.kapa=0.5"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"optim\.stepz"):
        resolve(TrainConfig(), bad, [])


def test_every_example_config_resolves():
    from pathlib import Path

    for path in sorted(Path(__file__).parents[2].joinpath("configs").glob("*.yaml")):
        resolve(TrainConfig(), path, [])


def test_sft_learns_the_format_and_saves_a_loadable_model(flash_data, flash_student, tmp_path):
    from ffr_train.sft import run_sft

    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "run", **{
        "sft.warmup_steps": 20, "sft.main_steps": 100, "sft.batch_size": 8, "sft.lr_warmup_steps": 5,
        "sft.output_dir": str(tmp_path / "sft")})
    out = run_sft(cfg)
    report = json.loads((out / "sft_report.json").read_text())
    main = report["stages"]["main"]
    assert main["loss_last_50"] < 0.5 * report["stages"]["warmup"]["loss_first"]
    assert main["patched_examples"] > 0
    model, _ = load_vlm(out)
    reference, _ = load_vlm(flash_student)
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters(), strict=True))


def test_ctrl_c_saves_a_resumable_checkpoint(flash_data, flash_student, tmp_path, monkeypatch):
    """Ctrl-C during step 2's generation saves step 1 with the random state rewound, so resuming gives exactly the
    uninterrupted run."""
    import ffr_train.trainer as trainer_module

    common = {"optim.steps": 3, "checkpoint.every": 100}
    straight, _ = _train(tiny_train_config(flash_data, flash_student, tmp_path / "straight", **common))
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "int", **common)
    real_collect = trainer_module.collect_step
    calls = {"n": 0}

    def interrupted_collect(*args, **kwargs):
        calls["n"] += 1
        data = real_collect(*args, **kwargs)  # sampling has consumed random numbers by now
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return data

    monkeypatch.setattr(trainer_module, "collect_step", interrupted_collect)
    with pytest.raises(KeyboardInterrupt):
        RLTrainer(cfg).train()
    saved = latest_checkpoint(tmp_path / "int")
    assert saved is not None and saved.name == "step-000001"
    monkeypatch.setattr(trainer_module, "collect_step", real_collect)
    resumed, trainer = _train(cfg, resume=True)
    assert trainer.step == 3
    assert all(torch.equal(straight[n], resumed[n]) for n in straight)
