"""Checks of a benchmark setting with a trained student, per question family (README, "The fair setting"):

- ``greedy``: accuracy without a patch; ``patch``: with the teacher's patch (the full rendering: text, dense frames,
  zoomed crops); ``text``: with the patch as text only (``prompt.patch_visuals=false``);
- ``blind``: with the full patch over a blank video — every pixel of the student's frames and of the patch's visuals
  replaced by the video's background colour, every word of the patch kept. It must stay near chance: what it gains
  over chance is what the patch's text and structure give away without the video;
- ``groups``: GRPO's first pass (G samples at temperature T): the share of questions whose G samples all fail, and
  for those, the success rate of G patched samples (what a repair pass gets) and of the greedy patched answer;
- :func:`headroom`: per family, a model's gain over a base model on the same questions, against a minimum gain
  (a continued-SFT model on the RL split shows whether the family has anything left to learn).

Chance per family is one over its number of answers: options for multiple choice, the distinct gold values seen in
the probed rows for a numerical family (the synthetic benchmark balances them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ffr_data.clips import ClipTools, FrameCache
from ffr_data.decode_batch import decode_samples
from ffr_data.prompting import PatchMedia, build_prompt, render_patch
from ffr_data.schema import Sample
from ffr_data.video import Frames
from ffr_teacher import RepairRequest
from ffr_train.batching import encode_prompt
from ffr_train.config import TrainConfig
from ffr_train.engine import GenerationRequest, RolloutEngine
from ffr_train.rewards import score_completion
from ffr_train.rollout import SamplingParams

MODES = ("greedy", "patch", "text", "blind")
CHECKS = (*MODES, "groups")


@dataclass
class QuestionProbe:
    """One question's results: accuracy per greedy mode (absent when that mode was not run or got no patch), and
    the sampled first pass (and, when it all failed, the sampled patched pass)."""

    problem_id: str
    family: str
    answer: str
    n_options: int  # 0 for a numerical question
    accuracy: dict[str, float] = field(default_factory=dict)
    group: list[float] = field(default_factory=list)
    patched_group: list[float] = field(default_factory=list)
    patched: bool = False  # the teacher returned a patch


def background_colour(frames: Frames) -> np.ndarray:
    """The per-channel median of the student's frames: the colour of an empty picture."""
    return np.median(frames.array.reshape(-1, 3), axis=0).astype(np.uint8)


def blank_like(frames: Frames, colour: np.ndarray) -> Frames:
    """``frames`` with every pixel set to ``colour`` (same shape, indices and timestamps)."""
    return replace(frames, array=np.broadcast_to(colour, frames.array.shape).copy())


def blank_media(media: PatchMedia, colour: np.ndarray) -> PatchMedia:
    """The patch rendering with its text and captions kept and every visual blanked."""
    return replace(media, videos=[blank_like(v, colour) for v in media.videos],
                   images=[blank_like(i, colour) for i in media.images])


def _correct(engine_out, tokenizer, sample: Sample) -> list[float]:
    return [score_completion(tokenizer.decode(ids, skip_special_tokens=True), sample, ("accuracy",))["accuracy"]
            for ids in engine_out]


