"""``ffr data prepare``: validate Video-R1-style rows, resolve and probe their videos, keep the good rows.

Every input file becomes ``OUT/<stem>.jsonl`` (absolute video paths; loadable with
``datasets.load_dataset("json", ...)``) and ``OUT/report.json`` counts kept and dropped rows by reason, with a few
examples each, and records the settings used. Probes run in a thread pool; a probe cache in ``OUT/.probe_cache.json``
(keyed by path, size, modification time and sampling settings) skips files that have not changed since the last run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ffr_data.config import field, to_dict
from ffr_data.errors import FFRError, SchemaError, VideoError
from ffr_data.sampling import FrameSamplingConfig, sample_indices
from ffr_data.schema import Sample, parse_sample, read_rows, resolve_video
from ffr_data.video import decode_frames, probe_video

PROBE_CACHE = ".probe_cache.json"
REPORT = "report.json"


@dataclass(frozen=True)
class PrepareConfig:
    sampling: FrameSamplingConfig = field(default_factory=FrameSamplingConfig,
                                          help="The frame sampling whose frames every video must decode.")
    data_types: list[str] = field(default_factory=lambda: ["video"],
                                  help="Row data_types to keep; other rows are dropped as unsupported_data_type.")
    workers: int = field(2, help="Videos probed in parallel (threads; the decoders release the GIL).")
    examples_per_reason: int = field(3, help="Example rows kept in the report for each drop reason.")
    use_probe_cache: bool = field(True, help="Reuse earlier probe results for files whose size and modification "
                                             "time are unchanged.")


@dataclass(frozen=True)
class ProbeResult:
    """What probing one video found: its facts, or the reason it is unusable."""

    reason: str | None = None  # None: usable
    detail: str = ""
    duration: float = 0.0
    fps: float = 0.0
    num_frames: int = 0
    backend: str = ""


@dataclass
class Drop:
    reason: str
    file: str
    row: int | None
    problem_id: str | None
    detail: str


def load_root_map(path: Path | None) -> dict[str, str]:
    """``data_source -> video root`` from a JSON or YAML mapping file."""
    if path is None:
        return {}
    if not path.is_file():
        raise FFRError(f"{path}: root map not found")
    try:
        data = yaml.safe_load(path.read_text())  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise FFRError(f"{path}: root map is not valid JSON/YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise FFRError(f"{path}: root map must be a mapping of data_source -> folder")
    return {str(k): v for k, v in data.items()}


def probe_one(path: Path, sampling: FrameSamplingConfig) -> ProbeResult:
    """Open the video, read its facts and decode the frames ``sampling`` would take."""
    if not path.is_file():
        return ProbeResult("missing_file", f"{path}: file not found")
    if path.stat().st_size == 0:
        return ProbeResult("empty_file", f"{path}: file is empty (0 bytes)")
    try:
        info = probe_video(path, sampling.backend, sampling.fallback_backend)
    except VideoError as exc:
        return ProbeResult("corrupt_video", str(exc))
    try:
        indices = sample_indices(info, sampling)
    except ValueError as exc:
        return ProbeResult("too_few_frames", str(exc))
    try:
        decode_frames(path, indices=indices, info=info)
    except VideoError as exc:
        return ProbeResult("frames_not_decodable", str(exc))
    return ProbeResult(None, "", round(info.duration, 6), round(info.fps, 6), info.num_frames, info.backend)


class ProbeCache:
    """Probe results keyed by file identity (path, size, mtime) and the sampling settings."""

    def __init__(self, path: Path, settings: dict[str, Any], enabled: bool):
        self.path, self.settings, self.enabled = path, settings, enabled
        self.entries: dict[str, Any] = {}
        if enabled and path.is_file():
            try:
                stored = json.loads(path.read_text())
                if stored.get("settings") == settings:
                    self.entries = stored.get("entries", {})
            except (OSError, ValueError, AttributeError):
                self.entries = {}

    @staticmethod
    def _stamp(path: Path) -> list[int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return [stat.st_size, stat.st_mtime_ns]

    def get(self, path: Path) -> ProbeResult | None:
        entry = self.entries.get(str(path))
        stamp = self._stamp(path)
        if not self.enabled or entry is None or stamp is None or entry["stamp"] != stamp:
            return None
        return ProbeResult(**entry["result"])

    def put(self, path: Path, result: ProbeResult) -> None:
        stamp = self._stamp(path)
        if stamp is not None:
            self.entries[str(path)] = {"stamp": stamp, "result": result.__dict__}

    def save(self) -> None:
        if self.enabled:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"settings": self.settings, "entries": dict(sorted(self.entries.items()))}))
            tmp.replace(self.path)


def _outside_video(sample: Sample, probe: ProbeResult) -> str | None:
    """Why the row's evidence cites a time the video does not have, or None."""
    if sample.evidence is None:
        return None
    times = [t for w in sample.evidence.windows for t in w] + [r.t for r in sample.evidence.regions]
    late = [t for t in times if t > probe.duration + 1e-6]
    return f"evidence at {max(late):.3f}s, video is {probe.duration:.3f}s long" if late else None


