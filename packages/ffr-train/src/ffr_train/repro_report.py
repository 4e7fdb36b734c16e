"""Results of an experiment: a table (mean ± std over seeds, per family and overall) and plots."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from ffr_train.repro import Run


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def test_scores(run: Run) -> dict[str, float]:
    """{"overall": acc, "<family>": acc, ...} in [0, 1] from the run's `ffr eval` results (strict extraction)."""
    results = json.loads((run.dir / "test-eval" / "results.json").read_text())
    bench = results["benchmarks"]["synth"]
    strict = bench["metrics"]["strict"]
    scores = {"overall": float(bench["headline"]["strict"]) / 100}
    scores.update({k.split("/", 1)[1]: float(v) / 100 for k, v in strict.items() if k.startswith("family/")})
    return scores


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(runs: list[Run]) -> dict[str, Any]:
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for key, value in test_scores(run).items():
            table[run.variant][key].append(value)
    out: dict[str, Any] = {"variants": {}}
    for variant, cols in table.items():
        out["variants"][variant] = {k: {"mean": _mean_std(v)[0], "std": _mean_std(v)[1], "n": len(v), "values": v}
                                    for k, v in cols.items()}
    return out


def curves(runs: list[Run], key: str) -> dict[str, list[tuple[int, float, float]]]:
    """variant -> [(step, mean, std)] of a metric logged in metrics.jsonl, over seeds."""
    per: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for row in _read_jsonl(run.dir / "metrics.jsonl"):
            if key in row:
                per[run.variant][int(row["step"])].append(float(row[key]))
    return {v: [(s, *_mean_std(vals)) for s, vals in sorted(steps.items())] for v, steps in per.items()}


def markdown(results: dict[str, Any]) -> str:
    variants = results["variants"]
    columns = ["overall", *sorted({k for v in variants.values() for k in v if k != "overall"})]
    lines = ["| variant | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, cols in variants.items():
        cells = [f"{100 * cols[c]['mean']:.1f} ± {100 * cols[c]['std']:.1f}" if c in cols else "–" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    n = max((c["n"] for v in variants.values() for c in v.values()), default=0)
    lines.append(f"\nTest accuracy (%), mean ± std over {n} seed(s); strict `<answer>` extraction.")
    return "\n".join(lines)


def plot(curve: dict[str, list[tuple[int, float, float]]], path: Path, ylabel: str, title: str,
         only: tuple[str, ...] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, points in curve.items():
        if only and variant not in only:
            continue
        steps = [p[0] for p in points]
        means = [p[1] for p in points]
        stds = [p[2] for p in points]
        ax.plot(steps, means, marker="o", label=variant)
        ax.fill_between(steps, [m - s for m, s in zip(means, stds, strict=True)],
                        [m + s for m, s in zip(means, stds, strict=True)], alpha=0.15)
    ax.set_xlabel("RL step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out: Path, runs: list[Run]) -> dict[str, Any]:
    results = aggregate(runs)
    acc = curves(runs, "val/accuracy")
    interventions = curves(runs, "intervention_ratio")
    results["curves"] = {"test_accuracy": acc, "intervention_ratio": interventions}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results) + "\n")
    plot(acc, out / "accuracy_vs_steps.png", "test accuracy (greedy)", "GRPO vs FFR", only=("grpo", "ffr"))
    plot(interventions, out / "intervention_ratio.png", "share of rollouts sent to the teacher",
         "Intervention ratio over training", only=tuple(v for v in interventions if v.startswith("ffr")))
    return results
