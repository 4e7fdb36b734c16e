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
    preregistered: bool = typer.Option(False, "--preregistered", help="The pre-registered comparison of the repair "
                                                                      "signals on the fair setting "
                                                                      "(docs/results/preregistration.md)."),
) -> None:
    """SFT only vs GRPO vs FFR and its ablations on the synthetic benchmark, equal budgets, several seeds;
    writes results.md / results.json, plots and every run's config under `out`."""
    from ffr_train.repro import PREREGISTERED, QUICK, Experiment, ReproConfig
    from ffr_train.repro_report import markdown, regimes_from_groups, write_report

    cfg = ReproConfig()
    if preregistered:
        cfg = dataclasses.replace(cfg, **PREREGISTERED)
    if quick:
        cfg = dataclasses.replace(cfg, out=f"{cfg.out}-quick", **QUICK)
    cfg = merge(cfg, parse_overrides(list(overrides or [])))
    started = time.perf_counter()
    experiment = Experiment(cfg, console)
    experiment.prepare()
    runs = experiment.run_all()
    regimes = {seed: regimes_from_groups(experiment.regime_dir(seed) / "questions.jsonl") for seed in cfg.seeds
               if (experiment.regime_dir(seed) / "questions.jsonl").is_file()}
    curve_split = Path(experiment.train_cfg.data.val_file).stem if cfg.config else "test"
    results = write_report(Path(cfg.out), runs, regimes, curve_split)
    experiment.write_timings(time.perf_counter() - started)
    console.print(markdown(results))
    console.print(f"wrote {cfg.out}/results.md, results.json, accuracy_vs_steps.png, intervention_ratio.png, "
                  f"timings.json ({time.perf_counter() - started:.0f} s)")
