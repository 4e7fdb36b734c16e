"""``ffr repro``: the paper's claims at laptop scale, as one command."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer
from rich.console import Console

from ffr_data.config import merge, parse_overrides

console = Console()


def repro_command(
    overrides: list[str] = typer.Argument(None, help="key=value overrides of the experiment (out, seeds, steps, "
                                                     "variants, jobs, eval_every, train_overrides)."),
    quick: bool = typer.Option(False, "--quick", help="One seed and a short budget (under 15 minutes)."),
) -> None:
    """SFT only vs GRPO vs FFR and its ablations on the synthetic benchmark, equal budgets, several seeds;
    writes results.md / results.json, plots and every run's config under `out`."""
    from ffr_train.repro import QUICK, Experiment, ReproConfig
    from ffr_train.repro_report import markdown, write_report

    cfg = ReproConfig()
    if quick:
        cfg = dataclasses.replace(cfg, out="runs/repro-quick", **QUICK)
    cfg = merge(cfg, parse_overrides(list(overrides or [])))
    started = time.perf_counter()
    experiment = Experiment(cfg, console)
    experiment.prepare()
    runs = experiment.run_all()
    results = write_report(Path(cfg.out), runs)
    experiment.write_timings(time.perf_counter() - started)
    console.print(markdown(results))
    console.print(f"wrote {cfg.out}/results.md, results.json, accuracy_vs_steps.png, intervention_ratio.png, "
                  f"timings.json ({time.perf_counter() - started:.0f} s)")
