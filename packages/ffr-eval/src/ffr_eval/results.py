"""Scoring a benchmark's predictions: per-sample scores under every reading, the aggregates, and counts.

Three readings: ``strict`` and ``lenient`` (``ffr_eval.item_scoring``, aggregated by ``ffr_eval.aggregate``) and
``official`` (``ffr_eval.official``: the reference scorer's own rules and aggregation, where one is ported).
Generation errors are not answers: they are counted (by kind, with examples) and left out of the scores, which are
marked incomplete. Unparseable answers are answers: they score 0 and are counted per reading. Samples without a
prediction and predictions for ids the benchmark does not have are counted too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem, aggregate
from ffr_eval.benchmarks.base import Benchmark
from ffr_eval.item_scoring import PROTOCOLS, score_output
from ffr_eval.official import EXCLUDED, FLAG_MEANINGS, OFFICIAL, OfficialScorer, official_scorer

READINGS = (*PROTOCOLS, OFFICIAL)
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
    official_key: str | None = None
    official_label: str | None = None
    official_reference: str | None = None

    def headline(self, reading: str) -> float | None:
        key = self.official_key if reading == OFFICIAL else self.headline_key
        return self.metrics.get(reading, {}).get(key) if key else None

    def to_json(self) -> dict[str, Any]:
        headline = {"metric": self.headline_key, "label": self.headline_label,
                    **{r: self.headline(r) for r in READINGS},
                    "official_metric": self.official_key, "official_label": self.official_label,
                    "official_reference": self.official_reference}
        return {"name": self.name, "title": self.title, "headline": headline, "metrics": self.metrics,
                "unparseable": self.unparseable, "counts": self.counts, "settings": self.settings,
                "timing": self.timing, "notes": list(self.notes)}


def is_native(bench: Benchmark, source_format: str | None) -> bool:
    """Whether samples come from the benchmark's native release (None: the benchmark's usual source)."""
    return source_format == "native" or (source_format is None and bench.native is not None)


def _first_present(candidates: Sequence[tuple[str, str]], metrics: dict[str, float]) -> tuple[str | None, str]:
    return next(((k, label) for k, label in candidates if k in metrics), (None, candidates[0][1]))


def _item_row(sample: Sample, output: str, scores: dict, official: OfficialScorer | None) -> dict[str, Any]:
    row = {"problem_id": sample.problem_id, "status": "ok", "answer": sample.answer, "output": output,
           **{f"{p}_parsed": scores[p].parsed for p in PROTOCOLS}, **{f"{p}_score": scores[p].value for p in PROTOCOLS}}
    if official is not None:
        verdict = scores[OFFICIAL]
        row |= {"official_parsed": verdict.parsed, "official_score": verdict.value, "official_flag": verdict.flag}
    return row


def score_rows(bench: Benchmark, samples: Sequence[Sample], predictions: dict[str, dict[str, Any]],
               load_counts: dict[str, Any] | None = None, source_format: str | None = None) -> BenchmarkResult:
    """Score ``predictions`` (id -> row with status/output) against ``samples`` loaded from ``source_format``
    ("native", "video-r1", ...; None: the benchmark's usual source), which picks the official scorer."""
    native = is_native(bench, source_format)
    official = official_scorer(bench.official, "native" if native else "video-r1")
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
        output = row.get("output") or ""
        scores = score_output(output, sample, bench.letter_rule)
        if official is not None:
            scores[OFFICIAL] = official.score(output, sample)
        items.append(ScoredItem(sample.problem_id, sample.problem_type, sample.meta, scores))
        rows.append(_item_row(sample, row.get("output"), scores, official))
    metrics = {p: aggregate(items, p, bench.aggregation) if items else {} for p in PROTOCOLS}
    official_problems: list[str] = []
    metrics[OFFICIAL] = {}
    if official is not None and items:
        metrics[OFFICIAL], official_problems = official.aggregate(items)
    readings = READINGS if official is not None else PROTOCOLS
    # An excluded reply is not an answer (the reference leaves it out), so it is not counted as unparseable either.
    unparseable = {p: sum(item.scores[p].unparseable and item.scores[p].flag != EXCLUDED for item in items)
                   for p in readings}
    headline_key, headline_label = _first_present(bench.headline if native else bench.video_r1_headline,
                                                  metrics["lenient"])
    official_key, official_label = _first_present(official.headline, metrics[OFFICIAL]) if official else (None, None)
    flags = Counter(item.scores[OFFICIAL].flag for item in items if official is not None)
    flags.pop(None, None)
    known = {s.problem_id for s in samples}
    unknown = sorted(pid for pid in predictions if pid not in known)
    counts = {"samples": len(samples), "scored": len(items), "errors": sum(errors.values()),
              "error_kinds": dict(errors), "error_examples": error_examples, "missing_predictions": missing,
              "unknown_predictions": len(unknown), "unknown_prediction_examples": unknown[:MAX_EXAMPLES],
              "expected_id_examples": [s.problem_id for s in samples[:3]],
              "official_flags": dict(flags), "official_problems": official_problems,
              "complete": not errors and not missing, **(load_counts or {})}
    return BenchmarkResult(bench.name, bench.title, headline_key, headline_label, metrics, unparseable, counts,
                           rows=rows, notes=bench.notes, official_key=official_key, official_label=official_label,
                           official_reference=official.reference if official else None)


def write_scored_rows(path: Path, result: BenchmarkResult) -> Path:
    """One JSON line per item: id, raw output, gold answer, and what each reading extracted and scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in result.rows)
    return path


def flag_lines(counts: dict[str, Any]) -> list[str]:
    """One line per official-reading flag, saying how many items and what the reference did with them."""
    return [f"{n} item(s) {FLAG_MEANINGS.get(flag, flag)}" for flag, n in sorted(counts.get("official_flags", {}).items())]
