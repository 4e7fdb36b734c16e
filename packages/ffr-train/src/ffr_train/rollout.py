"""Sampling rollouts and scoring tokens.

``generate_groups`` runs each prompt (and its video) through the model once — a prefill of all but the last prompt
token — then repeats the KV cache G times and samples G continuations, so the vision encoder sees each video once
per generation instead of G times. ``completion_logprobs`` recomputes per-token log-probs for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ffr_data.models import reset_rope_deltas
from ffr_train.batching import EncodedPrompt, collate_prompts, collate_sequences


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    do_sample: bool = True


MEDIA_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|image_pad|>")


def media_token_ids(tokenizer) -> list[int]:
    """Ids a completion must never contain: a sampled <|video_pad|> would desynchronise vision tokens and features."""
    ids = [tokenizer.convert_tokens_to_ids(t) for t in MEDIA_TOKENS]
    return [i for i in ids if i is not None and i != tokenizer.unk_token_id]


def trim_completion(ids: torch.Tensor, eos_id: int, pad_id: int) -> torch.Tensor:
    """Tokens up to and including the first EOS; trailing padding dropped."""
    ids = ids.flatten()
    eos = (ids == eos_id).nonzero()
    if eos.numel():
        return ids[: int(eos[0]) + 1].clone()
    keep = (ids != pad_id).nonzero()
    return ids[: int(keep[-1]) + 1].clone() if keep.numel() else ids[:0].clone()


def _rope_owner(model):
    return next((m for m in model.modules() if hasattr(m, "rope_deltas")), None)


@torch.no_grad()
def generate_groups(
    model,
    prompts: Sequence[EncodedPrompt],
    group_size: int | Sequence[int],
    params: SamplingParams,
    *,
    eos_id: int,
    pad_id: int,
    suppress_ids: Sequence[int] = (),
) -> list[list[torch.Tensor]]:
    """``group_size`` sampled completions (token tensors, EOS included) for each prompt — one count for all, or one
    per prompt; prompt i's are ``out[i]``. The model must be in eval mode (the engine sees to it)."""
    counts = [group_size] * len(prompts) if isinstance(group_size, int) else list(group_size)
    if not prompts:
        return []
    device = next(model.parameters()).device
    rows_of = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor(counts)).to(device)
    batch = {k: v.to(device) for k, v in collate_prompts(prompts, pad_id).items()}
    head = {k: (v[:, :-1] if k in ("input_ids", "attention_mask", "mm_token_type_ids") else v) for k, v in batch.items()}
    reset_rope_deltas(model)
    out = model(**head, use_cache=True)
    cache = out.past_key_values
    cache.batch_select_indices(rows_of)
    owner = _rope_owner(model)
    if owner is not None and owner.rope_deltas is not None:
        owner.rope_deltas = owner.rope_deltas[rows_of]
    expand = {k: batch[k][rows_of] for k in ("input_ids", "attention_mask", "mm_token_type_ids") if k in batch}
    generated = model.generate(
        **expand, past_key_values=cache, max_new_tokens=params.max_new_tokens, do_sample=params.do_sample,
        temperature=params.temperature if params.do_sample else None,
        top_p=params.top_p if params.do_sample else None, top_k=None, use_cache=True,
        # transformers turns synced_gpus on under ZeRO-3; the engine gathers the weights and removes the hooks, so
        # every rank generates on its own (and a rank with nothing to generate does not take part).
        synced_gpus=False,
        eos_token_id=eos_id, pad_token_id=pad_id, suppress_tokens=list(suppress_ids) or None,
    )
    reset_rope_deltas(model)
    new = generated[:, batch["input_ids"].shape[1]:].cpu()
    rows = [trim_completion(row, eos_id, pad_id) for row in new]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    return [rows[start:start + count] for start, count in zip(starts, counts, strict=True)]


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position, (B, L) float32, from (B, L, V) logits of any dtype. Computed one row at a time,
    so at most one (L, V) block is ever held in float32 — never a full-vocabulary float32 log-softmax of the batch."""
    rows = []
    for row_logits, row_targets in zip(logits, targets, strict=True):
        row_logits = row_logits.float()
        picked = row_logits.gather(-1, row_targets.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - torch.logsumexp(row_logits, dim=-1))
    return torch.stack(rows) if rows else logits.new_zeros(targets.shape, dtype=torch.float32)


def completion_logits(
    model, prompts: Sequence[EncodedPrompt], completions: Sequence[torch.Tensor], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Next-token logits (B, Lc, V) at each completion position under its own prompt, the completion tokens (B, Lc)
    and their mask. Logits are computed for the completion positions only (``logits_to_keep``)."""
    batch, comp, mask = collate_sequences(prompts, completions, pad_id)
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    reset_rope_deltas(model)
    logits = model(**batch, use_cache=False, logits_to_keep=comp.shape[1] + 1).logits[:, :-1]
    return logits, comp.to(logits.device), mask.to(logits.device).float()


def completion_logprobs(
    model, prompts: Sequence[EncodedPrompt], completions: Sequence[torch.Tensor], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs (B, Lc) of each completion under its own prompt, and the completion mask."""
    logits, comp, mask = completion_logits(model, prompts, completions, pad_id)
    return token_logprobs(logits, comp), mask
