"""The evaluation runner: sharded, resumable generation, then (rank 0) merging, scoring and reports.

``evaluate(model_or_dir, processor, samples, cfg)`` is the in-process API (an already-loaded model and processor, or
a model directory; ``ffr repro``'s evaluations go through ``ffr eval``, and the trainer's own validation is
``ffr_train.validation``, on the trainer's generation engine); ``run_eval(cfg)`` is ``ffr eval``. Each rank writes its own
``<out>/<benchmark>/predictions.rank<r>.jsonl``; rank 0 merges them and writes ``results.json``, ``report.md``,
``chart.png`` and per-benchmark ``scored.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from ffr_data.clips import FrameCache
from ffr_data.config import to_dict
from ffr_data.errors import ConfigError, FFRError
from ffr_data.models import fit_sampling, load_vlm, model_type
from ffr_data.progress import progress_bar
from ffr_data.prompting import PromptConfig
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import Sample
from ffr_data.versions import package_versions
from ffr_eval.benchmarks import LoadedBenchmark, get_benchmark, load_benchmark, resolve_benchmark
from ffr_eval.benchmarks.base import Benchmark
from ffr_eval.config import EvalConfig, benchmark_settings
from ffr_eval.generation import BatchGenerator
from ffr_eval.predictions import PredictionWriter, merge_run_files, rank_file
from ffr_eval.report import write_reports
from ffr_eval.results import BenchmarkResult, score_rows, write_scored_rows

SETTINGS_FILE = "settings.json"
# Settings that change what a model answers: a resumed run must match them.
GENERATION_KEYS = ("model", "decoding", "benchmarks")


@dataclasses.dataclass(frozen=True)
class BenchmarkPlan:
    bench: Benchmark
    samples: list[Sample]
    sampling: FrameSamplingConfig
    prompt: PromptConfig
    loaded: LoadedBenchmark | None = None

    def settings(self) -> dict[str, Any]:
        source = self.loaded.source if self.loaded else {"format": "in-memory"}
        return {"sampling": to_dict(self.sampling), "prompt": to_dict(self.prompt),
                "letter_rule": self.bench.letter_rule, "source": source}


def plan_for(bench: Benchmark, samples: list[Sample], cfg: EvalConfig, model: Any,
             loaded: LoadedBenchmark | None = None, use_defaults: bool = True,
             explicit: Collection[str] = ()) -> BenchmarkPlan:
    cfg = cfg if use_defaults else dataclasses.replace(cfg, benchmark_defaults=False)
    sampling, prompt = benchmark_settings(cfg, bench.name, bench.template, bench.sampling, explicit)
    if cfg.match_patch_multiple:
        sampling = fit_sampling(sampling, model)
    return BenchmarkPlan(bench, samples, sampling, prompt, loaded)


def generate_shard(generator: BatchGenerator, plan: BenchmarkPlan, batch_size: int, done: set[str], rank: int,
                   world: int, writer: PredictionWriter | None, advance: Callable[[int], None]) -> list[dict]:
    """Generate for this rank's pending samples (index % world == rank, not yet ``ok``), writing per batch."""
    mine = [s for i, s in enumerate(plan.samples) if i % world == rank and s.problem_id not in done]
    mine.sort(key=lambda s: s.path)  # questions on one video are adjacent, so its frames are decoded once
    cache = FrameCache(max_bytes=256 * 2**20)
    rows: list[dict] = []
    for start in range(0, len(mine), batch_size):
        batch_rows = generator.run(mine[start:start + batch_size], plan.sampling, plan.prompt, cache)
        for row in batch_rows:
            row["rank"] = rank
        if writer is not None:
            writer.write(batch_rows)
        rows += batch_rows
        advance(len(batch_rows))
    return rows


