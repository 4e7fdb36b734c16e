"""Validating OpenAI chat-completion requests for ``ffr teacher serve`` (pure functions, 4xx errors with a message)
and turning plain-text tool calls in a reply into OpenAI tool calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ffr_teacher.media import MediaError, from_data_url
from ffr_teacher.tools import TEXT_CALL_LINE, ToolCall, parse_json_arguments, parse_text_tool_calls

ROLES = ("system", "user", "assistant", "tool", "developer")


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]  # internal format: image parts hold RGB arrays
    max_tokens: int
    temperature: float
    tool_names: tuple[str, ...] = ()
    tool_specs: list[dict[str, Any]] = field(default_factory=list)


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def parse_chat_request(body: Any, cfg: Any) -> ChatRequest:
    """A validated request; RequestError(400, message) names the offending field. ``cfg`` is a ServeConfig."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    if body.get("stream"):
        raise _bad("'stream': streaming is not supported")
    if body.get("n", 1) != 1:
        raise _bad("'n': only n=1 is supported")
    default_tokens = min(cfg.default_max_tokens, cfg.max_tokens_limit)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", default_tokens))
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= cfg.max_tokens_limit:
        raise _bad(f"'max_tokens' must be an integer from 1 to {cfg.max_tokens_limit}, got {max_tokens!r}")
    temperature = body.get("temperature", 0.0)
    if temperature is None:
        temperature = 0.0
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise _bad(f"'temperature' must be a number from 0 to 2, got {temperature!r}")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _bad("'messages' must be a non-empty list")
    budget = _ImageBudget(cfg.max_images, cfg.max_image_pixels, cfg.max_request_pixels)
    messages = [_message(m, i, budget) for i, m in enumerate(raw_messages)]
    specs, names = _tools(body.get("tools"), body.get("tool_choice"))
    if names:
        messages = with_tools_prompt(messages, tools_prompt(specs))
    return ChatRequest(messages, max_tokens, float(temperature), names, specs)


@dataclass
class _ImageBudget:
    """How many images and pixels one request may send (each image's size is checked from its header first)."""

    max_images: int
    max_image_pixels: int
    max_request_pixels: int
    images: int = 0
    pixels: int = 0

    def decode(self, url: Any, where: str) -> Any:
        self.images += 1
        if self.images > self.max_images:
            raise _bad(f"'{where}': more than {self.max_images} images in one request")
        try:
            image = from_data_url(url, max_pixels=self.max_image_pixels)
        except MediaError as exc:
            raise _bad(f"'{where}.image_url.url': {exc}") from None
        self.pixels += image.shape[0] * image.shape[1]
        if self.pixels > self.max_request_pixels:
            raise _bad(f"'{where}': the request's images exceed {self.max_request_pixels} px in all")
        return image


def _message(raw: Any, index: int, budget: _ImageBudget) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise _bad(f"'{where}' must be an object")
    role = raw.get("role")
    if role not in ROLES:
        raise _bad(f"'{where}.role' must be one of {list(ROLES)}, got {role!r}")
    out: dict[str, Any] = {"role": "system" if role == "developer" else role}
    content = raw.get("content")
    if content is None or isinstance(content, str):
        out["content"] = content or ""
    elif isinstance(content, list):
        out["content"] = [_part(p, f"{where}.content[{j}]", budget) for j, p in enumerate(content)]
    else:
        raise _bad(f"'{where}.content' must be a string or a list of parts")
    if raw.get("tool_calls") is not None:
        out["tool_calls"] = _assistant_calls(raw["tool_calls"], where)
    return out


def _part(raw: Any, where: str, budget: _ImageBudget) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(f"'{where}' must be an object")
    kind = raw.get("type")
    if kind == "text":
        if not isinstance(raw.get("text"), str):
            raise _bad(f"'{where}.text' must be a string")
        return {"type": "text", "text": raw["text"]}
    if kind == "image_url":
        image_url = raw.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else image_url
        return {"type": "image", "image": budget.decode(url, where)}
    raise _bad(f"'{where}.type' {kind!r} is not supported (text, image_url)")


