"""Greedy validation during training: accuracy (overall and per task family) without a patch, and — as the
diagnostic docs/feasibility.md recommends — with the teacher's patch, which shows whether the student reads patches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.errors import VideoError
from ffr_data.prompting import build_prompt, render_patch
from ffr_data.schema import Sample
from ffr_teacher import RepairRequest
from ffr_train.batching import encode_prompt
from ffr_train.config import TrainConfig
from ffr_train.rewards import score_completion
from ffr_train.rollout import SamplingParams, generate_groups, media_token_ids


@torch.no_grad()
def validate(model, processor, samples: Sequence[Sample], cfg: TrainConfig, cache: FrameCache,
             teacher=None, batch_size: int = 64) -> dict[str, float]:
    """{"val/accuracy", "val/format", "val/accuracy/<family>", and "val/accuracy_with_patch" when a teacher is given}."""
    was_training = model.training
    model.eval()
    tok = processor.tokenizer
    params = SamplingParams(cfg.eval.max_new_tokens, do_sample=False)
    scores: dict[str, list[float]] = defaultdict(list)
    errors = 0
    for start in range(0, len(samples), batch_size):
        chunk, frames = [], []
        for sample in samples[start:start + batch_size]:
            try:
                frames.append(sample_frames(sample.path, cfg.sampling, cache))
                chunk.append(sample)
            except (VideoError, ValueError):
                errors += 1
        if not chunk:
            continue
        prompts = [encode_prompt(processor, build_prompt(s, f, cfg.prompt)) for s, f in zip(chunk, frames, strict=True)]
        outs = generate_groups(model, prompts, 1, params, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                               suppress_ids=media_token_ids(tok))
        texts = [tok.decode(o[0], skip_special_tokens=True) for o in outs]
        for sample, text in zip(chunk, texts, strict=True):
            parts = score_completion(text, sample, ("accuracy", "format"))
            family = str(sample.meta.get("family", "all"))
            scores["val/accuracy"].append(parts["accuracy"])
            scores["val/format"].append(parts["format"])
            scores[f"val/accuracy/{family}"].append(parts["accuracy"])
        if teacher is not None:
            results = teacher.repair_many([RepairRequest(s, f, t) for s, f, t in zip(chunk, frames, texts, strict=True)])
            patched = [(s, f, r.patch) for s, f, r in zip(chunk, frames, results, strict=True) if r.patch is not None]
            if patched:
                prompts = [encode_prompt(processor, build_prompt(s, f, cfg.prompt, render_patch(
                    p, ClipTools(s.path, cfg.sampling, cache), f, cfg.prompt))) for s, f, p in patched]
                outs = generate_groups(model, prompts, 1, params, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                               suppress_ids=media_token_ids(tok))
                for (sample, _, _), out in zip(patched, outs, strict=True):
                    text = tok.decode(out[0], skip_special_tokens=True)
                    scores["val/accuracy_with_patch"].append(score_completion(text, sample, ("accuracy",))["accuracy"])
    if was_training:
        model.train()
    result = {key: sum(vals) / len(vals) for key, vals in scores.items() if vals}
    result["val/samples"] = float(len(scores["val/accuracy"]))
    result["val/decode_errors"] = float(errors)
    return result
