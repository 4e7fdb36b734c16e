"""The policy update: advantages -> clipped surrogate + k3 KL over the chosen rollouts (plus, when enabled, the
self-distillation term), in micro-batches packed by a token budget (``micro_batching``).

The loss of every micro-batch is normalised by step-wide totals (tokens or sequences over all ranks), so how rows
are grouped into micro-batches changes memory and speed, never the gradient. Accumulation is driven explicitly: the
last micro-batch of a pass is the only gradient-sync boundary, under DDP and DeepSpeed alike, so the number of
micro-batches may differ from step to step.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ffr_data.errors import FFRError
from ffr_train.algorithms import ADVANTAGES, policy_loss
from ffr_train.config import LossConfig, OptimConfig
from ffr_train.distill import TargetView, reverse_kl
from ffr_train.micro_batching import RankSync, fill_position, pack_micro_batches, row_length, synced_layout
from ffr_train.rollout import completion_logits, completion_logprobs, token_logprobs
from ffr_train.step import DistillItem, GoldItem, Placeholders, Slot


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


@dataclass(frozen=True)
class MicroBatch:
    slots: list[Slot]
    advantages: list[float]
    weights: list[float]  # 1 for a trained slot, 0 for a placeholder that keeps this rank in step with the others

    @property
    def placeholder(self) -> bool:
        return not any(self.weights)


@dataclass(frozen=True)
class GoldBatch:
    rows: list[Any]  # gold rationale + answer under the plain prompt
    weights: list[float]  # failures per prompt; 0 for a placeholder


@dataclass(frozen=True)
class DistillBatch:
    plain: list[Any]  # rows under the plain prompt (trained)
    patched: list[Any]  # the same tokens under the patched prompt (the detached target)
    weights: list[float]


class FrozenLogprobs:
    """Per-row log-probs under a policy that does not change during the step (the reference; the policy before the
    update, for mu > 1), computed once per row — some while the teacher works, the rest at the update — in micro-batches
    laid out alike on every rank, and assembled per training micro-batch."""

    def __init__(self, compute: Callable[[list[Any]], torch.Tensor]):
        self.compute = compute
        self.rows: dict[tuple[int, int], torch.Tensor] = {}

    @staticmethod
    def key(row) -> tuple[int, int]:
        return id(row.prompt), id(row.completion)

    def batch(self, rows: list[Any], weights: list[float]) -> torch.Tensor:
        """(B, Lc) for a training micro-batch; placeholder rows (weight 0) get zeros, which their mask ignores."""
        width = max(1, max(int(r.completion.numel()) for r in rows))
        out = torch.zeros(len(rows), width)
        for i, (row, weight) in enumerate(zip(rows, weights, strict=True)):
            if weight:
                values = self.rows[self.key(row)]
                out[i, :values.numel()] = values
        return out


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
                 optim_cfg: OptimConfig, *, pad_id: int, token_budget: int, max_rows: int,
                 placeholders: Placeholders, distill_weight: float = 0.0, gold_weight: float = 0.0):
        self.accelerator, self.model, self.optimizer, self.reference = accelerator, model, optimizer, reference
        self.loss_cfg, self.optim_cfg = loss_cfg, optim_cfg
        self.pad_id = pad_id
        self.token_budget, self.max_rows = token_budget, max_rows
        self.placeholders = placeholders
        self.distill_weight, self.gold_weight = distill_weight, gold_weight
        self.sync = RankSync(accelerator)
        self.frozen = []
        if reference is not None:
            self.frozen.append(FrozenLogprobs(lambda rows: reference.logprobs(rows, pad_id)))
        if loss_cfg.inner_iterations > 1:
            self.frozen.append(FrozenLogprobs(self._frozen_logprobs))
        self.deepspeed = accelerator.distributed_type.value == "DEEPSPEED"

    def _global_totals(self, counts: list[float]) -> list[float]:
        """Step-wide totals per rank, averaged over ranks: gradients are averaged over ranks, so normalising each
        rank's loss by these makes the step's loss the mean over every token (or sequence) of every rank."""
        return [max(1.0, v / self.sync.world) for v in self.sync.reduce(counts, "sum")]

    def _laid_out(self, items: list[Any], sides: Callable[[Any], tuple], n_sides: int,
                  values: list[float]) -> list[tuple[list[list[Any]], list[float], int]]:
        """``items`` packed into micro-batches laid out like every other rank's (see ``micro_batching``): for each,
        the rows of every side (``sides(item)`` gives an item's row per forward), a value per row (0 for a
        placeholder), and how many rows are real."""
        packed = pack_micro_batches([max(row_length(r) for r in sides(i)) for i in items], self.token_budget,
                                    self.max_rows)
        per_side = [[[sides(items[i])[j] for i in idx] for idx in packed] for j in range(n_sides)]
        layout = synced_layout(self.sync, per_side)
        out = []
        for k in range(layout.count):
            idx = packed[k] if k < len(packed) else []
            rows, added = fill_position([side[k] if k < len(packed) else [] for side in per_side],
                                        [flags[k] for flags in layout.images], self.placeholders)
            out.append((rows, [values[i] for i in idx] + [0.0] * added, len(idx)))
        return out

    def micro_batches(self, slots: list[Slot], advantages: list[float]) -> list[MicroBatch]:
        """This rank's policy micro-batches."""
        return [MicroBatch(rows, advs, [1.0] * real + [0.0] * (len(rows) - real))
                for (rows,), advs, real in self._laid_out(slots, lambda s: (s,), 1, advantages)]

    def distill_batches(self, items: list[DistillItem]) -> list[DistillBatch]:
        """Self-distillation micro-batches: each row under its plain prompt and under its patched prompt."""
        return [DistillBatch(plain, patched, weights) for (plain, patched), weights, _ in self._laid_out(
            items, lambda i: (i, TargetView(i.patched_prompt, i.completion)), 2, [1.0] * len(items))]

    def gold_batches(self, items: list[GoldItem]) -> list[GoldBatch]:
        """Supervised micro-batches of gold targets, weighted by how many rollouts of each prompt failed."""
        return [GoldBatch(rows, weights) for (rows,), weights, _ in self._laid_out(
            items, lambda i: (i,), 1, [float(i.failures) for i in items])]

    def prepare(self, rows: list[Any]) -> None:
        """Frozen log-probs (reference; old policy for mu > 1) of ``rows`` not computed yet, in synced micro-batches.
        Every rank calls it the same number of times."""
        for frozen in self.frozen:
            todo = list({frozen.key(r): r for r in rows if frozen.key(r) not in frozen.rows}.values())
            for batch in self.micro_batches(todo, [0.0] * len(todo)):
                values = frozen.compute(batch.slots).cpu()
                for row, row_values, weight in zip(batch.slots, values, batch.weights, strict=True):
                    if weight:
                        frozen.rows[frozen.key(row)] = row_values[:int(row.completion.numel())].clone()

    def update(self, slots: list[Slot], step: int, distill: list[DistillItem] | None = None,
               gold: list[GoldItem] | None = None) -> dict[str, float]:
        cfg = self.loss_cfg
        rewards = torch.tensor([s.reward.total for s in slots], dtype=torch.float32)
        groups = torch.tensor([s.group for s in slots], dtype=torch.long)
        advantages = ADVANTAGES.get(cfg.advantage)(rewards, groups, cfg.advantage_eps) if slots else rewards
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.optim_cfg)
        batches = self.micro_batches(slots, advantages.tolist())
        extra = self.distill_batches(list(distill or [])) if self.distill_weight > 0 else []
        supervised = self.gold_batches(list(gold or [])) if self.gold_weight > 0 else []
        self.prepare(slots)
        cached = [[frozen.batch(b.slots, b.weights) for b in batches] for frozen in self.frozen]
        ref = cached[0] if self.reference is not None else [None] * len(batches)
        old = cached[-1] if cfg.inner_iterations > 1 else [None] * len(batches)
        for frozen in self.frozen:  # rows are new every step
            frozen.rows.clear()
        total_tokens, total_seqs, distill_tokens, gold_tokens = self._global_totals(
            [sum(int(s.completion.numel()) for s in slots), len(slots),
             sum(int(i.completion.numel()) for i in distill or []),
             sum(int(i.completion.numel()) * i.failures for i in gold or [])])
        stats = {"loss": 0.0, "clip_fraction": 0.0, "kl": 0.0, "grad_norm": 0.0}
        weight, distill_kl = 0.0, 0.0
        steps = len(batches) + len(extra) + len(supervised)
        gold_nll = 0.0
        for _ in range(cfg.inner_iterations):
            for k, (batch, ref_lp, old_lp) in enumerate(zip(batches, ref, old, strict=True)):
                mb, tokens, norm = self._micro_step(batch, ref_lp, old_lp, total_tokens, total_seqs,
                                                    last=k == steps - 1)
                stats["loss"] += mb["loss"] / cfg.inner_iterations
                for key in ("clip_fraction", "kl"):
                    stats[key] += mb[key] * tokens
                weight += tokens
                stats["grad_norm"] = norm if norm is not None else stats["grad_norm"]
            for k, batch in enumerate(extra, start=len(batches)):
                kl_sum, norm = self._distill_step(batch, distill_tokens, last=k == steps - 1)
                distill_kl += kl_sum / cfg.inner_iterations
                stats["grad_norm"] = norm if norm is not None else stats["grad_norm"]
            for k, batch in enumerate(supervised, start=len(batches) + len(extra)):
                nll_sum, norm = self._gold_step(batch, gold_tokens, last=k == steps - 1)
                gold_nll += nll_sum / cfg.inner_iterations
                stats["grad_norm"] = norm if norm is not None else stats["grad_norm"]
        for key in ("clip_fraction", "kl"):
            stats[key] /= max(weight, 1.0)
        stats["lr"] = learning_rate(step, self.optim_cfg)
        stats["advantage_abs_mean"] = float(advantages.abs().mean()) if advantages.numel() else 0.0
        stats.update(advantage_mass(slots, advantages))
        if self.distill_weight > 0:
            local_tokens = sum(int(i.completion.numel()) for i in distill or [])
            stats["distill_kl"] = distill_kl / local_tokens if local_tokens else 0.0
            stats["distill_micro_batches"] = float(len(extra))
        if self.gold_weight > 0:
            local_tokens = sum(int(i.completion.numel()) * i.failures for i in gold or [])
            stats["gold_nll"] = gold_nll / local_tokens if local_tokens else 0.0
        stats["micro_batches"] = float(len(batches))
        stats["padded_tokens"] = float(sum(len(b.slots) * max(row_length(s) for s in b.slots)
                                           for b in batches if not b.placeholder))
        stats["placeholder_rows"] = float(sum(w == 0 for b in batches for w in b.weights))
        return stats

    @torch.no_grad()
    def _frozen_logprobs(self, rows: list[Any]) -> torch.Tensor:
        return completion_logprobs(self.model, [r.prompt for r in rows], [r.completion for r in rows], self.pad_id)[0]

    def _train_on(self, rows: list[Any], weights: list[float], loss_of, *, last: bool):
        """Forward the rows, turn their outputs into this micro-batch's loss (``loss_of(logits, tokens, mask)``, the mask
        already weighted: 0 on placeholders), backward; the optimizer steps after the last micro-batch of a pass.
        Returns what ``loss_of`` returned and, after the last micro-batch, the gradient norm."""
        no_sync = contextlib.nullcontext() if last or self.deepspeed else self.accelerator.no_sync(self.model)
        with no_sync:
            logits, tokens, mask = completion_logits(self.model, [r.prompt for r in rows],
                                                     [r.completion for r in rows], self.pad_id)
            mask = mask * torch.tensor(weights, dtype=mask.dtype, device=mask.device).unsqueeze(-1)
            loss, result = loss_of(logits, tokens, mask)
            # Decided together, so that no rank goes on to a collective that another has abandoned.
            if self.sync.reduce([float(not torch.isfinite(loss))], "max")[0]:
                raise NonFiniteLossError(f"non-finite loss ({float(loss.detach())}) in a micro-batch; nothing was "
                                         "applied for this step and no checkpoint is written from it")
            return result, self._backward(loss, last)

    def _micro_step(self, batch: MicroBatch, ref_lp: torch.Tensor | None, old_lp: torch.Tensor | None,
                    total_tokens: float, total_seqs: float, *, last: bool) -> tuple[dict[str, float], float, float | None]:
        """One policy micro-batch. Returns its stats, its token count and, after the last one, the gradient norm."""
        def loss_of(logits, tokens, mask):
            logp = token_logprobs(logits, tokens)
            adv = torch.tensor(batch.advantages, dtype=torch.float32, device=logp.device)
            loss, stats = policy_loss(
                logp, old_lp.to(logp.device) if old_lp is not None else logp.detach(), adv, mask,
                ref_logp=None if ref_lp is None else ref_lp.to(logp.device), beta=self.loss_cfg.beta,
                eps_low=self.loss_cfg.clip_eps, eps_high=self.loss_cfg.clip_eps_high,
                aggregation=self.loss_cfg.aggregation, total_tokens=total_tokens, total_sequences=total_seqs)
            return loss, {**stats, "loss": float(loss.detach())}

        stats, norm = self._train_on(batch.slots, batch.weights, loss_of, last=last)
        return stats, stats["tokens"], norm

    def _distill_step(self, batch: DistillBatch, total_tokens: float, *, last: bool) -> tuple[float, float | None]:
        """One self-distillation micro-batch: the patched side without gradient, the plain side trained. Returns the
        summed KL over its real tokens and, after the last micro-batch, the gradient norm."""
        with torch.no_grad():
            target, _, _ = completion_logits(self.model, [r.prompt for r in batch.patched],
                                             [r.completion for r in batch.patched], self.pad_id)

        def loss_of(logits, tokens, mask):
            kl = (reverse_kl(logits, target) * mask).sum()
            return self.distill_weight * kl / total_tokens, float(kl.detach())

        return self._train_on(batch.plain, batch.weights, loss_of, last=last)

    def _gold_step(self, batch: GoldBatch, total_tokens: float, *, last: bool) -> tuple[float, float | None]:
        """One supervised micro-batch on gold targets. Returns the weighted NLL sum and, last, the gradient norm."""
        def loss_of(logits, tokens, mask):
            nll = -(token_logprobs(logits, tokens) * mask).sum()
            return self.gold_weight * nll / total_tokens, float(nll.detach())

        return self._train_on(batch.rows, batch.weights, loss_of, last=last)

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


def advantage_mass(slots: list[Slot], advantages: torch.Tensor) -> dict[str, float]:
    """Positive and negative advantage mass per trained token, on tokens trained under the plain prompt and under a
    patched one: sum of advantage x tokens over the slots of each kind and sign, divided by all trained tokens. GRPO
    pushes down its own failed answers through the negative mass on plain-prompt tokens; replacing failed slots by
    their repairs removes it."""
    tokens = [int(s.completion.numel()) for s in slots]
    total = max(1, sum(tokens))
    out = {}
    for kind, patched in (("plain", False), ("patched", True)):
        for sign, keep in (("positive", lambda a: a > 0), ("negative", lambda a: a < 0)):
            mass = sum(a * n for s, a, n in zip(slots, advantages.tolist(), tokens, strict=True)
                       if s.patched == patched and keep(a))
            out[f"advantage_mass/{kind}_{sign}"] = mass / total
    return out