def _resolve_model(model_or_dir: Any, processor: Any, dtype: str, device: Any = None) -> tuple[Any, Any]:
    if isinstance(model_or_dir, str | Path):
        import torch

        on_gpu = device is not None and str(device).startswith("cuda")
        dtypes = {"auto": torch.bfloat16 if on_gpu else torch.float32, "float32": torch.float32,
                  "bfloat16": torch.bfloat16, "float16": torch.float16}
        if dtype not in dtypes:
            raise ConfigError(f"config key 'dtype': {dtype!r} is not one of {list(dtypes)}")
        model, loaded_processor = load_vlm(model_or_dir, dtype=dtypes[dtype])
        if device is not None:
            model.to(device)
        return model, processor or loaded_processor
    if processor is None:
        raise FFRError("evaluate(): a loaded model needs its processor")
    return model_or_dir, processor


def evaluate(model_or_dir: Any, processor: Any, samples: Sequence[Sample], cfg: EvalConfig | None = None, *,
             benchmark: str = "synth", out_dir: str | Path | None = None) -> BenchmarkResult:
    """Evaluate ``samples`` in this process and score them as ``benchmark`` (default: the synthetic one).

    Accepts an already-loaded model and processor, or a model directory. Frames and prompt come from
    ``cfg.sampling`` / ``cfg.prompt`` exactly as given (no benchmark defaults: pass the training settings). With
    ``out_dir`` the per-sample rows are written there and a repeated call resumes.
    """
    cfg = cfg or EvalConfig()
    bench = get_benchmark(benchmark)
    model, processor = _resolve_model(model_or_dir, processor, cfg.dtype)
    plan = plan_for(bench, list(samples), cfg, model, use_defaults=False)
    was_training = model.training
    model.eval()
    generator = BatchGenerator(model, processor, cfg.decoding)
    started = time.perf_counter()
    try:
        if out_dir is None:
            rows = generate_shard(generator, plan, cfg.batch_size, set(), 0, 1, None, lambda n: None)
            predictions = {r["problem_id"]: r for r in rows}
        else:
            bench_dir = Path(out_dir) / bench.name
            done = merge_run_files(bench_dir).done_ids()
            with PredictionWriter(rank_file(bench_dir, 0)) as writer:
                generate_shard(generator, plan, cfg.batch_size, done, 0, 1, writer, lambda n: None)
            predictions = merge_run_files(bench_dir).rows
    finally:
        if was_training:
            model.train()
    result = score_rows(bench, plan.samples, predictions)
    result.settings = plan.settings()
    result.timing = {**generator.timing(), "wall_s": round(time.perf_counter() - started, 4)}
    return result


# --- ffr eval ------------------------------------------------------------------------------------------------------


def run_settings(cfg: EvalConfig, model: Any, plans: Sequence[BenchmarkPlan], world: int, device: Any) -> dict:
    return {"model": str(Path(cfg.model).resolve()), "model_type": model_type(model), "dtype": str(model.dtype),
            "device": str(device), "processes": world, "decoding": to_dict(cfg.decoding),
            "benchmarks": {p.bench.name: p.settings() for p in plans}, "config": to_dict(cfg),
            "versions": package_versions()}