def _schema_reason(exc: SchemaError) -> str:
    return f"schema_error:{exc.field or 'row'}"


def parse_file(path: Path) -> tuple[list[tuple[int, Sample]], list[Drop]]:
    """Valid samples with their row numbers, and the rows dropped by the schema."""
    samples, drops = [], []
    seen: set[str] = set()
    for index, row in read_rows(path):
        problem_id = str(row.get("problem_id")) if isinstance(row, dict) and row.get("problem_id") is not None else None
        if isinstance(row, SchemaError):
            drops.append(Drop("malformed_json", str(path), index, None, str(row)))
            continue
        try:
            sample = parse_sample(row, file=str(path), row_index=index)
        except SchemaError as exc:
            drops.append(Drop(_schema_reason(exc), str(path), index, problem_id, str(exc)))
            continue
        if sample.problem_id in seen:
            drops.append(Drop("duplicate_problem_id", str(path), index, sample.problem_id,
                              f"{path}:{index}: problem_id {sample.problem_id!r} repeats"))
            continue
        seen.add(sample.problem_id)
        samples.append((index, sample))
    return samples, drops


@dataclass
class Prepared:
    report: dict[str, Any]
    outputs: dict[str, Path]
    probed: int  # videos opened in this run
    reused: int  # probe results taken from the cache


def _output_names(inputs: list[Path], out_dir: Path) -> dict[Path, Path]:
    names: dict[Path, Path] = {}
    for path in inputs:
        target = out_dir / f"{path.stem}.jsonl"
        if target in names.values():
            raise FFRError(f"{path}: another input has the same name; outputs are named after inputs ({target.name})")
        names[path] = target
    return names


def _roots(video_root: Path | None, root_map_file: Path | None) -> tuple[Path | None, dict[str, Path]]:
    if video_root is not None and not video_root.is_dir():
        raise FFRError(f"{video_root}: video root is not a folder")
    mapping = load_root_map(root_map_file)
    base = root_map_file.parent if root_map_file is not None else Path.cwd()
    roots = {source: Path(os.path.abspath(base / folder)) for source, folder in mapping.items()}
    return video_root, roots


