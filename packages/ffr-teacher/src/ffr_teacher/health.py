"""Fail fast on a broken teacher. ``repair_many`` never raises for a failed repair, so a teacher that fails every
repair (a wrong model name, a chat template without tools, a server that hangs) would quietly turn FFR into GRPO.
Two checks stop that, each with one line that names the reason:

- the startup probe (``Teacher.probe``): one real repair before training; no usable patch is an error;
- the success-rate guard (:class:`TeacherHealth`): during training, the share of repairs with a patch over the last
  ``window`` repairs must stay at or above ``min_success_rate``; the error lists the failure reasons by count.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable

from ffr_data.errors import FFRError
from ffr_teacher.config import TeacherConfig, TeacherHealthConfig
from ffr_teacher.results import REASONS, RepairResult

# What to check first when a reason dominates; shown with the probe's and the guard's errors.
HINTS: dict[str, str] = {
    "timeout": "the server is too slow or hangs: check its load, or raise teacher.timeout_s",
    "connection": "is the teacher server running, and is teacher.base_url right?",
    "rate_limited": "the server refuses the load: lower teacher.concurrency",
    "http_5xx": "the server fails: read its log",
    "http_4xx": "the server refuses the request: check teacher.model (the served name), the API key, the server's "
                "image limit (vLLM --limit-mm-per-prompt) and, for tool_mode=native, its tool-call parser (vLLM "
                "--enable-auto-tool-choice --tool-call-parser; or use teacher.tool_mode=text)",
    "truncated": "replies are cut off: raise teacher.max_tokens",
    "no_json": "the model answers without a JSON patch: if it is served without a tool-call parser, use "
               "teacher.tool_mode=text (configs/teacher/)",
    "schema": "the model's patches fail the schema (see the detail)",
    "leak": "the model's patches give the answer away",
    "budget": "no patch within the tool/turn budget: a model that cannot call tools natively needs "
              "teacher.tool_mode=text; or raise teacher.max_turns",
    "video": "the sample's video cannot be decoded",
    "no_evidence": "the annotation backend needs samples with evidence",
    "backend_error": "a bug in the teacher backend (the traceback is in the log)",
}


class TeacherUnavailableError(FFRError):
    """The teacher cannot repair: the startup probe failed, or the success rate fell below the threshold."""


def probe_error(result: RepairResult, where: str) -> TeacherUnavailableError:
    """The error for a probe repair that gave no patch: reason, its meaning, the detail, a hint."""
    reason = result.reason or "no_json"
    detail = " ".join(result.detail.split())[:300]
    return TeacherUnavailableError(
        f"teacher probe failed ({where}): {reason} ({REASONS.get(reason, '?')})"
        + (f": {detail}" if detail else "") + f"; {HINTS.get(reason, 'see the log')}")


class TeacherHealth:
    """The success-rate guard. ``record(results)`` after every ``repair_many``; it raises
    :class:`TeacherUnavailableError` once the window holds ``min_calls`` repairs and fewer than
    ``min_success_rate`` of them have a patch. Thread-safe; ``enabled=False`` only measures."""

    def __init__(self, cfg: TeacherHealthConfig | TeacherConfig | None = None):
        if isinstance(cfg, TeacherConfig):
            cfg = cfg.health
        self.cfg = cfg or TeacherHealthConfig()
        self._window: deque[RepairResult] = deque(maxlen=self.cfg.window)
        self._lock = threading.Lock()

    def record(self, results: Iterable[RepairResult]) -> None:
        with self._lock:
            self._window.extend(results)
            verdict = self._verdict()
        if verdict is not None:
            raise TeacherUnavailableError(verdict)

    @property
    def success_rate(self) -> float | None:
        """Share of repairs with a patch in the window; None before any repair."""
        with self._lock:
            return self._rate()

    def failures(self) -> Counter[str]:
        """Failure reasons in the window, by count."""
        with self._lock:
            return Counter(r.reason or "no_json" for r in self._window if r.patch is None)

    def _rate(self) -> float | None:
        if not self._window:
            return None
        return sum(r.patch is not None for r in self._window) / len(self._window)

    def _verdict(self) -> str | None:
        cfg = self.cfg
        rate = self._rate()
        if not cfg.enabled or rate is None or len(self._window) < cfg.min_calls or rate >= cfg.min_success_rate:
            return None
        failed = [r for r in self._window if r.patch is None]
        counts = Counter(r.reason or "no_json" for r in failed)
        top = counts.most_common(1)[0][0]
        latest = next((r for r in reversed(failed) if r.reason == top), None)
        detail = " ".join(latest.detail.split())[:200] if latest is not None and latest.detail else ""
        by_count = ", ".join(f"{reason} x{count}" for reason, count in counts.most_common())
        return (f"teacher success rate {rate:.0%} over the last {len(self._window)} repairs is below "
                f"teacher.health.min_success_rate={cfg.min_success_rate:g}: failures {by_count}"
                + (f" (latest {top}: {detail})" if detail else "")
                + f"; {HINTS.get(top, 'see the log')} (teacher.health.enabled=false trains on regardless)")
