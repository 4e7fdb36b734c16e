"""What goes into a repair and what comes out: requests, results, tool-call records and failure reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ffr_data.patch import EvidencePatch
from ffr_data.schema import Sample
from ffr_data.video import Frames

# Why a repair gave no patch. Transient reasons are retried (per request) and never cached.
REASONS: dict[str, str] = {
    "timeout": "the teacher did not answer within timeout_s (after retries)",
    "connection": "the teacher endpoint could not be reached (after retries)",
    "rate_limited": "HTTP 429 from the teacher (after retries)",
    "http_5xx": "HTTP 5xx from the teacher (after retries)",
    "http_4xx": "HTTP 4xx from the teacher (a bad request; not retried)",
    "truncated": "the reply was cut off at max_tokens before a patch",
    "no_json": "the reply holds no (parseable) JSON patch",
    "schema": "the JSON fails the patch schema (field named in the detail)",
    "leak": "the patch named or implied the answer, also after one stricter retry",
    "budget": "the tool-call, turn, token or time budget ran out before a patch",
    "video": "the video could not be decoded for the teacher",
    "no_evidence": "annotation backend: the sample has no (candidate) evidence to cite",
    "backend_error": "the backend raised an unexpected error (logged)",
}
TRANSIENT_REASONS = frozenset({"timeout", "connection", "rate_limited", "http_5xx", "backend_error"})
# Failures that say nothing about the request itself (an outage, a wrong key or model name, a missing file): a disk
# cache must not remember them.
UNCACHEABLE_REASONS = TRANSIENT_REASONS | {"http_4xx", "video"}


class TeacherFailure(Exception):
    """A repair ends without a patch for ``reason`` (a key of REASONS); ``detail`` says more, for logs."""

    def __init__(self, reason: str, detail: str = ""):
        assert reason in REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class RepairRequest:
    """One failed rollout to repair: the sample, the frames the student saw, and the student's full response."""

    sample: Sample
    frames: Frames
    response: str


@dataclass
class ToolCallRecord:
    """One tool call in a repair's transcript."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    message: str
    images: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "ok": self.ok, "message": self.message,
                "images": self.images}


@dataclass
class RepairResult:
    """A repair's outcome: a validated, leak-checked ``patch`` or None with a ``reason`` (a key of REASONS)."""

    patch: EvidencePatch | None
    reason: str | None = None
    detail: str = ""
    transcript: list[ToolCallRecord] = field(default_factory=list)
    analysis: str = ""
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    turns: int = 0
    leak_rejections: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.patch is not None

    @property
    def tool_errors(self) -> int:
        return sum(not record.ok for record in self.transcript)

    def to_json(self) -> dict[str, Any]:
        return {
            "patch": self.patch.to_json() if self.patch else None, "reason": self.reason, "detail": self.detail,
            "transcript": [r.to_json() for r in self.transcript], "analysis": self.analysis,
            "latency_s": self.latency_s, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "turns": self.turns, "leak_rejections": self.leak_rejections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], taxonomy: tuple[str, ...]) -> RepairResult:
        patch = EvidencePatch.from_json(data["patch"], taxonomy=taxonomy) if data.get("patch") else None
        return cls(
            patch=patch, reason=data.get("reason"), detail=data.get("detail", ""),
            transcript=[ToolCallRecord(**r) for r in data.get("transcript", [])], analysis=data.get("analysis", ""),
            latency_s=float(data.get("latency_s", 0.0)), prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)), turns=int(data.get("turns", 0)),
            leak_rejections=int(data.get("leak_rejections", 0)),
        )


def failure(reason: str, detail: str = "", **kwargs: Any) -> RepairResult:
    assert reason in REASONS, reason
    return RepairResult(None, reason, detail, **kwargs)
