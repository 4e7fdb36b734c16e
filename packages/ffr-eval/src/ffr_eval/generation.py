"""Batched greedy generation for evaluation, with the time split and per-sample failure isolation.

Frames come from ``ffr_data.clips.sample_frames`` and prompts from ``ffr_data.prompting`` (the code training
uses). A video that cannot be decoded, a prompt the processor rejects, or a generation exception becomes an
``error`` row for that sample only: a failing batch is retried one sample at a time, so one bad input never costs
its neighbours their answers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ffr_data.clips import FrameCache, sample_frames
from ffr_data.errors import FFRError, VideoError
from ffr_data.prompting import PromptConfig, build_prompt, encode_prompts
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import Sample
from ffr_data.video import Frames
from ffr_eval.config import DecodingConfig

# What means "this video cannot be used": ffr_data.video's typed error (missing, empty, corrupt, undecodable), and
# the ValueError ffr_data.sampling raises for a video with too few frames or no frame size. Anything else is a bug
# or a bad setting and stops the run.
BAD_VIDEO = (VideoError, ValueError)


@dataclass
class Timing:
    decode_s: float = 0.0
    preprocess_s: float = 0.0
    generate_s: float = 0.0
    samples: int = 0

    @contextmanager
    def measure(self, part: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, part, getattr(self, part) + time.perf_counter() - start)

    def add(self, other: Timing) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def _error_row(sample: Sample, kind: str, exc: BaseException) -> dict[str, Any]:
    message = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    return {"problem_id": sample.problem_id, "status": "error", "output": None, "error_kind": kind,
            "error": f"{type(exc).__name__}: {message}"}


def _reset_rope_cache(model: Any) -> None:
    """Qwen-VL models keep ``rope_deltas`` from the previous call; a stale value corrupts positions of a new batch."""
    for module in (model, getattr(model, "model", None)):
        if module is not None and hasattr(module, "rope_deltas"):
            module.rope_deltas = None


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
        self.timing = Timing()

    def run(self, samples: Sequence[Sample], sampling: FrameSamplingConfig, prompt_cfg: PromptConfig,
            cache: FrameCache) -> list[dict[str, Any]]:
        """One row per sample, in order: ``ok`` with the output, or ``error`` with its kind and message."""
        rows: dict[str, dict[str, Any]] = {}
        ready: list[tuple[Sample, Frames]] = []
        with self.timing.measure("decode_s"):
            for sample in samples:
                try:
                    ready.append((sample, sample_frames(sample.path, sampling, cache)))
                except BAD_VIDEO as exc:
                    rows[sample.problem_id] = _error_row(sample, "video", exc)
        for (sample, frames), row in zip(ready, self._generate(ready, prompt_cfg), strict=True):
            if row.get("status") == "ok":
                row["num_frames"] = len(frames)
            rows[sample.problem_id] = row
        self.timing.samples += len(samples)
        return [rows[s.problem_id] for s in samples]

    def _generate(self, items: list[tuple[Sample, Frames]], prompt_cfg: PromptConfig) -> list[dict[str, Any]]:
        if not items:
            return []
        try:
            with self.timing.measure("preprocess_s"):
                inputs = encode_prompts(self.processor, [build_prompt(s, f, prompt_cfg) for s, f in items])
        except Exception as exc:  # the processor's errors have no common type
            if len(items) == 1:
                return [_error_row(items[0][0], "preprocess", exc)]
            return [row for item in items for row in self._generate([item], prompt_cfg)]
        try:
            texts = self._greedy(inputs)
        except Exception as exc:  # OOM, shape errors, ...: isolate the failing sample(s)
            if len(items) == 1:
                return [_error_row(items[0][0], "generation", exc)]
            return [row for item in items for row in self._generate([item], prompt_cfg)]
        return [{"problem_id": s.problem_id, "status": "ok", "output": text, "error": None, "error_kind": None}
                for (s, _), text in zip(items, texts, strict=True)]

    @torch.no_grad()
    def _greedy(self, inputs: Any) -> list[str]:
        device = next(self.model.parameters()).device
        inputs = inputs.to(device)
        with self.timing.measure("generate_s"):
            _reset_rope_cache(self.model)
            generated = self.model.generate(
                **inputs, max_new_tokens=self.decoding.max_new_tokens, do_sample=False, temperature=None,
                top_p=None, top_k=None, repetition_penalty=self.decoding.repetition_penalty,
                eos_token_id=self.eos_id, pad_token_id=self.pad_id)
            _reset_rope_cache(self.model)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        return self.processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
