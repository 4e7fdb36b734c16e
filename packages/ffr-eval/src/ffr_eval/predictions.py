"""Per-sample prediction files: appended per batch (flushed and synced), read back tolerantly, merged across ranks.

A row is ``{"problem_id", "status": "ok" | "error", "output", "error", "error_kind", "num_frames", "rank"}``.
A run resumes by skipping ids that already have an ``ok`` row; ``error`` rows are retried. A torn last line (a
killed process) is ignored and that sample is generated again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffr_data.errors import SchemaError
from ffr_data.schema import read_rows, read_text_file

# Native question keys too: Video-MME's question_id, VSI-Bench's / MMVU's id, LVBench's uid, Video-Holmes'
# "Question ID".
ID_KEYS = ("problem_id", "question_id", "id", "qid", "uid", "Question ID")
OUTPUT_KEYS = ("output", "response", "prediction", "pred", "text")


def rank_file(bench_dir: Path, rank: int) -> Path:
    return bench_dir / f"predictions.rank{rank}.jsonl"


class PredictionWriter:
    """Appends rows to one rank's JSONL file; each ``write`` is flushed and fsynced, so a crash loses at most the
    batch in flight."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        torn_tail = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._fh = path.open("a", encoding="utf-8")
        if torn_tail:  # a killed writer left half a line: end it, so the next row starts on a line of its own
            self._fh.write("\n")

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_run_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of one rank file and the number of unreadable lines (a torn tail after a crash)."""
    if not path.is_file():
        return [], 0
    rows, bad = [], 0
    for line in read_text_file(path).splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict) and "problem_id" in row:
            rows.append(row)
        else:
            bad += 1
    return rows, bad


@dataclass
class MergedPredictions:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    unreadable_lines: int = 0

    def done_ids(self) -> set[str]:
        return {pid for pid, row in self.rows.items() if row.get("status") == "ok"}


def merge_run_files(bench_dir: Path) -> MergedPredictions:
    """One row per id over every rank file: the last ``ok`` row wins over any ``error`` row."""
    merged = MergedPredictions()
    for path in sorted(bench_dir.glob("predictions.rank*.jsonl")):
        rows, bad = read_run_rows(path)
        merged.unreadable_lines += bad
        for row in rows:
            pid = str(row["problem_id"])
            previous = merged.rows.get(pid)
            if previous is None or row.get("status") == "ok" or previous.get("status") != "ok":
                merged.rows[pid] = row
    return merged


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((row[k] for k in keys if k in row and row[k] is not None), None)


@dataclass
class PredictionFile:
    """A user's predictions: id -> row, plus what could not be used (one message per row)."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    unusable: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def read_prediction_file(path: str | Path) -> PredictionFile:
    """A user's predictions (JSONL rows, a JSON list, or Video-R1's ``{"results": [...]}``) as id -> row with
    ``output``. A row without an id or an output is unusable; a second answer for an id is a duplicate, and the
    first is kept (a row after an ``error`` row for the same id is a retry, as ``ffr eval`` writes on resume)."""
    found = PredictionFile()
    first_row: dict[str, Any] = {}
    for index, row in read_rows(path):
        if isinstance(row, SchemaError):
            found.unusable.append(str(row))
            continue
        if not isinstance(row, dict):
            found.unusable.append(f"{path}:{index}: a prediction row must be an object")
            continue
        pid, output = _first(row, ID_KEYS), _first(row, OUTPUT_KEYS)
        status = row.get("status", "ok")
        if pid is None or (output is None and status == "ok"):
            found.unusable.append(f"{path}:{index}: needs a question id ({'/'.join(ID_KEYS)}) and a model output "
                                  f"({'/'.join(OUTPUT_KEYS)})")
            continue
        pid = str(pid)
        previous = found.rows.get(pid)
        if previous is not None and previous["status"] == "ok":
            found.duplicates.append(f"{path}:{index}: id {pid!r} again (first at row {first_row[pid]}; kept the first)")
            continue
        first_row[pid] = index
        found.rows[pid] = {"problem_id": pid, "status": status, "output": None if output is None else str(output),
                           "error": row.get("error"), "error_kind": row.get("error_kind")}
    return found
