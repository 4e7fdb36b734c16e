"""The multi-turn repair loop shared by every model backend: prompt -> (tool calls -> executed on the video ->
images back to the teacher)* -> patch -> schema check -> leak guard (one stricter retry) -> RepairResult."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ffr_data.patch import EvidencePatch, PatchError, find_json_object
from ffr_teacher.config import TeacherConfig
from ffr_teacher.leak import patch_leak
from ffr_teacher.prompts import BUDGET_REMINDER, CONTINUE_TEXT, LEAK_REMINDER, build_messages
from ffr_teacher.results import RepairRequest, RepairResult, TeacherFailure, ToolCallRecord, failure
from ffr_teacher.tools import TOOL_SPECS, ToolCall, ToolExecutor, ToolOutcome, parse_text_tool_calls

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_FINAL = re.compile(r"<patch>|<answer>")


@dataclass
class ChatReply:
    """One teacher reply: its text, the native tool calls it made, why it stopped, and token counts."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatModel(Protocol):
    """A teacher model: one chat completion over internal-format messages. Transport failures raise
    :class:`TeacherFailure` with a reason (timeout, connection, http_5xx, ...)."""

    native_tools: bool

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 max_tokens: int) -> ChatReply: ...


def parse_reply(text: str, cfg: TeacherConfig, num_frames: int, duration: float,
                finish_reason: str | None = "stop") -> tuple[str, EvidencePatch]:
    """(analysis, patch) from a teacher reply: the ``<think>`` text, then the JSON patch (in ``<patch>``/``<answer>``
    tags, a code fence, or bare). Raises TeacherFailure: truncated, no_json or schema."""
    think = _THINK.search(text or "")
    analysis = think.group(1).strip() if think else ""
    rest = _THINK.sub("", text or "")
    try:
        data = find_json_object(rest)
    except PatchError as exc:
        raise TeacherFailure("truncated" if finish_reason == "length" else "no_json", str(exc)) from None
    try:
        patch = EvidencePatch.from_json(data, taxonomy=cfg.taxonomy_classes, num_frames=num_frames, duration=duration)
    except PatchError as exc:
        raise TeacherFailure("schema", str(exc)) from None
    return analysis, patch


@dataclass
class _State:
    transcript: list[ToolCallRecord] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    turns: int = 0
    leak_rejections: int = 0
    analysis: str = ""

    def result(self, patch: EvidencePatch | None = None, reason: str | None = None, detail: str = "") -> RepairResult:
        fields = dict(transcript=self.transcript, analysis=self.analysis, prompt_tokens=self.prompt_tokens,
                      completion_tokens=self.completion_tokens, turns=self.turns,
                      leak_rejections=self.leak_rejections)
        if patch is None:
            return failure(reason or "no_json", detail, **fields)
        return RepairResult(patch, **fields)


