"""ffr-teacher: the frozen, tool-using teacher that repairs failed rollouts with evidence patches.

The stable API (used by ffr-train)::

    from ffr_teacher import TeacherConfig, RepairRequest, build_teacher
    teacher = build_teacher(TeacherConfig(backend="annotation"))
    results = teacher.repair_many([RepairRequest(sample, frames, response)])   # list[RepairResult], same order
    results[0].patch            # EvidencePatch | None
    results[0].reason           # None, or a key of REASONS when there is no patch
    teacher.metrics.snapshot()  # flat dict of numbers
    teacher.probe(request)      # before training: TeacherUnavailableError when the teacher cannot repair
    teacher.submit_many(reqs)   # Future[list[RepairResult]]: repair_many without blocking
    TeacherHealth(cfg.health).record(results)  # TeacherUnavailableError when the success rate collapses
"""

from importlib.metadata import version as _version

from ffr_data.patch import TAXONOMIES, EvidencePatch, PatchError, PatchRegion, find_json_object
from ffr_teacher.config import LeakGuardConfig, TeacherConfig, TeacherHealthConfig
from ffr_teacher.health import TeacherHealth, TeacherUnavailableError
from ffr_teacher.leak import AnswerForms, Leak, answer_forms, find_leak, patch_leak
from ffr_teacher.metrics import TeacherMetrics
from ffr_teacher.registry import BACKENDS, register_backend
from ffr_teacher.results import REASONS, RepairRequest, RepairResult, TeacherFailure, ToolCallRecord
from ffr_teacher.teacher import Teacher, build_teacher

__version__ = _version("ffr-teacher")

__all__ = [
    "BACKENDS", "REASONS", "TAXONOMIES", "AnswerForms", "EvidencePatch", "Leak", "LeakGuardConfig", "PatchError",
    "PatchRegion", "RepairRequest", "RepairResult", "Teacher", "TeacherConfig", "TeacherFailure", "TeacherHealth",
    "TeacherHealthConfig", "TeacherMetrics", "TeacherUnavailableError", "ToolCallRecord", "answer_forms", "build_teacher", "find_json_object", "find_leak", "patch_leak",
    "register_backend",
]
