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

Every process calls the engine the same number of times per step (twice for FFR, once for GRPO), whatever its own
samples did — a rank whose videos all failed to decode still joins, with nothing to generate.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ffr_data.clips import ClipTools, FrameCache
from ffr_data.decode_batch import DecodedBatch, Skipped, decode_samples
from ffr_data.patch import EvidencePatch
from ffr_data.prompting import PatchMedia, build_prompt, render_patch
from ffr_data.schema import Sample
from ffr_data.timing import PhaseTimer
from ffr_data.video import Frames, VideoInfo
from ffr_teacher import RepairRequest
from ffr_train.batching import EncodedPrompt, encode_prompt
from ffr_train.config import TrainConfig
from ffr_train.engine import GenerationRequest, RolloutEngine
from ffr_train.rewards import score_completion
from ffr_train.rir import SlotReward, alignment, rir
from ffr_train.rollout import SamplingParams


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
    patched: bool = False  # trained under a patched prompt (a repaired rollout)


@dataclass(frozen=True)
class DistillItem:
    """A failed first-pass rollout that got a patch: its tokens are scored under the plain prompt (trained) and under
    the patched prompt (the detached target) for the self-distillation term."""

    prompt: EncodedPrompt
    completion: torch.Tensor
    patched_prompt: EncodedPrompt


@dataclass(frozen=True)
class GoldItem:
    """A prompt with failed first-pass rollouts and its gold rationale + answer, supervised once per failure."""

    prompt: EncodedPrompt
    completion: torch.Tensor
    failures: int


@dataclass(frozen=True)
class TeacherStats:
    """This step's repair requests: how many were sent, how many came back with a usable patch, and why not."""

    calls: int = 0
    patches: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    results: list[Any] = field(default_factory=list)  # the RepairResults themselves (for the health guard)


@dataclass(frozen=True)
class StepData:
    samples: list[Sample]
    slots: list[Slot]  # the G places of every group in order; with credit=append, the appended members after them
    group_size: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    teacher: TeacherStats = field(default_factory=TeacherStats)
    generated_tokens: dict[str, int] = field(default_factory=dict)  # per pass: "first_pass", "repair"
    distill: list[DistillItem] = field(default_factory=list)
    gold: list[GoldItem] = field(default_factory=list)

    def first_pass(self) -> list[Slot]:
        """The G places of every group (appended repaired members left out)."""
        return [s for s in self.slots if s.index < self.group_size]


@dataclass(frozen=True)
class StepContext:
    """What a step needs besides the samples: the generation engine, the processor, the teacher and caches."""

    cfg: TrainConfig
    engine: RolloutEngine
    processor: Any
    teacher: Any | None
    cache: FrameCache
    timer: PhaseTimer
    # Work that does not depend on the teacher, run while it answers: given the rows (prompt, completion) that are
    # trained whatever the teacher says. Every rank calls it once per FFR step.
    while_teacher_works: Callable[[list[Any]], None] | None = None

    def decode(self, ids: torch.Tensor) -> str:
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True)


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
    with ctx.timer.phase("decode"):
        batch = decode_samples(samples, cfg.sampling, ctx.cache)
    with ctx.timer.phase("prompt"):
        prompts = [encode_prompt(ctx.processor, build_prompt(s, f, cfg.prompt))
                   for s, f in zip(batch.samples, batch.frames, strict=True)]
    params = SamplingParams(cfg.rollout.max_new_tokens, cfg.rollout.temperature, cfg.rollout.top_p)
    with ctx.timer.phase("generate"):
        groups = ctx.engine.generate([GenerationRequest(p, cfg.rollout.group_size) for p in prompts], params)
    with ctx.timer.phase("reward"):
        texts = [[ctx.decode(c) for c in group] for group in groups]
        parts = [[score_completion(t, s, cfg.reward.names) for t in group]
                 for group, s in zip(texts, batch.samples, strict=True)]
    if cfg.algo == "ffr":
        repairs, stats = repair_failed(ctx, batch, texts, parts,
                                       lambda targets: _settled_rows(cfg, prompts, groups, targets))
    else:
        repairs, stats = {}, TeacherStats()
    g_size = cfg.rollout.group_size
    slots = [_slot(cfg, g, i, prompts[g], groups[g][i], texts[g][i], parts[g][i], repairs.get((g, i)))
             for g in range(len(batch.samples)) for i in range(g_size)]
    repaired = sorted((key, r) for key, r in repairs.items() if r.completion is not None)
    if cfg.repair.credit == "append":
        extra = Counter()
        for (g, i), rep in repaired:
            slots.append(_appended(cfg, g, g_size + extra[g], texts[g][i], parts[g][i], rep))
            extra[g] += 1
    distill = [DistillItem(prompts[g], groups[g][i], rep.prompt) for (g, i), rep in sorted(repairs.items())
               if rep.patch is not None and cfg.repair.distill_weight > 0]
    generated = {"first_pass": sum(int(c.numel()) for group in groups for c in group),
                 "repair": sum(int(r.completion.numel()) for _, r in repaired)}
    gold = _gold_items(ctx, batch.samples, prompts, parts) if cfg.repair.gold_weight > 0 else []
    return StepData(batch.samples, slots, g_size, batch.skipped, stats, generated, distill, gold)


