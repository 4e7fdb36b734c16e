"""``ffr data …`` commands: ``synth`` (the synthetic evidence benchmark) and ``prepare`` (Video-R1-style data)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ffr_data.config import describe, resolve
from ffr_data.errors import FFRError

app = typer.Typer(help="Video datasets: prepare Video-R1-style data, generate the synthetic evidence benchmark.",
                  no_args_is_help=True)
console = Console()
_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def _keys_table(cfg_type: type) -> Table:
    table = Table("key", "default", "help")
    for key, default, help_text in describe(cfg_type):
        table.add_row(key, default, help_text)
    return table


@app.command("synth")
def synth_command(
    overrides: list[str] = typer.Argument(None, help="SynthConfig key=value overrides, e.g. flash_contrast=0.3 "
                                                     "sampling.num_frames=16 (see --list-keys)."),
    out: Path = typer.Option(Path("data/synth"), "--out", help="Output folder."),
    preset: str = typer.Option("default", "--preset", help="default: the original benchmark (train/val/test/warmup); "
                                                           "fair: disjoint sft/rl/val/test questions, larger answer "
                                                           "spaces, pointing patches (README, the fair setting)."),
    train: int = typer.Option(None, "--train", min=0, help="Training questions (hard; default preset: 1024)."),
    sft: int = typer.Option(None, "--sft", min=0, help="SFT questions (hard; fair preset: 1024)."),
    rl: int = typer.Option(None, "--rl", min=0, help="RL questions (hard; fair preset: 1024)."),
    val: int = typer.Option(None, "--val", min=0, help="Validation questions (hard; default 128, fair 512)."),
    test: int = typer.Option(None, "--test", min=0, help="Test questions (hard; default 256, fair 2400)."),
    warmup: int = typer.Option(None, "--warmup", min=0, help="Warm-up questions (easy: the SFT curriculum's first "
                                                              "stage; 512)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Benchmark seed; the same seed and config give the same bytes."),
    config: Path = typer.Option(None, "--config", help="YAML file of SynthConfig keys (over the preset's)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Worker processes (default: the CPU count, at most 8)."),
    list_keys: bool = typer.Option(False, "--list-keys", help="Print every SynthConfig key with its default and help."),
) -> None:
    """Generate the synthetic evidence benchmark: DIR/<split>.jsonl for each split of the preset, DIR/videos/, the
    resolved config (synth_config.json) and the self-check report (synth_report.json)."""
    from ffr_data.synth import SynthConfig, generate_benchmark
    from ffr_data.synth import preset as get_preset

    if list_keys:
        console.print(_keys_table(SynthConfig))
        return
    chosen = get_preset(preset)
    cfg = resolve(chosen.config, config, list(overrides or []))
    given = {"train": train, "sft": sft, "rl": rl, "val": val, "test": test, "warmup": warmup}
    counts = {split: n for split, n in given.items() if n is not None}
    report = generate_benchmark(out, cfg, counts, seed, workers=workers)
    table = Table("split", "difficulty", "questions", "answers", "attempts", "rejections", "patch clearer",
                  title=f"synthetic benchmark in {out} ({preset} preset, {report['seconds']:.1f} s)")
    for split, info in report["splits"].items():
        check = info["self_check"]
        answers = "/".join(str(n) for n in info["answers"].values())
        rejections = ", ".join(f"{k} {v}" for k, v in check["rejections"].items()) or "0"
        table.add_row(split, str(info["difficulty"]), str(info["questions"]), answers, str(check["attempts"]),
                      rejections, f"{check['patch_clearer']}/{check['decisive_shapes_checked']}")
    console.print(table)


@app.command("prepare")
def prepare_command(
    inputs: list[str] = typer.Argument(None, help="Input JSON/JSONL files, then optional PrepareConfig key=value "
                                                  "overrides (e.g. sampling.num_frames=32 workers=4)."),
    out: Path = typer.Option(None, "--out", help="Output folder: one prepared JSONL per input plus report.json "
                                                 "(required)."),
    video_root: Path = typer.Option(None, "--video-root", help="Folder relative video paths start from (default: "
                                                               "each input file's folder)."),
    root_map: Path = typer.Option(None, "--root-map", help="JSON/YAML mapping data_source -> video folder "
                                                           "(relative folders start at the map file's folder)."),
    config: Path = typer.Option(None, "--config", help="YAML file of PrepareConfig keys."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace what --out holds (another prepared set, or "
                                                              "files prepare did not write); never an input."),
    list_keys: bool = typer.Option(False, "--list-keys", help="Print every PrepareConfig key with its default."),
) -> None:
    """Validate rows, resolve and probe every video (decoding the frames the sampler would take), drop bad rows and
    write the prepared dataset with a report of what was dropped and why. Inputs are never overwritten."""
    from ffr_data.prepare import PrepareConfig, prepare

    if list_keys:
        console.print(_keys_table(PrepareConfig))
        return
    if out is None:
        raise FFRError("ffr data prepare needs --out FOLDER")
    overrides = [item for item in inputs or [] if _OVERRIDE.match(item) and not Path(item).exists()]
    files = [Path(item) for item in inputs or [] if item not in overrides]
    cfg = resolve(PrepareConfig(), config, overrides)
    result = prepare(files, out, cfg, video_root=video_root, root_map_file=root_map, overwrite=overwrite)
    report = result.report
    table = Table("reason", "rows", "example", title=f"kept {report['kept']}, dropped {report['dropped']}")
    for reason, entry in report["dropped_by_reason"].items():
        table.add_row(reason, str(entry["count"]), entry["examples"][0]["detail"] if entry["examples"] else "")
    if report["dropped"]:
        console.print(table)
    console.print(f"kept {report['kept']} rows, dropped {report['dropped']}; videos probed {result.probed}, "
                  f"reused from the cache {result.reused}; report: {out / 'report.json'}")
