"""One step's data flow, before the update: rollouts -> verify -> teacher repair -> chosen rollouts -> RIR.

```
Sample --decode once--> Frames --> Prompt --G samples--> Rollouts --verify--> accuracy, format
                                         | failed ones
                                         v
       Teacher.repair(sample, frames, rollout) --> EvidencePatch (validated, leak-checked)
                                         | rendered by ffr-data (text + dense window frames + zoomed crops)
                                         v
       Patched prompt (same question + patch) --> repaired rollout --> chosen rollout, RIR reward
```
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.errors import VideoError
from ffr_data.patch import EvidencePatch
from ffr_data.prompting import build_prompt, render_patch
from ffr_data.schema import Sample
from ffr_data.video import Frames
from ffr_teacher import RepairRequest
from ffr_train.batching import EncodedPrompt, encode_prompt
from ffr_train.config import TrainConfig
from ffr_train.rewards import score_completion
from ffr_train.rir import SlotReward, alignment, rir
from ffr_train.rollout import SamplingParams, generate_groups, media_token_ids
from ffr_train.timing import PhaseTimer

log = logging.getLogger(__name__)


@dataclass
class Slot:
    """One of the G places of a group after repair: what is trained, under which prompt, with which reward."""

    group: int
    index: int
    prompt: EncodedPrompt
    completion: torch.Tensor
    reward: SlotReward
    first_text: str
    first_parts: dict[str, float]
    repaired_text: str | None = None
    repaired_parts: dict[str, float] | None = None
    patch: EvidencePatch | None = None
    teacher_reason: str | None = None


@dataclass
class StepData:
    samples: list[Sample]
    slots: list[Slot]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (problem_id, reason)
    teacher_calls: int = 0
    teacher_patches: int = 0
    teacher_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rewards(self) -> torch.Tensor:
        return torch.tensor([s.reward.total for s in self.slots], dtype=torch.float32)


@dataclass
class StepContext:
    """What a step needs besides the samples: the model (for generation), processor, teacher and caches."""

    cfg: TrainConfig
    model: object
    processor: object
    teacher: object | None
    cache: FrameCache
    timer: PhaseTimer
    synced_gpus: bool = False
    gather_context: object | None = None

    @property
    def eos_id(self) -> int:
        return self.processor.tokenizer.eos_token_id

    @property
    def pad_id(self) -> int:
        return self.processor.tokenizer.pad_token_id

    @property
    def suppress_ids(self) -> list[int]:
        return media_token_ids(self.processor.tokenizer)

    def decode(self, ids: torch.Tensor) -> str:
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True)


def _decode_samples(ctx: StepContext, samples: Sequence[Sample]) -> tuple[list[Sample], list[Frames], list]:
    kept, frames, skipped = [], [], []
    with ctx.timer.phase("decode"):
        for sample in samples:
            try:
                frames.append(sample_frames(sample.path, ctx.cfg.sampling, ctx.cache))
                kept.append(sample)
            except (VideoError, ValueError) as exc:
                skipped.append((sample.problem_id, str(exc)))
                log.warning("skipping %s: %s", sample.problem_id, exc)
    return kept, frames, skipped


def select_for_repair(accuracy: list[list[float]], trigger: str, threshold: float,
                      max_per_group: int | None) -> list[tuple[int, int]]:
    """(group, index) of the rollouts to send to the teacher. Pure; tested exactly."""
    chosen = []
    for g, accs in enumerate(accuracy):
        failed = [i for i, a in enumerate(accs) if a < threshold]
        if trigger == "all_failed_groups" and len(failed) != len(accs):
            continue
        chosen += [(g, i) for i in failed[:max_per_group]]
    return chosen


def collect_step(ctx: StepContext, samples: Sequence[Sample]) -> StepData:
    cfg = ctx.cfg
    samples, frames, skipped = _decode_samples(ctx, samples)
    if not samples:
        return StepData([], [], skipped)
    with ctx.timer.phase("prompt"):
        prompts = [encode_prompt(ctx.processor, build_prompt(s, f, cfg.prompt)) for s, f in zip(samples, frames, strict=True)]
    params = SamplingParams(cfg.rollout.max_new_tokens, cfg.rollout.temperature, cfg.rollout.top_p)
    with ctx.timer.phase("generate"):
        groups = generate_groups(ctx.model, prompts, cfg.rollout.group_size, params, eos_id=ctx.eos_id,
                                 pad_id=ctx.pad_id, suppress_ids=ctx.suppress_ids, synced_gpus=ctx.synced_gpus, gather_context=ctx.gather_context)
    with ctx.timer.phase("reward"):
        texts = [[ctx.decode(c) for c in group] for group in groups]
        parts = [[score_completion(t, s, cfg.reward.names) for t in group] for group, s in zip(texts, samples, strict=True)]
    data = StepData(list(samples), [], skipped)
    repairs = _repair(ctx, data, samples, frames, texts, parts) if cfg.algo == "ffr" else {}
    for g in range(len(samples)):
        for i in range(cfg.rollout.group_size):
            data.slots.append(_slot(cfg, g, i, prompts[g], groups[g][i], texts[g][i], parts[g][i], repairs.get((g, i))))
    return data


@dataclass
class _Repair:
    patch: EvidencePatch | None
    reason: str | None
    prompt: EncodedPrompt | None = None
    completion: torch.Tensor | None = None
    text: str | None = None
    parts: dict[str, float] | None = None
    align: float = 0.0


def _repair(ctx: StepContext, data: StepData, samples, frames, texts, parts) -> dict[tuple[int, int], _Repair]:
    cfg = ctx.cfg
    accuracy = [[p["accuracy"] for p in group] for group in parts]
    targets = select_for_repair(accuracy, cfg.repair.trigger, cfg.repair.threshold, cfg.repair.max_repairs_per_group)
    if not targets and not ctx.synced_gpus:
        return {}
    with ctx.timer.phase("teacher"):
        requests = [RepairRequest(samples[g], frames[g], texts[g][i]) for g, i in targets]
        results = ctx.teacher.repair_many(requests) if requests else []
    data.teacher_calls = len(requests)
    out: dict[tuple[int, int], _Repair] = {}
    for (g, i), result in zip(targets, results, strict=True):
        reason = None if result.patch is not None else (result.reason or "no_patch")
        out[(g, i)] = _Repair(result.patch, reason)
        if reason:
            data.teacher_reasons[reason] = data.teacher_reasons.get(reason, 0) + 1
    patched = [(key, rep) for key, rep in out.items() if rep.patch is not None]
    data.teacher_patches = len(patched)
    # Identical patches within a group (one per group from the annotation teacher) are rendered, encoded and
    # prefilled once; each failed rollout still gets its own sampled repair.
    distinct: dict[tuple[int, str], list[_Repair]] = {}
    for (g, _), rep in patched:
        distinct.setdefault((g, json.dumps(rep.patch.to_json(), sort_keys=True)), []).append(rep)
    with ctx.timer.phase("repair_prompt"):
        encoded = []
        for (g, _), reps in distinct.items():
            tools = ClipTools(samples[g].path, cfg.sampling, ctx.cache)
            media = render_patch(reps[0].patch, tools, frames[g], cfg.prompt)
            encoded.append(encode_prompt(ctx.processor, build_prompt(samples[g], frames[g], cfg.prompt, media)))
            for rep in reps:
                rep.prompt = encoded[-1]
    params = SamplingParams(cfg.rollout.repair_max_new_tokens, cfg.rollout.temperature, cfg.rollout.top_p)
    with ctx.timer.phase("repair_generate"):
        if not encoded and ctx.synced_gpus:  # under ZeRO-3 every rank must join every generation
            prompts_for_sync = [encode_prompt(ctx.processor, build_prompt(samples[0], frames[0], cfg.prompt))]
            generate_groups(ctx.model, prompts_for_sync, 1, params, eos_id=ctx.eos_id, pad_id=ctx.pad_id,
                            suppress_ids=ctx.suppress_ids, synced_gpus=True, gather_context=ctx.gather_context)
        elif encoded:
            counts = [len(reps) for reps in distinct.values()]
            completions = generate_groups(ctx.model, encoded, counts, params, eos_id=ctx.eos_id, pad_id=ctx.pad_id,
                                          suppress_ids=ctx.suppress_ids, synced_gpus=ctx.synced_gpus,
                                          gather_context=ctx.gather_context)
            for reps, comps in zip(distinct.values(), completions, strict=True):
                for rep, comp in zip(reps, comps, strict=True):
                    rep.completion = comp
                    rep.text = ctx.decode(comp)
    with ctx.timer.phase("reward"):
        for (g, _), rep in patched:
            rep.parts = score_completion(rep.text, samples[g], cfg.reward.names)
            rep.align = alignment(rep.text, rep.patch, frames[g].timestamps, cfg.reward.align_tolerance_s)
    return out


def _slot(cfg: TrainConfig, g: int, i: int, prompt: EncodedPrompt, completion: torch.Tensor, text: str,
          parts: dict[str, float], repair: _Repair | None) -> Slot:
    correct = parts["accuracy"] >= cfg.repair.threshold
    repaired_parts = repair.parts if repair is not None and repair.patch is not None else None
    reward = rir(parts, repaired_parts, correct=correct, kappa=cfg.reward.kappa, lam=cfg.reward.align_weight,
                 align=repair.align if repaired_parts else 0.0)
    slot = Slot(g, i, prompt, completion, reward, text, parts)
    if repair is not None:
        slot.patch, slot.teacher_reason = repair.patch, repair.reason
        slot.repaired_text, slot.repaired_parts = repair.text, repair.parts
        if repaired_parts is not None and cfg.repair.credit == "repaired":
            slot.prompt, slot.completion = repair.prompt, repair.completion
    return slot