def gold_target(sample: Sample) -> str:
    """What supervised training teaches for a sample: its rationale (when it has one) and its tagged answer."""
    return (sample.process or "") + sample.solution


def _gold_items(ctx: StepContext, samples: list[Sample], prompts: list[EncodedPrompt],
                parts: list[list[dict[str, float]]]) -> list[GoldItem]:
    cfg, tok = ctx.cfg, ctx.processor.tokenizer
    accuracy = [[p["accuracy"] for p in group] for group in parts]
    failures = Counter(g for g, _ in select_for_repair(accuracy, cfg.repair.trigger, cfg.repair.threshold,
                                                       cfg.repair.max_repairs_per_group))
    items = []
    for g, count in sorted(failures.items()):
        ids = tok(gold_target(samples[g]), add_special_tokens=False, return_tensors="pt")["input_ids"][0]
        items.append(GoldItem(prompts[g], torch.cat([ids, torch.tensor([tok.eos_token_id])]), count))
    return items


@dataclass(frozen=True)
class Repair:
    """What the repair pass produced for one failed rollout: a patch (or why not) and, with a patch, the repaired
    rollout under the patched prompt."""

    patch: EvidencePatch | None
    reason: str | None
    prompt: EncodedPrompt | None = None
    completion: torch.Tensor | None = None
    text: str | None = None
    parts: dict[str, float] | None = None
    align: float = 0.0


def _settled_rows(cfg: TrainConfig, prompts: list[EncodedPrompt], groups: list[list[torch.Tensor]],
                  targets: list[tuple[int, int]]) -> list[Any]:
    """First-pass rows trained whatever the teacher answers: every one, unless a repair replaces its tokens."""
    replaced = set(targets) if cfg.repair.credit == "repaired" else set()
    return [_Row(prompts[g], groups[g][i]) for g in range(len(groups)) for i in range(len(groups[g]))
            if (g, i) not in replaced]


def _ask_teacher(ctx: StepContext, batch: DecodedBatch, texts, targets, settled: list[Any]) -> tuple[list, TeacherStats]:
    requests = [RepairRequest(batch.samples[g], batch.frames[g], texts[g][i]) for g, i in targets]
    if ctx.while_teacher_works is None:
        with ctx.timer.phase("teacher"):
            results = ctx.teacher.repair_many(requests) if requests else []
    else:
        pending = ctx.teacher.submit_many(requests) if requests else None
        with ctx.timer.phase("while_teacher"):
            ctx.while_teacher_works(settled)
        with ctx.timer.phase("teacher"):  # what is left of the teacher's time: the student's idle wait
            results = pending.result() if pending is not None else []
    reasons = Counter(r.reason or "no_patch" for r in results if r.patch is None)
    return results, TeacherStats(len(requests), len(requests) - sum(reasons.values()), dict(reasons), list(results))


@dataclass(frozen=True)
class _Row:
    prompt: EncodedPrompt
    completion: torch.Tensor


