"""The teacher inside training: a startup probe and a success-rate guard stop a run whose teacher cannot repair, and
the teacher's answer is overlapped with the work that does not depend on it — with the same results."""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
import torch

from ffr_teacher import TeacherUnavailableError
from ffr_train.trainer import RLTrainer
from train_support import snapshot_params, tiny_train_config


def test_startup_probe_stops_a_run_whose_teacher_does_not_answer(flash_data, flash_student, tmp_path):
    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "run", **{
        "teacher.backend": "openai", "teacher.base_url": "http://127.0.0.1:9/v1", "teacher.model": "teacher",
        "teacher.max_retries": 0, "teacher.timeout_s": 5.0})
    with pytest.raises(TeacherUnavailableError, match="teacher probe failed"):
        RLTrainer(cfg)


def test_success_rate_guard_stops_training_when_every_repair_fails(flash_data, flash_student, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(flash_data, data)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    for row in rows:  # the annotation teacher cannot patch a question without evidence
        row.pop("evidence")
        row["meta"].pop("candidate_evidence")
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tiny_train_config(data, flash_student, tmp_path / "run", **{
        "teacher.startup_probe": False, "teacher.health.min_calls": 4, "teacher.health.window": 8,
        "optim.steps": 5, "data.val_file": None})
    with pytest.raises(TeacherUnavailableError, match=r"success rate 0%.*no_evidence x\d+"):
        RLTrainer(cfg).train()


class SlowTeacher:
    """Wraps the annotation teacher: every batch of repairs takes at least `delay` seconds; records when."""

    def __init__(self, teacher, delay: float, events: list):
        self.teacher, self.delay, self.events = teacher, delay, events

    def repair_many(self, requests):
        self.events.append(("teacher_start", time.perf_counter()))
        results = self.teacher.repair_many(requests)
        time.sleep(self.delay)
        self.events.append(("teacher_end", time.perf_counter()))
        return results

    def submit_many(self, requests):
        from concurrent.futures import Future

        future = Future()
        threading.Thread(target=lambda: future.set_result(self.repair_many(requests)), daemon=True).start()
        return future

    def __getattr__(self, name):
        return getattr(self.teacher, name)


def test_overlap_gives_the_same_step_and_works_while_the_teacher_answers(flash_data, flash_student, tmp_path):
    results = {}
    for overlap in (False, True):
        cfg = tiny_train_config(flash_data, flash_student, tmp_path / f"o{overlap}", **{
            "repair.overlap": overlap, "loss.beta": 0.04, "optim.steps": 3})
        trainer = RLTrainer(cfg)
        events = []
        trainer.teacher = SlowTeacher(trainer.teacher, 0.5, events)
        prepare = trainer.updater.prepare

        def recorded(rows, _prepare=prepare, _events=events):
            _events.append(("prepare", time.perf_counter()))
            return _prepare(rows)

        trainer.updater.prepare = recorded
        metrics = trainer.train_step()
        results[overlap] = (metrics, snapshot_params(trainer.model), events)
    (m0, p0, _), (m1, p1, events) = results[False], results[True]
    for key in ("reward/total", "acc/first_pass", "acc/after_repair", "teacher/calls", "teacher/patches"):
        assert m0[key] == m1[key], key
    assert all(torch.allclose(p0[n], p1[n], atol=1e-6) for n in p0)
    start = next(t for name, t in events if name == "teacher_start")
    end = next(t for name, t in events if name == "teacher_end")
    first_prepare = next(t for name, t in events if name == "prepare")
    assert start <= first_prepare < end  # the frozen log-probs were computed while the teacher was answering
    assert "time/while_teacher" in m1 and "time/while_teacher" not in m0
