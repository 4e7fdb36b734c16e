"""Scoring a benchmark's predictions: per-sample scores under both readings, official aggregates, and counts.

Generation errors are not answers: they are counted (by kind, with examples) and left out of the scores, which are
marked incomplete. Unparseable answers are answers: they score 0 and are counted per reading. Samples without a
prediction and predictions for ids the benchmark does not have are counted too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem, aggregate
from ffr_eval.benchmarks.base import Benchmark
from ffr_eval.item_scoring import PROTOCOLS, score_output

MAX_EXAMPLES = 5


@dataclass
class BenchmarkResult:
    name: str
    title: str
    headline_key: str | None
    headline_label: str
    metrics: dict[str, dict[str, float]]
    unparseable: dict[str, int]
    counts: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def headline(self, protocol: str) -> float | None:
        return self.metrics.get(protocol, {}).get(self.headline_key) if self.headline_key else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "headline": {"metric": self.headline_key,
                "label": self.headline_label, **{p: self.headline(p) for p in PROTOCOLS}},
                "metrics": self.metrics, "unparseable": self.unparseable, "counts": self.counts,
                "settings": self.settings, "timing": self.timing, "notes": list(self.notes)}


def score_rows(bench: Benchmark, samples: Sequence[Sample], predictions: dict[str, dict[str, Any]],
               load_counts: dict[str, Any] | None = None) -> BenchmarkResult:
    """Score ``predictions`` (id -> row with status/output) against ``samples``."""
    items: list[ScoredItem] = []
    rows: list[dict[str, Any]] = []
    errors: Counter = Counter()
    error_examples: list[str] = []
    missing = 0
    for sample in samples:
        row = predictions.get(sample.problem_id)
        if row is None:
            missing += 1
            continue
        if row.get("status") != "ok":
            errors[row.get("error_kind") or "unknown"] += 1
            if len(error_examples) < MAX_EXAMPLES:
                error_examples.append(f"{sample.problem_id}: {row.get('error')}")
            rows.append({"problem_id": sample.problem_id, "status": "error", "error": row.get("error")})
            continue
        scores = score_output(row.get("output") or "", sample, bench.letter_rule)
        items.append(ScoredItem(sample.problem_id, sample.problem_type, sample.meta, scores))
        rows.append({"problem_id": sample.problem_id, "status": "ok", "answer": sample.answer,
                     "output": row.get("output"),
                     **{f"{p}_parsed": scores[p].parsed for p in PROTOCOLS},
                     **{f"{p}_score": scores[p].value for p in PROTOCOLS}})
    known = {s.problem_id for s in samples}
    unknown = sorted(pid for pid in predictions if pid not in known)
    metrics = {p: aggregate(items, p, bench.aggregation) for p in PROTOCOLS} if items else {p: {} for p in PROTOCOLS}
    unparseable = {p: sum(item.scores[p].unparseable for item in items) for p in PROTOCOLS}
    headline_key = next((k for k in bench.headline if k in metrics["lenient"]), None)
    counts = {"samples": len(samples), "scored": len(items), "errors": sum(errors.values()),
              "error_kinds": dict(errors), "error_examples": error_examples, "missing_predictions": missing,
              "unknown_predictions": len(unknown), "unknown_prediction_examples": unknown[:MAX_EXAMPLES],
              "complete": not errors and not missing, **(load_counts or {})}
    return BenchmarkResult(bench.name, bench.title, headline_key, bench.headline_label, metrics, unparseable, counts,
                           rows=rows, notes=bench.notes)
