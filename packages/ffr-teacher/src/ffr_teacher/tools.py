"""The teacher's tools: declarations (OpenAI function calling), the plain-text call syntax, and their execution on
the sample's video through ``ffr_data.clips.ClipTools``. A bad call becomes an error message for the teacher."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ffr_data.clips import ClipTools
from ffr_data.errors import FFRError

TOOL_SPECS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "get_frame",
        "description": "Return the video frame shown at time t (seconds).",
        "parameters": {"type": "object", "properties": {
            "t": {"type": "number", "description": "Time in seconds, within the video."}},
            "required": ["t"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "get_segment",
        "description": "Return n frames spread evenly over [start_s, end_s] (a dense look at a short window).",
        "parameters": {"type": "object", "properties": {
            "start_s": {"type": "number", "description": "Window start in seconds."},
            "end_s": {"type": "number", "description": "Window end in seconds (>= start_s)."},
            "n": {"type": "integer", "description": "Number of frames (optional)."}},
            "required": ["start_s", "end_s"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "zoom_region",
        "description": "Return an enlarged crop of the normalised box [x1, y1, x2, y2] (0..1, origin top-left) of "
                       "the frame at time t (seconds).",
        "parameters": {"type": "object", "properties": {
            "t": {"type": "number", "description": "Time in seconds."},
            "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                    "description": "[x1, y1, x2, y2], normalised to 0..1."}},
            "required": ["t", "box"], "additionalProperties": False}}},
]
TOOL_NAMES = tuple(spec["function"]["name"] for spec in TOOL_SPECS)
_POSITIONAL = {"get_frame": ("t",), "get_segment": ("start_s", "end_s", "n"), "zoom_region": ("t", "box")}
TEXT_CALL_LINE = re.compile(r"^[ \t>*`-]*TOOL_CALL\s*:\s*(.+?)\s*`?\s*$", re.MULTILINE)


@dataclass
class ToolCall:
    """A call the teacher asked for. ``error`` is set when the call could not even be parsed."""

    id: str
    name: str
    arguments: dict[str, Any]
    error: str | None = None


@dataclass
class ToolOutcome:
    ok: bool
    message: str
    images: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, RGB image)


def parse_text_tool_calls(text: str, id_prefix: str = "call") -> list[ToolCall]:
    """Every ``TOOL_CALL: name(arg=value, ...)`` line in ``text``. Arguments must be literals (numbers, lists);
    positional arguments follow the declared order; ``zoom_region(t, x1, y1, x2, y2)`` is also understood."""
    calls = []
    for number, match in enumerate(TEXT_CALL_LINE.finditer(text or "")):
        calls.append(_parse_call(match.group(1), f"{id_prefix}_{number}"))
    return calls


def _parse_call(expression: str, call_id: str) -> ToolCall:
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return ToolCall(call_id, "?", {}, f"cannot parse tool call {expression!r}; write name(arg=value, ...)")
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return ToolCall(call_id, "?", {}, f"{expression!r} is not a call such as get_frame(t=1.0)")
    name = node.func.id
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    except ValueError:
        return ToolCall(call_id, name, {}, f"arguments of {name} must be plain numbers or lists")
    if name == "zoom_region" and len(args) == 5:
        args = [args[0], list(args[1:])]
    names = _POSITIONAL.get(name, ())
    if len(args) > len(names):
        return ToolCall(call_id, name, kwargs, f"{name} takes at most {len(names)} positional arguments")
    return ToolCall(call_id, name, {**dict(zip(names, args, strict=False)), **kwargs})


def format_text_call(call: ToolCall) -> str:
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in call.arguments.items())
    return f"TOOL_CALL: {call.name}({args})"


def parse_json_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """Arguments of a native tool call (a JSON string); ({}, error) when they do not parse to an object."""
    if isinstance(raw, dict):
        return raw, None
    if raw is not None and not isinstance(raw, str):
        return {}, f"arguments must be a JSON string, got {type(raw).__name__}"
    try:
        value = json.loads(raw or "{}")
    except RecursionError:
        return {}, "arguments are nested too deeply"
    except ValueError as exc:  # JSONDecodeError, integers over Python's digit limit
        return {}, f"arguments are not valid JSON ({getattr(exc, 'msg', str(exc)[:80])})"
    if not isinstance(value, dict):
        return {}, "arguments must be a JSON object"
    return value, None


class ToolExecutor:
    """Runs tool calls on one video with ``ClipTools``; never raises for a bad call."""

    def __init__(self, clip_tools: ClipTools, default_segment_frames: int = 4, max_segment_frames: int = 8):
        self.clip_tools = clip_tools
        self.default_segment_frames = default_segment_frames
        self.max_segment_frames = max_segment_frames
        self._handlers: dict[str, Callable[[dict[str, Any]], ToolOutcome]] = {
            "get_frame": self._get_frame, "get_segment": self._get_segment, "zoom_region": self._zoom_region}

    def execute(self, call: ToolCall) -> ToolOutcome:
        if call.error:
            return ToolOutcome(False, f"error: {call.error}")
        handler = self._handlers.get(call.name)
        if handler is None:
            return ToolOutcome(False, f"error: unknown tool {call.name!r} (tools: {', '.join(TOOL_NAMES)})")
        try:
            return handler(call.arguments)
        except (FFRError, ValueError, TypeError) as exc:  # out-of-range times, bad boxes, wrong types
            return ToolOutcome(False, f"error: {call.name} failed: {_short(exc)}")

    def _get_frame(self, args: dict[str, Any]) -> ToolOutcome:
        t = _number(_only(args, "get_frame", ("t",), ("t",)), "t")
        frames = self.clip_tools.get_frame(t)
        stamp = frames.timestamps[0]
        return ToolOutcome(True, f"get_frame(t={t:g}): the frame at {stamp:.2f} s.",
                           [(f"frame at {stamp:.2f} s", frames.array[0])])

    def _get_segment(self, args: dict[str, Any]) -> ToolOutcome:
        args = _only(args, "get_segment", ("start_s", "end_s", "n"), ("start_s", "end_s"))
        start, end = _number(args, "start_s"), _number(args, "end_s")
        n = args.get("n", self.default_segment_frames)
        if isinstance(n, bool) or not isinstance(n, int | float) or int(n) != n or not 1 <= n <= self.max_segment_frames:
            raise ValueError(f"n must be an integer from 1 to {self.max_segment_frames}, got {n!r}")
        frames = self.clip_tools.get_segment(start, end, int(n))
        stamps = ", ".join(f"{t:.2f}" for t in frames.timestamps)
        images = [(f"segment frame at {t:.2f} s", image) for t, image in zip(frames.timestamps, frames.array,
                                                                              strict=True)]
        return ToolOutcome(True, f"get_segment(start_s={start:g}, end_s={end:g}): {len(frames)} frames at "
                                 f"{stamps} s.", images)

    def _zoom_region(self, args: dict[str, Any]) -> ToolOutcome:
        args = _only(args, "zoom_region", ("t", "box"), ("t", "box"))
        t = _number(args, "t")
        box = args["box"]
        if not isinstance(box, list | tuple) or len(box) != 4 or not all(_is_number(v) for v in box):
            raise ValueError(f"box must be [x1, y1, x2, y2] with numbers in 0..1, got {box!r}")
        frames = self.clip_tools.zoom_region(t, [float(v) for v in box])
        shown = "[" + ", ".join(f"{float(v):.2f}" for v in box) + "]"
        return ToolOutcome(True, f"zoom_region(t={t:g}, box={shown}): enlarged crop of the frame at "
                                 f"{frames.timestamps[0]:.2f} s.", [(f"zoom of {shown} at {frames.timestamps[0]:.2f} s",
                                                                     frames.array[0])])


def _only(args: dict[str, Any], name: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for {name}; it takes {', '.join(allowed)}")
    missing = [a for a in required if a not in args]
    if missing:
        raise ValueError(f"missing argument(s) {missing} for {name}")
    return args


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(args: dict[str, Any], key: str) -> float:
    value = args[key]
    if not _is_number(value):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _short(exc: Exception) -> str:
    """The first line of an error, without the video's path (the teacher may be a remote service)."""
    text = getattr(exc, "reason", None) or str(exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
