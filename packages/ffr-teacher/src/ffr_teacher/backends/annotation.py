"""The annotation teacher: patches built from a sample's ground-truth evidence (no model, instant, offline).

With the ground truth it cites ``sample.evidence``: its windows, the sampled frames inside them (0-based key frames),
its regions (labels kept only when they pass the leak guard), and a neutral guidance sentence chosen by the
synthetic question family (``sample.meta["family"]``). For counting families the events are cited as one spanning
window with no per-event regions, since one window per event would give the count away. Without the ground truth (``use_ground_truth=False``) it
cannot know which event decides the question, so it cites every salient event of
``sample.meta["candidate_evidence"]``, distractors included. Either way the patch passes the leak guard or is dropped.

A row may say how it can be cited without the citation giving the answer away (``meta.pointing``, written by the
synthetic benchmark's fair preset): ``regions: false`` drops every region (a box would place a location flash in its
answer cell, or number a count's flashes), and ``decoy_windows`` are cited beside the real events, in time order, so
that a count question always cites the same number of windows; such rows also get guidance that names no option.
"""

from __future__ import annotations

from typing import Any

from ffr_data.clips import ClipTools
from ffr_data.patch import EvidencePatch, PatchError
from ffr_data.schema import Sample
from ffr_data.video import Frames
from ffr_teacher.config import TeacherConfig
from ffr_teacher.leak import answer_forms, patch_leak, text_leak
from ffr_teacher.metrics import TeacherMetrics
from ffr_teacher.registry import register_backend
from ffr_teacher.results import RepairRequest, RepairResult, failure

# Guidance by question family: where to look and what to compare, never what is there.
FAMILY_GUIDANCE: dict[str, str] = {
    "order": "Compare the moments cited; watch when each shape appears.",
    "location": "Look at the cited moment and check every part of the picture, not only the centre.",
    "color": "Look closely at the cited region at the cited moment before deciding.",
    "count": "Step through the cited window frame by frame and count every occurrence yourself.",
    "motion": "Follow the shape through the cited window and compare where it starts and where it ends.",
    "change": "Compare the cited region just before and just after the cited moment.",
    "presence": "Check the cited moment closely for anything brief or small.",
    "duration": "Watch the cited window and note when the event starts and when it ends.",
}
FAMILY_ALIASES = {"sequence": "order", "position": "location", "where": "location", "colour": "color",
                  "attribute": "color", "counting": "count", "direction": "motion", "dynamics": "motion",
                  "existence": "presence"}
# Guidance for rows with a pointing policy (``meta.pointing``): it never names a grid cell (location options include
# "centre") and says that some cited moments of a count are empty decoys.
POINTING_GUIDANCE: dict[str, str] = {
    "location": "Watch the cited moment closely and find where the brief flash is in the picture.",
    "count": "Check every cited moment; some show nothing. Count the flashes yourself.",
}
DEFAULT_GUIDANCE = "Look closely at the cited moments and regions before answering."
NO_GT_GUIDANCE = "Several moments could matter here; compare each cited moment before answering."
NEUTRAL_LABEL = "an area to inspect"

# Families whose answer is a number of events: citing one window per event would give the count away, so their
# events are cited as one window spanning all of them, without per-event regions.
COUNT_FAMILIES = frozenset({"count"})

# The error class each family's mistake falls in, per taxonomy (first match in the taxonomy wins).
FAMILY_ERROR_TYPES: dict[str, tuple[str, ...]] = {
    "order": ("temporal",), "duration": ("temporal",), "location": ("spatial",), "presence": ("spatial",),
    "color": ("attribute", "spatial"), "count": ("counting", "temporal"), "motion": ("dynamics", "temporal"),
    "change": ("dynamics", "temporal"),
}


def family_of(sample: Sample) -> str:
    family = str(sample.meta.get("family", "")).strip().lower()
    return FAMILY_ALIASES.get(family, family)


def error_type_for(family: str, has_windows: bool, taxonomy: tuple[str, ...]) -> str:
    for candidate in FAMILY_ERROR_TYPES.get(family, ()):
        if candidate in taxonomy:
            return candidate
    preferred = "temporal" if has_windows else "spatial"
    return preferred if preferred in taxonomy else taxonomy[0]


def evidence_items(sample: Sample, use_ground_truth: bool) -> tuple[list[tuple[float, float]], list[dict[str, Any]]]:
    """(windows, regions) to cite: the ground-truth evidence, or every candidate event without ground truth."""
    if use_ground_truth:
        if sample.evidence is None:
            return [], []
        regions = [{"t": r.t, "box": list(r.box), "label": r.label} for r in sample.evidence.regions]
        return list(sample.evidence.windows), regions
    windows: list[tuple[float, float]] = []
    regions: list[dict[str, Any]] = []
    candidates = sample.meta.get("candidate_evidence") or []
    if not isinstance(candidates, list):
        raise PatchError("meta field 'candidate_evidence' must be a list of {windows, regions} objects")
    for i, item in enumerate(candidates):
        if not isinstance(item, dict):
            raise PatchError(f"meta field 'candidate_evidence[{i}]' must be an object with windows/regions")
        for window in item.get("windows") or []:
            if not isinstance(window, list | tuple) or len(window) != 2:
                raise PatchError(f"meta field 'candidate_evidence[{i}].windows' must hold [start_s, end_s] pairs")
            pair = (float(window[0]), float(window[1]))
            if pair not in windows:
                windows.append(pair)
        regions.extend(dict(r) for r in item.get("regions") or [] if isinstance(r, dict))
    return sorted(windows), sorted(regions, key=lambda r: float(r.get("t") or 0.0))


