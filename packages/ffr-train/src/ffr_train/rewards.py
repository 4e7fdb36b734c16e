"""Verifiable rewards, registered by name; each returns a float in [0, 1]. ``score_completion`` returns all parts.

Accuracy follows Video-R1's per-type rules (multiple choice: exact letter; numerical: 2-decimal match; OCR: 1 - WER;
free-form: mean ROUGE-1/2/L F1; regression: 1 - relative error). Format closes the known hacks: exactly one think
block and one answer block, in that order, nothing around them, and a non-empty answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ffr_data import scoring
from ffr_data.registry import Registry
from ffr_data.schema import Sample

RewardFn = Callable[[str, Sample], float]
REWARDS: Registry[RewardFn] = Registry("reward")
ACCURACY_BY_TYPE: Registry[Callable[[str, str], float]] = Registry("accuracy rule")

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT = re.compile(r"\s*<think>(?:(?!<think>|</think>|<answer>|</answer>).)*?</think>\s*"
                     r"<answer>((?:(?!<think>|</think>|<answer>|</answer>).)*?)</answer>\s*", re.DOTALL)


def extract_answer(completion: str) -> str | None:
    """The content of the single ``<answer>`` block, or None when there is none or more than one."""
    matches = _ANSWER.findall(completion)
    if len(matches) != 1:
        return None
    return matches[0].strip()


@ACCURACY_BY_TYPE.register("multiple choice")
def _mc(pred: str, gold: str) -> float:
    return float(pred.strip() == gold.strip())


@ACCURACY_BY_TYPE.register("numerical")
def _numerical(pred: str, gold: str) -> float:
    return float(scoring.numbers_match(gold, pred))


@ACCURACY_BY_TYPE.register("OCR")
def _ocr(pred: str, gold: str) -> float:
    return max(0.0, min(1.0, 1.0 - scoring.word_error_rate(gold, pred)))


@ACCURACY_BY_TYPE.register("free-form")
def _free_form(pred: str, gold: str) -> float:
    parts = scoring.rouge_f1(gold, pred)
    return max(0.0, min(1.0, (parts["rouge1"] + parts["rouge2"] + parts["rougeL"]) / 3))


@ACCURACY_BY_TYPE.register("regression")
def _regression(pred: str, gold: str) -> float:
    return scoring.relative_accuracy(gold, pred)


@REWARDS.register("accuracy")
def accuracy_reward(completion: str, sample: Sample) -> float:
    pred = extract_answer(completion)
    if not pred:
        return 0.0
    return ACCURACY_BY_TYPE.get(sample.problem_type)(pred, sample.answer)


@REWARDS.register("format")
def format_reward(completion: str, sample: Sample) -> float:
    match = _FORMAT.fullmatch(completion)
    return float(bool(match) and bool(match.group(1).strip()))


def score_completion(completion: str, sample: Sample, names: tuple[str, ...] = ("accuracy", "format")) -> dict[str, float]:
    """Every named reward part for one completion."""
    return {name: REWARDS.get(name)(completion, sample) for name in names}