class RepairLoop:
    """Runs one repair over a :class:`ChatModel` with real tools on the sample's video, within the budgets."""

    def __init__(self, chat: ChatModel, cfg: TeacherConfig, executor: ToolExecutor | None):
        self.chat, self.cfg, self.executor = chat, cfg, executor
        if not cfg.tools_enabled or executor is None:
            self.tool_mode = "none"
        else:
            self.tool_mode = "native" if chat.native_tools else "text"

    def run(self, request: RepairRequest) -> RepairResult:
        state = _State()
        try:
            return self._run(request, state)
        except TeacherFailure as exc:
            return state.result(reason=exc.reason, detail=exc.detail)

    def _run(self, request: RepairRequest, state: _State) -> RepairResult:
        cfg, frames = self.cfg, request.frames
        messages = build_messages(request.sample, frames, request.response, cfg, self.tool_mode)
        started = time.monotonic()
        turns_allowed, leak_retry = cfg.max_turns, cfg.leak.retry
        while True:
            self._check_budgets(state, turns_allowed, started)
            tools_open = (self.tool_mode != "none" and len(state.transcript) < cfg.max_tool_calls
                          and state.turns < turns_allowed - 1)
            tools = TOOL_SPECS if tools_open and self.tool_mode == "native" else None
            reply = self.chat.complete(messages, tools, cfg.max_tokens)
            state.turns += 1
            state.prompt_tokens += reply.prompt_tokens
            state.completion_tokens += reply.completion_tokens
            calls = reply.tool_calls or self._text_calls(reply.text)
            if calls:
                self._answer_tool_calls(messages, reply, calls, state, tools_open)
                continue
            analysis, patch = parse_reply(reply.text, cfg, len(frames), frames.info.duration, reply.finish_reason)
            state.analysis = analysis
            leak = patch_leak(patch, request.sample, cfg.leak)
            if leak is None:
                return state.result(patch)
            state.leak_rejections += 1
            if not leak_retry:
                return state.result(reason="leak", detail=f"{leak.kind}: {leak.detail}")
            leak_retry = False
            turns_allowed += 1  # the stricter retry comes on top of max_turns
            messages += [{"role": "assistant", "content": reply.text}, {"role": "user", "content": LEAK_REMINDER}]

    def _text_calls(self, text: str) -> list[ToolCall]:
        """TOOL_CALL lines, unless tools are off or the reply is final (it holds a <patch>)."""
        if self.tool_mode == "none" or _FINAL.search(_THINK.sub("", text or "")):
            return []
        return parse_text_tool_calls(text)

    def _check_budgets(self, state: _State, turns_allowed: int, started: float) -> None:
        cfg = self.cfg
        if state.turns >= turns_allowed:
            raise TeacherFailure("budget", f"no patch after {state.turns} turn(s) (max_turns={cfg.max_turns})")
        if cfg.token_budget and state.prompt_tokens + state.completion_tokens >= cfg.token_budget:
            raise TeacherFailure("budget", f"token budget {cfg.token_budget} used up")
        if cfg.deadline_s and time.monotonic() - started > cfg.deadline_s:
            raise TeacherFailure("budget", f"repair took longer than deadline_s={cfg.deadline_s}")

    def _answer_tool_calls(self, messages: list[dict[str, Any]], reply: ChatReply, calls: list[ToolCall],
                           state: _State, tools_open: bool) -> None:
        """Execute the calls (within the budget), record them, and append the results for the next turn."""
        outcomes = []
        for call in calls:
            if not tools_open or len(state.transcript) >= self.cfg.max_tool_calls:
                outcome = ToolOutcome(False, "error: no tool calls are left in this repair")
            else:
                assert self.executor is not None
                outcome = self.executor.execute(call)
            state.transcript.append(ToolCallRecord(call.name, call.arguments, outcome.ok, outcome.message,
                                                   len(outcome.images)))
            outcomes.append(outcome)
        exhausted = len(state.transcript) >= self.cfg.max_tool_calls or not tools_open
        follow_up = BUDGET_REMINDER if exhausted else CONTINUE_TEXT
        images: list[dict[str, Any]] = []
        for outcome in outcomes:
            for caption, image in outcome.images:
                images += [{"type": "text", "text": caption + ":"}, {"type": "image", "image": image}]
        if reply.tool_calls:  # native: assistant tool_calls, one tool message each, then the images
            messages.append({"role": "assistant", "content": reply.text or None, "tool_calls": calls})
            for call, outcome in zip(calls, outcomes, strict=True):
                messages.append({"role": "tool", "tool_call_id": call.id, "content": outcome.message})
            intro = [{"type": "text", "text": "Images returned by the tools:"}] if images else []
            messages.append({"role": "user", "content": [*intro, *images, {"type": "text", "text": follow_up}]})
        else:  # plain-text syntax: the results come back as the next user message
            results = "\n".join(outcome.message for outcome in outcomes)
            messages.append({"role": "assistant", "content": reply.text})
            messages.append({"role": "user", "content": [{"type": "text", "text": f"Tool results:\n{results}"},
                                                         *images, {"type": "text", "text": follow_up}]})