@dataclass
class Prober:
    """Runs the checks over samples in batches with one generation engine and one teacher."""

    engine: RolloutEngine
    processor: object
    cfg: TrainConfig
    teacher: object | None
    cache: FrameCache = field(default_factory=FrameCache)

    def _generate(self, prompts: list, count: int, params: SamplingParams, samples: list[Sample]) -> list[list[float]]:
        if not prompts:
            return []
        encoded = [encode_prompt(self.processor, p) for p in prompts]
        outs = self.engine.generate([GenerationRequest(p, count) for p in encoded], params)
        return [_correct(out, self.processor.tokenizer, s) for out, s in zip(outs, samples, strict=True)]

    def run(self, samples: Sequence[Sample], checks: Iterable[str] = CHECKS, *, group_size: int = 8,
            temperature: float = 1.0, batch_size: int = 32) -> list[QuestionProbe]:
        checks = set(checks)
        unknown = checks - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown checks {sorted(unknown)} (known: {', '.join(CHECKS)})")
        records: list[QuestionProbe] = []
        for start in range(0, len(samples), batch_size):
            batch = decode_samples(samples[start:start + batch_size], self.cfg.sampling, self.cache)
            records.extend(self._run_batch(batch.samples, batch.frames, checks, group_size, temperature))
        return records

    def _run_batch(self, samples: list[Sample], frames: list[Frames], checks: set[str], group_size: int,
                   temperature: float) -> list[QuestionProbe]:
        greedy = SamplingParams(self.cfg.eval.max_new_tokens, do_sample=False)
        sampled = SamplingParams(self.cfg.rollout.max_new_tokens, temperature=temperature)
        probes = [QuestionProbe(s.problem_id, str(s.meta.get("family", "all")), s.answer,
                                len(s.options) if s.problem_type == "multiple choice" else 0) for s in samples]
        plain = [build_prompt(s, f, self.cfg.prompt) for s, f in zip(samples, frames, strict=True)]
        if "greedy" in checks:
            for probe, acc in zip(probes, self._generate(plain, 1, greedy, samples), strict=True):
                probe.accuracy["greedy"] = acc[0]
        patches = self._patches(samples, frames) if self.teacher is not None else [None] * len(probes)
        has = [i for i, patch in enumerate(patches) if patch is not None]
        for i in has:
            probes[i].patched = True
        prompts = self._patched_prompts([samples[i] for i in has], [frames[i] for i in has],
                                        [patches[i] for i in has], checks)
        for mode, mode_prompts in prompts.items():
            if mode in checks:
                results = self._generate(mode_prompts, 1, greedy, [samples[i] for i in has])
                for i, acc in zip(has, results, strict=True):
                    probes[i].accuracy[mode] = acc[0]
        if "groups" in checks:
            for probe, group in zip(probes, self._generate(plain, group_size, sampled, samples), strict=True):
                probe.group = group
            failed = [k for k, i in enumerate(has) if not any(probes[i].group)]
            repaired = self._generate([prompts["patch"][k] for k in failed], group_size, sampled,
                                      [samples[has[k]] for k in failed])
            for k, group in zip(failed, repaired, strict=True):
                probes[has[k]].patched_group = group
        return probes

    def _patched_prompts(self, samples: list[Sample], frames: list[Frames], patches: list,
                         checks: set[str]) -> dict[str, list]:
        """The patched prompts each check needs: ``patch`` (also for ``groups``), ``text`` and ``blind``."""
        text_prompt = replace(self.cfg.prompt, patch_visuals=False)
        full = [render_patch(p, ClipTools(s.path, self.cfg.sampling, self.cache), f, self.cfg.prompt)
                for s, f, p in zip(samples, frames, patches, strict=True)]
        prompts: dict[str, list] = {}
        if checks & {"patch", "groups"}:
            prompts["patch"] = [build_prompt(s, f, self.cfg.prompt, m) for s, f, m in zip(samples, frames, full,
                                                                                          strict=True)]
        if "text" in checks:
            prompts["text"] = [build_prompt(s, f, self.cfg.prompt, render_patch(p, None, f, text_prompt))
                               for s, f, p in zip(samples, frames, patches, strict=True)]
        if "blind" in checks:
            prompts["blind"] = [self._blind_prompt(s, f, m) for s, f, m in zip(samples, frames, full, strict=True)]
        return prompts

    def _patches(self, samples: list[Sample], frames: list[Frames]) -> list:
        results = self.teacher.repair_many([RepairRequest(s, f, "") for s, f in zip(samples, frames, strict=True)])
        return [r.patch for r in results]

    def _blind_prompt(self, sample: Sample, frames: Frames, media: PatchMedia):
        colour = background_colour(frames)
        return build_prompt(sample, blank_like(frames, colour), self.cfg.prompt, blank_media(media, colour))


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def chance(records: Sequence[QuestionProbe]) -> float:
    """One over the family's number of answers (see the module docstring)."""
    options = {r.n_options for r in records}
    n = max(options) if options and max(options) > 0 else len({r.answer for r in records})
    return round(1.0 / max(1, n), 4)


def summarise(records: Sequence[QuestionProbe]) -> dict[str, dict]:
    """Per family and over all (``all``): questions, chance, accuracy per mode (with its standard error), the share
    of all-fail first-pass groups, and for those the patched pass's success."""
    by_family: dict[str, list[QuestionProbe]] = defaultdict(list)
    for r in records:
        by_family[r.family].append(r)
    summary = {}
    for family, items in [*sorted(by_family.items()), ("all", list(records))]:
        entry: dict = {"questions": len(items), "patched": sum(r.patched for r in items)}
        if family != "all":
            entry["chance"] = chance(items)
        for mode in MODES:
            values = [r.accuracy[mode] for r in items if mode in r.accuracy]
            if values:
                entry[mode] = _mean(values)
                entry[f"{mode}_se"] = round(math.sqrt(entry[mode] * (1 - entry[mode]) / len(values)), 4)
        grouped = [r for r in items if r.group]
        if grouped:
            all_fail = [r for r in grouped if not any(r.group)]
            entry["group_size"] = len(grouped[0].group)
            entry["first_pass_sampled"] = _mean([v for r in grouped for v in r.group])
            entry["all_fail_share"] = _mean([float(not any(r.group)) for r in grouped])
            repaired = [r for r in all_fail if r.patched_group]
            entry["all_fail_patched_sampled"] = _mean([v for r in repaired for v in r.patched_group])
            entry["all_fail_patched_any"] = _mean([float(any(r.patched_group)) for r in repaired])
            entry["all_fail_patched_greedy"] = _mean([r.accuracy["patch"] for r in all_fail if "patch" in r.accuracy])
        summary[family] = entry
    return summary


def headroom(base: dict[str, dict], tuned: dict[str, dict], min_gain: float, mode: str = "greedy") -> dict[str, dict]:
    """Per family of ``base`` (a :func:`summarise` result): the tuned model's ``mode`` accuracy minus the base's,
    and whether it reaches ``min_gain`` (accuracy points as a fraction: 0.05 = 5 points)."""
    result = {}
    for family, entry in base.items():
        if family == "all" or mode not in entry or mode not in tuned.get(family, {}):
            continue
        gain = round(tuned[family][mode] - entry[mode], 4)
        result[family] = {"base": entry[mode], "tuned": tuned[family][mode], "gain": gain,
                          "passes": gain >= min_gain - 1e-9}
    return result
