"""The disk cache of repairs: one JSON file per key, written atomically, so a resumed run never pays twice.

The key hashes everything that decides a repair: the sample (id, video path, question with options, answer), the
frames the student saw (indices, timestamps, size), the student's response, the teacher config minus secrets and
throughput knobs, the backend's identity (endpoint, model) and the prompt version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.prompting import format_question
from ffr_teacher.config import TeacherConfig, semantic_dict
from ffr_teacher.prompts import PROMPT_VERSION
from ffr_teacher.results import RepairRequest, RepairResult

log = logging.getLogger(__name__)
CACHE_FORMAT = 1


def teacher_identity(cfg: TeacherConfig, backend_identity: dict[str, Any]) -> dict[str, Any]:
    """The teacher's part of every cache key: the config minus secrets and throughput knobs, plus the backend's
    identity (resolved endpoint and model)."""
    return {"teacher": semantic_dict(cfg), "backend": backend_identity}


def cache_key(request: RepairRequest, teacher: dict[str, Any]) -> str:
    """A hex digest of everything that decides the repair of ``request``; ``teacher`` from teacher_identity()."""
    sample, frames = request.sample, request.frames
    payload = {
        "format": CACHE_FORMAT, "prompt": PROMPT_VERSION,
        "sample": {"id": sample.problem_id, "path": sample.path, "question": format_question(sample),
                   "type": sample.problem_type, "answer": sample.answer},
        "frames": {"indices": list(frames.indices), "timestamps": [round(t, 6) for t in frames.timestamps],
                   "size": list(frames.size)},
        "response": request.response,
        **teacher,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class DiskCache:
    """``directory/ab/abcdef….json`` per key. A file that does not parse is reported, ignored and overwritten."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.errors = 0

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str, taxonomy: tuple[str, ...]) -> RepairResult | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            result = RepairResult.from_json(json.loads(path.read_text()), taxonomy)
        except (OSError, ValueError, KeyError, TypeError, FFRError) as exc:
            self.errors += 1
            log.warning("%s: unreadable teacher cache entry (%s); it will be recomputed", path, exc)
            return None
        result.cached = True
        return result

    def put(self, key: str, result: RepairResult) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(result.to_json(), out)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
