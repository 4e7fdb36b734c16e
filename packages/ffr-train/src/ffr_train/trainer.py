"""The RL trainer: GRPO or FFR (same code path; FFR adds the teacher repair), accelerate + DeepSpeed."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from ffr_data.clips import FrameCache
from ffr_data.config import to_dict
from ffr_data.errors import FFRError
from ffr_data.models import load_vlm
from ffr_data.versions import package_versions
from ffr_teacher import build_teacher
from ffr_train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ffr_train.config import TrainConfig
from ffr_train.data import data_order, load_split
from ffr_train.distributed import generation_context, make_accelerator, prepare_reference, zero_stage
from ffr_train.logs import RunLogger
from ffr_train.progress import progress_bar
from ffr_train.step import StepContext, StepData, collect_step
from ffr_train.step_metrics import rollout_rows, step_metrics
from ffr_train.timing import PhaseTimer
from ffr_train.update import Updater
from ffr_train.validation import validate

log = logging.getLogger(__name__)
# Settings a resumed run may change (how long and how it logs); anything else must match the checkpoint.
RESUMABLE_CHANGES = ("optim.steps", "logging", "checkpoint", "eval")


def _dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


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
    def __init__(self, cfg: TrainConfig, resume: bool = False):
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.run_dir = Path(cfg.output_dir)
        r = cfg.rollout
        self.micro_batches = max(1, math.ceil(r.prompts_per_step * r.group_size / r.micro_batch_size))
        self.accelerator = make_accelerator(cfg.dist.deepspeed, r.micro_batch_size, self.micro_batches,
                                            cfg.optim.max_grad_norm)
        set_seed(cfg.seed)
        model, self.processor = load_vlm(cfg.student.path, _dtype(cfg.student.dtype))
        if cfg.student.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr,
                                      betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.ref_model = None
        if cfg.loss.beta > 0:
            self.ref_model = prepare_reference(self.accelerator, load_vlm(cfg.student.path, _dtype(cfg.student.dtype))[0])
        self.teacher = None
        if cfg.algo == "ffr":
            teacher_cfg = cfg.teacher
            if not teacher_cfg.cache_dir:
                teacher_cfg = dataclasses.replace(teacher_cfg, cache_dir=str(self.run_dir / "teacher_cache"))
            self.teacher = build_teacher(teacher_cfg)
        self.train_samples, dropped = load_split(cfg.data.train_file, cfg.data.video_root, cfg.data.max_train_samples)
        self.val_samples = []
        if cfg.data.val_file and Path(cfg.data.val_file).is_file():
            self.val_samples, _ = load_split(cfg.data.val_file, cfg.data.video_root, cfg.data.max_eval_samples)
        self.updater = Updater(self.accelerator, self.model, self.optimizer, self.ref_model, cfg.loss, cfg.optim,
                               self.micro_batches, r.group_size, self.processor.tokenizer.pad_token_id)
        self.cache = FrameCache()
        self.timer = PhaseTimer()
        self.logger = RunLogger(self.run_dir, cfg.logging.tensorboard, enabled=self.accelerator.is_main_process)
        self.step = 0
        self._updating = False
        self._step_rng: dict[str, Any] | None = None
        self.history: list[dict[str, float]] = []
        self.dropped_rows = dropped
        self.skipped_samples = 0
        if self.accelerator.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume()
        elif self.accelerator.is_main_process:
            (self.run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
            (self.run_dir / "versions.json").write_text(json.dumps(package_versions(), indent=2))

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _resume(self) -> None:
        path = latest_checkpoint(self.run_dir)
        if path is None:
            raise FFRError(f"{self.run_dir}: --resume given but there is no complete checkpoint in it")
        saved_cfg = json.loads((self.run_dir / "config.json").read_text())
        drift = _config_drift(saved_cfg, to_dict(self.cfg))
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
            model.save_pretrained(out, state_dict=state)
            self.processor.save_pretrained(out)
        self.accelerator.wait_for_everyone()
        return out

    # -- the loop ----------------------------------------------------------------------------------------------
    def _samples_for(self, step: int):
        acc, p = self.accelerator, self.cfg.rollout.prompts_per_step
        start = (step * acc.num_processes + acc.process_index) * p
        return [self.train_samples[i] for i in data_order(len(self.train_samples), self.cfg.seed, start, p)]

    def _context(self) -> StepContext:
        unwrapped = self.accelerator.unwrap_model(self.model)
        zero3_multi = zero_stage(self.accelerator) == 3 and self.accelerator.num_processes > 1
        return StepContext(self.cfg, unwrapped, self.processor, self.teacher, self.cache, self.timer,
                           synced_gpus=zero3_multi, gather_context=generation_context(self.accelerator, self.model))

    def train_step(self) -> dict[str, float]:
        self.timer = PhaseTimer()
        started = time.perf_counter()
        self._step_rng = _rng_state()
        teacher_before = self.teacher.metrics.snapshot() if self.teacher else None
        data: StepData = collect_step(self._context(), self._samples_for(self.step))
        self.skipped_samples += len(data.skipped)
        with self.timer.phase("update"):
            self._updating = True
            stats = self.updater.update(data.slots, data.rewards, self.step) if data.slots else {}
            self._updating = False
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
        if not self.val_samples:
            return {}
        model = self.accelerator.unwrap_model(self.model)
        return validate(model, self.processor, self.val_samples, self.cfg, self.cache, teacher=self.teacher,
                        batch_size=self.cfg.eval.batch_size)

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
                    bar.advance(metrics)
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
                       dropped_rows=self.dropped_rows)
        if self.accelerator.is_main_process:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.logger.close()
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
