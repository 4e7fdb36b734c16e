"""A run directory is never silently reused: a second run is refused (or --overwrite), two processes cannot share
one, damaged checkpoints are named with the intact one to use, and a moved run resumes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from ffr_data.errors import FFRError
from ffr_train.checkpoint import CheckpointError, RunDirectory, complete_checkpoints
from ffr_train.trainer import RLTrainer
from train_support import snapshot_params, tiny_train_config


@pytest.fixture(scope="module")
def finished_run(flash_data, flash_student, tmp_path_factory):
    """Two steps with a checkpoint after each."""
    out = tmp_path_factory.mktemp("runs") / "done"
    RLTrainer(tiny_train_config(flash_data, flash_student, out, **{"checkpoint.every": 1, "checkpoint.keep_last": 3,
                                                                    "optim.steps": 2})).train()
    return out


def _copy(run, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(run, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def test_a_second_run_into_the_same_folder_is_refused_and_nothing_is_touched(flash_data, flash_student,
                                                                            finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(FFRError, match=r"already holds a run \(config\.json, .*checkpoints.*--resume.*--overwrite"):
        RLTrainer(tiny_train_config(flash_data, flash_student, run))
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


def test_overwrite_starts_over(flash_data, flash_student, finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    trainer = RLTrainer(tiny_train_config(flash_data, flash_student, run, **{"optim.steps": 1}), overwrite=True)
    assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()
    trainer.train()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "reward/total" in r] == [1]


def test_two_processes_cannot_train_into_one_folder(tmp_path):
    claimed = RunDirectory(tmp_path / "run", resume=False, overwrite=False)
    code = ("import sys; from ffr_train.checkpoint import RunDirectory\n"
            "try:\n    RunDirectory(sys.argv[1], resume=True, overwrite=False)\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=120)
    assert "in use by another training run (pid" in out.stdout, out.stdout + out.stderr
    claimed.close()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout == "", out.stdout


@pytest.mark.parametrize("damage", ["truncate_weights", "delete_rng", "break_state_json"])
def test_a_damaged_checkpoint_names_the_file_and_the_intact_one(flash_data, flash_student, finished_run, tmp_path,
                                                                damage):
    run = _copy(finished_run, tmp_path)
    first, latest = complete_checkpoints(run)
    if damage == "truncate_weights":
        weights = next(latest.glob("*.safetensors"))
        weights.write_bytes(weights.read_bytes()[:100])
        expected = rf"{weights.name}: 100 bytes, \d+ were written"
    elif damage == "delete_rng":
        rng = next(latest.glob("random_states*"))
        rng.unlink()
        expected = rf"{rng.name}: missing"
    else:
        (latest / "trainer_state.json").write_text("{broken")
        expected = "not valid JSON"
    cfg = tiny_train_config(flash_data, flash_student, run, **{"optim.steps": 3, "checkpoint.every": 1})
    with pytest.raises(CheckpointError, match=rf"{latest.name}: .*{expected}.*latest intact checkpoint is {first.name}"):
        RLTrainer(cfg, resume=True)


def test_a_missing_or_broken_run_config_is_named(flash_data, flash_student, finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / "config.json").write_text("[1, 2")
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON"):
        RLTrainer(tiny_train_config(flash_data, flash_student, run, **{"optim.steps": 3}), resume=True)


def test_a_moved_run_directory_resumes(flash_data, flash_student, finished_run, tmp_path):
    moved = _copy(finished_run, tmp_path, "moved-elsewhere")
    cfg = tiny_train_config(flash_data, flash_student, moved, **{"optim.steps": 3, "checkpoint.every": 1,
                                                                 "checkpoint.keep_last": 3})
    trainer = RLTrainer(cfg, resume=True)
    assert trainer.step == 2
    before = snapshot_params(trainer.model)
    trainer.train()
    assert trainer.step == 3 and any(not torch.equal(before[n], p) for n, p in snapshot_params(trainer.model).items())
