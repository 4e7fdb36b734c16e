"""``ffr data prepare``: validate Video-R1-style rows, resolve and probe their videos, keep the good rows.

Every input file becomes ``OUT/<stem>.jsonl`` (absolute video paths; loadable with
``datasets.load_dataset("json", ...)``) and ``OUT/report.json`` counts kept and dropped rows by reason, with a few
examples each, and records the settings used. Probes run in a thread pool; a probe cache in ``OUT/.probe_cache.json``
(keyed by path, size, modification time and sampling settings) skips files that have not changed since the last run.

Nothing is lost: an output that would replace an input (also through a symlink) is refused, and so is a folder that
holds another prepared set or files prepare did not write, unless ``overwrite`` is given.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ffr_data.config import each, field, non_negative, one_of, positive, to_dict
from ffr_data.errors import FFRError, SchemaError
from ffr_data.probing import ProbeCache, ProbeResult, probe_all
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import (
    DATA_TYPES,
    Sample,
    jsonl_line,
    parse_sample,
    read_rows,
    read_text_file,
    resolve_video,
    write_text_atomic,
)

PROBE_CACHE = ".probe_cache.json"
REPORT = "report.json"


@dataclass(frozen=True)
class PrepareConfig:
    sampling: FrameSamplingConfig = field(default_factory=FrameSamplingConfig,
                                          help="The frame sampling whose frames every video must decode.")
    data_types: list[str] = field(default_factory=lambda: ["video"],
                                  help="Row data_types to keep; other rows are dropped as unsupported_data_type.",
                                  check=each(one_of(DATA_TYPES)))
    workers: int = field(2, help="Videos probed in parallel (threads; the decoders release the GIL).", check=positive)
    examples_per_reason: int = field(3, help="Example rows kept in the report for each drop reason.",
                                     check=non_negative)
    use_probe_cache: bool = field(True, help="Reuse earlier probe results for files whose size and modification "
                                             "time are unchanged.")


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
    text = read_text_file(path)
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise FFRError(f"{path}: root map is not valid JSON/YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) and "\0" not in v for v in data.values()):
        raise FFRError(f"{path}: root map must be a mapping of data_source -> folder")
    return {str(k): v for k, v in data.items()}


def _outside_video(sample: Sample, probe: ProbeResult) -> str | None:
    """Why the row's evidence cites a time the video does not have, or None."""
    if sample.evidence is None:
        return None
    times = [t for w in sample.evidence.windows for t in w] + [r.t for r in sample.evidence.regions]
    late = [t for t in times if t > probe.duration + 1e-6]
    return f"evidence at {max(late):.3f}s, video is {probe.duration:.3f}s long" if late else None


def _schema_reason(exc: SchemaError) -> str:
    return f"schema_error:{exc.field or 'row'}"


