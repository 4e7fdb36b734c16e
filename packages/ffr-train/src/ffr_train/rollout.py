"""Sampling rollouts and scoring tokens.

``generate_groups`` runs each prompt (and its video) through the model once — a prefill of all but the last prompt
token — then repeats the KV cache G times and samples G continuations, so the vision encoder sees each video once
per generation instead of G times. ``completion_logprobs`` recomputes per-token log-probs for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ffr_train.batching import EncodedPrompt, collate_prompts, collate_sequences


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    do_sample: bool = True


def _inner(model):
    return getattr(model, "model", model)


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
    synced_gpus: bool = False,
    gather_context=None,
) -> list[list[torch.Tensor]]:
    """``group_size`` sampled completions (token tensors, EOS included) for each prompt — one count for all, or one
    per prompt; prompt i's are ``out[i]``."""
    counts = [group_size] * len(prompts) if isinstance(group_size, int) else list(group_size)
    rows_of = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor(counts))
    batch = collate_prompts(prompts, pad_id)
    head = {k: (v[:, :-1] if k in ("input_ids", "attention_mask", "mm_token_type_ids") else v) for k, v in batch.items()}
    with gather_context or nullcontext():
        _inner(model).rope_deltas = None
        out = model(**head, use_cache=True)
        cache = out.past_key_values
        cache.batch_select_indices(rows_of)
        inner = _inner(model)
        if getattr(inner, "rope_deltas", None) is not None:
            inner.rope_deltas = inner.rope_deltas[rows_of]
        expand = {k: batch[k][rows_of] for k in ("input_ids", "attention_mask", "mm_token_type_ids") if k in batch}
        generated = model.generate(
            **expand, past_key_values=cache, max_new_tokens=params.max_new_tokens, do_sample=params.do_sample,
            temperature=params.temperature if params.do_sample else None,
            top_p=params.top_p if params.do_sample else None, top_k=None,
            eos_token_id=eos_id, pad_token_id=pad_id, synced_gpus=synced_gpus,
            suppress_tokens=list(suppress_ids) or None,
        )
        inner.rope_deltas = None
    width = batch["input_ids"].shape[1]
    new = generated[:, width:]
    rows = [trim_completion(row, eos_id, pad_id) for row in new]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    return [rows[start:start + count] for start, count in zip(starts, counts, strict=True)]


def completion_logprobs(
    model, prompts: Sequence[EncodedPrompt], completions: Sequence[torch.Tensor], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs (B, Lc) of each completion under its own prompt, and the completion mask."""
    batch, comp, mask = collate_sequences(prompts, completions, pad_id)
    batch = {k: v.to(_device(model)) for k, v in batch.items()}
    _inner_reset(model)
    logits = model(**batch, use_cache=False, logits_to_keep=comp.shape[1] + 1).logits[:, :-1]
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, comp.to(logits.device).unsqueeze(-1)).squeeze(-1)
    return logp, mask.to(logp.device).float()


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _inner_reset(model) -> None:
    inner = _inner(getattr(model, "module", model))
    if hasattr(inner, "rope_deltas"):
        inner.rope_deltas = None
