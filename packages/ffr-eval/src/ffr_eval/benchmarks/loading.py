"""Loading a benchmark from a local copy: its native release, or the Video-R1-eval JSON / FFR JSONL schema.

Rows that fail the schema or that a loader deliberately skips are counted by reason (with a few examples), never
dropped silently. Video paths become absolute; their existence is checked when they are decoded.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffr_data.errors import ConfigError, FFRError, SchemaError
from ffr_data.schema import REQUIRED, Sample, parse_sample, read_rows, read_text_file
from ffr_eval.aggregate import AggregationSpec
from ffr_eval.benchmarks import base
from ffr_eval.benchmarks.base import BENCHMARKS, Benchmark, Skip, get_benchmark
from ffr_eval.config import BenchmarkSource, EvalConfig, nested, source_for

_SCHEMA_FIELDS = {f.name for f in dataclasses.fields(Sample)}
_TASK_FIELDS = ("task", "question_type", "original_question_type", "task_type", "sub_task", "family")
MAX_EXAMPLES = 5


@dataclass
class LoadedBenchmark:
    benchmark: Benchmark
    samples: list[Sample]
    skipped: Counter = field(default_factory=Counter)
    skip_examples: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        if len(self.skip_examples) < MAX_EXAMPLES:
            self.skip_examples.append(f"{where}: {reason}")


def user_benchmark(name: str, source: BenchmarkSource) -> Benchmark:
    if not source.annotation:
        raise ConfigError(f"config key 'user_benchmarks.{name}.annotation' is required (a JSON/JSONL file)")
    return Benchmark(name=name, title=source.title or name, native=None,
                     aggregation=AggregationSpec(breakdowns=("task", "problem_type")), letter_rule=source.letter_rule)


def known_benchmarks(cfg: EvalConfig) -> dict[str, Benchmark]:
    user = {}
    for name in nested(cfg.user_benchmarks):
        if name in BENCHMARKS:
            raise ConfigError(f"config key 'user_benchmarks.{name}': {name!r} is a built-in benchmark name")
        user[name] = user_benchmark(name, source_for(cfg, name))
    return {**BENCHMARKS, **user}


def resolve_benchmark(name: str, cfg: EvalConfig) -> Benchmark:
    return get_benchmark(name, known_benchmarks(cfg))


def _video_r1_names(bench: Benchmark, source: BenchmarkSource, split: str) -> list[str]:
    return [n.format(split=source.split or split) for n in bench.video_r1_files]


def _has_annotation(bench: Benchmark, root: Path, source: BenchmarkSource, split: str) -> bool:
    return any((root / n).is_file() for n in _video_r1_names(bench, source, split)) or bool(
        bench.native and bench.native.find(root))


def _benchmark_root(bench: Benchmark, cfg: EvalConfig, source: BenchmarkSource) -> Path:
    """The folder holding the benchmark's annotation: a folder named after it that has one, else ``data_root``
    itself when it has one (a Video-R1-eval folder keeps ``eval_<name>.json`` beside video folders named like the
    benchmarks), else the named folder (whose missing annotation is then reported)."""
    if source.root:
        return Path(source.root)
    if not cfg.data_root:
        raise ConfigError(f"{bench.name}: no data: pass --data-root (or per_benchmark.{bench.name}.root / .annotation)")
    data_root = Path(cfg.data_root)
    named = [data_root / d for d in dict.fromkeys((bench.name, *bench.dirnames)) if (data_root / d).is_dir()]
    for candidate in (*named, data_root):
        if _has_annotation(bench, candidate, source, cfg.split):
            return candidate
    return named[0] if named else data_root


def _schema_row(row: Any, index: int) -> Any:
    """A Video-R1-eval / FFR row with benchmark extras (question_type, duration, ...) moved into ``meta``."""
    if not isinstance(row, dict):
        return row
    row = dict(row)
    if "problem_id" not in row:
        row["problem_id"] = str(index)
    meta = dict(row.get("meta") or {}) if isinstance(row.get("meta") or {}, dict) else row.get("meta")
    if isinstance(meta, dict):
        for key in [k for k in row if k not in _SCHEMA_FIELDS]:
            value = row.pop(key)
            if isinstance(value, str | int | float | bool | list) or value is None:
                meta.setdefault(key, value)
        task = next((meta[k] for k in _TASK_FIELDS if meta.get(k) is not None), None)
        if task is not None:
            meta.setdefault("task", task)
        meta.setdefault("problem_type", row.get("problem_type"))
        row["meta"] = meta
    return row


def _schema_rows(path: Path, video_root: Path):
    for index, row in read_rows(path):
        if isinstance(row, SchemaError):
            yield str(index), row
            continue
        row = _schema_row(row, index)
        if isinstance(row, dict) and isinstance(row.get("path"), str) and not Path(row["path"]).is_absolute():
            row["path"] = str(video_root / row["path"].removeprefix("./"))
        yield str(index), row


def _looks_like_schema(path: Path) -> bool:
    if path.suffix == ".parquet":
        return False
    read_text_file(path)  # a binary or non-UTF-8 file gets its own one-line error, not a wrong format guess
    try:
        rows = read_rows(path)
    except SchemaError:
        return False
    first = next((row for _, row in rows if isinstance(row, dict)), None)
    return first is not None and all(k in first for k in REQUIRED if k != "problem_id")


def _pick_files(bench: Benchmark, root: Path, source: BenchmarkSource, split: str) -> tuple[str, list[Path]]:
    names = _video_r1_names(bench, source, split)
    schema_files = [root / n for n in names if (root / n).is_file()][:1]
    native_files = bench.native.find(root) if bench.native else []
    if source.format in ("auto", "video-r1") and schema_files:
        return "video-r1", schema_files
    if source.format in ("auto", "native") and native_files:
        return "native", native_files
    wanted = [f"video-r1: {' or '.join(names)}" if names else "", f"native: {bench.native.layout}" if bench.native
              else ""]
    raise FFRError(f"{bench.name}: no annotation found under {root} (looked for {'; '.join(w for w in wanted if w)})")


def load_benchmark(name: str, cfg: EvalConfig, data_file: str | Path | None = None) -> LoadedBenchmark:
    """Samples of one benchmark (first ``cfg.limit``), with skipped rows counted by reason."""
    bench = resolve_benchmark(name, cfg)
    source = source_for(cfg, bench.name)
    base._VIDEO_INDEX.clear()
    annotation = data_file or source.annotation
    if annotation:
        path = Path(annotation)
        if not path.exists():
            raise FFRError(f"{bench.name}: annotation file not found: {path}")
        root = path if path.is_dir() else path.parent
        if path.is_dir():
            fmt, paths = _pick_files(bench, path, source, cfg.split)
        else:
            schema = source.format == "video-r1" or (source.format == "auto" and _looks_like_schema(path))
            if not schema and bench.native is None:
                raise FFRError(f"{bench.name}: {path} is not in the Video-R1 / FFR schema (problem, solution, path, "
                               "...)")
            fmt, paths = ("video-r1" if schema else "native"), [path]
    else:
        root = _benchmark_root(bench, cfg, source)
        fmt, paths = _pick_files(bench, root, source, cfg.split)
    if source.video_root:
        video_root = Path(source.video_root)
    elif fmt == "native" and bench.native:
        video_root = bench.native.video_root(root)
    else:
        video_root = root
    loaded = LoadedBenchmark(bench, [], source={"format": fmt, "files": [str(p) for p in paths],
                                                "video_root": str(video_root)})
    seen: set[str] = set()
    for path in paths:
        rows = _schema_rows(path, video_root) if fmt == "video-r1" else bench.native.convert(path, video_root)
        try:
            for where, row in rows:
                _add_row(loaded, seen, path, where, row)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A file whose structure is not the documented one: the rest of it cannot be read.
            raise FFRError(f"{path}: not in {bench.title}'s {fmt} format ({type(exc).__name__}: {exc})") from None
    if cfg.limit is not None:
        loaded.samples = loaded.samples[: cfg.limit]
    return loaded


def _add_row(loaded: LoadedBenchmark, seen: set[str], path: Path, where: str, row: Any) -> None:
    if isinstance(row, Skip):
        loaded.skip(row.reason, where)
        return
    if isinstance(row, SchemaError):
        loaded.skip(f"schema: {row.reason}", str(row))
        return
    try:
        sample = parse_sample(row, file=str(path), row_index=where.rsplit(":", 1)[-1] if ":" in where else where)
    except SchemaError as exc:
        loaded.skip(f"schema: field '{exc.field}' invalid" if exc.field else f"schema: {exc.reason}", str(exc))
        return
    except (KeyError, TypeError, ValueError) as exc:
        loaded.skip(f"malformed row ({type(exc).__name__}: {exc})", where)
        return
    if sample.problem_id in seen:
        loaded.skip("duplicate problem_id", f"{where} ({sample.problem_id})")
        return
    seen.add(sample.problem_id)
    loaded.samples.append(sample)
