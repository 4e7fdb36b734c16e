"""Teacher health, thread-safe: calls, successes, latency percentiles, tool use, leaks, cache hits, retries, and
failures by reason. ``snapshot()`` is a flat dict of numbers (every reason present, zero or not)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ffr_teacher.results import REASONS, RepairResult


@dataclass
class TeacherMetrics:
    calls: int = 0
    successes: int = 0
    cache_hits: int = 0
    deduplicated: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    leak_rejections: int = 0
    http_requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, result: RepairResult) -> None:
        """Count one finished repair (cached ones too: a cache hit is a call that cost nothing)."""
        with self._lock:
            self.calls += 1
            if result.patch is not None:
                self.successes += 1
            elif result.reason:
                self.failures[result.reason] = self.failures.get(result.reason, 0) + 1
            if result.cached:
                self.cache_hits += 1
                return
            self.latencies.append(result.latency_s)
            self.tool_calls += len(result.transcript)
            self.tool_errors += result.tool_errors
            self.leak_rejections += result.leak_rejections
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens

    def record_request(self) -> None:
        with self._lock:
            self.http_requests += 1

    def record_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1

    def record_duplicate(self) -> None:
        with self._lock:
            self.deduplicated += 1

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            latencies = np.asarray(self.latencies, dtype=np.float64)
            out: dict[str, float] = {
                "calls": self.calls, "successes": self.successes,
                "success_rate": self.successes / self.calls if self.calls else 0.0,
                "latency_mean_s": float(latencies.mean()) if latencies.size else 0.0,
                "latency_p50_s": float(np.percentile(latencies, 50)) if latencies.size else 0.0,
                "latency_p95_s": float(np.percentile(latencies, 95)) if latencies.size else 0.0,
                "tool_calls": self.tool_calls, "tool_errors": self.tool_errors,
                "leak_rejections": self.leak_rejections, "cache_hits": self.cache_hits,
                "deduplicated": self.deduplicated, "http_requests": self.http_requests, "retries": self.retries,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            }
            out.update({f"failures/{reason}": count for reason, count in self.failures.items()})
            return out
