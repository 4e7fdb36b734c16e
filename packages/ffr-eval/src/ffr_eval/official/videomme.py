"""Video-MME as lmms-eval scores it (``lmms_eval/tasks/videomme/utils.py``: ``videomme_process_results``,
``videomme_aggregate_results``).

Per item: the letter ``extract_mcq_answer`` finds among A–D in the reasoning-stripped reply ("" when none), compared
with the answer; the aggregation counts ``pred_answer == answer``. The returned number is the accuracy over every
item; the per-duration, domain, sub-category and task-type accuracies are the ones the reference logs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem
from ffr_eval.item_scoring import ItemScore
from ffr_eval.lmms_rules import LMMS_EVAL_COMMIT, extract_mcq_answer, strip_reasoning_tags
from ffr_eval.official.base import OFFICIAL, Aggregated, OfficialScorer, percent_of, register

CHOICES = ("A", "B", "C", "D")
BREAKDOWNS = ("duration", "domain", "sub_category", "task_type")


def score(output: str, sample: Sample) -> ItemScore:
    letter = extract_mcq_answer(strip_reasoning_tags(output), CHOICES)
    return ItemScore(float(letter == sample.answer), letter or None)


def aggregate(items: Sequence[ScoredItem]) -> Aggregated:
    values = [item.scores[OFFICIAL].value for item in items]
    metrics = {"overall_micro": percent_of(sum(values), len(values))}
    for key in BREAKDOWNS:
        groups: dict[str, list[float]] = defaultdict(list)
        for item, value in zip(items, values, strict=True):
            if item.meta.get(key) is not None:
                groups[str(item.meta[key])].append(value)
        metrics |= {f"{key}/{group}": percent_of(sum(v), len(v)) for group, v in sorted(groups.items())}
    return metrics, []


VIDEOMME = register(OfficialScorer(
    key="videomme", reference=f"lmms-eval {LMMS_EVAL_COMMIT} lmms_eval/tasks/videomme/utils.py", score=score,
    aggregate=aggregate, headline=(("overall_micro", "videomme_perception_score: accuracy (%)"),)))
