"""The policy update: advantages -> clipped surrogate + k3 KL over the chosen rollouts, in micro-batches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ffr_data.errors import FFRError
from ffr_train.algorithms import ADVANTAGES, policy_loss
from ffr_train.config import LossConfig, OptimConfig
from ffr_train.rollout import completion_logprobs
from ffr_train.step import Slot


class NonFiniteLossError(FFRError):
    """The loss became NaN or infinite; the step is stopped before anything is applied."""


def learning_rate(step: int, cfg: OptimConfig) -> float:
    """LR at optimizer step ``step`` (0-based): linear warm-up, then cosine / linear decay or constant."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "linear":
        return floor + (cfg.lr - floor) * (1 - progress)
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def split_micro_batches(items: Sequence, count: int) -> list[list]:
    """Exactly ``count`` contiguous chunks (some possibly empty), so every step makes the same number of
    backward calls and DeepSpeed's accumulation boundary never drifts."""
    size = math.ceil(len(items) / count) if items else 0
    return [list(items[i * size:(i + 1) * size]) for i in range(count)]


@dataclass
class Updater:
    accelerator: object
    model: object
    optimizer: object
    ref_model: object | None
    loss_cfg: LossConfig
    optim_cfg: OptimConfig
    micro_batches: int
    group_size: int
    pad_id: int

    def _logprobs(self, model, chunk: list[Slot]):
        return completion_logprobs(model, [s.prompt for s in chunk], [s.completion for s in chunk], self.pad_id)

    @torch.no_grad()
    def _frozen_logprobs(self, model, chunks: list[list[Slot]]) -> list[torch.Tensor | None]:
        return [self._logprobs(model, chunk)[0] if chunk else None for chunk in chunks]

    def _global_totals(self, slots: list[Slot]) -> tuple[float, float]:
        local = torch.tensor([sum(int(s.completion.numel()) for s in slots), len(slots)], dtype=torch.float64)
        acc = self.accelerator
        if acc.num_processes > 1:
            local = acc.reduce(local.to(acc.device), reduction="sum").cpu() / acc.num_processes
        return max(1.0, float(local[0])), max(1.0, float(local[1]))

    def advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        return ADVANTAGES.get(self.loss_cfg.advantage)(rewards, self.group_size, self.loss_cfg.advantage_eps)

    def update(self, slots: list[Slot], rewards: torch.Tensor, step: int) -> dict[str, float]:
        cfg = self.loss_cfg
        advantages = self.advantages(rewards)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.optim_cfg)
        indexed = list(zip(slots, advantages.tolist(), strict=True))
        chunks = split_micro_batches(indexed, self.micro_batches)
        slot_chunks = [[s for s, _ in c] for c in chunks]
        ref = self._frozen_logprobs(self.ref_model, slot_chunks) if cfg.beta > 0 else [None] * len(chunks)
        old = self._frozen_logprobs(self.model, slot_chunks) if cfg.inner_iterations > 1 else [None] * len(chunks)
        total_tokens, total_seqs = self._global_totals(slots)
        stats = {"loss": 0.0, "clip_fraction": 0.0, "kl": 0.0, "grad_norm": 0.0}
        weight = 0.0
        for _ in range(cfg.inner_iterations):
            for chunk, ref_lp, old_lp in zip(chunks, ref, old, strict=True):
                stats_mb, tokens = self._micro_step(chunk, ref_lp, old_lp, total_tokens, total_seqs, slots)
                stats["loss"] += stats_mb["loss"] / cfg.inner_iterations
                for key in ("clip_fraction", "kl"):
                    stats[key] += stats_mb[key] * tokens
                weight += tokens
                if "grad_norm" in stats_mb:
                    stats["grad_norm"] = stats_mb["grad_norm"]
        for key in ("clip_fraction", "kl"):
            stats[key] /= max(weight, 1.0)
        stats["lr"] = learning_rate(step, self.optim_cfg)
        stats["advantage_abs_mean"] = float(advantages.abs().mean()) if advantages.numel() else 0.0
        return stats

    def _micro_step(self, chunk, ref_lp, old_lp, total_tokens, total_seqs, slots) -> tuple[dict, float]:
        dummy = not chunk  # keep the backward count fixed: a zero-weight pass over one slot
        pairs = chunk or [(slots[0], 0.0)]
        batch_slots = [s for s, _ in pairs]
        adv = torch.tensor([a for _, a in pairs], dtype=torch.float32)
        with self.accelerator.accumulate(self.model):
            logp, mask = self._logprobs(self.model, batch_slots)
            adv = adv.to(logp.device)
            old = old_lp.to(logp.device) if old_lp is not None else logp.detach()
            loss, stats = policy_loss(
                logp, old, adv, mask, ref_logp=None if ref_lp is None else ref_lp.to(logp.device),
                beta=self.loss_cfg.beta, eps_low=self.loss_cfg.clip_eps, eps_high=self.loss_cfg.clip_eps_high,
                aggregation=self.loss_cfg.aggregation, total_tokens=total_tokens, total_sequences=total_seqs,
            )
            if dummy:
                loss = loss * 0.0
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"non-finite loss ({float(loss.detach())}) in a micro-batch; nothing was applied "
                                         "for this step and no checkpoint is written from it")
            # accelerate (or the DeepSpeed engine) divides by the accumulation steps; the loss is already
            # normalised by step-wide totals, so undo that division.
            self.accelerator.backward(loss * self.micro_batches)
            if self.accelerator.sync_gradients:
                norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.optim_cfg.max_grad_norm)
                stats["grad_norm"] = float(norm) if norm is not None else float("nan")
            self.optimizer.step()
            self.optimizer.zero_grad()
        stats["loss"] = float(loss.detach())
        return stats, 0.0 if dummy else stats["tokens"]
