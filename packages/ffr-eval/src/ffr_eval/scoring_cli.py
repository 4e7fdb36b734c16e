"""``ffr eval score``: re-score a predictions file against a benchmark's annotations, without a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.versions import package_versions
from ffr_eval.benchmarks import load_benchmark
from ffr_eval.config import EvalConfig
from ffr_eval.predictions import read_prediction_file
from ffr_eval.report import render_markdown, write_reports
from ffr_eval.results import MAX_EXAMPLES, score_rows, write_scored_rows


def score_predictions(cfg: EvalConfig, benchmark: str, predictions: Path, data: Path | None,
                      out: Path | None) -> str:
    """Score ``predictions`` as ``benchmark``; returns the markdown report (and writes it, ``results.json`` and the
    per-item ``<benchmark>/scored.jsonl`` under ``out``)."""
    loaded = load_benchmark(benchmark, cfg, data_file=data)
    if not Path(predictions).is_file():
        raise FFRError(f"{predictions}: predictions file not found")
    found = read_prediction_file(predictions)
    load_counts: dict[str, Any] = {
        "skipped_rows": sum(loaded.skipped.values()), "skip_reasons": dict(loaded.skipped),
        "skip_examples": loaded.skip_examples, "unusable_prediction_rows": len(found.unusable),
        "unusable_prediction_examples": found.unusable[:MAX_EXAMPLES],
        "duplicate_prediction_rows": len(found.duplicates),
        "duplicate_prediction_examples": found.duplicates[:MAX_EXAMPLES]}
    result = score_rows(loaded.benchmark, loaded.samples, found.rows, load_counts,
                        source_format=loaded.source["format"])
    result.settings = {"source": loaded.source, "letter_rule": loaded.benchmark.letter_rule,
                       "predictions": str(predictions)}
    payload = {"settings": {"model": f"predictions {predictions}", "versions": package_versions(),
                            "config": {"chart": True}},
               "benchmarks": {loaded.benchmark.name: result.to_json()}}
    text = render_markdown(payload)
    if out is not None:
        write_reports(Path(out), payload)
        scored = write_scored_rows(Path(out) / loaded.benchmark.name / "scored.jsonl", result)
        text += f"\nwrote {Path(out) / 'report.md'}, results.json and {scored} (one line per item)\n"
    return text
