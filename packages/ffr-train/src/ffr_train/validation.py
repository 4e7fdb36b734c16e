"""Greedy validation during training: accuracy (overall and per task family) without a patch and — the diagnostic that
shows whether the student reads patches — with the teacher's patch.

Sharded over ranks: each rank validates every ``num_processes``-th sample, in the same number of engine calls as every
other rank (an empty call where its shard has run out or no patch came back), and returns sums and counts that the
trainer adds up over ranks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from ffr_data.clips import ClipTools, FrameCache
from ffr_data.decode_batch import decode_samples
from ffr_data.prompting import build_prompt, render_patch
from ffr_data.schema import Sample
from ffr_teacher import RepairRequest
from ffr_train.batching import encode_prompt
from ffr_train.config import TrainConfig
from ffr_train.engine import GenerationRequest, RolloutEngine
from ffr_train.rewards import score_completion
from ffr_train.rollout import SamplingParams

Tallies = dict[str, list[float]]  # key -> [sum, count]


def validation_tallies(engine: RolloutEngine, processor, samples: Sequence[Sample], cfg: TrainConfig,
                       cache: FrameCache, teacher=None, *, batch_size: int = 64, rank: int = 0,
                       world: int = 1) -> Tallies:
    """This rank's share of the validation scores as sums and counts (see :func:`finish_validation`)."""
    tok = processor.tokenizer
    params = SamplingParams(cfg.eval.max_new_tokens, do_sample=False)
    shard = list(samples[rank::world])
    tallies: Tallies = defaultdict(lambda: [0.0, 0.0])

    def add(key: str, value: float) -> None:
        tallies[key][0] += value
        tallies[key][1] += 1

    for b in range(math.ceil(math.ceil(len(samples) / world) / batch_size)):
        batch = decode_samples(shard[b * batch_size:(b + 1) * batch_size], cfg.sampling, cache)
        tallies["val/decode_errors"][0] += len(batch.skipped)
        prompts = [encode_prompt(processor, build_prompt(s, f, cfg.prompt))
                   for s, f in zip(batch.samples, batch.frames, strict=True)]
        outs = engine.generate([GenerationRequest(p, 1) for p in prompts], params)
        texts = [tok.decode(o[0], skip_special_tokens=True) for o in outs]
        for sample, text in zip(batch.samples, texts, strict=True):
            parts = score_completion(text, sample, ("accuracy", "format"))
            add("val/accuracy", parts["accuracy"])
            add("val/format", parts["format"])
            add(f"val/accuracy/{sample.meta.get('family', 'all')}", parts["accuracy"])
        if teacher is None:
            continue
        requests = [RepairRequest(s, f, t) for s, f, t in zip(batch.samples, batch.frames, texts, strict=True)]
        results = teacher.repair_many(requests) if requests else []
        patched = [(s, f, r.patch) for s, f, r in zip(batch.samples, batch.frames, results, strict=True) if r.patch]
        prompts = [encode_prompt(processor, build_prompt(s, f, cfg.prompt, render_patch(
            p, ClipTools(s.path, cfg.sampling, cache), f, cfg.prompt))) for s, f, p in patched]
        outs = engine.generate([GenerationRequest(p, 1) for p in prompts], params)
        for (sample, _, _), out in zip(patched, outs, strict=True):
            text = tok.decode(out[0], skip_special_tokens=True)
            add("val/accuracy_with_patch", score_completion(text, sample, ("accuracy",))["accuracy"])
    return dict(tallies)


def finish_validation(per_rank: Sequence[Tallies]) -> dict[str, float]:
    """{"val/accuracy", "val/format", "val/accuracy/<family>", "val/accuracy_with_patch" (with a teacher),
    "val/samples", "val/decode_errors"} from every rank's tallies."""
    total: Tallies = defaultdict(lambda: [0.0, 0.0])
    for tallies in per_rank:
        for key, (value, count) in tallies.items():
            total[key][0] += value
            total[key][1] += count
    errors = total.pop("val/decode_errors", [0.0, 0.0])[0]
    result = {key: value / count for key, (value, count) in total.items() if count}
    result["val/samples"] = total["val/accuracy"][1]
    result["val/decode_errors"] = errors
    return result
