"""``ffr eval …``: run an evaluation (``ffr eval --model …``), re-score predictions, compare runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from ffr_data.config import describe, load_yaml, merge, parse_overrides
from ffr_data.errors import ConfigError
from ffr_eval.config import EvalConfig, flat_keys

_VALUE_OPTIONS = ("--model", "--benchmarks", "--data", "--data-root", "--out", "--config", "--num-processes")


class EvalGroup(TyperGroup):
    """``key=value`` words before any sub-command are config overrides of the run, not a sub-command name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest, overrides, i = [], [], 0
        while i < len(args):
            word = args[i]
            if word in self.commands:
                rest += args[i:]
                break
            if word in _VALUE_OPTIONS and i + 1 < len(args):
                rest += [word, args[i + 1]]
                i += 2
                continue
            (overrides if "=" in word and not word.startswith("-") else rest).append(word)
            i += 1
        ctx.meta["ffr_eval_overrides"] = overrides
        return super().parse_args(ctx, rest)


app = typer.Typer(cls=EvalGroup, invoke_without_command=True, add_completion=False,
                  help="Evaluate checkpoints on video benchmarks with the official metrics. "
                       "`ffr eval --model DIR --benchmarks a,b --data-root DIR --out DIR \\[--config FILE] \\[key=value …]`"
                       "; `ffr eval keys` lists every config key.")


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for parent in parents:
        tree = tree.setdefault(parent, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"config key '{key}': '{parent}' is set both as a value and as a section")
    tree[leaf] = value


def _config(config: Path | None, overrides: list[str], **options: object) -> tuple[EvalConfig, dict[str, Any]]:
    """The resolved config, and what the user gave (YAML <- overrides <- options) as one nested mapping."""
    given: dict[str, Any] = load_yaml(config) if config else {}
    for key, value in {**parse_overrides(overrides), **{k: v for k, v in options.items() if v is not None}}.items():
        _set_dotted(given, key, value)
    if isinstance(given.get("benchmarks"), str):
        given["benchmarks"] = [b.strip() for b in given["benchmarks"].split(",") if b.strip()]
    return merge(EvalConfig(), given), given


def _with_data(given: dict[str, Any], data: str) -> tuple[EvalConfig, dict[str, Any]]:
    """``--data``: the annotation file or folder of the one benchmark being run (``per_benchmark.<name>.annotation``),
    the same option ``ffr eval score`` takes."""
    from ffr_eval.benchmarks import resolve_benchmark

    cfg = merge(EvalConfig(), given)
    if len(cfg.benchmarks) != 1:
        raise ConfigError(f"--data {data}: names one benchmark's annotation, but --benchmarks lists "
                          f"{len(cfg.benchmarks)}; use --data-root (or per_benchmark.<name>.annotation) for several")
    _set_dotted(given, f"per_benchmark.{resolve_benchmark(cfg.benchmarks[0], cfg).name}.annotation", data)
    return merge(EvalConfig(), given), given


@app.callback()
def eval_main(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", help="Model directory (save_pretrained VLM)."),
    benchmarks: str = typer.Option(None, "--benchmarks", help="Comma-separated names, e.g. synth,mvbench."),
    data: str = typer.Option(None, "--data", help="One benchmark's annotation file or folder (native or "
                                                  "Video-R1/FFR schema), as in `ffr eval score`."),
    data_root: str = typer.Option(None, "--data-root", help="Folder with one folder per benchmark."),
    out: str = typer.Option(None, "--out", help="Run directory (resumable)."),
    config: Path = typer.Option(None, "--config", help="YAML config (EvalConfig keys)."),
    num_processes: int = typer.Option(None, "--num-processes", help="Data-parallel worker processes."),
) -> None:
    overrides = ctx.meta.get("ffr_eval_overrides", [])
    if ctx.invoked_subcommand is not None:
        if overrides or any(v is not None for v in (model, benchmarks, data, data_root, out, config, num_processes)):
            raise typer.BadParameter("run options and key=value overrides go without a sub-command")
        return
    cfg, given = _config(config, overrides, model=model, benchmarks=benchmarks, data_root=data_root, out=out,
                         num_processes=num_processes)
    if data is not None:
        cfg, given = _with_data(given, data)
    if cfg.model is None and cfg.out is None and not cfg.benchmarks:
        typer.echo(ctx.get_help())
        raise typer.Exit()
    from ffr_eval.launch import WORKER_ENV, launch, under_launcher
    from ffr_eval.report import count_lines, load_results, render_markdown, summary_rows
    from ffr_eval.runner import run_eval

    if cfg.num_processes > 1 and not under_launcher():
        launch(cfg, given)
        payload = load_results(cfg.out)
    else:
        payload = run_eval(cfg, explicit=flat_keys(given))
    if payload is not None and not os.environ.get(WORKER_ENV):
        text = render_markdown(payload)
        typer.echo(text.split("\n## ", 1)[0].rstrip())
        for name, bench in payload["benchmarks"].items():
            for line in count_lines(bench["counts"]):
                typer.echo(f"{name}: {line.lstrip('- ')}")
        typer.echo(f"\nwrote {Path(str(cfg.out)) / 'report.md'} and results.json ({len(summary_rows(payload['benchmarks']))}"
                   " benchmark(s))")


@app.command("score")
def score_command(
    benchmark: str = typer.Option(..., "--benchmark", help="Benchmark name (or a user benchmark from --config)."),
    predictions: Path = typer.Option(..., "--predictions", help="JSONL/JSON rows with a question id and output."),
    data: Path = typer.Option(None, "--data", help="The benchmark's annotation file or folder (native or "
                                                   "Video-R1/FFR schema)."),
    data_root: str = typer.Option(None, "--data-root", help="Folder with one folder per benchmark."),
    config: Path = typer.Option(None, "--config", help="YAML config (per_benchmark / user_benchmarks)."),
    out: Path = typer.Option(None, "--out", help="Also write results.json, report.md and <benchmark>/scored.jsonl "
                                                 "(one line per item) here."),
) -> None:
    """Re-score a predictions file without a model (same metrics as a run)."""
    from ffr_eval.scoring_cli import score_predictions

    cfg, _ = _config(config, [], data_root=data_root)
    typer.echo(score_predictions(cfg, benchmark, predictions, data, out))


@app.command("compare")
def compare_command(
    runs: list[Path] = typer.Argument(..., help="Run directories (or results.json files); the first is the base."),
    out: Path = typer.Option(None, "--out", help="Also write the markdown table to this file."),
    chart: Path = typer.Option(None, "--chart", help="Also write a PNG bar chart."),
    reading: str = typer.Option("all", "--reading", help="strict, lenient, official or all."),
) -> None:
    """Benchmarks x runs (headline scores) with deltas against the first run."""
    from ffr_eval.report import compare_markdown, write_chart

    text, values = compare_markdown(runs, reading)
    typer.echo(text)
    if out:
        out.write_text(text)
    if chart:
        labels = values.pop("labels")
        write_chart(chart, labels, values, "ffr eval compare")


@app.command("keys")
def keys_command() -> None:
    """Every config key with its default and meaning."""
    for key, default, help_text in describe(EvalConfig):
        typer.echo(f"{key} = {default}\n    {help_text}")
