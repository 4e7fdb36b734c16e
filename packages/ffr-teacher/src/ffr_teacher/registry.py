"""Teacher backends, registered by name (``teacher.backend=...``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ffr_data.clips import ClipTools
from ffr_data.registry import Registry
from ffr_teacher.config import TeacherConfig
from ffr_teacher.metrics import TeacherMetrics
from ffr_teacher.results import RepairRequest, RepairResult


class RepairBackend(Protocol):
    """Repairs one failed rollout. Expected failures come back as a RepairResult with a reason; an exception is a
    bug and is caught (and counted as ``backend_error``) by the Teacher."""

    cacheable: bool  # False for instant, deterministic backends (annotation): a disk cache would only cost

    def identity(self) -> dict[str, Any]:
        """What, besides the TeacherConfig, decides a repair (e.g. the resolved model name): part of cache keys."""
        ...

    def repair(self, request: RepairRequest, clip_tools: ClipTools) -> RepairResult: ...

    def close(self) -> None: ...


BackendFactory = Callable[[TeacherConfig, TeacherMetrics], RepairBackend]
BACKENDS: Registry[BackendFactory] = Registry("backend")


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    return BACKENDS.register(name)


def create_backend(cfg: TeacherConfig, metrics: TeacherMetrics) -> RepairBackend:
    return BACKENDS.get(cfg.backend, where="config key 'teacher.backend'")(cfg, metrics)
