"""The model side of ``ffr teacher serve``: requests are queued, and one worker thread takes everything queued (up to
``max_batch`` requests with the same temperature), prepares each (chat template, processor, length check) and
generates them together, so N concurrent clients cost about one generation, not N in a row. Requests arriving while
a batch runs form the next one; nothing waits for a batch to fill.

All torch work runs on that one thread. Preparing on the HTTP threads instead made one-at-a-time serving 8x slower
on 2 CPU cores: every thread that runs torch ops gets its own OpenMP team, and the teams' spin-waiting starves the
generating thread.

Input the model cannot take (a prompt longer than the context, an image its processor refuses) fails its own
request with a :class:`~ffr_teacher.server_requests.RequestError` (HTTP 400); the rest of the batch goes on.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ffr_teacher.backends.hf_chat import HFChat, Prepared
from ffr_teacher.loop import ChatReply
from ffr_teacher.server_requests import RequestError

log = logging.getLogger(__name__)


@dataclass
class _Job:
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    future: Future = field(default_factory=Future)
    prepared: Prepared | None = None


class BatchingEngine:
    """A :class:`ChatEngine` over one :class:`HFChat`: prepare on the caller's thread, generate in batches."""

    def __init__(self, chat: HFChat, max_batch: int = 8, max_prompt_tokens: int = 0, max_generation_s: float = 0.0):
        self.chat = chat
        self.max_batch = max_batch if chat.batchable else 1
        self.max_prompt_tokens = max_prompt_tokens
        self.max_generation_s = max_generation_s
        self.batches: list[int] = []  # the size of every batch run (for tests and benchmarks)
        self._queue: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="ffr-teacher-batcher", daemon=True)
        self._worker.start()

    def generate(self, messages: list[dict[str, Any]], max_tokens: int,
                 temperature: float | None = None) -> ChatReply:
        job = _Job(messages, max_tokens, self.chat.temperature if temperature is None else temperature)
        with self._ready:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            self._queue.append(job)
            self._ready.notify()
        return job.future.result()

    def _prepare(self, messages: list[dict[str, Any]]) -> Prepared:
        try:
            return self.chat.prepare(messages)
        except MemoryError:
            raise
        except Exception as exc:  # the template or the processor refused this input: the client's error
            detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise RequestError(400, f"the model's processor cannot take this request: {detail}") from None

    def _check_length(self, prompt_tokens: int, max_tokens: int) -> None:
        if self.max_prompt_tokens and prompt_tokens > self.max_prompt_tokens:
            raise RequestError(400, f"the prompt has {prompt_tokens} tokens, more than this server's limit of "
                                    f"{self.max_prompt_tokens} (--max-prompt-tokens)")
        context = self.chat.context_length
        if context and prompt_tokens + max_tokens > context:
            raise RequestError(400, f"the prompt has {prompt_tokens} tokens; with max_tokens={max_tokens} that "
                                    f"exceeds the model's context of {context} tokens")

    def _next_batch(self) -> list[_Job] | None:
        """The oldest job and every queued job with its temperature (up to max_batch), in arrival order."""
        with self._ready:
            while not self._queue and not self._closed:
                self._ready.wait()
            if not self._queue:
                return None
            first = self._queue.popleft()
            batch, rest = [first], deque()
            while self._queue:
                job = self._queue.popleft()
                if len(batch) < self.max_batch and job.temperature == first.temperature:
                    batch.append(job)
                else:
                    rest.append(job)
            self._queue.extendleft(reversed(rest))
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            ready = [job for job in batch if self._prepared(job)]
            if not ready:
                continue
            self.batches.append(len(ready))
            try:
                replies = self.chat.generate_batch([(job.prepared, job.max_tokens) for job in ready],
                                                   ready[0].temperature, self.max_generation_s or None)
            except Exception as exc:  # every request of the batch gets the error (a 500 each)
                log.exception("generation failed for a batch of %d", len(ready))
                for job in ready:
                    job.future.set_exception(exc)
                continue
            for job, reply in zip(ready, replies, strict=True):
                job.future.set_result(reply)

    def _prepared(self, job: _Job) -> bool:
        """Prepare ``job`` and check its length; False (its future failed) when the request is refused."""
        try:
            job.prepared = self._prepare(job.messages)
            self._check_length(job.prepared.prompt_tokens, job.max_tokens)
        except Exception as exc:  # RequestError: a 400 for this request only; anything else: a 500 for it
            job.future.set_exception(exc)
            return False
        return True

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._worker.join(timeout=30)
        for job in self._queue:
            job.future.set_exception(RuntimeError("the server is shutting down"))
