"""``ffr probe``: the setting checks of :mod:`ffr_train.probes` for a trained student (and, with ``--compare``, the
headroom of a second model over it), written as ``probe.json`` plus one line per question in ``questions.jsonl``."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ffr_data.config import resolve, to_dict
from ffr_data.errors import FFRError
from ffr_train.config import TrainConfig

console = Console()


def probe_model(cfg: TrainConfig, model_dir: str, data_file: str, checks: list[str], *, group_size: int,
                temperature: float, limit: int | None, batch_size: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-question records) of ``checks`` for the model in ``model_dir`` on ``data_file``."""
    import torch

    from ffr_data.models import fit_sampling
    from ffr_teacher import build_teacher
    from ffr_train.data import load_split
    from ffr_train.engine import HFGenerationEngine
    from ffr_train.policy import load_student
    from ffr_train.probes import Prober, summarise

    if not (Path(model_dir) / "config.json").is_file():
        raise FFRError(f"{model_dir}: no model there (config.json missing)")
    model, processor = load_student(dataclasses.replace(cfg.student, path=model_dir, build_if_missing=False))
    model.eval()
    cfg = dataclasses.replace(cfg, sampling=fit_sampling(cfg.sampling, model))
    samples, _ = load_split(data_file, cfg.data.video_root, limit)
    needs_teacher = bool(set(checks) - {"greedy"})
    teacher = build_teacher(cfg.teacher) if needs_teacher else None
    engine = HFGenerationEngine(model, processor.tokenizer)
    try:
        with torch.no_grad():
            records = Prober(engine, processor, cfg, teacher).run(samples, checks, group_size=group_size,
                                                                  temperature=temperature, batch_size=batch_size)
    finally:
        if teacher is not None:
            teacher.close()
    return summarise(records), [dataclasses.asdict(r) for r in records]


# Summary keys and their column headings: accuracies in %, then the all-fail share of the sampled first-pass groups
# and, on those all-fail questions, the patched pass (sampled success rate, any success among G, greedy).
COLUMNS = {"questions": "n", "chance": "chance", "greedy": "greedy", "patch": "patch", "text": "text",
           "blind": "blind", "all_fail_share": "all-fail", "all_fail_patched_sampled": "repair",
           "all_fail_patched_any": "repair any", "all_fail_patched_greedy": "repair greedy"}


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    return str(value) if key == "questions" else f"{100 * value:.1f}"


def _table(title: str, summary: dict[str, dict]) -> Table:
    table = Table("family", *COLUMNS.values(), title=title)
    for family, entry in summary.items():
        table.add_row(family, *(_cell(key, entry.get(key)) for key in COLUMNS))
    return table


def probe_command(
    overrides: list[str] = typer.Argument(None, help="TrainConfig key=value overrides (prompt, sampling, teacher: "
                                                     "the settings the model was trained with)."),
    config: Path = typer.Option(None, "--config", "-c", help="The training YAML config (e.g. configs/fair.yaml)."),
    model: str = typer.Option(..., "--model", help="Model directory to probe (e.g. an SFT-warmed student)."),
    compare: str = typer.Option(None, "--compare", help="A second model (e.g. continued SFT on the RL split): its "
                                                        "greedy gain over --model per family, the headroom check."),
    data: str = typer.Option(None, "--data", help="Rows to probe (default: the config's data.val_file)."),
    out: Path = typer.Option(..., "--out", help="Folder for probe.json and questions.jsonl."),
    checks: str = typer.Option("greedy,patch,text,blind,groups", "--checks", help="Comma-separated: greedy, patch, "
                                                                                  "text, blind, groups."),
    group_size: int = typer.Option(8, "--group-size", min=1, help="Samples per question in the groups check (G)."),
    temperature: float = typer.Option(1.0, "--temperature", min=0.01, help="Sampling temperature of the groups "
                                                                           "check."),
    min_gain: float = typer.Option(0.05, "--min-gain", help="Headroom rule: the --compare model must gain at least "
                                                            "this (0.05 = 5 points) on a family."),
    limit: int = typer.Option(None, "--limit", min=1, help="Probe only the first N rows."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Questions per generation batch."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: leave the default)."),
) -> None:
    """Probe a student on a split: accuracy without a patch, with it, with its text only and blind (the patch over a
    blank video), the all-fail share of sampled first-pass groups and how much the patch repairs them; with
    --compare, the headroom of a second model per family."""
    import torch

    from ffr_train.probes import CHECKS, headroom

    wanted = [c.strip() for c in checks.split(",") if c.strip()]
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown:
        raise FFRError(f"--checks: unknown {unknown} (known: {', '.join(CHECKS)})")
    if threads:
        torch.set_num_threads(threads)
    cfg = resolve(TrainConfig(), config, list(overrides or []))
    data_file = data or cfg.data.val_file
    if not data_file:
        raise FFRError("nothing to probe: pass --data or set data.val_file")
    options = {"group_size": group_size, "temperature": temperature, "limit": limit, "batch_size": batch_size}
    started = time.perf_counter()
    summary, records = probe_model(cfg, model, data_file, wanted, **options)
    result: dict[str, Any] = {"model": model, "data": data_file, "checks": wanted, **options, "summary": summary}
    console.print(_table(f"{model} on {data_file}", summary))
    if compare:
        tuned, tuned_records = probe_model(cfg, compare, data_file, ["greedy"], **options)
        result["compare"] = {"model": compare, "summary": tuned, "min_gain": min_gain,
                             "headroom": headroom(summary, tuned, min_gain)}
        table = Table("family", "base", "tuned", "gain", f"passes (>= {min_gain:g})", title=f"headroom: {compare}")
        for family, entry in result["compare"]["headroom"].items():
            table.add_row(family, str(entry["base"]), str(entry["tuned"]), str(entry["gain"]), str(entry["passes"]))
        console.print(table)
        for record, tuned_record in zip(records, tuned_records, strict=True):
            record["compare_greedy"] = tuned_record["accuracy"].get("greedy")
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["config"] = to_dict(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    console.print(f"wrote {out}/probe.json and questions.jsonl ({result['seconds']:.0f} s)")
