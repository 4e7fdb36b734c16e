"""``ffr train``: GRPO / FFR / SFT from one typed config (defaults <- --config YAML <- key=value overrides)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ffr_data.config import describe, resolve
from ffr_data.errors import FFRError
from ffr_train.config import TrainConfig

console = Console()


def train_command(
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. algo=grpo optim.steps=50 "
                                                     "reward.kappa=0.5 teacher.backend=openai."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML config file (see configs/)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output_dir from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in an output_dir that holds an earlier run "
                                                              "(deletes its config, logs, checkpoints and final model)."),
    stage: str = typer.Option(None, "--stage", help="rl (default) or sft."),
    algo: str = typer.Option(None, "--algo", help="ffr (default) or grpo."),
    list_keys: bool = typer.Option(False, "--list-keys", help="Print every config key with its default and help."),
) -> None:
    """Train a student. With no arguments: the built-in default run on the synthetic benchmark (generates it and
    the tiny student if missing, SFT-warms the student, trains FFR with the annotation teacher, validates)."""
    if list_keys:
        table = Table("key", "default", "help")
        for key, default, help_text in describe(TrainConfig):
            table.add_row(key, default, help_text)
        console.print(table)
        return
    items = list(overrides or [])
    if stage:
        items.append(f"stage={stage}")
    if algo:
        items.append(f"algo={algo}")
    cfg = resolve(TrainConfig(), config, items)
    from ffr_train.pipeline import run

    if resume and overwrite:
        raise FFRError("--resume and --overwrite exclude each other")
    summary = run(cfg, resume=resume, overwrite=overwrite)
    if os.environ.get("RANK", "0") == "0":
        print_summary(summary)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_summary(summary: dict) -> None:
    if summary.get("stage") == "sft":
        console.print(f"SFT-warmed student saved to [bold]{summary['final_model']}[/]")
        return
    table = Table("", "first third", "last third", title="training")
    for key in ("reward/total", "acc/first_pass", "acc/after_repair", "intervention_ratio"):
        table.add_row(key, _fmt(summary["first_third"].get(key)), _fmt(summary["last_third"].get(key)))
    console.print(table)
    ratios = ", ".join(_fmt(v) for v in summary.get("intervention_ratio_by_third", []))
    console.print(f"intervention ratio by third of training: {ratios}")
    val = summary.get("validation") or {}
    if val:
        console.print("validation: " + json.dumps({k: round(v, 3) for k, v in val.items()}))
    console.print(f"run directory: [bold]{summary['run_dir']}[/] (config.json, metrics.jsonl, rollouts.jsonl, "
                  f"checkpoints/, summary.json)")
    console.print(f"final model:   [bold]{summary['final_model']}[/]")
    console.print(f"evaluate it:   uv run ffr eval --model {summary['final_model']} --benchmarks synth "
                  f"--data-root data/synth --out {summary['run_dir']}/eval")