def _probe_all(paths: list[Path], cfg: PrepareConfig, cache: ProbeCache, progress: bool) -> tuple[dict, int]:
    results: dict[Path, ProbeResult] = {}
    todo = []
    for path in paths:
        cached = cache.get(path)
        if cached is None:
            todo.append(path)
        else:
            results[path] = cached
    bar_context = nullcontext(None)
    if progress and todo:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar_context = Progress(TextColumn("probing videos"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with bar_context as bar, ThreadPoolExecutor(max(1, cfg.workers)) as pool:
        task = bar.add_task("probe", total=len(todo)) if bar is not None else None
        for path, result in zip(todo, pool.map(lambda p: probe_one(p, cfg.sampling), todo), strict=True):
            results[path] = result
            cache.put(path, result)
            if bar is not None:
                bar.advance(task)
    return results, len(todo)


def _reason_table(drops: list[Drop], examples: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for drop in drops:
        entry = table.setdefault(drop.reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < examples:
            entry["examples"].append({"file": drop.file, "row": drop.row, "problem_id": drop.problem_id,
                                      "detail": drop.detail})
    return dict(sorted(table.items()))


def prepare(inputs: list[Path], out_dir: Path, cfg: PrepareConfig | None = None, *, video_root: Path | None = None,
            root_map_file: Path | None = None, progress: bool = True) -> Prepared:
    """Validate, resolve and probe; write one prepared JSONL per input and ``report.json``."""
    cfg = cfg or PrepareConfig()
    if not inputs:
        raise FFRError("no input files given")
    for path in inputs:
        if not path.is_file():
            raise FFRError(f"{path}: input file not found")
    if out_dir.exists() and not out_dir.is_dir():
        raise FFRError(f"{out_dir}: --out must be a folder")
    default_root, roots = _roots(video_root, root_map_file)
    outputs = _output_names(inputs, out_dir)
    drops: list[Drop] = []
    rows: dict[Path, list[tuple[int, Sample, Path]]] = {}
    for path in inputs:
        samples, file_drops = parse_file(path)
        drops += file_drops
        rows[path] = []
        for index, sample in samples:
            if sample.data_type not in cfg.data_types:
                drops.append(Drop("unsupported_data_type", str(path), index, sample.problem_id,
                                  f"{path}:{index}: data_type {sample.data_type!r} (kept: {', '.join(cfg.data_types)})"))
                continue
            root = roots.get(sample.data_source) or default_root or path.parent
            try:
                rows[path].append((index, sample, resolve_video(sample.path, root)))
            except ValueError as exc:
                drops.append(Drop("path_escapes_root", str(path), index, sample.problem_id, f"{path}:{index}: {exc}"))
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = ProbeCache(out_dir / PROBE_CACHE, to_dict(cfg.sampling), cfg.use_probe_cache)
    videos = sorted({video for items in rows.values() for _, _, video in items})
    probes, probed = _probe_all(videos, cfg, cache, progress)
    kept_by_file: dict[str, int] = {}
    backends: Counter = Counter()
    for path, items in rows.items():
        kept = []
        for index, sample, video in items:
            probe = probes[video]
            reason, detail = probe.reason, probe.detail
            if reason is None and (late := _outside_video(sample, probe)):
                reason, detail = "evidence_outside_video", f"{video}: {late}"
            if reason is not None:
                drops.append(Drop(reason, str(path), index, sample.problem_id, detail))
                continue
            backends[probe.backend] += 1
            kept.append(json.dumps({**sample.to_json(), "path": str(video)}, ensure_ascii=False))
        tmp = outputs[path].with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        tmp.replace(outputs[path])
        kept_by_file[str(path)] = len(kept)
    cache.save()
    drops.sort(key=lambda d: (inputs.index(Path(d.file)), d.row if d.row is not None else -1))
    report = {
        "kept": sum(kept_by_file.values()),
        "dropped": len(drops),
        "dropped_by_reason": _reason_table(drops, cfg.examples_per_reason),
        "files": {str(p): {"output": str(outputs[p]), "kept": kept_by_file[str(p)],
                           "dropped": sum(d.file == str(p) for d in drops)} for p in inputs},
        "videos": {"distinct": len(videos), "usable": sum(p.reason is None for p in probes.values()),
                   "rows_by_decoder": dict(sorted(backends.items()))},
        "settings": {"video_root": str(default_root) if default_root else None,
                     "root_map": {k: str(v) for k, v in sorted(roots.items())}, **to_dict(cfg)},
    }
    (out_dir / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    return Prepared(report, {str(p): o for p, o in outputs.items()}, probed, len(videos) - probed)