def _row_id(row: Any) -> str | None:
    value = row.get("problem_id") if isinstance(row, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def parse_file(path: Path, seen: dict[str, str]) -> tuple[list[tuple[int, Sample]], list[Drop]]:
    """Valid samples with their row numbers, and the rows dropped by the schema. ``seen`` maps every problem_id kept
    so far (in this and earlier input files) to where it was first seen; a repeat is dropped, never merged."""
    samples, drops = [], []
    for index, row in read_rows(path):
        if isinstance(row, SchemaError):
            drops.append(Drop("malformed_json", str(path), index, None, str(row)))
            continue
        try:
            sample = parse_sample(row, file=str(path), row_index=index)
        except SchemaError as exc:
            drops.append(Drop(_schema_reason(exc), str(path), index, _row_id(row), str(exc)))
            continue
        if sample.problem_id in seen:
            drops.append(Drop("duplicate_problem_id", str(path), index, sample.problem_id,
                              f"{path}:{index}: problem_id {sample.problem_id!r} repeats (first at "
                              f"{seen[sample.problem_id]})"))
            continue
        seen[sample.problem_id] = f"{path}:{index}"
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


def _same_file(a: Path, b: Path) -> bool:
    """Whether writing ``a`` would replace ``b``: the same path, or the same file through symlinks or hard links."""
    if os.path.abspath(a) == os.path.abspath(b) or os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _previous_set(out_dir: Path) -> tuple[set[str] | None, set[str]]:
    """(real paths of the inputs, names of the outputs) of the set prepared in ``out_dir`` before; (None, …) when
    the folder holds a ``report.json`` that prepare did not write."""
    path = out_dir / REPORT
    if not path.is_file():
        return set(), set()
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        files = report["files"]
        inputs = {os.path.realpath(p) for p in report.get("inputs", files)}
        return inputs, {Path(entry["output"]).name for entry in files.values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, set()


def _guard_outputs(inputs: list[Path], outputs: dict[Path, Path], out_dir: Path, protected: list[Path],
                   overwrite: bool) -> set[str]:
    """Refuse a run that would lose data; returns the names of an earlier set's outputs that this run replaces.

    An output may never replace an input (``protected``: the input files and the root map). Without ``overwrite``,
    ``out_dir`` may only hold the set prepared earlier from the same inputs (re-running is idempotent); other
    inputs' sets and files that prepare did not write are refused.
    """
    written = [*outputs.values(), out_dir / REPORT, out_dir / PROBE_CACHE]
    for target in written:
        for source in protected:
            if _same_file(target, source):
                raise FFRError(f"{source}: --out {out_dir} would overwrite this input with its {target.name}; "
                               "choose another --out")
    previous_inputs, previous_outputs = _previous_set(out_dir)
    if overwrite:
        return previous_outputs
    if previous_inputs is None:
        raise FFRError(f"{out_dir / REPORT}: exists and was not written by ffr data prepare; choose another --out "
                       "or pass --overwrite")
    current = {os.path.realpath(p) for p in inputs}
    if previous_inputs and previous_inputs != current:
        raise FFRError(f"{out_dir}: holds a set prepared from other inputs ({', '.join(sorted(previous_inputs))}); "
                       "choose another --out, or pass --overwrite to replace it")
    for target in outputs.values():
        if target.exists() and target.name not in previous_outputs:
            raise FFRError(f"{target}: exists and was not written by ffr data prepare; choose another --out or pass "
                           "--overwrite")
    return previous_outputs


def _roots(video_root: Path | None, root_map_file: Path | None) -> tuple[Path | None, dict[str, Path]]:
    if video_root is not None and not video_root.is_dir():
        raise FFRError(f"{video_root}: video root is not a folder")
    mapping = load_root_map(root_map_file)
    base = root_map_file.parent if root_map_file is not None else Path.cwd()
    roots = {source: Path(os.path.abspath(base / folder)) for source, folder in mapping.items()}
    for source, folder in roots.items():
        if not folder.is_dir():
            raise FFRError(f"{root_map_file}: the folder for data_source {source!r} is not a folder: {folder}")
    return video_root, roots


def _reason_table(drops: list[Drop], examples: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for drop in drops:
        entry = table.setdefault(drop.reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < examples:
            entry["examples"].append({"file": drop.file, "row": drop.row, "problem_id": drop.problem_id,
                                      "detail": drop.detail})
    return dict(sorted(table.items()))


def _check_arguments(inputs: list[Path], out_dir: Path) -> None:
    if not inputs:
        raise FFRError("no input files given")
    try:
        for path in inputs:
            if not path.is_file():
                raise FFRError(f"{path}: input file not found" if not path.exists() else f"{path}: input is not a file")
        if out_dir.exists() and not out_dir.is_dir():
            raise FFRError(f"{out_dir}: --out must be a folder")
    except OSError as exc:
        raise FFRError(f"{exc.filename}: cannot be looked up ({exc.strerror})") from None


def _resolve_rows(inputs: list[Path], cfg: PrepareConfig, default_root: Path | None, roots: dict[str, Path]
                  ) -> tuple[dict[Path, list[tuple[int, Sample, Path]]], list[Drop]]:
    """Every valid row with its video's real path, and the rows dropped before any video is opened."""
    drops: list[Drop] = []
    rows: dict[Path, list[tuple[int, Sample, Path]]] = {}
    seen: dict[str, str] = {}
    for path in inputs:
        samples, file_drops = parse_file(path, seen)
        drops += file_drops
        rows[path] = []
        for index, sample in samples:
            if sample.data_type not in cfg.data_types:
                drops.append(Drop("unsupported_data_type", str(path), index, sample.problem_id,
                                  f"{path}:{index}: data_type {sample.data_type!r} (kept: {', '.join(cfg.data_types)})"))
                continue
            root = roots.get(sample.data_source) or default_root or path.parent
            try:
                rows[path].append((index, sample, resolve_video(sample.path, root, confine_absolute=True)))
            except ValueError as exc:
                drops.append(Drop("path_escapes_root", str(path), index, sample.problem_id,
                                  f"{path}:{index}: {exc} (--video-root or --root-map name the allowed folders)"))
    return rows, drops


def prepare(inputs: list[Path], out_dir: Path, cfg: PrepareConfig | None = None, *, video_root: Path | None = None,
            root_map_file: Path | None = None, progress: bool = True, overwrite: bool = False) -> Prepared:
    """Validate, resolve and probe; write one prepared JSONL per input and ``report.json``."""
    cfg = cfg or PrepareConfig()
    _check_arguments(inputs, out_dir)
    default_root, roots = _roots(video_root, root_map_file)
    outputs = _output_names(inputs, out_dir)
    protected = [*inputs, *([root_map_file] if root_map_file is not None else [])]
    replaced = _guard_outputs(inputs, outputs, out_dir, protected, overwrite)
    rows, drops = _resolve_rows(inputs, cfg, default_root, roots)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FFRError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
    cache = ProbeCache(out_dir / PROBE_CACHE, to_dict(cfg.sampling), cfg.use_probe_cache)
    videos = sorted({video for items in rows.values() for _, _, video in items})
    probes, probed = probe_all(videos, cfg.sampling, cfg.workers, cache, progress)
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
            kept.append(jsonl_line({**sample.to_json(), "path": str(video)}))
        write_text_atomic(outputs[path], "".join(kept))
        kept_by_file[str(path)] = len(kept)
    cache.save()
    for name in replaced - {target.name for target in outputs.values()}:
        (out_dir / name).unlink(missing_ok=True)  # an earlier set's output that --overwrite replaces
    drops.sort(key=lambda d: (inputs.index(Path(d.file)), d.row if d.row is not None else -1))
    report = {
        "kept": sum(kept_by_file.values()),
        "dropped": len(drops),
        "dropped_by_reason": _reason_table(drops, cfg.examples_per_reason),
        "inputs": [os.path.realpath(p) for p in inputs],
        "files": {str(p): {"output": str(outputs[p]), "kept": kept_by_file[str(p)],
                           "dropped": sum(d.file == str(p) for d in drops)} for p in inputs},
        "videos": {"distinct": len(videos), "usable": sum(p.reason is None for p in probes.values()),
                   "rows_by_decoder": dict(sorted(backends.items()))},
        "settings": {"video_root": str(default_root) if default_root else None,
                     "root_map": {k: str(v) for k, v in sorted(roots.items())}, **to_dict(cfg)},
    }
    write_text_atomic(out_dir / REPORT, json.dumps(report, indent=2, allow_nan=False) + "\n")
    return Prepared(report, {str(p): o for p, o in outputs.items()}, probed, len(videos) - probed)
