"""MVBench as lmms-eval scores it (``lmms_eval/tasks/mvbench/utils.py``: ``mcq_acc``, ``mvbench_process_results``,
``mvbench_aggregate_results``).

Per item: the reply's letter is ``^X.<text>`` (case-insensitive), else the first standalone a–e after VQA-style
punctuation processing (the article "a" counts); no letter leaves the processed text, which never equals a letter.
Per task: 100 × correct / answered, where a reply that is empty after reasoning stripping is not answered.
lmms-eval's MVBench group has no overall number; the one papers quote is the mean of the task scores.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem
from ffr_eval.item_scoring import ItemScore
from ffr_eval.lmms_rules import LMMS_EVAL_COMMIT, strip_reasoning_tags
from ffr_eval.official.base import EXCLUDED, OFFICIAL, Aggregated, OfficialScorer, percent_of, register

# The reference's patterns, bugs included: "(?!<=\d)" is a lookahead (it meant a lookbehind), so every "." that is
# not followed by a digit is removed.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
_PUNCT = (";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
_OPTION = re.compile(r"^([A-E])\.\s*(.+)$", re.IGNORECASE)
_LETTER = re.compile(r"\b([A-E])\b", re.IGNORECASE)


def _process_punctuation(in_text: str) -> str:
    out_text = in_text
    for p in _PUNCT:
        if (p + " " in in_text or " " + p in in_text) or _COMMA_STRIP.search(in_text) is not None:
            out_text = out_text.replace(p, "")
        else:
            out_text = out_text.replace(p, " ")
    # The reference calls periodStrip.sub("", outText, re.UNICODE): the flag lands in `count`, so at most 32 go.
    return _PERIOD_STRIP.sub("", out_text, count=int(re.UNICODE))


def mvbench_process(answer: str) -> str:
    """``mcq_acc``'s ``process``: the upper-case option letter, or the processed text when there is none."""
    match = _OPTION.match(answer.strip())
    if match:
        return match.group(1).upper()
    answer = answer.replace("\n", " ").replace("\t", " ").strip()
    answer = _process_punctuation(answer)
    answer = answer.strip("'").strip('"').strip(")").strip("(").strip().lower()
    letter = _LETTER.search(answer)
    return letter.group(1).upper() if letter else answer


def score(output: str, sample: Sample) -> ItemScore:
    pred = strip_reasoning_tags(output)
    if pred == "":
        return ItemScore(0.0, None, EXCLUDED)
    got = mvbench_process(pred)
    is_letter = len(got) == 1 and got in "ABCDE"
    return ItemScore(float(got == mvbench_process(sample.answer)), got if is_letter else None)


def aggregate(items: Sequence[ScoredItem]) -> Aggregated:
    answered: dict[str, int] = defaultdict(int)
    correct: dict[str, float] = defaultdict(float)
    for item in items:
        task = str(item.meta.get("task"))
        answered.setdefault(task, 0)
        verdict = item.scores[OFFICIAL]
        if verdict.flag != EXCLUDED:
            answered[task] += 1
            correct[task] += verdict.value
    metrics = {f"task/{task}": percent_of(correct[task], answered[task]) for task in sorted(answered)}
    if metrics:
        metrics["mean_of_task"] = sum(metrics.values()) / len(metrics)
    return metrics, []


MVBENCH = register(OfficialScorer(
    key="mvbench", reference=f"lmms-eval {LMMS_EVAL_COMMIT} lmms_eval/tasks/mvbench/utils.py", score=score,
    aggregate=aggregate,
    headline=(("mean_of_task", "mean of the 20 task accuracies, empty replies left out (%)"),)))
