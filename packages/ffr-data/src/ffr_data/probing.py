"""Probing videos for ``ffr data prepare``: open each one, decode the frames the sampler would take, say why an
unusable one is unusable, and remember the results (keyed by file identity and sampling settings) between runs."""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffr_data.errors import VideoError
from ffr_data.progress import progress_bar
from ffr_data.sampling import FrameSamplingConfig, sample_indices
from ffr_data.schema import write_text_atomic
from ffr_data.video import VideoInfo, decode_frames, probe_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """What probing one video found: its facts, or the reason it is unusable."""

    reason: str | None = None  # None: usable
    detail: str = ""
    duration: float = 0.0
    fps: float = 0.0
    num_frames: int = 0
    backend: str = ""


def probe_one(path: Path, sampling: FrameSamplingConfig) -> ProbeResult:
    """Open the video, read its facts and decode the frames ``sampling`` would take."""
    try:
        if not path.is_file():
            return ProbeResult("missing_file", f"{path}: " + ("not a file" if path.exists() else "file not found"))
        size = path.stat().st_size
    except OSError as exc:  # a name too long for the file system, a permission problem on the way
        return ProbeResult("missing_file", f"{path}: cannot be looked up ({exc.strerror})")
    if size == 0:
        return ProbeResult("empty_file", f"{path}: file is empty (0 bytes)")
    try:
        info = probe_video(path, sampling.backend, sampling.fallback_backend)
    except VideoError as exc:
        return ProbeResult("corrupt_video", str(exc))
    try:
        indices = sample_indices(info, sampling)
    except ValueError as exc:
        return ProbeResult("too_few_frames", str(exc))
    try:
        decode_frames(path, indices=indices, info=info)
    except VideoError as exc:
        return ProbeResult(_undecodable_reason(path, info), str(exc))
    return ProbeResult(None, "", round(info.duration, 6), round(info.fps, 6), info.num_frames, info.backend)


def _undecodable_reason(path: Path, info: VideoInfo) -> str:
    """A video whose very first frame does not decode is corrupt (its header may still read fine); one that decodes
    at the start but fails at a later sampled frame is cut short or damaged part-way."""
    try:
        decode_frames(path, indices=[0], info=info)
    except VideoError:
        return "corrupt_video"
    return "frames_not_decodable"


_RESULT_TYPES = {"reason": (str, type(None)), "detail": (str,), "duration": (int, float), "fps": (int, float),
                 "num_frames": (int,), "backend": (str,)}


def _cached_result(entry: Any) -> ProbeResult | None:
    """The probe result stored in one cache entry, or None when the entry is malformed."""
    if not isinstance(entry, dict):
        return None
    stamp, result = entry.get("stamp"), entry.get("result")
    if not (isinstance(stamp, list) and len(stamp) == 2 and all(type(v) is int for v in stamp)):
        return None
    if not isinstance(result, dict) or set(result) != set(_RESULT_TYPES):
        return None
    for key, types in _RESULT_TYPES.items():
        value = result[key]
        if not isinstance(value, types) or isinstance(value, bool):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
    return ProbeResult(**result)


class ProbeCache:
    """Probe results keyed by file identity (path, size, mtime) and the sampling settings.

    The cache only saves time, so a damaged one is never an error: unreadable files and malformed entries are
    ignored with a warning and those videos are probed again (the fresh results then replace them on save).
    """

    def __init__(self, path: Path, settings: dict[str, Any], enabled: bool):
        self.path, self.settings, self.enabled = path, settings, enabled
        self.entries: dict[str, Any] = self._load() if enabled and path.is_file() else {}

    def _load(self) -> dict[str, Any]:
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = None
        if not isinstance(stored, dict) or not isinstance(stored.get("entries"), dict):
            log.warning("%s: not a probe cache (unreadable or malformed); every video is probed again", self.path)
            return {}
        if stored.get("settings") != self.settings:
            return {}  # other sampling settings: the earlier results do not apply
        entries = {key: entry for key, entry in stored["entries"].items() if _cached_result(entry) is not None}
        if len(entries) < len(stored["entries"]):
            log.warning("%s: %d malformed entr%s ignored; those videos are probed again", self.path,
                        len(stored["entries"]) - len(entries), "y" if len(stored["entries"]) - len(entries) == 1
                        else "ies")
        return entries

    @staticmethod
    def _stamp(path: Path) -> list[int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return [stat.st_size, stat.st_mtime_ns]

    def get(self, path: Path) -> ProbeResult | None:
        entry = self.entries.get(str(path))
        stamp = self._stamp(path)
        if not self.enabled or entry is None or stamp is None or entry["stamp"] != stamp:
            return None
        return _cached_result(entry)

    def put(self, path: Path, result: ProbeResult) -> None:
        stamp = self._stamp(path)
        if stamp is not None:
            self.entries[str(path)] = {"stamp": stamp, "result": result.__dict__}

    def save(self) -> None:
        if self.enabled:
            entries = dict(sorted(self.entries.items()))
            write_text_atomic(self.path, json.dumps({"settings": self.settings, "entries": entries}, allow_nan=False))


def probe_all(paths: list[Path], sampling: FrameSamplingConfig, workers: int, cache: ProbeCache, progress: bool
              ) -> tuple[dict[Path, ProbeResult], int]:
    """Every video's probe result (from the cache where it is current), and how many were opened in this run."""
    results: dict[Path, ProbeResult] = {}
    todo = []
    for path in paths:
        cached = cache.get(path)
        if cached is None:
            todo.append(path)
        else:
            results[path] = cached
    with progress_bar(progress and bool(todo), "probing videos", len(todo)) as bar, ThreadPoolExecutor(workers) as pool:
        for path, result in zip(todo, pool.map(lambda p: probe_one(p, sampling), todo), strict=True):
            results[path] = result
            cache.put(path, result)
            bar.advance()
    return results, len(todo)
