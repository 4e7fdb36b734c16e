"""The RL trainer: GRPO or FFR (same code path; FFR adds the teacher repair), accelerate + DeepSpeed."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from ffr_data.clips import FrameCache
from ffr_data.config import to_dict
from ffr_data.decode_batch import decode_samples
from ffr_data.errors import FFRError
from ffr_data.models import fit_sampling, load_vlm
from ffr_data.progress import progress_bar
from ffr_data.timing import PhaseTimer
from ffr_data.versions import package_versions
from ffr_teacher import RepairRequest, TeacherHealth, build_teacher
from ffr_train.checkpoint import (
    RunDirectory,
    latest_checkpoint,
    load_checkpoint,
    read_run_config,
    resumable_checkpoint,
    save_checkpoint,
)
from ffr_train.config import TrainConfig
from ffr_train.data import data_order, load_split
from ffr_train.distributed import make_accelerator, prepare_reference, rank_seed, zero_stage
from ffr_train.engine import HFGenerationEngine
from ffr_train.logs import RunLogger, check_trackers, headline
from ffr_train.policy import is_lora, load_student, save_final, torch_dtype
from ffr_train.step import StepContext, StepData, collect_step, placeholder_slots
from ffr_train.step_metrics import rollout_rows, step_metrics
from ffr_train.update import Reference, Updater
from ffr_train.validation import finish_validation, validation_tallies

log = logging.getLogger(__name__)
# Settings a resumed run may change (how long and how it logs); anything else must match the checkpoint.
# output_dir: a run directory may be moved or renamed between sessions.
RESUMABLE_CHANGES = ("optim.steps", "logging", "checkpoint", "eval", "output_dir")


def _config_drift(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    drift = []
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        if any(name == k or name.startswith(k + ".") for k in RESUMABLE_CHANGES):
            continue
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            drift += _config_drift(a, b, name + ".")
        elif a != b:
            drift.append(f"{name}: {a!r} -> {b!r}")
    return drift


class RLTrainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, overwrite: bool = False):
        from accelerate.utils import set_seed

        self.run_dir = Path(cfg.output_dir)
        r = cfg.rollout
        check_trackers(cfg.logging.trackers)
        self.accelerator = make_accelerator(cfg.dist.deepspeed, r.micro_batch_size, cfg.optim.max_grad_norm,
                                            cfg.logging.trackers, str(self.run_dir))
        acc = self.accelerator
        self.run = RunDirectory(self.run_dir, resume=resume, overwrite=overwrite) if acc.is_main_process else None
        set_seed(cfg.seed)  # the same initial weights (LoRA adapters included) on every rank
        model, self.processor = load_student(cfg.student)
        self.cfg = cfg = dataclasses.replace(cfg, sampling=fit_sampling(cfg.sampling, model))
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr,
                                      betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.teacher, self.teacher_health = None, None
        if cfg.algo == "ffr":
            teacher_cfg = cfg.teacher
            if not teacher_cfg.cache_dir:
                teacher_cfg = dataclasses.replace(teacher_cfg, cache_dir=str(self.run_dir / "teacher_cache"))
            self.teacher = build_teacher(teacher_cfg)
            self.teacher_health = TeacherHealth(teacher_cfg.health)
        self.train_samples, dropped = load_split(cfg.data.train_file, cfg.data.video_root, cfg.data.max_train_samples)
        self.val_samples = []
        if cfg.data.val_file and Path(cfg.data.val_file).is_file():
            self.val_samples, _ = load_split(cfg.data.val_file, cfg.data.video_root, cfg.data.max_eval_samples)
        unwrapped = acc.unwrap_model(self.model)
        zero3 = zero_stage(acc) == 3
        self.engine = HFGenerationEngine(unwrapped, self.processor.tokenizer, zero3_engine=self.model if zero3 else None)
        self.updater = Updater(acc, self.model, self.optimizer, self._reference(unwrapped), cfg.loss, cfg.optim,
                               pad_id=self.processor.tokenizer.pad_token_id, token_budget=r.micro_batch_tokens,
                               max_rows=r.micro_batch_size, distill_weight=cfg.repair.distill_weight,
                               gold_weight=cfg.repair.gold_weight,
                               placeholders=placeholder_slots(self.processor, cfg, self.train_samples[0]))
        # Each rank draws its own rollouts; the seed stays a function of (seed, rank), so runs are reproducible.
        set_seed(rank_seed(cfg.seed, acc.process_index))
        self.cache = FrameCache()
        self.timer = PhaseTimer()
        self.logger = RunLogger(self.run_dir, acc, project=cfg.logging.project, config=to_dict(cfg),
                                trackers=cfg.logging.trackers, enabled=acc.is_main_process)
        self.step = 0
        self._updating = False
        self._step_rng: dict[str, Any] | None = None
        self.history: list[dict[str, float]] = []
        self.dropped_rows = dropped
        self.skipped_samples = 0
        if self.teacher is not None and cfg.teacher.startup_probe and acc.is_main_process:
            self._probe_teacher()
        if resume:
            self._resume()
        elif acc.is_main_process:
            (self.run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
            (self.run_dir / "versions.json").write_text(json.dumps(package_versions(), indent=2))

    def _reference(self, unwrapped) -> Reference | None:
        """The frozen reference policy for the KL term: the LoRA student with its adapters off, or a second copy of
        the starting weights placed like the policy (sharded under ZeRO-3). None when beta is 0."""
        if self.cfg.loss.beta <= 0:
            return None
        if is_lora(unwrapped):
            return Reference(unwrapped, adapters_off=True)
        model, _ = load_vlm(self.cfg.student.path, torch_dtype(self.cfg.student.dtype),
                            self.cfg.student.attn_implementation)
        return Reference(prepare_reference(self.accelerator, model))

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _resume(self) -> None:
        path = resumable_checkpoint(self.run_dir)
        drift = _config_drift(read_run_config(self.run_dir), to_dict(self.cfg))
        if drift:
            raise FFRError(f"{self.run_dir}: cannot resume with changed settings: {'; '.join(drift)}")
        state = load_checkpoint(self.accelerator, path)
        self.step = int(state["step"])
        self.history = state.get("history", [])
        self.skipped_samples = state.get("skipped_samples", 0)
        self.logger.truncate_after(self.step)
        log.info("resumed from %s at step %d", path, self.step)

    def save(self) -> Path:
        state = {"history": self.history, "skipped_samples": self.skipped_samples}
        return save_checkpoint(self.accelerator, self.run_dir, self.step, state, self.cfg.checkpoint.keep_last)

    def save_model(self, out_dir: Path | None = None) -> Path:
        out = Path(out_dir or self.run_dir / "final")
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        state = self.accelerator.get_state_dict(self.model)
        if self.accelerator.is_main_process:
            save_final(out, model, state, self.processor, self.cfg.student)
        self.accelerator.wait_for_everyone()
        return out

    # -- the loop ----------------------------------------------------------------------------------------------
    def _samples_for(self, step: int):
        acc, p = self.accelerator, self.cfg.rollout.prompts_per_step
        start = (step * acc.num_processes + acc.process_index) * p
        return [self.train_samples[i] for i in data_order(len(self.train_samples), self.cfg.seed, start, p)]

    def _probe_teacher(self) -> None:
        """One real repair before step 1: a teacher that cannot repair (wrong model name, a template without tools,
        no server) stops the run here with the reason, instead of silently turning FFR into GRPO."""
        batch = decode_samples(self.train_samples[:8], self.cfg.sampling, self.cache)
        if not batch.samples:
            raise FFRError(f"{self.cfg.data.train_file}: none of the first training videos decodes "
                           f"({batch.skipped[0].reason})")
        wrong = "<think>I could not tell from the video.</think><answer>none</answer>"
        self.teacher.probe(RepairRequest(batch.samples[0], batch.frames[0], wrong))

    def _while_teacher_works(self, settled_rows: list) -> None:
        """What a step does while the teacher answers: frozen log-probs of the rows trained whatever it says, and the
        next step's videos decoded into the frame cache."""
        with self.timer.phase("frozen_logprobs"):
            self.updater.prepare(settled_rows)
        if self.step + 1 < self.cfg.optim.steps:
            with self.timer.phase("prefetch"):
                decode_samples(self._samples_for(self.step + 1), self.cfg.sampling, self.cache)

    def _context(self) -> StepContext:
        overlap = self._while_teacher_works if self.cfg.repair.overlap and self.teacher is not None else None
        return StepContext(self.cfg, self.engine, self.processor, self.teacher, self.cache, self.timer, overlap)

    def train_step(self) -> dict[str, float]:
        self.timer = PhaseTimer()
        started = time.perf_counter()
        self._step_rng = _rng_state()
        teacher_before = self.teacher.metrics.snapshot() if self.teacher else None
        data: StepData = collect_step(self._context(), self._samples_for(self.step))
        self.skipped_samples += len(data.skipped)
        if self.teacher_health is not None:
            self.teacher_health.record(data.teacher.results)  # stops the run when the teacher has stopped working
        with self.timer.phase("update"):
            self._updating = True
            # every rank, with or without slots of its own
            stats = self.updater.update(data.slots, self.step, data.distill, data.gold)
            self._updating = False
        self.engine.sync_weights()
        elapsed = time.perf_counter() - started
        metrics = step_metrics(data, stats, self.timer, elapsed, self.cfg, self.teacher, teacher_before)
        metrics["data/skipped_samples_total"] = float(self.skipped_samples)
        self.step += 1
        if self.step % self.cfg.logging.every == 0:
            self.logger.metrics(self.step, metrics)
        if self.cfg.logging.rollouts_every and self.step % self.cfg.logging.rollouts_every == 0:
            self.logger.rollouts(self.step, rollout_rows(data, self.cfg.logging.rollouts_per_save))
        return metrics

    def validate(self) -> dict[str, float]:
        """Greedy validation, sharded over ranks and added up; every rank returns the same numbers."""
        if not self.val_samples:
            return {}
        from accelerate.utils import gather_object

        acc = self.accelerator
        tallies = validation_tallies(self.engine, self.processor, self.val_samples, self.cfg, self.cache,
                                     teacher=self.teacher, batch_size=self.cfg.eval.batch_size,
                                     rank=acc.process_index, world=acc.num_processes)
        return finish_validation(gather_object([tallies]) if acc.num_processes > 1 else [tallies])

    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        self._updating = False
        try:
            with progress_bar(cfg.logging.progress and self.accelerator.is_main_process, f"{cfg.algo} training",
                              cfg.optim.steps, self.step) as bar:
                while self.step < cfg.optim.steps:
                    metrics = self.train_step()
                    self.history.append({k: v for k, v in metrics.items() if not k.startswith("time/")})
                    if cfg.eval.every and self.step % cfg.eval.every == 0:
                        val = self.validate()
                        self.logger.metrics(self.step, val)
                        self.history[-1].update(val)
                    if self.step % cfg.checkpoint.every == 0:
                        self.save()
                    bar.advance(info=headline(metrics))
        except KeyboardInterrupt:
            if self._updating:  # weights may be half-updated: keep the last periodic checkpoint
                log.warning("interrupted inside the optimizer update; resume from the last periodic checkpoint")
            else:  # the step in flight has not touched the weights: rewind its random draws and save
                _set_rng_state(self._step_rng)
                path = self.save()
                log.warning("interrupted: saved a resumable checkpoint at %s", path)
            raise
        last = latest_checkpoint(self.run_dir)
        if last is None or last.name != f"step-{self.step:06d}":
            self.save()
        final = self.save_model()
        val = self.validate()
        if val:
            self.logger.metrics(self.step, val)
        summary = training_summary(self.history, val)
        summary.update(final_model=str(final), run_dir=str(self.run_dir), skipped_samples=self.skipped_samples,
                       dropped_rows=self.dropped_rows, processes=self.accelerator.num_processes,
                       distributed=self.accelerator.distributed_type.value)
        if self.accelerator.is_main_process:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.logger.close()
        if self.run is not None:
            self.run.close()
        return summary


def _rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any] | None) -> None:
    import random

    import numpy as np

    if not state:
        return
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _mean(rows: list[dict[str, float]], key: str) -> float | None:
    vals = [r[key] for r in rows if key in r]
    return sum(vals) / len(vals) if vals else None


def training_summary(history: list[dict[str, float]], val: dict[str, float]) -> dict[str, Any]:
    """Reward/accuracy at the start vs the end, and the intervention ratio over training thirds."""
    n = len(history)
    third = max(1, n // 3)
    thirds = [history[:third], history[third:2 * third], history[2 * third:]] if n >= 3 else [history]
    keys = ("reward/total", "acc/first_pass", "acc/after_repair", "intervention_ratio")
    return {
        "steps": n,
        "first_third": {k: _mean(thirds[0], k) for k in keys},
        "last_third": {k: _mean(thirds[-1], k) for k in keys},
        "intervention_ratio_by_third": [_mean(t, "intervention_ratio") for t in thirds],
        "validation": val,
    }
