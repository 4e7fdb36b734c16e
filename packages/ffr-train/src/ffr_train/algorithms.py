"""Advantage estimators and policy losses, registered by name. Pure tensor functions, tested exactly."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ffr_data.registry import Registry

# (rewards, groups, eps): groups is a group size (equal, contiguous groups) or one group id per reward (groups of any
# size, in any order — e.g. a group that gained appended repaired members).
AdvantageFn = Callable[[torch.Tensor, "int | torch.Tensor", float], torch.Tensor]
ADVANTAGES: Registry[AdvantageFn] = Registry("advantage estimator")
AGGREGATIONS: Registry[Callable[..., torch.Tensor]] = Registry("loss aggregation")


def _group_ids(rewards: torch.Tensor, groups: int | torch.Tensor) -> torch.Tensor:
    if isinstance(groups, int):
        if rewards.ndim != 1 or rewards.numel() % groups:
            raise ValueError(f"{rewards.numel()} rewards do not split into groups of {groups}")
        return torch.arange(rewards.numel()) // groups
    ids = torch.as_tensor(groups, dtype=torch.long)
    if ids.shape != rewards.shape:
        raise ValueError(f"{ids.numel()} group ids for {rewards.numel()} rewards")
    return torch.unique(ids, return_inverse=True)[1]


def _centred(rewards: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(r - mean of its group, unbiased std of its group), per reward."""
    n = int(ids.max()) + 1 if ids.numel() else 0
    count = torch.zeros(n).index_add_(0, ids, torch.ones_like(rewards))
    mean = torch.zeros(n).index_add_(0, ids, rewards) / count
    dev = rewards - mean[ids]
    std = (torch.zeros(n).index_add_(0, ids, dev**2) / (count - 1)).sqrt()
    return dev, std[ids]


@ADVANTAGES.register("group")
def group_advantages(rewards: torch.Tensor, groups: int | torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """(r - mean_group) / (std_group + eps), std unbiased as in the reference code."""
    dev, std = _centred(rewards, _group_ids(rewards, groups))
    return dev / (std + eps)


@ADVANTAGES.register("batch")
def batch_advantages(rewards: torch.Tensor, groups: int | torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """(r - mean_group) / (std over the whole batch + eps)."""
    dev, _ = _centred(rewards, _group_ids(rewards, groups))
    return dev / (rewards.std() + eps)


@ADVANTAGES.register("none")
def centred_advantages(rewards: torch.Tensor, groups: int | torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """r - mean_group, no scaling (Dr. GRPO)."""
    return _centred(rewards, _group_ids(rewards, groups))[0]


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor, clamp: float = 10.0) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): exp(d) - d - 1 with d = ref - logp (clamped)."""
    d = (ref_logp - logp).clamp(-clamp, clamp)
    return torch.exp(d) - d - 1


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO objective to *minimise*: -min(r A, clip(r, 1-eps_low, 1+eps_high) A); and the clipped mask."""
    eps_high = eps_low if eps_high is None else eps_high
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(-1) if advantages.ndim == logp.ndim - 1 else advantages
    unclipped = ratio * adv
    clipped = ratio.clamp(1 - eps_low, 1 + eps_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    return loss, (clipped < unclipped).float()


@AGGREGATIONS.register("token-mean")
def token_mean(per_token: torch.Tensor, mask: torch.Tensor, total_tokens: float, total_sequences: float) -> torch.Tensor:
    """Sum over every completion token of the step / number of those tokens (the paper's sum over |tau|)."""
    return (per_token * mask).sum() / total_tokens


@AGGREGATIONS.register("seq-mean")
def sequence_mean(per_token: torch.Tensor, mask: torch.Tensor, total_tokens: float, total_sequences: float) -> torch.Tensor:
    """Mean over sequences of each sequence's token mean (the released code's aggregation)."""
    per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return per_seq.sum() / total_sequences


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logp: torch.Tensor | None,
    beta: float,
    eps_low: float,
    eps_high: float | None,
    aggregation: str,
    total_tokens: float,
    total_sequences: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO loss of a micro-batch, normalised by step-wide totals so micro-batches add up exactly."""
    per_token, clipped = clipped_surrogate(logp, old_logp, advantages, eps_low, eps_high)
    kl = None
    if beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs reference log-probs")
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl
    aggregate = AGGREGATIONS.get(aggregation)
    loss = aggregate(per_token, mask, total_tokens, total_sequences)
    n = mask.sum().clamp(min=1)
    kl_seen = kl.detach() if kl is not None else None
    stats = {"clip_fraction": float((clipped * mask).sum() / n),
             "kl": float((kl_seen * mask).sum() / n) if kl_seen is not None else 0.0,
             "tokens": float(mask.sum())}
    return loss, stats
