"""Results of an experiment: a table (mean ± std over seeds, per family and overall) and plots."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from ffr_data.markdown import markdown_table
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


def paired_differences(runs: list[Run], baseline: str = "grpo") -> dict[str, dict[str, Any]]:
    """variant -> overall test accuracy minus ``baseline``'s, seed by seed (both start from the same SFT student
    of that seed, so the pairing removes the student's seed-to-seed spread): per-seed values, mean, std, and how
    many seeds the variant won."""
    overall = {(run.variant, run.seed): test_scores(run)["overall"] for run in runs}
    out: dict[str, dict[str, Any]] = {}
    for variant in dict.fromkeys(run.variant for run in runs):
        seeds = [s for (v, s) in overall if v == variant and (baseline, s) in overall]
        if variant == baseline or not seeds:
            continue
        diffs = [overall[variant, s] - overall[baseline, s] for s in seeds]
        mean, std = _mean_std(diffs)
        out[variant] = {"seeds": seeds, "diffs": diffs, "mean": mean, "std": std, "wins": sum(d > 0 for d in diffs),
                        "verdict": verdict(diffs)}
    return out


def verdict(diffs: list[float]) -> str:
    """The pre-registered rule (docs/results/preregistration.md): with at least 3 seeds, a win needs every seed's
    difference positive and the mean above twice its standard error; a loss, the mirror image; else no difference."""
    if len(diffs) < 3:
        return "too few seeds"
    mean, std = _mean_std(diffs)
    se = std / len(diffs) ** 0.5
    if all(d > 0 for d in diffs) and mean > 2 * se:
        return "win"
    if all(d < 0 for d in diffs) and -mean > 2 * se:
        return "loss"
    return "no clear difference"


def item_scores(run: Run) -> dict[str, float]:
    """problem_id -> strict score of the run's test evaluation (an item that errored scores 0)."""
    rows = _read_jsonl(run.dir / "test-eval" / "synth" / "scored.jsonl")
    return {row["problem_id"]: float(row.get("strict_score") or 0.0) for row in rows}


def regimes_from_groups(path: Path) -> dict[str, str]:
    """problem_id -> "all_fail" when every sampled answer of the SFT student's group was wrong, else "rest"."""
    return {row["problem_id"]: "all_fail" if not any(row["group"]) else "rest" for row in _read_jsonl(path)}


