"""Reports: ``results.json``, ``report.md`` and ``chart.png`` per run, and ``ffr eval compare`` across runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.markdown import markdown_table
from ffr_eval.results import flag_lines

READINGS = ("strict", "lenient", "official")
FORMAT_NAMES = {"video-r1": "Video-R1 / FFR schema", "native": "native release"}
READING_NOTE = ("strict = the `<answer>` content scored as Video-R1 does (exact letter, bare number, MRA with <); "
                "lenient = reasoning stripped, `<answer>` content when present, then the benchmark's lmms-eval rules "
                "(option letters and numbers from free text, MRA with <=); official = exactly the reference scorer "
                "of the published numbers (lmms-eval for native releases, Video-R1's eval_bench.py for Video-R1-"
                "format files), item by item and in aggregate. Scores are percentages.")


def _given(*parts: tuple[str, Any]) -> str:
    """``label value`` pairs whose value is known, comma-separated (a score-only report knows no model settings)."""
    return ", ".join(f"{label} {value}".strip() for label, value in parts if value is not None)


def summary_rows(benchmarks: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, b in benchmarks.items():
        counts, head, unparseable = b["counts"], b["headline"], b["unparseable"]
        label = head["label"]
        if head.get("official_label") and head["official_label"] != label:
            label += f"; official: {head['official_label']}"
        rows.append([f"{b['title']} ({name})", label, head.get("strict"), head.get("lenient"),
                     head.get("official"), f"{counts['scored']}/{counts['samples']}", counts["errors"],
                     "/".join(str(unparseable[r]) if r in unparseable else "–" for r in READINGS),
                     counts["missing_predictions"], counts.get("skipped_rows", 0)])
    return rows


def count_lines(counts: dict[str, Any]) -> list[str]:
    """Every input problem the counts record, one line each (with examples), so no number hides a skipped row."""
    lines = []
    if not counts["complete"]:
        lines.append(f"- **incomplete**: {counts['errors']} generation error(s) {counts['error_kinds']}, "
                     f"{counts['missing_predictions']} sample(s) without a prediction; scores cover the rest")
    lines += [f"  - error: {example}" for example in counts.get("error_examples", [])]
    if counts.get("skipped_rows"):
        lines.append(f"- skipped rows: {counts['skip_reasons']}")
        lines += [f"  - {example}" for example in counts.get("skip_examples", [])]
    for key, what in (("unusable_prediction", "unusable prediction rows (not scored)"),
                      ("duplicate_prediction", "duplicate prediction ids (the first answer kept)")):
        if counts.get(f"{key}_rows"):
            lines.append(f"- {what}: {counts[f'{key}_rows']}")
            lines += [f"  - {example}" for example in counts.get(f"{key}_examples", [])]
    if counts.get("unreadable_prediction_lines"):
        lines.append(f"- unreadable lines in the run's prediction files: {counts['unreadable_prediction_lines']}")
    if counts.get("unknown_predictions"):
        expected = counts.get("expected_id_examples") or []
        lines.append(f"- predictions for unknown ids: {counts['unknown_predictions']} "
                     f"(e.g. {counts['unknown_prediction_examples']}); this benchmark's ids look like {expected}")
    return lines


def _benchmark_section(name: str, b: dict[str, Any]) -> list[str]:
    s, head = b["settings"], b["headline"]
    sampling, prompt, source = s.get("sampling", {}), s.get("prompt", {}), s.get("source", {})
    lines = [f"## {b['title']} ({name})", ""]
    if sampling:
        lines.append(f"- frames: {sampling.get('num_frames')} (fps {sampling.get('fps')} when None), max_pixels "
                     f"{sampling.get('max_pixels')}, min_pixels {sampling.get('min_pixels')}, patch multiple "
                     f"{sampling.get('patch_multiple')}, decoder {sampling.get('backend')}; template "
                     f"`{prompt.get('template')}`")
    lines.append(f"- data: {FORMAT_NAMES.get(source.get('format'), source.get('format'))} {source.get('files', '')}; "
                 f"lenient letter rule `{s.get('letter_rule')}`")
    if s.get("predictions"):
        lines.append(f"- predictions: {s['predictions']}")
    if head.get("official_reference"):
        lines.append(f"- official reading: {head['official_reference']}; headline {head.get('official_label')}")
    else:
        lines.append("- official reading: none (no reference scorer ported for this release; see the ffr-eval README)")
    timing = b.get("timing") or {}
    if timing:
        lines.append(f"- time: decode {timing.get('decode_s')} s, preprocess {timing.get('preprocess_s')} s, "
                     f"generate {timing.get('generate_s')} s, wall {timing.get('wall_s')} s "
                     f"({timing.get('samples_per_s', '–')} samples/s)")
    counts = b["counts"]
    lines += count_lines(counts)
    lines += [f"- official: {line}" for line in flag_lines(counts)]
    lines += [f"- official: {problem}" for problem in counts.get("official_problems", [])]
    lines += [f"- note: {n}" for n in b.get("notes", [])]
    metrics = {r: b["metrics"].get(r, {}) for r in READINGS}
    keys = sorted(set().union(*metrics.values()), key=lambda k: ("/" in k, k))
    lines += ["", *markdown_table(["metric", *READINGS], [[k, *(metrics[r].get(k) for r in READINGS)] for k in keys]),
              ""]
    return lines


def render_markdown(payload: dict[str, Any]) -> str:
    s = payload["settings"]
    decoding = s.get("decoding") or {}
    lines = [f"# ffr eval: {s.get('model')}", ""]
    model_line = _given(("model type", s.get("model_type")), ("dtype", s.get("dtype")), ("device", s.get("device")),
                        ("processes:", s.get("processes")))
    if model_line:
        lines.append(f"- {model_line}")
    if decoding:
        lines.append(f"- decoding: greedy={decoding.get('greedy')}, max_new_tokens {decoding.get('max_new_tokens')} "
                     f"(paper: temperature {decoding.get('reference_temperature')}, top_p "
                     f"{decoding.get('reference_top_p')}, near-greedy)")
    lines.append(f"- versions: {', '.join(f'{k} {v}' for k, v in s.get('versions', {}).items())}")
    if payload.get("created"):
        lines.append(f"- written {payload['created']}")
    lines += ["", READING_NOTE, "",
              *markdown_table(["benchmark", "headline", *READINGS, "scored", "errors", "unparseable s/l/o", "missing",
                               "skipped rows"], summary_rows(payload["benchmarks"])), ""]
    for name, b in payload["benchmarks"].items():
        lines += _benchmark_section(name, b)
    return "\n".join(lines) + "\n"


def write_chart(path: Path, labels: Sequence[str], series: dict[str, Sequence[float | None]], title: str) -> None:
    """Grouped bars: one group per label, one bar per series (missing values are left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) * max(1, len(series)) / 2 + 2), 3.6))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + k * width for i, v in enumerate(values) if v is not None]
        ax.bar(xs, [v for v in values if v is not None], width, label=name)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels, rotation=20, ha="right")
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(out: Path, payload: dict[str, Any], chart: bool = True) -> None:
    payload["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    (out / "report.md").write_text(render_markdown(payload))
    if chart and payload["benchmarks"]:
        names = list(payload["benchmarks"])
        write_chart(out / "chart.png", names,
                    {r: [payload["benchmarks"][n]["headline"].get(r) for n in names] for r in READINGS},
                    f"ffr eval: {Path(payload['settings'].get('model', '')).name}")


def load_results(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir)
    path = path if path.suffix == ".json" else path / "results.json"
    if not path.is_file():
        raise FFRError(f"{run_dir}: no results.json (not an ffr eval run directory)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FFRError(f"{path}: not valid JSON ({exc.msg})") from None


def compare_markdown(run_dirs: Sequence[str | Path], reading: str = "all") -> tuple[str, dict[str, list]]:
    """Benchmarks x runs (headline scores) with deltas against the first run; also the values for a chart.

    ``reading``: one of READINGS, or "all" ("both", its older name); an official row that no run has is left out."""
    if reading not in (*READINGS, "all", "both"):
        raise FFRError(f"unknown reading {reading!r} (strict, lenient, official or all)")
    readings = READINGS if reading in ("all", "both") else (reading,)
    runs = [load_results(d) for d in run_dirs]
    run_names = [Path(str(d)).name or str(d) for d in run_dirs]
    if len(set(run_names)) < len(run_names):  # e.g. runs/a/eval and runs/b/eval
        run_names = [str(d) for d in run_dirs]
    names = list(dict.fromkeys(n for run in runs for n in run["benchmarks"]))
    header = ["benchmark", "reading", "headline"] + [n + ("" if i == 0 else " (Δ)") for i, n in enumerate(run_names)]
    rows: list[list[Any]] = []
    chart: dict[str, list] = {"labels": [], **{n: [] for n in run_names}}
    for name in names:
        entries = [run["benchmarks"].get(name) for run in runs]
        for r in readings:
            values = [e["headline"].get(r) if e else None for e in entries]
            if r == "official" and reading != "official" and all(v is None for v in values):
                continue
            label = next(e["headline"].get(f"{r}_label" if r == "official" else "label") for e in entries if e)
            cells: list[Any] = [name, r, label]
            for i, value in enumerate(values):
                fresh = i == 0 or value is None or values[0] is None
                cells.append(value if fresh else f"{value:.2f} ({value - values[0]:+.2f})")
            rows.append(cells)
            chart["labels"].append(f"{name} ({r})")
            for run_name, value in zip(run_names, values, strict=True):
                chart[run_name].append(value)
    text = "\n".join([f"# ffr eval compare (Δ vs {run_names[0]})", "", *markdown_table(header, rows)]) + "\n"
    return text, chart