def _assistant_calls(raw: Any, where: str) -> list[ToolCall]:
    if not isinstance(raw, list):
        raise _bad(f"'{where}.tool_calls' must be a list")
    calls = []
    for j, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _bad(f"'{where}.tool_calls[{j}].function.name' is required")
        arguments, error = parse_json_arguments(function.get("arguments"))
        if error:
            raise _bad(f"'{where}.tool_calls[{j}].function.arguments': {error}")
        calls.append(ToolCall(str(item.get("id", f"call_{j}")), function["name"], arguments))
    return calls


_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _tools(raw: Any, tool_choice: Any) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """(function specs, names the reply may call) after checking the OpenAI tools schema field by field."""
    if raw is None:
        return [], ()
    if not isinstance(raw, list):
        raise _bad("'tools' must be a list")
    specs, names = [], []
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
                or not _TOOL_NAME.fullmatch(function["name"]):
            raise _bad(f"'tools[{i}]' must be {{'type': 'function', 'function': {{'name': identifier, ...}}}}")
        specs.append(_function_spec(function, f"tools[{i}].function"))
        names.append(function["name"])
    if tool_choice is None or tool_choice in ("auto", "required"):
        return specs, tuple(names)
    if tool_choice == "none":
        return specs, ()
    chosen = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    if not isinstance(chosen, dict) or chosen.get("name") not in names:
        raise _bad("'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', 'function': "
                   "{'name': a declared tool}}")
    return specs, (chosen["name"],)


def _function_spec(function: dict[str, Any], where: str) -> dict[str, Any]:
    """The parts of a function declaration the tools prompt uses, checked: description, parameter names/types."""
    description = function.get("description", "")
    if not isinstance(description, str):
        raise _bad(f"'{where}.description' must be a string")
    parameters = function.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise _bad(f"'{where}.parameters' must be a JSON Schema object")
    properties = parameters.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise _bad(f"'{where}.parameters.properties' must be an object of parameter schemas")
    checked = {}
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            raise _bad(f"'{where}.parameters.properties.{name}' must be an object (a JSON Schema)")
        kind = prop.get("type", "value")
        checked[name] = {"type": kind if isinstance(kind, str) else "/".join(map(str, kind))
                         if isinstance(kind, list) else "value"}
    return {"name": function["name"], "description": description,
            "parameters": {"type": "object", "properties": checked}}


def with_tools_prompt(messages: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """The tool description appended to the leading system message, or as a new one when there is none."""
    first = messages[0]
    if first["role"] == "system":
        content = first["content"]
        if isinstance(content, str):
            merged = f"{content}\n\n{prompt}" if content else prompt
        else:
            merged = [*content, {"type": "text", "text": f"\n\n{prompt}"}]
        return [{**first, "content": merged}, *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


def tools_prompt(specs: list[dict[str, Any]]) -> str:
    """The declared tools in the plain-text call syntax, for models without native tool calls."""
    lines = ["You can call these tools. To call one, write a line exactly like", "TOOL_CALL: name(arg=value, ...)",
             "then stop and wait for the result. Tools:"]
    for spec in specs:
        params = spec["parameters"]["properties"]
        signature = ", ".join(f"{name}={prop['type']}" for name, prop in params.items())
        lines.append(f"- {spec['name']}({signature}): {spec.get('description', '')}".rstrip(": "))
    return "\n".join(lines)


def tool_calls_from_text(text: str, allowed: tuple[str, ...]) -> tuple[str, list[dict[str, Any]]]:
    """(text without TOOL_CALL lines, OpenAI tool calls) for the declared tools found in ``text``."""
    calls = [c for c in parse_text_tool_calls(text, id_prefix="call") if c.error is None and c.name in allowed]
    if not calls:
        return text, []
    content = TEXT_CALL_LINE.sub("", text).strip()
    wire = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in calls]
    return content, wire
