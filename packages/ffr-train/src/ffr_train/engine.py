"""The generation engine: one object, built once by the trainer, that samples every completion of a run — the first
pass, the repair pass and validation.

The interface (what a vLLM engine would implement too; see the ffr-train README):

- ``generate(requests, params)``: for each :class:`GenerationRequest` (an encoded prompt with its media, and how many
  completions to sample), that many completions as token-id tensors, EOS included. An empty request list is valid:
  on several processes every rank calls ``generate`` the same number of times whatever its own samples did.
- ``sync_weights()``: called after every optimizer update; an engine holding its own copy of the weights (a vLLM
  worker) refreshes it there. The HF engine samples from the training model itself, so it has nothing to do.

The HF engine runs generation in eval mode (so the KV cache is used and gradient checkpointing, which only acts in
training mode, is off), and under ZeRO-3 gathers the parameters once for the whole generation with DeepSpeed's
partitioning hooks removed, so no token re-gathers the model (TRL's unwrap-for-generation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ffr_train.batching import EncodedPrompt
from ffr_train.rollout import SamplingParams, generate_groups, media_token_ids


@dataclass(frozen=True)
class GenerationRequest:
    prompt: EncodedPrompt
    count: int


class RolloutEngine(Protocol):
    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[torch.Tensor]]: ...

    def sync_weights(self) -> None: ...


@contextlib.contextmanager
def eval_mode(model) -> Iterator[None]:
    """Eval mode for the duration (no dropout, no activation checkpointing, KV cache allowed); the previous mode after,
    also when generation fails."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _zero3_offload(engine):
    optimizer = engine.optimizer
    return optimizer.parameter_offload if hasattr(optimizer, "parameter_offload") else optimizer


@contextlib.contextmanager
def zero3_gathered(engine) -> Iterator[None]:
    """Full parameters on every rank, gathered once, with ZeRO-3's hooks removed so that forwards neither fetch,
    release nor synchronise anything — ranks may then run different numbers of forwards (or none); the hooks come
    back afterwards, also when generation fails. Every rank must enter.

    Besides the per-module hooks (what DeepSpeed's own ``unwrap_model_for_generation`` removes), the root module's
    start-of-forward hook must go too: it resets the parameter coordinator with a check that all ranks agree, a
    collective that hangs a rank generating while another has nothing to generate."""
    import deepspeed

    with deepspeed.zero.GatheredParameters(list(engine.module.parameters())):
        offload = _zero3_offload(engine)
        module = offload.module
        start_hook = module._forward_pre_hooks[offload.fwd_pre_hook.id]
        for hook in [offload.fwd_pre_hook, *offload.forward_hooks, *offload.backward_hooks]:
            hook.remove()
        offload.forward_hooks, offload.backward_hooks = [], []
        try:
            yield
        finally:
            offload.fwd_pre_hook = module.register_forward_pre_hook(start_hook)
            offload._register_deepspeed_module(module)


class HFGenerationEngine:
    """Samples from the training model itself (transformers ``generate`` after a shared prefill per prompt)."""

    def __init__(self, model, tokenizer, *, zero3_engine=None):
        self.model = model  # the unwrapped model (peft or HF)
        self.zero3_engine = zero3_engine
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id
        self.suppress_ids = media_token_ids(tokenizer)

    def _gathered(self):
        return zero3_gathered(self.zero3_engine) if self.zero3_engine is not None else contextlib.nullcontext()

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[torch.Tensor]]:
        with self._gathered(), eval_mode(self.model):
            return generate_groups(self.model, [r.prompt for r in requests], [r.count for r in requests], params,
                                   eos_id=self.eos_id, pad_id=self.pad_id, suppress_ids=self.suppress_ids)

    def sync_weights(self) -> None:
        """Nothing to do: generation reads the weights being trained."""
