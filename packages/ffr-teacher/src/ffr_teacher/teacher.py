"""The Teacher: one backend behind the stable API the trainer uses, plus the disk cache, metrics and concurrency.

    teacher = build_teacher(TeacherConfig(backend="openai", base_url=..., model=...))
    teacher.probe(request)                                  # one real repair; TeacherUnavailableError if it fails
    results = teacher.repair_many([RepairRequest(sample, frames, response), ...])   # same order, never raises
    future = teacher.submit_many(requests)                  # the same, without blocking: future.result() later
    teacher.metrics.snapshot()                                                       # flat dict of numbers

A failure of any kind (timeout, HTTP error, bad JSON, schema, leak, a bug in a backend) gives a RepairResult with
``patch=None`` and a counted ``reason``; ``repair_many`` never raises for it. Only the probe and the success-rate
guard (``ffr_teacher.health``) raise, on purpose.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ffr_data.clips import ClipTools, FrameCache
from ffr_data.errors import VideoError
from ffr_data.patch import EvidencePatch
from ffr_data.schema import Sample
from ffr_data.video import Frames
from ffr_teacher import backends as _backends  # noqa: F401  (registers the built-in backends)
from ffr_teacher.cache import DiskCache, cache_key, teacher_identity
from ffr_teacher.config import TeacherConfig
from ffr_teacher.health import probe_error
from ffr_teacher.metrics import TeacherMetrics
from ffr_teacher.registry import RepairBackend, create_backend
from ffr_teacher.results import UNCACHEABLE_REASONS, RepairRequest, RepairResult, failure

log = logging.getLogger(__name__)


class Teacher:
    """Repairs failed rollouts with one backend; thread-safe."""

    def __init__(self, cfg: TeacherConfig, backend: RepairBackend | None = None,
                 metrics: TeacherMetrics | None = None, frame_cache: FrameCache | None = None):
        self.cfg = cfg
        self.metrics = metrics or TeacherMetrics()
        self.backend = backend or create_backend(cfg, self.metrics)
        self.cache = DiskCache(cfg.cache_dir) if cfg.cache_dir and self.backend.cacheable else None
        self.frame_cache = frame_cache or FrameCache(max_bytes=256 * 2**20)
        self._identity = teacher_identity(cfg, self.backend.identity())
        self._pool: ThreadPoolExecutor | None = None
        self._dispatcher: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Teacher(backend={self.cfg.backend!r}, cache={str(self.cache.directory) if self.cache else None!r})"

    # -- one repair ----------------------------------------------------------------------------------------------
    def repair(self, sample: Sample, frames: Frames, student_response: str) -> RepairResult:
        """Repair one failed rollout: a patch, or None with a reason. Never raises for a teacher failure."""
        return self._repair(RepairRequest(sample, frames, student_response))

    def repair_patch(self, sample: Sample, frames: Frames, student_response: str) -> EvidencePatch | None:
        """:meth:`repair`, keeping only the patch."""
        return self.repair(sample, frames, student_response).patch

    def probe(self, request: RepairRequest) -> RepairResult:
        """One real repair, to check the teacher before training: no cache is read and no metrics are counted.
        Returns the result when the teacher wrote a schema-valid patch (a patch the leak guard rejected counts: the
        teacher works); raises :class:`~ffr_teacher.health.TeacherUnavailableError` with the reason otherwise."""
        started = time.perf_counter()
        result = self._run_backend(request)
        result.latency_s = time.perf_counter() - started
        if result.patch is None and result.reason != "leak":
            raise probe_error(result, self._describe())
        return result

    def _describe(self) -> str:
        identity = self.backend.identity()
        shown = ", ".join(f"{key}={value}" for key, value in identity.items() if key != "backend")
        return f"backend {self.cfg.backend}" + (f", {shown}" if shown else "")

    def _key(self, request: RepairRequest) -> str:
        return cache_key(request, self._identity)

    def _repair(self, request: RepairRequest, key: str | None = None) -> RepairResult:
        if self.cache is not None:
            key = key or self._key(request)
            cached = self.cache.get(key, self.cfg.taxonomy_classes)
            if cached is not None:
                self.metrics.record(cached)
                return cached
        started = time.perf_counter()
        result = self._run_backend(request)
        result.latency_s = time.perf_counter() - started
        self.metrics.record(result)
        if result.reason is not None:
            log.info("teacher gave no patch for %s: %s %s", request.sample.problem_id, result.reason, result.detail)
        if self.cache is not None and key is not None and self._should_cache(result):
            self.cache.put(key, result)
        return result

    def _run_backend(self, request: RepairRequest) -> RepairResult:
        clip_tools = ClipTools(request.sample.path, self.cfg.sampling, self.frame_cache)
        try:
            return self.backend.repair(request, clip_tools)
        except VideoError as exc:
            return failure("video", str(exc))
        except Exception as exc:  # a bug in a backend must not stop training: logged with its traceback, counted
            log.exception("teacher backend %r failed on %s", self.cfg.backend, request.sample.problem_id)
            return failure("backend_error", f"{type(exc).__name__}: {str(exc)[:300]}")

    def _should_cache(self, result: RepairResult) -> bool:
        if result.patch is not None:
            return True
        return self.cfg.cache_failures and result.reason not in UNCACHEABLE_REASONS

    # -- many repairs --------------------------------------------------------------------------------------------
    def repair_many(self, requests: Sequence[RepairRequest]) -> list[RepairResult]:
        """Repair every request, ``concurrency`` at a time; results in request order. Identical requests (same
        cache key, e.g. identical rollouts in a group) are repaired once."""
        if not requests:
            return []
        keys = [self._key(r) for r in requests]
        first_of: dict[str, int] = {}
        for index, key in enumerate(keys):
            first_of.setdefault(key, index)
        unique = sorted(first_of.values())
        if len(unique) == 1 or self.cfg.concurrency == 1:
            done = {i: self._repair(requests[i], keys[i]) for i in unique}
        else:
            futures = {i: self._executor().submit(self._repair, requests[i], keys[i]) for i in unique}
            done = {i: future.result() for i, future in futures.items()}
        results = []
        for index, key in enumerate(keys):
            original = done[first_of[key]]
            if first_of[key] == index:
                results.append(original)
                continue
            duplicate = dataclasses.replace(original, cached=True, transcript=list(original.transcript))
            self.metrics.record_duplicate()
            self.metrics.record(duplicate)
            results.append(duplicate)
        return results

    def submit_many(self, requests: Sequence[RepairRequest]) -> Future[list[RepairResult]]:
        """:meth:`repair_many` without blocking: a Future of the same results in the same order. Several may be in
        flight at once (they share the ``concurrency`` workers). Like repair_many, the future never fails for a
        teacher failure."""
        requests = list(requests)
        with self._pool_lock:
            if self._dispatcher is None:
                self._dispatcher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ffr-teacher-submit")
            return self._dispatcher.submit(self.repair_many, requests)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="ffr-teacher")
            return self._pool

    def close(self) -> None:
        """Waits for submitted work, then releases the workers and the backend."""
        with self._pool_lock:
            dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.shutdown(wait=True)  # outside the lock: pending submits still need _executor()
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.backend.close()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_teacher(cfg: TeacherConfig) -> Teacher:
    """The teacher ``cfg`` describes (its backend created by name)."""
    return Teacher(cfg)