def _check_resume(out: Path, settings: dict, resume: bool, names: Sequence[str]) -> None:
    path = out / SETTINGS_FILE
    if not resume:
        for name in names:
            shutil.rmtree(out / name, ignore_errors=True)
    elif path.is_file():
        previous = json.loads(path.read_text())
        for key in GENERATION_KEYS:
            old, new = previous.get(key), settings.get(key)
            if key == "benchmarks":
                old = {k: {f: v for f, v in b.items() if f != "source"} for k, b in (old or {}).items() if k in new}
                new = {k: {f: v for f, v in b.items() if f != "source"} for k, b in new.items() if k in old}
            if old != new:
                raise ConfigError(f"{out}: holds a run with different '{key}' settings; resuming would mix them "
                                  "(use a new --out, or resume=false to start over)")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def run_eval(cfg: EvalConfig, explicit: Collection[str] = ()) -> dict[str, Any] | None:
    """``ffr eval``: this process's shard of every benchmark; rank 0 returns the results (others None).

    ``explicit``: dotted config keys the user set (``--config`` / ``key=value``); benchmark defaults leave them be.
    """
    import torch
    from accelerate import PartialState

    if not cfg.model or not cfg.benchmarks or not cfg.out:
        raise ConfigError("ffr eval needs --model, --benchmarks and --out")
    # Names as the registry spells them (``Video-MME`` is videomme): they name the run's folders.
    cfg = dataclasses.replace(cfg, benchmarks=list(dict.fromkeys(resolve_benchmark(n, cfg).name
                                                                 for n in cfg.benchmarks)))
    state = PartialState(cpu=not torch.cuda.is_available())  # cpu=True is what enables gloo ranks on CPU
    rank, world = state.process_index, state.num_processes
    loaded = [load_benchmark(name, cfg) for name in cfg.benchmarks]
    model, processor = _resolve_model(cfg.model, None, cfg.dtype, state.device)
    model.eval()
    plans = [plan_for(lb.benchmark, lb.samples, cfg, model, lb, explicit=explicit) for lb in loaded]
    out = Path(cfg.out)
    settings = run_settings(cfg, model, plans, world, state.device)
    if state.is_main_process:
        _check_resume(out, settings, cfg.resume, cfg.benchmarks)
    state.wait_for_everyone()
    generator = BatchGenerator(model, processor, cfg.decoding)
    for plan in plans:
        bench_dir = out / plan.bench.name
        done = merge_run_files(bench_dir).done_ids()
        started = time.perf_counter()
        generator.reset_timing()
        todo = sum(1 for i, s in enumerate(plan.samples) if i % world == rank and s.problem_id not in done)
        with progress_bar(cfg.progress and state.is_main_process, f"{plan.bench.name}", todo, unit="samples") as bar, \
                PredictionWriter(rank_file(bench_dir, rank)) as writer:
            generate_shard(generator, plan, cfg.batch_size, done, rank, world, writer, bar.advance)
        timing = {**generator.timing(), "wall_s": round(time.perf_counter() - started, 4)}
        (bench_dir / f"timing.rank{rank}.json").write_text(json.dumps(timing))
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    return finalize(out, plans, settings)


def _merged_timing(bench_dir: Path) -> dict[str, float]:
    parts = [json.loads(p.read_text()) for p in sorted(bench_dir.glob("timing.rank*.json"))]
    if not parts:
        return {}
    total = {k: round(sum(p.get(k, 0.0) for p in parts), 4) for k in ("decode_s", "preprocess_s", "generate_s")}
    total["samples"] = sum(int(p.get("samples", 0)) for p in parts)
    total["wall_s"] = max(p.get("wall_s", 0.0) for p in parts)
    total["samples_per_s"] = round(total["samples"] / total["wall_s"], 4) if total["wall_s"] else 0.0
    return total


def finalize(out: Path, plans: Sequence[BenchmarkPlan], settings: dict) -> dict[str, Any]:
    """Merge every rank's rows, score each benchmark, write scored rows and the reports."""
    results: dict[str, Any] = {}
    for plan in plans:
        bench_dir = out / plan.bench.name
        merged = merge_run_files(bench_dir)
        loaded = plan.loaded
        load_counts = {"skipped_rows": sum(loaded.skipped.values()), "skip_reasons": dict(loaded.skipped),
                       "skip_examples": loaded.skip_examples} if loaded else {}
        load_counts["unreadable_prediction_lines"] = merged.unreadable_lines
        result = score_rows(plan.bench, plan.samples, merged.rows, load_counts,
                            source_format=loaded.source["format"] if loaded else None)
        result.settings, result.timing = plan.settings(), _merged_timing(bench_dir)
        write_scored_rows(bench_dir / "scored.jsonl", result)
        results[plan.bench.name] = result.to_json()
    payload = {"settings": settings, "benchmarks": results}
    write_reports(out, payload, chart=settings["config"].get("chart", True))
    return payload
