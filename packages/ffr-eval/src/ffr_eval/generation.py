"""Batched greedy generation for evaluation, with the time split and per-sample failure isolation.

Frames come from ``ffr_data.decode_batch.decode_samples`` and prompts from ``ffr_data.prompting`` (the code
training uses). A video that cannot be decoded (the decoding layer's ``VideoError``: missing, empty, corrupt,
undecodable, too short), a prompt the processor rejects, or a generation exception becomes an ``error`` row for that
sample only: a failing batch is retried one sample at a time, so one bad input never costs its neighbours their
answers. Any other decoding exception is a bug or a bad setting and stops the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ffr_data.clips import FrameCache
from ffr_data.decode_batch import decode_samples
from ffr_data.errors import FFRError
from ffr_data.models import reset_rope_deltas
from ffr_data.prompting import PromptConfig, build_prompt, encode_prompts
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import Sample
from ffr_data.timing import PhaseTimer
from ffr_data.video import Frames
from ffr_eval.config import DecodingConfig

PHASES = ("decode_s", "preprocess_s", "generate_s")


def _error_row(problem_id: str, kind: str, error_type: str, message: str) -> dict[str, Any]:
    first_line = (message.splitlines() or [error_type])[0][:300]
    return {"problem_id": problem_id, "status": "error", "output": None, "error_kind": kind,
            "error": f"{error_type}: {first_line}"}


def _exception_row(sample: Sample, kind: str, exc: BaseException) -> dict[str, Any]:
    return _error_row(sample.problem_id, kind, type(exc).__name__, str(exc))


class BatchGenerator:
    """Turns samples into model outputs: decode frames, encode prompts, generate greedily, decode text."""

    def __init__(self, model: Any, processor: Any, decoding: DecodingConfig):
        if not decoding.greedy:
            raise FFRError("decoding.greedy=false is not supported: ffr eval decodes greedily (the paper's "
                           "temperature 0.1 / top_p 0.001 is near-greedy)")
        self.model, self.processor, self.decoding = model, processor, decoding
        tokenizer = processor.tokenizer
        self.eos_id = model.generation_config.eos_token_id or tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.reset_timing()

    def reset_timing(self) -> None:
        self.timer, self.samples = PhaseTimer(PHASES), 0

    def timing(self) -> dict[str, float]:
        """Seconds per phase since the last reset, and the samples run."""
        return {**self.timer.as_metrics(prefix=""), "samples": self.samples}

    def run(self, samples: Sequence[Sample], sampling: FrameSamplingConfig, prompt_cfg: PromptConfig,
            cache: FrameCache) -> list[dict[str, Any]]:
        """One row per sample, in order: ``ok`` with the output, or ``error`` with its kind and message."""
        with self.timer.phase("decode_s"):
            decoded = decode_samples(samples, sampling, cache)
        rows = {s.problem_id: _error_row(s.problem_id, "video", s.error_type, s.reason) for s in decoded.skipped}
        ready = list(zip(decoded.samples, decoded.frames, strict=True))
        for (sample, frames), row in zip(ready, self._generate(ready, prompt_cfg), strict=True):
            if row.get("status") == "ok":
                row["num_frames"] = len(frames)
            rows[sample.problem_id] = row
        self.samples += len(samples)
        return [rows[s.problem_id] for s in samples]

    def _generate(self, items: list[tuple[Sample, Frames]], prompt_cfg: PromptConfig) -> list[dict[str, Any]]:
        if not items:
            return []
        try:
            with self.timer.phase("preprocess_s"):
                inputs = encode_prompts(self.processor, [build_prompt(s, f, prompt_cfg) for s, f in items])
        except Exception as exc:  # the processor's errors have no common type
            if len(items) == 1:
                return [_exception_row(items[0][0], "preprocess", exc)]
            return [row for item in items for row in self._generate([item], prompt_cfg)]
        try:
            texts = self._greedy(inputs)
        except Exception as exc:  # OOM, shape errors, ...: isolate the failing sample(s)
            if len(items) == 1:
                return [_exception_row(items[0][0], "generation", exc)]
            return [row for item in items for row in self._generate([item], prompt_cfg)]
        return [{"problem_id": s.problem_id, "status": "ok", "output": text, "error": None, "error_kind": None}
                for (s, _), text in zip(items, texts, strict=True)]

    @torch.no_grad()
    def _greedy(self, inputs: Any) -> list[str]:
        device = next(self.model.parameters()).device
        inputs = inputs.to(device)
        with self.timer.phase("generate_s"):
            reset_rope_deltas(self.model)
            generated = self.model.generate(
                **inputs, max_new_tokens=self.decoding.max_new_tokens, do_sample=False, temperature=None,
                top_p=None, top_k=None, repetition_penalty=self.decoding.repetition_penalty,
                eos_token_id=self.eos_id, pad_token_id=self.pad_id)
            reset_rope_deltas(self.model)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        return self.processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
