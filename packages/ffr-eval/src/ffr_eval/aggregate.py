"""Official aggregations, by name. Every number is a percentage, whatever scale a reference reports in.

Item values are in [0, 1] (0/1 accuracy, MRA, 1 - WER, ROUGE). Keys of the returned metrics:

- ``overall_micro``: the mean over all scored items.
- ``<key>/<group>``: the mean over items whose ``meta[key]`` is ``group`` (a list-valued key counts in every group).
- ``mean_of_<key>``: the unweighted mean of the ``<key>`` groups (MVBench tasks, VideoMMMU tracks, ...).
- VSI-Bench: ``task/<t>`` with the three direction sub-tasks merged, ``lmms_8task`` (lmms-eval's mean of the task
  scores), ``mc_accuracy``, ``numeric_mra`` and ``videor1_acc_mra`` = (mc_accuracy + numeric_mra) / 2, Video-R1's
  reading.
- MLVU: ``m_avg`` over the fixed task list (an absent task counts 0, as in lmms-eval) and ``m_avg_present``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ffr_data.registry import Registry
from ffr_eval.item_scoring import ItemScore


@dataclass(frozen=True)
class ScoredItem:
    problem_id: str
    problem_type: str
    meta: dict[str, Any]
    scores: dict[str, ItemScore]


@dataclass(frozen=True)
class AggregationSpec:
    """How a benchmark aggregates: breakdown keys, keys averaged group-wise, and a named special aggregator."""

    breakdowns: tuple[str, ...] = ()
    group_means: tuple[str, ...] = ()
    special: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


Aggregator = Callable[[Sequence[ScoredItem], str, AggregationSpec], dict[str, float]]
SPECIAL: Registry[Aggregator] = Registry("special aggregation")
special = SPECIAL.register


def percent(values: Sequence[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0


def groups(items: Sequence[ScoredItem], key: str, protocol: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for item in items:
        value = item.meta.get(key)
        if value is None:
            continue
        for group in value if isinstance(value, list | tuple) else [value]:
            out[str(group)].append(item.scores[protocol].value)
    return dict(sorted(out.items()))


def aggregate(items: Sequence[ScoredItem], protocol: str, spec: AggregationSpec) -> dict[str, float]:
    metrics = {"overall_micro": percent([i.scores[protocol].value for i in items])}
    for key in dict.fromkeys((*spec.breakdowns, *spec.group_means)):
        for group, values in groups(items, key, protocol).items():
            metrics[f"{key}/{group}"] = percent(values)
    for key in spec.group_means:
        per_group = [percent(v) for v in groups(items, key, protocol).values()]
        if per_group:
            metrics[f"mean_of_{key}"] = sum(per_group) / len(per_group)
    if spec.special:
        metrics.update(SPECIAL.get(spec.special)(items, protocol, spec))
    return metrics


VSI_DIRECTION_TASKS = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard")


@special("vsibench")
def _vsibench(items: Sequence[ScoredItem], protocol: str, spec: AggregationSpec) -> dict[str, float]:
    """Per task (directions merged by an unweighted mean), their mean, and Video-R1's (mean_acc + mean_mra) / 2."""
    metrics: dict[str, float] = {}
    mc = [i.scores[protocol].value for i in items if i.problem_type == "multiple choice"]
    numeric = [i.scores[protocol].value for i in items if i.problem_type != "multiple choice"]
    if mc:
        metrics["mc_accuracy"] = percent(mc)
    if numeric:
        metrics["numeric_mra"] = percent(numeric)
    if mc and numeric:
        metrics["videor1_acc_mra"] = (metrics["mc_accuracy"] + metrics["numeric_mra"]) / 2
    per_task = {task: percent(values) for task, values in groups(items, "task", protocol).items()}
    directions = [per_task.pop(t) for t in VSI_DIRECTION_TASKS if t in per_task]
    if directions:
        per_task["object_rel_direction"] = sum(directions) / len(directions)
        metrics["direction_subtasks_present"] = float(len(directions))
    for task, value in per_task.items():
        metrics[f"task/{task}"] = value
    if per_task:
        metrics["lmms_8task"] = sum(per_task.values()) / len(per_task)
    return metrics


MLVU_DEV_TASKS = ("plotQA", "needle", "ego", "count", "order", "anomaly_reco", "topic_reasoning")
MLVU_TEST_TASKS = ("plotQA", "needleQA", "ego", "count", "order", "anomaly_reco", "topic_reasoning", "sportsQA",
                   "tutorialQA")


@special("mlvu")
def _mlvu(items: Sequence[ScoredItem], protocol: str, spec: AggregationSpec) -> dict[str, float]:
    """M-Avg: the mean of per-task accuracies over the fixed dev (7) or test (9) list; absent tasks count 0."""
    per_task = {task: percent(values) for task, values in groups(items, "task", protocol).items()}
    test_only = {"needleQA", "sportsQA", "tutorialQA"}
    task_list = MLVU_TEST_TASKS if test_only & set(per_task) else MLVU_DEV_TASKS
    metrics = {"m_avg": sum(per_task.get(t, 0.0) for t in task_list) / len(task_list),
               "m_avg_tasks_missing": float(sum(t not in per_task for t in task_list))}
    if per_task:
        metrics["m_avg_present"] = sum(per_task.values()) / len(per_task)
    return metrics
