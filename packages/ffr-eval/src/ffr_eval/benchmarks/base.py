"""The benchmark registry: one declarative entry per benchmark, plus helpers the native loaders share.

A native loader is a pair of small hooks: ``find(root)`` lists the annotation files of the native release under a
benchmark root, and ``convert(file, video_root)`` yields ``(where, row)`` pairs, where ``row`` is an FFR-schema dict
(validated later by ``ffr_data.schema.parse_sample``) or a :class:`Skip` with its reason. Loaders are pure: they
never check that videos exist (that is reported per sample at generation time, and scoring needs no videos).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffr_data.errors import SchemaError
from ffr_data.registry import Registry, RegistryError
from ffr_data.schema import read_text_file
from ffr_eval.aggregate import AggregationSpec

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ACCURACY = ("overall_micro", "accuracy (%)")


@dataclass(frozen=True)
class Skip:
    """A row that is deliberately not evaluated, with the reason (counted in the report)."""

    reason: str


Converted = Iterator[tuple[str, "dict[str, Any] | Skip"]]


@dataclass(frozen=True)
class NativeFormat:
    layout: str
    find: Callable[[Path], list[Path]]
    convert: Callable[[Path, Path], Converted]
    video_root: Callable[[Path], Path] = lambda root: root


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: how to load it, read answers, aggregate, and what to report first."""

    name: str
    title: str
    native: NativeFormat | None
    aggregation: AggregationSpec
    # (metric, label) candidates for the strict and lenient headline, the first one present wins: for the native
    # release, and for a file in the Video-R1-eval / FFR schema (where the published number is Video-R1's).
    headline: tuple[tuple[str, str], ...] = (ACCURACY,)
    video_r1_headline: tuple[tuple[str, str], ...] = (ACCURACY,)
    official: str | None = None  # the ported reference scorer of the native release (ffr_eval.official)
    letter_rule: str = "shared-mcq"
    video_r1_files: tuple[str, ...] = ()
    dirnames: tuple[str, ...] = ()
    template: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default_factory=tuple)


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def register(benchmark: Benchmark) -> Benchmark:
    return BENCHMARKS.add(benchmark.name, benchmark)


def _spelling(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def get_benchmark(name: str, extra: dict[str, Benchmark] | None = None) -> Benchmark:
    """A benchmark by its name, or by any spelling of its name, title or release folder that differs only in case
    and punctuation (``Video-MME``, ``video-holmes``, ``VSI_Bench``)."""
    known = {**BENCHMARKS, **(extra or {})}
    if name in known:
        return known[name]
    wanted = _spelling(name)
    for bench in known.values():
        if wanted in {_spelling(spelling) for spelling in (bench.name, bench.title, *bench.dirnames)}:
            return bench
    raise RegistryError.unknown(BENCHMARKS.kind, name, known)


# --- helpers for native loaders ----------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """Parquet cells (numpy arrays, numpy scalars, NaN) as plain JSON values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_records(path: Path) -> Any:
    """A JSON document, a JSONL file (list of objects) or a parquet table (list of row dicts)."""
    if not path.is_file():
        raise SchemaError("annotation file not found", file=str(path))
    if path.suffix == ".parquet":
        import pandas as pd

        try:
            table = pd.read_parquet(path)
        except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise SchemaError(f"not a readable parquet file ({reason})", file=str(path)) from None
        return [plain(row) for row in table.to_dict("records")]
    text = read_text_file(path)
    if path.suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SchemaError(f"malformed JSON line ({exc.msg})", file=str(path), row=lineno) from None
        return rows
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not valid JSON ({exc.msg} at line {exc.lineno})", file=str(path)) from None


def records_list(path: Path) -> list[Any]:
    data = read_records(path)
    if not isinstance(data, list):
        raise SchemaError("expected a list of rows", file=str(path))
    return data


def lettered(texts: list[str]) -> list[str]:
    return [f"{LETTERS[i]}. {str(text).strip()}" for i, text in enumerate(texts)]


def mc_row(problem_id: str, path: str, question: str, option_texts: list[str], answer_letter: str, source: str,
           meta: dict[str, Any]) -> dict[str, Any]:
    return {"problem_id": problem_id, "path": path, "problem_type": "multiple choice", "problem": question,
            "options": lettered(option_texts), "solution": f"<answer>{answer_letter}</answer>", "data_source": source,
            "data_type": "video", "meta": meta}


def text_row(problem_id: str, path: str, question: str, answer: str, problem_type: str, source: str,
             meta: dict[str, Any]) -> dict[str, Any]:
    return {"problem_id": problem_id, "path": path, "problem_type": problem_type, "problem": question,
            "solution": f"<answer>{str(answer).strip()}</answer>", "data_source": source, "data_type": "video",
            "meta": meta}


def first_existing(*candidates: Path) -> Path:
    """The first candidate that exists, else the first one (whose absence is reported when it is decoded)."""
    return next((c for c in candidates if c.exists()), candidates[0])


def files(root: Path, *patterns: str) -> list[Path]:
    """Files matching the first pattern that matches anything, sorted."""
    for pattern in patterns:
        found = sorted(p for p in root.glob(pattern) if p.is_file())
        if found:
            return found
    return []


_VIDEO_INDEX: dict[Path, dict[str, Path]] = {}


def find_video(root: Path, stem: str, extensions: tuple[str, ...] = (".mp4", ".MP4", ".mkv", ".webm", ".avi")) -> Path:
    """A video named ``stem`` anywhere under ``root`` (indexed once per root); ``root/stem.mp4`` when there is none."""
    if root not in _VIDEO_INDEX:
        _VIDEO_INDEX[root] = {p.stem: p for p in sorted(root.rglob("*")) if p.suffix in extensions} if root.is_dir() \
            else {}
    return _VIDEO_INDEX[root].get(stem, root / f"{stem}.mp4")