def repair_failed(ctx: StepContext, batch: DecodedBatch, texts: list[list[str]], parts: list[list[dict[str, float]]],
                  settled: Callable[[list[tuple[int, int]]], list[Any]] = lambda targets: []
                  ) -> tuple[dict[tuple[int, int], Repair], TeacherStats]:
    """Send the failed rollouts to the teacher and sample one repaired rollout per patch. Identical patches within a
    group (one per group from the annotation teacher) are rendered, encoded and prefilled once; each failed rollout
    still gets its own sampled repair."""
    cfg = ctx.cfg
    accuracy = [[p["accuracy"] for p in group] for group in parts]
    targets = select_for_repair(accuracy, cfg.repair.trigger, cfg.repair.threshold, cfg.repair.max_repairs_per_group)
    results, stats = _ask_teacher(ctx, batch, texts, targets, settled(targets))
    distinct: dict[tuple[int, str], list[tuple[int, int]]] = {}
    patches = {}
    for key, result in zip(targets, results, strict=True):
        if result.patch is not None:
            patches[key] = result.patch
            distinct.setdefault((key[0], json.dumps(result.patch.to_json(), sort_keys=True)), []).append(key)
    with ctx.timer.phase("repair_prompt"):
        encoded = []
        for keys in distinct.values():
            g = keys[0][0]
            sample, frames = batch.samples[g], batch.frames[g]
            media = render_patch(patches[keys[0]], ClipTools(sample.path, cfg.sampling, ctx.cache), frames, cfg.prompt)
            encoded.append(encode_prompt(ctx.processor, build_prompt(sample, frames, cfg.prompt, media)))
    out = {key: Repair(None, result.reason or "no_patch")
           for key, result in zip(targets, results, strict=True) if result.patch is None}
    if cfg.repair.credit == "none":  # no repaired rollout is trained: the patch only feeds self-distillation
        for prompt, keys in zip(encoded, distinct.values(), strict=True):
            out.update({key: Repair(patches[key], None, prompt) for key in keys})
        return out, stats
    params = SamplingParams(cfg.rollout.repair_max_new_tokens, cfg.rollout.temperature, cfg.rollout.top_p)
    with ctx.timer.phase("repair_generate"):
        requests = [GenerationRequest(p, len(keys)) for p, keys in zip(encoded, distinct.values(), strict=True)]
        completions = ctx.engine.generate(requests, params)
    with ctx.timer.phase("reward"):
        for prompt, keys, comps in zip(encoded, distinct.values(), completions, strict=True):
            for key, completion in zip(keys, comps, strict=True):
                sample, frames = batch.samples[key[0]], batch.frames[key[0]]
                text = ctx.decode(completion)
                out[key] = Repair(patches[key], None, prompt, completion, text,
                                  score_completion(text, sample, cfg.reward.names),
                                  alignment(text, patches[key], frames.timestamps, cfg.reward.align_tolerance_s))
    return out, stats


def _slot(cfg: TrainConfig, g: int, i: int, prompt: EncodedPrompt, completion: torch.Tensor, text: str,
          parts: dict[str, float], repair: Repair | None) -> Slot:
    """Place i of group g. With credit repaired or released a repaired failure takes the RIR of its repair (under
    the patched prompt, or on the first-pass tokens); with append or none the place keeps its first pass and reward."""
    correct = parts["accuracy"] >= cfg.repair.threshold
    replaces = cfg.repair.credit in ("repaired", "released")
    repaired_parts = repair.parts if repair is not None and repair.patch is not None and replaces else None
    reward = rir(parts, repaired_parts, correct=correct, kappa=cfg.reward.kappa, lam=cfg.reward.align_weight,
                 align=repair.align if repaired_parts else 0.0)
    if repair is None:
        return Slot(g, i, prompt, completion, reward, text, parts)
    trains_repair = repaired_parts is not None and cfg.repair.credit == "repaired"
    return Slot(g, i, repair.prompt if trains_repair else prompt, repair.completion if trains_repair else completion,
                reward, text, parts, repair.text, repair.parts, repair.patch, repair.reason, patched=trains_repair)


def _appended(cfg: TrainConfig, g: int, index: int, first_text: str, first_parts: dict[str, float],
              repair: Repair) -> Slot:
    """credit=append: the repaired rollout as an extra member of group g, under its patched prompt, taxed by kappa."""
    reward = rir(first_parts, repair.parts, correct=False, kappa=cfg.reward.kappa, lam=cfg.reward.align_weight,
                 align=repair.align)
    return Slot(g, index, repair.prompt, repair.completion, reward, first_text, first_parts, repair.text,
                repair.parts, repair.patch, None, patched=True)


@dataclass(frozen=True)
class Placeholders:
    """Tiny zero-weight slots (blank frames at the smallest size, one EOS token). A rank with fewer micro-batches
    than another runs one of these instead, and under ZeRO-3 a micro-batch without images gets the image one when
    another rank's has images: every rank then calls every module — vision tower included — the same number of
    times, so the per-module parameter gathers of ZeRO-3 (and DDP's gradient reduction) line up across ranks."""

    video: Slot
    video_and_image: Slot


def placeholder_slots(processor, cfg: TrainConfig, sample: Sample) -> Placeholders:
    side = 2 * cfg.sampling.patch_multiple
    count = max(2, cfg.sampling.frame_factor)

    def blank(n: int) -> Frames:
        info = VideoInfo("placeholder", n, 1.0, float(n), side, side, "none")
        return Frames(np.zeros((n, side, side, 3), np.uint8), tuple(range(n)), tuple(map(float, range(n))), info)

    eos = torch.tensor([processor.tokenizer.eos_token_id])
    reward = rir({"accuracy": 0.0}, None, correct=False, kappa=0.0, lam=0.0)
    slots = []
    for patch in (None, PatchMedia(text="", images=[blank(1)], image_captions=[""])):
        prompt = encode_prompt(processor, build_prompt(sample, blank(count), cfg.prompt, patch))
        slots.append(Slot(-1, -1, prompt, eos, reward, "", {"accuracy": 0.0}))
    return Placeholders(*slots)
