"""The sample schema: Video-R1-style rows plus optional ground-truth evidence annotations.

A row (JSON list element or JSONL line)::

    {"problem_id": "synth-00017", "data_source": "synth", "path": "videos/00017.mp4", "data_type": "video",
     "problem_type": "multiple choice", "problem": "Which colour flashed first?",
     "options": ["A. red", "B. green", "C. blue", "D. yellow"], "solution": "<answer>B</answer>",
     "process": "<think>…</think>",                                  # optional, for SFT
     "evidence": {"windows": [[1.5, 2.0]],                          # optional, seconds
                  "regions": [{"t": 1.75, "box": [0.1, 0.1, 0.3, 0.3], "label": "the small shape"}]},
     "meta": {"family": "order"}}                                    # optional, free-form

Validation reports the file, the row (1-based line for JSONL, 0-based index for a JSON list) and the field. Values
are never coerced: a list ``solution`` or an object ``problem_id`` is an error, not a string; numbers must be finite
(JSON has no NaN or Infinity), and a row must survive a strict JSON round trip.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ffr_data.errors import SchemaError

PROBLEM_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")
DATA_TYPES = ("video", "image")
REQUIRED = ("problem_id", "path", "problem_type", "problem", "solution")
_ANSWER_RE = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_OPTION_RE = re.compile(r"^\s*\(?([A-Z])[\.\):]\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Region:
    """A normalised box ``[x1, y1, x2, y2]`` in [0, 1] at time ``t`` (seconds), with a short label."""

    t: float
    box: tuple[float, float, float, float]
    label: str = ""


@dataclass(frozen=True)
class Evidence:
    """Ground-truth evidence for a question: time windows in seconds and regions."""

    windows: tuple[tuple[float, float], ...] = ()
    regions: tuple[Region, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"windows": [list(w) for w in self.windows],
                "regions": [{"t": r.t, "box": list(r.box), "label": r.label} for r in self.regions]}


@dataclass(frozen=True)
class Sample:
    problem_id: str
    path: str
    problem_type: str
    problem: str
    solution: str
    data_source: str = ""
    data_type: str = "video"
    options: tuple[str, ...] = ()
    process: str | None = None
    evidence: Evidence | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str:
        """The gold answer: the content of ``<answer>…</answer>`` in ``solution`` (or the whole solution)."""
        return extract_tagged_answer(self.solution)

    @property
    def option_letters(self) -> tuple[str, ...]:
        return tuple(parse_option(o)[0] for o in self.options)

    def option_text(self, letter: str) -> str | None:
        for option in self.options:
            got_letter, text = parse_option(option)
            if got_letter == letter:
                return text
        return None

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["options"] = list(self.options)
        row["evidence"] = self.evidence.to_json() if self.evidence else None
        if row["evidence"] is None:
            del row["evidence"]
        if row["process"] is None:
            del row["process"]
        return row


def resolve_video(path: str, root: Path, *, confine_absolute: bool = False) -> Path:
    """The absolute, symlink-free path of a row's video, which must lie inside ``root``.

    A relative path is taken from ``root``; an absolute one is kept. Either must still be inside ``root`` once every
    symlink is resolved (a link in the root that points elsewhere leads outside it) — for an absolute path only with
    ``confine_absolute`` (rows of unknown origin; rows whose absolute paths were vetted, such as ``ffr data
    prepare``'s output, may point anywhere). Raises ValueError naming the path when it leads outside.
    """
    if "\0" in path:
        raise ValueError(f"path {path!r} contains a NUL byte")
    absolute = os.path.isabs(path)
    real_root = Path(os.path.realpath(root))
    full = Path(os.path.realpath(path if absolute else real_root / path))
    if (confine_absolute or not absolute) and full != real_root and real_root not in full.parents:
        raise ValueError(f"path {path!r} leads outside the video root {real_root}"
                         + (f" (it resolves to {full})" if not absolute else ""))
    return full


def extract_tagged_answer(text: str) -> str:
    match = _ANSWER_RE.search(text or "")
    return match.group(1).strip() if match else (text or "").strip()


def parse_option(option: str) -> tuple[str, str]:
    """``"B. green"`` -> ``("B", "green")``. Raises ValueError when the option has no letter prefix."""
    match = _OPTION_RE.match(option)
    if not match:
        raise ValueError(f"option {option!r} does not start with a letter such as 'A.'")
    return match.group(1), match.group(2).strip()


def _number(value: Any, name: str, ctx: dict) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{name} must be a number, got {_clip(value)}", **ctx)
    if not math.isfinite(value):
        raise SchemaError(f"{name} must be a finite number, got {value!r} (not valid JSON)", **ctx)
    return float(value)


def _text(row: dict, name: str, ctx: dict, *, ints: bool = False, default: str | None = None) -> str | None:
    """A string field as it is (an integer too when ``ints``); absent or null gives ``default``."""
    value = row.get(name)
    if value is None:
        return default
    if isinstance(value, str) or (ints and isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    kinds = "a string or an integer" if ints else "a string"
    raise SchemaError(f"must be {kinds}, got {type(value).__name__} {_clip(value)}", field=name, **ctx)


def _clip(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_evidence(raw: Any, ctx: dict) -> Evidence | None:
    if raw is None:
        return None
    ctx = {**ctx, "field": "evidence"}
    if not isinstance(raw, dict):
        raise SchemaError("must be an object with 'windows' and/or 'regions'", **ctx)
    windows = []
    for i, window in enumerate(raw.get("windows") or []):
        if not isinstance(window, list | tuple) or len(window) != 2:
            raise SchemaError(f"windows[{i}] must be [start_s, end_s]", **ctx)
        start, end = (_number(v, f"windows[{i}]", ctx) for v in window)
        if start < 0 or end < start:
            raise SchemaError(f"windows[{i}] = [{start}, {end}] is not a valid time window", **ctx)
        windows.append((start, end))
    regions = []
    for i, region in enumerate(raw.get("regions") or []):
        if not isinstance(region, dict) or "box" not in region:
            raise SchemaError(f"regions[{i}] must be an object with 'box' (and 't', 'label')", **ctx)
        box = region["box"]
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise SchemaError(f"regions[{i}].box must be [x1, y1, x2, y2]", **ctx)
        x1, y1, x2, y2 = (_number(v, f"regions[{i}].box", ctx) for v in box)
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise SchemaError(f"regions[{i}].box {list(box)} is not a normalised box with x1<x2, y1<y2 in [0, 1]", **ctx)
        t = _number(region.get("t", 0.0), f"regions[{i}].t", ctx)
        if t < 0:
            raise SchemaError(f"regions[{i}].t = {t} is a negative time", **ctx)
        label = region.get("label")
        if label is not None and not isinstance(label, str):
            raise SchemaError(f"regions[{i}].label must be a string, got {type(label).__name__}", **ctx)
        regions.append(Region(t=t, box=(x1, y1, x2, y2), label=label or ""))
    return Evidence(windows=tuple(windows), regions=tuple(regions))


def parse_sample(row: Any, *, file: str | None = None, row_index: int | None = None) -> Sample:
    """Validate one row and return a :class:`Sample`, or raise :class:`SchemaError` naming the field."""
    ctx = {"file": file, "row": row_index}
    if not isinstance(row, dict):
        raise SchemaError(f"a row must be a JSON object, got {type(row).__name__}", **ctx)
    for name in REQUIRED:
        if name not in row or row[name] is None or (isinstance(row[name], str) and not row[name].strip()):
            raise SchemaError("is missing or empty", field=name, **ctx)
    problem_id = _text(row, "problem_id", ctx, ints=True)
    path, problem, solution = (_text(row, name, ctx) for name in ("path", "problem", "solution"))
    if "\0" in path:
        raise SchemaError("contains a NUL byte", field="path", **ctx)
    problem_type = row["problem_type"]
    if problem_type not in PROBLEM_TYPES:
        raise SchemaError(f"unknown problem_type {_clip(problem_type)} (known: {', '.join(PROBLEM_TYPES)})",
                          field="problem_type", **ctx)
    data_type = row.get("data_type") or "video"
    if data_type not in DATA_TYPES:
        raise SchemaError(f"unknown data_type {_clip(data_type)} (known: {', '.join(DATA_TYPES)})", field="data_type",
                          **ctx)
    options = row.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise SchemaError("must be a list of strings such as 'A. red'", field="options", **ctx)
    answer = extract_tagged_answer(solution)
    if not answer:
        raise SchemaError("has an empty answer; expected '<answer>…</answer>'", field="solution", **ctx)
    if problem_type == "multiple choice":
        if len(options) < 2:
            raise SchemaError("a multiple-choice question needs at least two options", field="options", **ctx)
        try:
            letters = [parse_option(o)[0] for o in options]
        except ValueError as exc:
            raise SchemaError(str(exc), field="options", **ctx) from None
        if len(set(letters)) != len(letters):
            raise SchemaError(f"option letters repeat: {letters}", field="options", **ctx)
        if answer not in letters:
            raise SchemaError(f"answer {answer!r} is not one of the option letters {letters}", field="solution", **ctx)
    elif problem_type in ("numerical", "regression"):
        try:
            value = float(answer.replace(",", ""))
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SchemaError(f"answer {answer!r} is not a number", field="solution", **ctx) from None
    meta = row.get("meta") or {}
    if not isinstance(meta, dict):
        raise SchemaError("must be an object", field="meta", **ctx)
    try:
        json.dumps(meta, allow_nan=False, default=str)
    except ValueError:
        raise SchemaError("holds NaN or Infinity, which JSON cannot carry", field="meta", **ctx) from None
    return Sample(
        problem_id=problem_id,
        path=path,
        problem_type=problem_type,
        problem=problem,
        solution=solution,
        data_source=_text(row, "data_source", ctx, default=""),
        data_type=data_type,
        options=tuple(options),
        process=_text(row, "process", ctx) or None,
        evidence=_parse_evidence(row.get("evidence"), ctx),
        meta=meta,
    )


@dataclass
class LoadResult:
    samples: list[Sample]
    errors: list[SchemaError]


def read_text_file(path: str | Path) -> str:
    """A data file's text: UTF-8 (a byte-order mark is allowed). A binary or otherwise encoded file, or one that
    cannot be read, is a one-line :class:`SchemaError` naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError("file not found" if not path.exists() else "is not a file", file=str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"cannot be read ({exc.strerror})", file=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SchemaError(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}); binary or another "
                          "encoding", file=str(path)) from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise SchemaError(f"is a binary file, not JSON text (NUL byte at line {line})", file=str(path))
    return text


