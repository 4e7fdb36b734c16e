"""VSI-Bench as lmms-eval scores it (``lmms_eval/tasks/vsibench/utils.py``: ``vsibench_process_results``,
``_compute_all_subscores``, ``vsibench_aggregate_*``).

Per item, by ``question_type``: multiple choice compares the first space-separated token (trailing dots removed)
with the ground truth, case-insensitively, so ``<answer>B</answer>`` is wrong; numeric questions take the first
number (digits, or a run of number words) and score MRA with ``<=`` over ``np.linspace(.5, .95, 10)``; no number
scores 0. Aggregation: the mean per question type, the three direction types merged by their unweighted mean, the
overall as the mean of the (up to 8) task scores, each rounded to 6 digits as a fraction (reported here × 100).
With a direction type missing the reference raises; then no overall is given and the reason is reported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem
from ffr_eval.item_scoring import ItemScore
from ffr_eval.lmms_rules import LMMS_EVAL_COMMIT, strip_reasoning_tags
from ffr_eval.official.base import OFFICIAL, Aggregated, OfficialScorer, register

MCA_QUESTION_TYPES = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
                      "object_rel_distance", "route_planning", "obj_appearance_order")
NA_QUESTION_TYPES = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")
DIRECTION_TYPES = MCA_QUESTION_TYPES[:3]
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
     "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"))}
_NUMBER_WORDS |= {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                  "ninety": 90, "hundred": 100, "thousand": 1000}
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")
_WORD_RE = re.compile(r"[a-z]+")


def fuzzy_matching(pred: str) -> str:
    return pred.split(" ")[0].rstrip(".").strip()


def extract_number(text: str | None) -> float | None:
    """The first number: digits (no thousands separators: "1,200" is 1) or a run of number words ("and" inside a
    run is skipped; any other word ends it), whichever starts first."""
    if text is None:
        return None
    s = str(text).strip().lower()
    if not s:
        return None
    digit_match = _NUM_RE.search(s)
    run_start, run = None, []
    for m in _WORD_RE.finditer(s):
        token = m.group(0)
        if run_start is None:
            if token in _NUMBER_WORDS:
                run_start = m.start()
                run.append(token)
        elif token == "and":
            continue
        elif token in _NUMBER_WORDS:
            run.append(token)
        else:
            break
    if digit_match is not None and (run_start is None or digit_match.start() < run_start):
        return float(digit_match.group(0))
    if run_start is None:
        return None
    total, current = 0, 0
    for token in run:
        value = _NUMBER_WORDS[token]
        if value == 100:
            current = max(current, 1) * 100
        elif value == 1000:
            total += max(current, 1) * 1000
            current = 0
        else:
            current += value
    return float(total + current)


def _to_float(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def mean_relative_accuracy(pred: float, target: float, start: float = .5, end: float = .95,
                           interval: float = .05) -> float:
    num_pts = (end - start) / interval + 2
    conf_intervs = np.linspace(start, end, int(num_pts))
    accuracy = abs(pred - target) / target <= 1 - conf_intervs
    return float(accuracy.mean())


def _is_multiple_choice(sample: Sample) -> bool:
    task = sample.meta.get("task")
    if task in MCA_QUESTION_TYPES or task in NA_QUESTION_TYPES:
        return task in MCA_QUESTION_TYPES
    return sample.problem_type == "multiple choice"  # a type the reference does not know (it raises ValueError)


def score(output: str, sample: Sample) -> ItemScore:
    pred = strip_reasoning_tags(output)
    if _is_multiple_choice(sample):
        token = fuzzy_matching(pred)
        return ItemScore(1.0 if token.lower() == sample.answer.lower() else 0.0, token or None)
    number, gold = extract_number(pred), _to_float(sample.answer)
    if number is None or gold is None or gold == 0:  # TypeError -> 0 in the reference; a gold of 0 divides by 0
        return ItemScore(0.0, None if number is None else repr(number))
    return ItemScore(mean_relative_accuracy(number, gold), repr(number))


def _percent6(fraction: float) -> float:
    """The reference's ``round(x, 6)`` of a fraction, in percent (rounded again only to drop float noise)."""
    return round(100 * round(fraction, 6), 4)


def aggregate(items: Sequence[ScoredItem]) -> Aggregated:
    by_type: dict[str, list[float]] = defaultdict(list)
    for item in items:
        by_type[str(item.meta.get("task"))].append(item.scores[OFFICIAL].value)
    # pandas' groupby order (sorted) and Series.mean (sum / count), then the direction merge appended last.
    output = {task: float(np.sum(np.asarray(values, dtype=np.float64)) / len(values))
              for task, values in sorted(by_type.items())}
    missing = [t for t in DIRECTION_TYPES if t not in output]
    if missing:
        problems = [f"direction sub-task(s) {missing} absent: lmms-eval raises KeyError and prints no VSI-Bench "
                    "number; shown are the task scores it would compute, without an overall"] if output else []
        return {f"task/{task}": _percent6(value) for task, value in output.items()}, problems
    output["object_rel_direction"] = sum(output.pop(t) for t in DIRECTION_TYPES) / 3.0
    metrics = {f"task/{task}": _percent6(value) for task, value in output.items()}
    metrics["lmms_8task"] = _percent6(sum(output.values()) / len(output))
    return metrics, []


VSIBENCH = register(OfficialScorer(
    key="vsibench", reference=f"lmms-eval {LMMS_EVAL_COMMIT} lmms_eval/tasks/vsibench/utils.py", score=score,
    aggregate=aggregate, headline=(("lmms_8task", "lmms-eval vsibench_overall: mean of 8 tasks (%)"),)))