def regime_scores(runs: list[Run], regimes: dict[int, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """variant -> regime -> test accuracy per seed (mean, std, values, questions), each seed's questions split by
    its own SFT student's groups; the same split for every variant of that seed."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    sizes: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        split = regimes.get(run.seed)
        if not split:
            continue
        scores = item_scores(run)
        for name in ("all_fail", "rest"):
            ids = [i for i, r in split.items() if r == name and i in scores]
            if ids:
                per[run.variant][name].append(statistics.mean(scores[i] for i in ids))
                sizes[run.variant][name].append(len(ids))
    return {v: {name: {"mean": _mean_std(vals)[0], "std": _mean_std(vals)[1], "values": vals,
                       "questions": sizes[v][name]} for name, vals in regs.items()} for v, regs in per.items()}


def regime_paired(scores: dict[str, dict[str, Any]], baseline: str = "grpo") -> dict[str, Any]:
    """variant -> regime -> the seed-by-seed differences to ``baseline`` in that regime, with the rule's verdict."""
    out: dict[str, Any] = {}
    for variant, regs in scores.items():
        if variant == baseline or baseline not in scores:
            continue
        out[variant] = {}
        for name, entry in regs.items():
            base = scores[baseline].get(name)
            if base is None or len(base["values"]) != len(entry["values"]):
                continue
            diffs = [a - b for a, b in zip(entry["values"], base["values"], strict=True)]
            out[variant][name] = {"diffs": diffs, "mean": _mean_std(diffs)[0], "std": _mean_std(diffs)[1],
                                  "verdict": verdict(diffs)}
    return out


def window_means(curve: dict[str, list[tuple[int, float, float]]], window: int = 10) -> dict[str, dict[str, float]]:
    """variant -> mean of a per-step metric over the first and the last ``window`` steps (the trend in two numbers)."""
    return {v: {"first": statistics.mean(p[1] for p in points[:window]),
                "last": statistics.mean(p[1] for p in points[-window:])} for v, points in curve.items() if points}


def curves(runs: list[Run], key: str) -> dict[str, list[tuple[int, float, float]]]:
    """variant -> [(step, mean, std)] of a metric logged in metrics.jsonl, over seeds."""
    per: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for row in _read_jsonl(run.dir / "metrics.jsonl"):
            if key in row:
                per[run.variant][int(row["step"])].append(float(row[key]))
    return {v: [(s, *_mean_std(vals)) for s, vals in sorted(steps.items())] for v, steps in per.items()}


def phase_seconds(runs: list[Run]) -> dict[str, dict[str, float]]:
    """variant -> {phase: mean seconds per RL step} from ``time/*`` of metrics.jsonl; a phase a step skipped (no
    failed rollout, so no teacher call) counts as 0 s for that step. Averaged over steps, then over seeds."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        rows = [row for row in _read_jsonl(run.dir / "metrics.jsonl") if "time/step" in row]  # not validation rows
        totals: dict[str, float] = defaultdict(float)
        for row in rows:
            for key, value in row.items():
                if key.startswith("time/"):
                    totals[key.removeprefix("time/")] += float(value)
        for phase, total in totals.items():
            per[run.variant][phase].append(total / len(rows))
    return {v: {phase: statistics.mean(vals) for phase, vals in phases.items()} for v, phases in per.items()}


def phase_markdown(phases: dict[str, dict[str, float]]) -> str:
    """Seconds per RL step by phase, one row per trained variant (the cost of the teacher and the repair pass)."""
    if not phases:
        return ""
    order = ["step", "decode", "prompt", "generate", "reward", "teacher", "repair_prompt", "repair_generate", "update"]
    columns = [c for c in order if any(c in p for p in phases.values())]
    columns += sorted({c for p in phases.values() for c in p} - set(columns))
    lines = markdown_table(["variant", *columns],
                           [[name, *(f"{cols[c]:.3f}" if c in cols else "–" for c in columns)]
                            for name, cols in phases.items()])
    lines.append("\nSeconds per RL step by phase (mean over steps and seeds; `step` is the whole step).")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    variants = results["variants"]
    columns = ["overall", *sorted({k for v in variants.values() for k in v if k != "overall"})]
    lines = markdown_table(["variant", *columns], [
        [name, *(f"{100 * cols[c]['mean']:.1f} ± {100 * cols[c]['std']:.1f}" if c in cols else "–" for c in columns)]
        for name, cols in variants.items()])
    n = max((c["n"] for v in variants.values() for c in v.values()), default=0)
    lines.append(f"\nTest accuracy (%), mean ± std over {n} seed(s); strict `<answer>` extraction.")
    paired = results.get("paired_vs_grpo") or {}
    if paired:
        lines += ["", *markdown_table(["variant", "minus grpo, same seed (points)", "seeds won", "verdict"], [
            [name, f"{100 * d['mean']:+.1f} ± {100 * d['std']:.1f}", f"{d['wins']}/{len(d['diffs'])}",
             d.get("verdict", "–")] for name, d in paired.items()])]
    lines += _regime_markdown(results)
    return "\n".join(lines)


def _regime_markdown(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    scores, paired = results.get("regimes") or {}, results.get("regimes_paired_vs_grpo") or {}
    if scores:
        rows = []
        for name, regs in scores.items():
            cells = []
            for regime in ("all_fail", "rest"):
                entry, diff = regs.get(regime), paired.get(name, {}).get(regime)
                cell = "–" if entry is None else f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"
                if diff:
                    cell += f" ({100 * diff['mean']:+.1f}, {diff['verdict']})"
                cells.append(cell)
            rows.append([name, *cells])
        sizes = next(iter(scores.values()))
        counts = ", ".join(f"{r}: {'/'.join(map(str, e['questions']))}" for r, e in sizes.items())
        lines += ["", *markdown_table(["variant", "all-fail questions", "the rest"], rows),
                  f"\nTest accuracy (%) by regime: questions where the seed's SFT student's sampled group all failed, "
                  f"and the rest (questions per seed: {counts}); in brackets, minus grpo and the rule's verdict."]
    training = results.get("training_regimes") or {}
    if training:
        lines += ["", *markdown_table(
            ["variant", "all-fail groups, first 10 steps", "last 10 steps", "intervention ratio, first 10", "last 10"],
            [[name, *(f"{100 * t[k][w]:.1f}" if k in t else "–" for k in ("all_fail", "intervention")
                      for w in ("first", "last"))] for name, t in training.items()]),
            "\nShare (%) of first-pass groups in which every rollout failed, and of rollouts sent to the teacher, "
            "over the first and last 10 RL steps (mean over seeds)."]
    return lines


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` points (the first points average what exists so far)."""
    return [statistics.mean(values[max(0, i + 1 - window):i + 1]) for i in range(len(values))]


def plot(curve: dict[str, list[tuple[int, float, float]]], path: Path, ylabel: str, title: str,
         only: tuple[str, ...] | None = None, smooth: int = 1) -> None:
    """One line per variant, mean over seeds ± std as a band; ``smooth`` > 1 draws trailing moving averages
    (per-step metrics are noisy) and the band only where at most three lines share the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {v: points for v, points in curve.items() if not only or v in only}
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, points in shown.items():
        steps = [p[0] for p in points]
        means = moving_average([p[1] for p in points], smooth)
        stds = moving_average([p[2] for p in points], smooth)
        ax.plot(steps, means, marker="o" if len(steps) <= 20 else None, label=variant)
        if len(shown) <= 3:
            ax.fill_between(steps, [m - s for m, s in zip(means, stds, strict=True)],
                            [m + s for m, s in zip(means, stds, strict=True)], alpha=0.15)
    ax.set_xlabel("RL step")
    ax.set_ylabel(ylabel + (f" ({smooth}-step moving average)" if smooth > 1 else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2 if len(shown) > 4 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out: Path, runs: list[Run], regimes: dict[int, dict[str, str]] | None = None,
                 curve_split: str = "test") -> dict[str, Any]:
    results = aggregate(runs)
    acc = curves(runs, "val/accuracy")
    interventions = curves(runs, "intervention_ratio")
    all_fail = curves(runs, "regime/first_pass/all_fail")
    results["curves"] = {f"{curve_split}_accuracy": acc, "intervention_ratio": interventions,
                         "all_fail_share": all_fail}
    results["paired_vs_grpo"] = paired_differences(runs, "grpo")
    if regimes:
        results["regimes"] = regime_scores(runs, regimes)
        results["regimes_paired_vs_grpo"] = regime_paired(results["regimes"])
    first_last = {"all_fail": window_means(all_fail), "intervention": window_means(interventions)}
    results["training_regimes"] = {v: {k: first_last[k][v] for k in first_last if v in first_last[k]}
                                   for v in dict.fromkeys([*all_fail, *interventions])}
    results["phase_seconds"] = phase_seconds(runs)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results) + "\n\n" + phase_markdown(results["phase_seconds"]) + "\n")
    plot(acc, out / "accuracy_vs_steps.png", f"{curve_split} accuracy (greedy)", "GRPO vs FFR", only=("grpo", "ffr"))
    longest_af = max((len(points) for points in all_fail.values()), default=0)
    plot(all_fail, out / "all_fail_share.png", "share of all-fail first-pass groups", "The regime repair is for",
         smooth=max(1, longest_af // 10))
    longest = max((len(points) for points in interventions.values()), default=0)
    plot(interventions, out / "intervention_ratio.png", "share sent to the teacher",
         "Intervention ratio over training", only=tuple(v for v in interventions if v.startswith("ffr")),
         smooth=max(1, longest // 10))
    return results