def read_rows(path: str | Path) -> list[tuple[int, Any]]:
    """(row number, parsed object) for every row of a JSON list or JSONL file.

    A malformed JSONL line becomes a ``SchemaError`` object in place of the row, so one bad line loses nothing else.
    A malformed JSON *list* file cannot be split and raises, as does a file that is not UTF-8 text.
    """
    path = Path(path)
    text = read_text_file(path)
    stripped = text.lstrip()
    if path.suffix == ".json" or stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"not valid JSON ({exc.msg} at line {exc.lineno})", file=str(path)) from None
        except RecursionError:
            raise SchemaError("not valid JSON (nested too deeply)", file=str(path)) from None
        if isinstance(data, dict):
            for key in ("data", "samples", "results"):
                if isinstance(data.get(key), list):
                    data = data[key]
                    break
        if not isinstance(data, list):
            raise SchemaError("a .json data file must hold a list of rows", file=str(path))
        return list(enumerate(data))
    rows: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            rows.append((lineno, SchemaError(f"malformed JSON line ({exc.msg})", file=str(path), row=lineno)))
        except RecursionError:
            rows.append((lineno, SchemaError("malformed JSON line (nested too deeply)", file=str(path), row=lineno)))
    return rows


def load_samples(path: str | Path) -> LoadResult:
    """Parse every row; collect a :class:`SchemaError` per bad row instead of stopping at the first."""
    samples, errors = [], []
    seen: set[str] = set()
    for index, row in read_rows(path):
        if isinstance(row, SchemaError):
            errors.append(row)
            continue
        try:
            sample = parse_sample(row, file=str(path), row_index=index)
        except SchemaError as exc:
            errors.append(exc)
            continue
        if sample.problem_id in seen:
            errors.append(SchemaError(f"duplicate problem_id {sample.problem_id!r}", file=str(path), row=index,
                                      field="problem_id"))
            continue
        seen.add(sample.problem_id)
        samples.append(sample)
    return LoadResult(samples, errors)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a uniquely named temporary file in the same folder, so a reader never sees
    half a file and no other file is touched."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def jsonl_line(row: dict[str, Any]) -> str:
    """One strict JSON line (NaN and Infinity are not JSON; validated rows never hold them)."""
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


def write_jsonl(path: str | Path, samples: list[Sample]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(jsonl_line(sample.to_json()) for sample in samples))