def pointing_policy(sample: Sample) -> tuple[bool, list[tuple[float, float]]] | None:
    """(regions allowed, decoy windows) from ``meta.pointing``; None when the row has no pointing policy."""
    policy = sample.meta.get("pointing") if isinstance(sample.meta, dict) else None
    if policy is None:
        return None
    if not isinstance(policy, dict) or not isinstance(policy.get("regions", True), bool):
        raise PatchError("meta field 'pointing' must be an object {regions: bool, decoy_windows: [[start_s, end_s]]}")
    decoys = []
    for i, window in enumerate(policy.get("decoy_windows") or []):
        if not isinstance(window, list | tuple) or len(window) != 2:
            raise PatchError(f"meta field 'pointing.decoy_windows[{i}]' must be [start_s, end_s]")
        decoys.append((float(window[0]), float(window[1])))
    return bool(policy.get("regions", True)), decoys


def fit_windows(windows: list[tuple[float, float]], frames: Frames) -> list[list[float]]:
    """Windows within the video: an end up to one frame past the duration is trimmed to it (annotations often end
    at the last frame's end time); anything further out is left for the schema check to reject."""
    duration, step = frames.info.duration, 1.0 / frames.info.fps
    fitted = []
    for start, end in windows:
        if duration < end <= duration + step:
            end = duration
        fitted.append([max(0.0, start) if start > -step else start, end])
    return fitted


def key_frames_in(windows: list[list[float]], frames: Frames) -> list[int]:
    """0-based indices of the sampled frames whose timestamps fall inside any window."""
    return [i for i, t in enumerate(frames.timestamps) if any(a - 1e-6 <= t <= b + 1e-6 for a, b in windows)]


def annotation_patch(sample: Sample, frames: Frames, cfg: TeacherConfig) -> EvidencePatch:
    """The annotation patch for ``sample`` over the student's ``frames``. Raises PatchError when it fails the schema
    and LookupError when there is no evidence to cite."""
    windows, regions = evidence_items(sample, cfg.use_ground_truth)
    if not windows and not regions:
        source = "evidence" if cfg.use_ground_truth else "meta.candidate_evidence"
        raise LookupError(f"sample {sample.problem_id} has no {source} to cite")
    family = family_of(sample)
    policy = pointing_policy(sample)
    if policy is not None:
        regions_allowed, decoys = policy
        regions = regions if regions_allowed else []
        windows = sorted(set(windows) | set(decoys)) if windows else windows
    elif family in COUNT_FAMILIES and windows:
        windows, regions = [(min(w[0] for w in windows), max(w[1] for w in windows))], []
    fitted = fit_windows(windows, frames)
    forms = answer_forms(sample)
    for region in regions:
        label = str(region.get("label") or "")
        if not label or text_leak(label, forms, cfg.leak) is not None:
            region["label"] = NEUTRAL_LABEL
    guidance = FAMILY_GUIDANCE.get(family, DEFAULT_GUIDANCE) if cfg.use_ground_truth else NO_GT_GUIDANCE
    if policy is not None and cfg.use_ground_truth:
        guidance = POINTING_GUIDANCE.get(family, guidance)
    data = {"error_type": error_type_for(family, bool(fitted), cfg.taxonomy_classes), "guidance": guidance,
            "windows": fitted, "key_frames": key_frames_in(fitted, frames), "regions": regions}
    return EvidencePatch.from_json(data, taxonomy=cfg.taxonomy_classes, num_frames=len(frames),
                                   duration=frames.info.duration)


class AnnotationBackend:
    cacheable = False

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg

    def identity(self) -> dict[str, Any]:
        return {"backend": "annotation"}

    def repair(self, request: RepairRequest, clip_tools: ClipTools) -> RepairResult:
        try:
            patch = annotation_patch(request.sample, request.frames, self.cfg)
        except LookupError as exc:
            return failure("no_evidence", str(exc))
        except PatchError as exc:
            return failure("schema", f"{request.sample.problem_id}: {exc}")
        leak = patch_leak(patch, request.sample, self.cfg.leak)
        if leak is not None:
            return failure("leak", f"{leak.kind}: {leak.detail}", leak_rejections=1)
        return RepairResult(patch)

    def close(self) -> None:
        return None


@register_backend("annotation")
def _create(cfg: TeacherConfig, metrics: TeacherMetrics) -> AnnotationBackend:
    return AnnotationBackend(cfg)
