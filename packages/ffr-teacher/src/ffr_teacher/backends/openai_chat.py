"""The ``openai`` backend: any OpenAI-compatible endpoint (vLLM, SGLang, ``ffr teacher serve``, a commercial API)
through the official ``openai`` client, with per-request timeouts and retries with exponential backoff."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ffr_data.clips import ClipTools
from ffr_teacher.config import TeacherConfig, resolved_api_key, resolved_endpoint
from ffr_teacher.loop import ChatReply, RepairLoop
from ffr_teacher.media import to_data_url
from ffr_teacher.metrics import TeacherMetrics
from ffr_teacher.registry import register_backend
from ffr_teacher.results import RepairRequest, RepairResult, TeacherFailure
from ffr_teacher.tools import ToolCall, ToolExecutor, parse_json_arguments

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = frozenset({"timeout", "connection", "rate_limited", "http_5xx"})
CONNECT_TIMEOUT_S = 10.0


def classify_error(exc: BaseException) -> tuple[str, str] | None:
    """(reason, detail) for an error of the ``openai`` client; None for anything else (a bug: re-raised)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout", "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "connection", _first_line(exc)
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited", f"HTTP 429: {_first_line(exc)}"
    if isinstance(exc, openai.APIStatusError):
        reason = "http_5xx" if exc.status_code >= 500 else "http_4xx"
        return reason, f"HTTP {exc.status_code}: {_first_line(exc)}"
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return "no_json", f"response body is not a chat completion ({_first_line(exc)})"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def retry_delay(attempt: int, cfg: TeacherConfig, retry_after: float | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): exponential, at least Retry-After, capped."""
    delay = cfg.backoff_s * (2 ** attempt)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cfg.backoff_max_s)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def call_with_retries(call: Callable[[], T], cfg: TeacherConfig, on_retry: Callable[[str], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()`` retried on timeouts, connection errors, 429 and 5xx; TeacherFailure(reason) when it gives up."""
    for attempt in range(cfg.max_retries + 1):
        try:
            return call()
        except Exception as exc:
            classified = classify_error(exc)
            if classified is None:
                raise
            reason, detail = classified
            if reason not in RETRYABLE or attempt == cfg.max_retries:
                suffix = f" (after {attempt + 1} attempts)" if reason in RETRYABLE else ""
                raise TeacherFailure(reason, detail + suffix) from None
            if on_retry is not None:
                on_retry(reason)
            sleep(retry_delay(attempt, cfg, _retry_after(exc)))
    raise AssertionError("unreachable")


def to_openai_messages(messages: list[dict[str, Any]], image_format: str, jpeg_quality: int) -> list[dict[str, Any]]:
    """Internal messages -> OpenAI wire format (images as data URLs, tool calls as JSON-argument functions).
    Each image is encoded once per repair: the URL is kept on its internal part."""
    wire = []
    for message in messages:
        out: dict[str, Any] = {"role": message["role"]}
        content = message.get("content")
        if isinstance(content, list):
            out["content"] = [_wire_part(part, image_format, jpeg_quality) for part in content]
        else:
            out["content"] = content
        if message.get("tool_calls"):
            out["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                 for c in message["tool_calls"]]
        if message.get("tool_call_id"):
            out["tool_call_id"] = message["tool_call_id"]
        wire.append(out)
    return wire


def _wire_part(part: dict[str, Any], image_format: str, jpeg_quality: int) -> dict[str, Any]:
    if part["type"] != "image":
        return part
    if "url" not in part:
        part["url"] = to_data_url(part["image"], image_format, jpeg_quality)
    return {"type": "image_url", "image_url": {"url": part["url"]}}


def read_completion(response: Any) -> ChatReply:
    """A ChatReply from a chat completion. A server-side reasoning parser (vLLM ``--reasoning-parser``) moves the
    model's thinking to ``reasoning_content`` / ``reasoning``; it comes back as the ``<think>`` analysis."""
    if not getattr(response, "choices", None):
        raise TeacherFailure("no_json", "the completion has no choices")
    choice = response.choices[0]
    message = choice.message
    calls = []
    for number, native in enumerate(message.tool_calls or []):
        function = getattr(native, "function", None)
        arguments, error = parse_json_arguments(getattr(function, "arguments", None))
        calls.append(ToolCall(str(native.id or f"call_{number}"), str(getattr(function, "name", "?")), arguments,
                              error))
    text = message.content or ""
    if not isinstance(text, str):
        raise TypeError("message.content is not a string")
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    if isinstance(reasoning, str) and reasoning.strip() and "<think>" not in text:
        text = f"<think>{reasoning.strip()}</think>\n{text}"
    usage = response.usage
    return ChatReply(text, calls, choice.finish_reason, int(getattr(usage, "prompt_tokens", 0) or 0),
                     int(getattr(usage, "completion_tokens", 0) or 0))


class OpenAIChat:
    """One chat completion against an OpenAI-compatible endpoint. The API key stays inside the client."""

    def __init__(self, cfg: TeacherConfig, metrics: TeacherMetrics | None = None):
        import openai

        self.cfg = cfg
        self.base_url, self.model = resolved_endpoint(cfg)
        self.native_tools = cfg.tool_mode == "native"
        self.metrics = metrics
        # No key is fine for a local server without auth; the client needs a non-empty string.
        timeout = cfg.request_timeout_s  # a dead host fails at connect; a live one gets the whole budget to answer
        self._client = openai.OpenAI(base_url=self.base_url, api_key=resolved_api_key(cfg) or "EMPTY",
                                     timeout=openai.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)),
                                     max_retries=0)

    def __repr__(self) -> str:
        return f"OpenAIChat(base_url={self.base_url!r}, model={self.model!r})"

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 max_tokens: int) -> ChatReply:
        kwargs: dict[str, Any] = {
            "model": self.model, "max_tokens": max_tokens, "temperature": self.cfg.temperature,
            "messages": to_openai_messages(messages, self.cfg.image_format, self.cfg.jpeg_quality),
        }
        if tools:
            kwargs["tools"] = tools
        on_retry = self.metrics.record_retry if self.metrics else None
        response = call_with_retries(lambda: self._request(kwargs), self.cfg, on_retry)
        try:
            return read_completion(response)
        except (AttributeError, TypeError, IndexError, KeyError, ValueError):  # a 200 that is not a completion
            raise TeacherFailure("no_json", f"the reply is not a chat completion: {str(response)[:200]!r}") from None

    def _request(self, kwargs: dict[str, Any]) -> Any:
        if self.metrics:
            self.metrics.record_request()
        return self._client.chat.completions.create(**kwargs)

    def close(self) -> None:
        self._client.close()


class OpenAIBackend:
    cacheable = True

    def __init__(self, cfg: TeacherConfig, metrics: TeacherMetrics | None = None):
        self.cfg = cfg
        self.chat = OpenAIChat(cfg, metrics)

    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "base_url": self.chat.base_url, "model": self.chat.model}

    def repair(self, request: RepairRequest, clip_tools: ClipTools) -> RepairResult:
        executor = ToolExecutor(clip_tools, self.cfg.segment_frames, self.cfg.max_segment_frames)
        return RepairLoop(self.chat, self.cfg, executor).run(request)

    def close(self) -> None:
        self.chat.close()


@register_backend("openai")
def _create(cfg: TeacherConfig, metrics: TeacherMetrics) -> OpenAIBackend:
    return OpenAIBackend(cfg, metrics)
