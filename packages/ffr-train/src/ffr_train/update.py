"""The policy update: advantages -> clipped surrogate + k3 KL over the chosen rollouts, in micro-batches packed by a
token budget.

The loss of every micro-batch is normalised by step-wide totals (tokens or sequences over all ranks), so how slots
are grouped into micro-batches changes memory and speed, never the gradient. Accumulation is driven explicitly: the
last micro-batch of a step is the only gradient-sync boundary, under DDP and DeepSpeed alike, so the number of
micro-batches may differ from step to step. Every rank runs the same number of micro-batches (the most any rank
needs; the others add zero-weight passes over a placeholder), so every collective is joined by every rank.
"""

from __future__ import annotations

import contextlib
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


def pack_micro_batches(lengths: Sequence[int], token_budget: int, max_rows: int) -> list[list[int]]:
    """Indices grouped into micro-batches whose padded size (rows x longest sequence) stays within ``token_budget``
    (0: no token limit) and whose row count stays within ``max_rows``; longest first, first fit, so long patched
    prompts share micro-batches instead of padding short ones. A sequence longer than the budget gets a micro-batch
    of its own. Pure; tested exactly."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    for i in order:
        for members in bins:
            width = lengths[members[0]]  # the first member is the longest
            if len(members) < max_rows and (not token_budget or (len(members) + 1) * width <= token_budget):
                members.append(i)
                break
        else:
            bins.append([i])
    return bins


def slot_length(slot: Slot) -> int:
    return slot.prompt.length + int(slot.completion.numel())


@dataclass(frozen=True)
class MicroBatch:
    slots: list[Slot]
    advantages: list[float]
    placeholder: bool = False  # a zero-weight pass that keeps this rank in step with the others


class Reference:
    """Log-probs under the frozen reference policy: a separate frozen model, or — for a LoRA student — the policy
    itself with its adapters disabled (no second copy of the weights)."""

    def __init__(self, model, *, adapters_off: bool = False):
        self.model, self.adapters_off = model, adapters_off

    @torch.no_grad()
    def logprobs(self, slots: list[Slot], pad_id: int) -> torch.Tensor:
        context = self.model.disable_adapter() if self.adapters_off else contextlib.nullcontext()
        with context:
            return completion_logprobs(self.model, [s.prompt for s in slots], [s.completion for s in slots], pad_id)[0]


class Updater:
    def __init__(self, accelerator, model, optimizer, reference: Reference | None, loss_cfg: LossConfig,
                 optim_cfg: OptimConfig, *, group_size: int, pad_id: int, token_budget: int, max_rows: int,
                 placeholder: Slot):
        self.accelerator, self.model, self.optimizer, self.reference = accelerator, model, optimizer, reference
        self.loss_cfg, self.optim_cfg = loss_cfg, optim_cfg
        self.group_size, self.pad_id = group_size, pad_id
        self.token_budget, self.max_rows = token_budget, max_rows
        self.placeholder = placeholder
        self.deepspeed = accelerator.distributed_type.value == "DEEPSPEED"

    # -- collectives -------------------------------------------------------------------------------------------
    def _all_reduce(self, values: list[float], op: str) -> list[float]:
        if self.accelerator.num_processes == 1:
            return values
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def _global_totals(self, slots: list[Slot]) -> tuple[float, float]:
        """Tokens and sequences per rank, averaged over ranks: gradients are averaged over ranks, so normalising each
        rank's loss by these makes the step's loss the mean over every token (or sequence) of every rank."""
        tokens, seqs = self._all_reduce([sum(int(s.completion.numel()) for s in slots), len(slots)], "sum")
        world = self.accelerator.num_processes
        return max(1.0, tokens / world), max(1.0, seqs / world)

    # -- the update --------------------------------------------------------------------------------------------
    def micro_batches(self, slots: list[Slot], advantages: list[float]) -> list[MicroBatch]:
        packed = pack_micro_batches([slot_length(s) for s in slots], self.token_budget, self.max_rows)
        batches = [MicroBatch([slots[i] for i in idx], [advantages[i] for i in idx]) for idx in packed]
        count = int(self._all_reduce([len(batches)], "max")[0])
        return batches + [MicroBatch([self.placeholder], [0.0], placeholder=True)] * (count - len(batches))

    def update(self, slots: list[Slot], step: int) -> dict[str, float]:
        cfg = self.loss_cfg
        rewards = torch.tensor([s.reward.total for s in slots], dtype=torch.float32)
        advantages = ADVANTAGES.get(cfg.advantage)(rewards, self.group_size, cfg.advantage_eps)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.optim_cfg)
        batches = self.micro_batches(slots, advantages.tolist())
        ref = [self.reference.logprobs(b.slots, self.pad_id) if self.reference else None for b in batches]
        old = [self._frozen_logprobs(b.slots) if cfg.inner_iterations > 1 else None for b in batches]
        total_tokens, total_seqs = self._global_totals(slots)
        stats = {"loss": 0.0, "clip_fraction": 0.0, "kl": 0.0, "grad_norm": 0.0}
        weight = 0.0
        for _ in range(cfg.inner_iterations):
            for k, (batch, ref_lp, old_lp) in enumerate(zip(batches, ref, old, strict=True)):
                mb, tokens, norm = self._micro_step(batch, ref_lp, old_lp, total_tokens, total_seqs,
                                                    last=k == len(batches) - 1)
                stats["loss"] += mb["loss"] / cfg.inner_iterations
                for key in ("clip_fraction", "kl"):
                    stats[key] += mb[key] * tokens
                weight += tokens
                if norm is not None:
                    stats["grad_norm"] = norm
        for key in ("clip_fraction", "kl"):
            stats[key] /= max(weight, 1.0)
        stats["lr"] = learning_rate(step, self.optim_cfg)
        stats["advantage_abs_mean"] = float(advantages.abs().mean()) if advantages.numel() else 0.0
        stats["micro_batches"] = float(len(batches))
        stats["padded_tokens"] = float(sum(len(b.slots) * max(slot_length(s) for s in b.slots)
                                           for b in batches if not b.placeholder))
        return stats

    @torch.no_grad()
    def _frozen_logprobs(self, slots: list[Slot]) -> torch.Tensor:
        return completion_logprobs(self.model, [s.prompt for s in slots], [s.completion for s in slots], self.pad_id)[0]

    def _micro_step(self, batch: MicroBatch, ref_lp: torch.Tensor | None, old_lp: torch.Tensor | None,
                    total_tokens: float, total_seqs: float, *, last: bool) -> tuple[dict[str, float], float, float | None]:
        """Forward and backward of one micro-batch; the optimizer steps after the last one. Returns its stats, its
        token count (0 for a placeholder) and, after the last one, the gradient norm."""
        no_sync = contextlib.nullcontext() if last or self.deepspeed else self.accelerator.no_sync(self.model)
        with no_sync:
            logp, mask = completion_logprobs(self.model, [s.prompt for s in batch.slots],
                                             [s.completion for s in batch.slots], self.pad_id)
            adv = torch.tensor(batch.advantages, dtype=torch.float32, device=logp.device)
            old = old_lp.to(logp.device) if old_lp is not None else logp.detach()
            loss, stats = policy_loss(
                logp, old, adv, mask, ref_logp=None if ref_lp is None else ref_lp.to(logp.device),
                beta=self.loss_cfg.beta, eps_low=self.loss_cfg.clip_eps, eps_high=self.loss_cfg.clip_eps_high,
                aggregation=self.loss_cfg.aggregation, total_tokens=total_tokens, total_sequences=total_seqs,
            )
            if batch.placeholder:
                loss = loss * 0.0
            # Decided together, so that no rank goes on to a collective that another has abandoned.
            if self._all_reduce([float(not torch.isfinite(loss))], "max")[0]:
                raise NonFiniteLossError(f"non-finite loss ({float(loss.detach())}) in a micro-batch; nothing was "
                                         "applied for this step and no checkpoint is written from it")
            norm = self._backward(loss, last)
        stats["loss"] = float(loss.detach())
        return stats, 0.0 if batch.placeholder else stats["tokens"], norm

    def _backward(self, loss: torch.Tensor, last: bool) -> float | None:
        if self.deepspeed:
            self.model.set_gradient_accumulation_boundary(last)
            self.model.backward(loss, scale_wrt_gas=False)  # the loss is already normalised by step-wide totals
            if not last:
                return None
            self.model.step()
            norm = self.model.get_global_grad_norm()
        else:
            self.accelerator.backward(loss)
            if not last:
                return None
            norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.optim_cfg.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad()
        return float(norm) if norm is not None else float("nan")
