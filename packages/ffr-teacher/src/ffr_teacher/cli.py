"""``ffr teacher …`` commands: serve a local model over an OpenAI-compatible API, inspect a repair, list options."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table

from ffr_data.config import describe, resolve
from ffr_data.errors import ConfigError, FFRError

app = typer.Typer(help="The frozen, tool-using teacher: serve a local model, inspect repairs.", no_args_is_help=True)
console = Console()
DTYPES = ("float32", "bfloat16", "float16")


@app.command("serve")
def serve_command(
    model: Path = typer.Option(..., "--model", help="Local model directory (a transformers VLM)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, "--port", help="Port to bind; 0 picks a free one (printed)."),
    api_key: str = typer.Option(None, "--api-key", envvar="FFR_TEACHER_SERVE_API_KEY", show_default=False,
                                help="Require 'Authorization: Bearer KEY' (or env FFR_TEACHER_SERVE_API_KEY)."),
    max_request_bytes: int = typer.Option(32 * 2**20, "--max-request-bytes", help="Larger bodies get HTTP 413."),
    max_tokens_limit: int = typer.Option(4096, "--max-tokens-limit", help="Largest max_tokens a request may ask."),
    max_prompt_tokens: int = typer.Option(0, "--max-prompt-tokens", help="Longest prompt in tokens (0: the model's "
                                                                         "context minus max_tokens); longer: 400."),
    max_generation_s: float = typer.Option(120.0, "--max-generation-s", help="Cap on one generation in seconds "
                                                                             "(0: none); cut replies end 'length'."),
    max_batch: int = typer.Option(8, "--max-batch", help="Most concurrent requests generated together."),
    max_concurrent: int = typer.Option(32, "--max-concurrent", help="Requests in progress at once; more get 503."),
    served_name: str = typer.Option(None, "--served-name", help="Model name the API reports (default: dir name)."),
    device: str = typer.Option("cpu", "--device", help="Torch device, e.g. cuda:0."),
    dtype: str = typer.Option("float32", "--dtype", help=f"One of {', '.join(DTYPES)}."),
) -> None:
    """Serve a local VLM as an OpenAI-compatible chat-completions endpoint (POST /v1/chat/completions)."""
    from ffr_teacher.server import ServeConfig, create_server

    if dtype not in DTYPES:
        raise ConfigError(f"--dtype: {dtype!r} is not one of {list(DTYPES)}")
    if max_request_bytes < 1024:
        raise ConfigError("--max-request-bytes must be at least 1024")
    for name, value in (("--max-tokens-limit", max_tokens_limit), ("--max-batch", max_batch),
                        ("--max-concurrent", max_concurrent)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1")
    if max_prompt_tokens < 0 or max_generation_s < 0:
        raise ConfigError("--max-prompt-tokens and --max-generation-s must be >= 0")
    cfg = ServeConfig(model=str(model), host=host, port=port, api_key=api_key or None,
                      max_request_bytes=max_request_bytes, max_tokens_limit=max_tokens_limit,
                      default_max_tokens=min(1024, max_tokens_limit), max_prompt_tokens=max_prompt_tokens,
                      max_generation_s=max_generation_s, max_batch=max_batch, max_concurrent_requests=max_concurrent,
                      served_name=served_name, device=device, dtype=dtype)
    if not api_key and not _is_loopback(host):
        console.print(f"[yellow]warning:[/] serving on {host} without an API key: anyone who can reach it can use it")
    server = create_server(cfg)  # binds the port first: a port in use fails before the model loads
    auth = "API key required" if api_key else "no API key"
    print(f"serving {server.name} at {server.base_url} ({auth}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("repair")
def repair_command(
    data: Path = typer.Option(..., "--data", help="A JSON/JSONL data file (Video-R1 rows)."),
    problem_id: str = typer.Option(..., "--id", help="The problem_id of the row to repair."),
    response: str = typer.Option(..., "--response", help="The student's (failed) response."),
    backend: str = typer.Option(None, "--backend", help="annotation, openai or hf (overrides the config)."),
    config: Path = typer.Option(None, "--config", "-c", help="TeacherConfig YAML (see configs/teacher/)."),
    video_root: Path = typer.Option(None, "--video-root", help="Base of relative video paths (default: the data "
                                                               "file's directory)."),
    overrides: list[str] = typer.Argument(None, help="key=value TeacherConfig overrides, e.g. model=x tool_mode=text."),
) -> None:
    """Repair one rollout and print the teacher's tool calls and the resulting patch (to inspect prompts/teachers)."""
    from ffr_data.clips import sample_frames
    from ffr_teacher.config import TeacherConfig
    from ffr_teacher.teacher import build_teacher

    items = list(overrides or []) + ([f"backend={backend}"] if backend else [])
    cfg = resolve(TeacherConfig(), config, items)
    sample = _find_sample(data, problem_id, video_root)
    frames = sample_frames(sample.path, cfg.sampling)
    with build_teacher(cfg) as teacher:
        result = teacher.repair(sample, frames, response)
    print_result(result, cfg.backend)


def _find_sample(data: Path, problem_id: str, video_root: Path | None):
    """The row with ``problem_id``, its video resolved by ``ffr_data.schema.resolve_video``: a relative path is taken
    from the video root (default: the data file's directory) and must stay inside it once symlinks are resolved.
    With an explicit ``--video-root`` absolute paths must lie inside it too (``ffr data prepare``'s rule); without
    one they are kept, as the trainer keeps the absolute paths of prepared data."""
    from ffr_data.schema import load_samples, resolve_video

    loaded = load_samples(data)
    for sample in loaded.samples:
        if sample.problem_id == problem_id:
            root = video_root or data.parent
            try:
                path = resolve_video(sample.path, root, confine_absolute=video_root is not None)
            except (ValueError, FFRError) as exc:
                raise FFRError(f"{data}: row {problem_id!r}: field 'path': {exc}") from None
            return dataclasses.replace(sample, path=str(path))
    skipped = f" ({len(loaded.errors)} invalid rows skipped)" if loaded.errors else ""
    raise FFRError(f"{data}: no valid row with problem_id {problem_id!r}{skipped}")


def print_result(result, backend: str) -> None:
    if result.transcript:
        table = Table("#", "tool", "arguments", "ok", "result", title="teacher tool calls")
        for number, record in enumerate(result.transcript, start=1):
            table.add_row(str(number), record.name, json.dumps(record.arguments), "yes" if record.ok else "[red]no[/]",
                          record.message)
        console.print(table)
    if result.analysis:
        console.print(Panel(result.analysis, title="teacher error analysis"))
    if result.patch is not None:
        console.print(Panel(JSON(json.dumps(result.patch.to_json())), title="evidence patch"))
    else:
        console.print(f"[bold red]no patch[/]: {result.reason} {result.detail}".rstrip())
    console.print(f"backend={backend} turns={result.turns} tool_calls={len(result.transcript)} "
                  f"leak_rejections={result.leak_rejections} tokens={result.prompt_tokens}+{result.completion_tokens} "
                  f"latency={result.latency_s:.2f}s", highlight=False)


@app.command("options")
def options_command() -> None:
    """Every TeacherConfig key with its default and help."""
    from ffr_teacher.config import TeacherConfig

    table = Table("key", "default", "help")
    for key, default, help_text in describe(TeacherConfig):
        table.add_row(key, default, help_text)
    console.print(table)
