"""TempCompass as lmms-eval scores it (``lmms_eval/tasks/tempcompass/utils.py``: the ``process_results`` of each
format, ``eval_rule``, ``extract_pred``, ``tempcompass_aggregate_rating``).

Each format is its own lmms-eval task with its own ``avg_accuracy`` and ``<dim>_accuracy`` (100 × ratings of 1 /
items). The rules, in the reference's order:

- multi-choice: the reply equals the answer string; else a bare A–D, else a reply starting ``X.`` or ``X)``, whose
  letter must be the answer's first character;
- yes_no: the lower-cased reply starts with "yes" or "no" ("not sure" is "no");
- caption_matching: the reply equals a whole option line, an option sentence (or what follows ``) ``), or an
  option index ("Caption A", "A"); later matches override earlier ones;
- anything else goes to the GPT judge (gpt-3.5-turbo-1106). Without one the reference rates it 0: so does this,
  and the item is flagged ``judge``. Captioning is judge-only and is not loaded.

lmms-eval's TempCompass group has no overall number; ``mean_of_format`` is the mean of the format scores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem
from ffr_eval.item_scoring import ItemScore
from ffr_eval.lmms_rules import LMMS_EVAL_COMMIT, strip_reasoning_tags
from ffr_eval.official.base import (
    JUDGE,
    OFFICIAL,
    REFERENCE_ERROR,
    Aggregated,
    OfficialScorer,
    percent_of,
    register,
)


def multi_choice(pred: str, answer: str) -> tuple[float, str] | None:
    """(rating, what matched), or None when the reference would ask its judge."""
    if pred == answer:
        return 1.0, pred
    if pred in ("A", "B", "C", "D"):
        return float(pred == answer[0]), pred
    if any(pred.startswith(prefix) for prefix in ("A.", "B.", "C.", "D.")):
        return float(pred.split(".")[0] == answer[0]), pred.split(".")[0]
    if any(pred.startswith(prefix) for prefix in ("A)", "B)", "C)", "D)")):
        return float(pred.split(")")[0] == answer[0]), pred.split(")")[0]
    return None


def yes_no(pred: str, answer: str) -> tuple[float, str] | None:
    lowered = pred.lower()
    word = "yes" if lowered.startswith("yes") else "no" if lowered.startswith("no") else None
    return None if word is None else (float(word == answer), word)


def caption_matching(pred: str, question: str, answer: str) -> tuple[float, str] | None:
    """``eval_rule``; raises IndexError where the reference does (an option line without ": ")."""
    option_strs = question.split("\n")[1:]
    option_sents = [opt.split(": ")[1] for opt in option_strs]
    option_inds = [opt.split(": ")[0] for opt in option_strs] + [
        opt.split(": ")[0].replace("Sentence ", "").replace("Option ", "").replace("Caption ", "")
        for opt in option_strs]
    matched = None
    for option_str in option_strs:
        if option_str == pred:
            matched = option_str
    for option_sent in option_sents:
        if option_sent == pred or (") " in pred and option_sent == pred.split(") ")[1]):
            matched = option_sent
    for option_ind in option_inds:
        if option_ind == pred or option_ind == pred.replace(".", ""):
            matched = option_ind
    if matched is None:
        return None
    right = (matched == answer or matched == answer.split(":")[0] or matched == answer.split(": ")[1]
             or matched == answer.split(": ")[0].split()[1])
    return float(right), matched


def score(output: str, sample: Sample) -> ItemScore:
    pred = strip_reasoning_tags(output)
    fmt = sample.meta.get("format")
    answer = str(sample.meta.get("answer_text", sample.answer))
    try:
        if fmt == "yes_no":
            verdict = yes_no(pred, answer)
        elif fmt == "caption_matching":
            verdict = caption_matching(pred, str(sample.meta.get("question_text", "")), answer)
        else:
            verdict = multi_choice(pred, answer)
    except IndexError:
        return ItemScore(0.0, None, REFERENCE_ERROR)
    return ItemScore(0.0, None, JUDGE) if verdict is None else ItemScore(verdict[0], verdict[1])


def aggregate(items: Sequence[ScoredItem]) -> Aggregated:
    by_format: dict[str, list[ScoredItem]] = defaultdict(list)
    for item in items:
        by_format[str(item.meta.get("format"))].append(item)
    metrics: dict[str, float] = {}
    for fmt, members in sorted(by_format.items()):
        metrics[f"format/{fmt}"] = percent_of(sum(m.scores[OFFICIAL].value == 1 for m in members), len(members))
        by_dim: dict[str, list[float]] = defaultdict(list)
        for m in members:
            by_dim[str(m.meta.get("dimension"))].append(m.scores[OFFICIAL].value)
        for dim, values in sorted(by_dim.items()):
            metrics[f"format/{fmt}/{dim}"] = percent_of(sum(v == 1 for v in values), len(values))
    formats = [metrics[f"format/{fmt}"] for fmt in sorted(by_format)]
    if formats:
        metrics["mean_of_format"] = sum(formats) / len(formats)
    errors = sum(item.scores[OFFICIAL].flag == REFERENCE_ERROR for item in items)
    problems = [f"{errors} caption-matching item(s) have an option line without ': ': lmms-eval raises IndexError "
                "on them; scored 0 here"] if errors else []
    return metrics, problems


TEMPCOMPASS = register(OfficialScorer(
    key="tempcompass", reference=f"lmms-eval {LMMS_EVAL_COMMIT} lmms_eval/tasks/tempcompass/utils.py", score=score,
    aggregate=aggregate,
    headline=(("mean_of_format", "mean of the per-format avg_accuracy (lmms-eval scores each format apart) (%)"),)))
