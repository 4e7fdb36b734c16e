"""The official reading's registry: one scorer per reference implementation whose numbers are published.

A scorer scores one raw model output exactly as its reference does (``score``) and aggregates exactly as the
reference does (``aggregate``), on the reference's scale expressed in percent. Items the reference treats specially
carry a flag: ``judge`` (the reference would ask a GPT judge; scored 0, what it gives when no judge answers) or
``excluded`` (the reference leaves the reply out of the denominator).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ffr_data.registry import Registry
from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem
from ffr_eval.item_scoring import ItemScore

OFFICIAL = "official"
JUDGE = "judge"
EXCLUDED = "excluded"
WHOLE_OUTPUT = "whole-output"
REFERENCE_ERROR = "reference-error"
FLAG_MEANINGS = {JUDGE: "would go to the reference's GPT judge: scored 0, what the reference gives without one",
                 EXCLUDED: "empty after reasoning stripping: left out of the denominator, as the reference does",
                 WHOLE_OUTPUT: "without an <answer> tag: the whole output was compared, as the reference does",
                 REFERENCE_ERROR: "make the reference raise: scored 0"}

Aggregated = tuple[dict[str, float], list[str]]


@dataclass(frozen=True)
class OfficialScorer:
    """One reference scorer: per-item rule, aggregation, and the metric papers quote (first present wins)."""

    key: str
    reference: str
    score: Callable[[str, Sample], ItemScore]
    aggregate: Callable[[Sequence[ScoredItem]], Aggregated]
    headline: tuple[tuple[str, str], ...]


SCORERS: Registry[OfficialScorer] = Registry("official scorer")


def register(scorer: OfficialScorer) -> OfficialScorer:
    return SCORERS.add(scorer.key, scorer)


def official_scores(items: Sequence[ScoredItem]) -> list[ItemScore]:
    return [item.scores[OFFICIAL] for item in items]


def percent_of(correct: float, total: int) -> float:
    return 100 * correct / total if total > 0 else 0.0
