"""The evidence patch: what a teacher returns for a failed rollout (it points at evidence; it never answers).

Defined here, in ffr-data, because ffr-data renders patches into model inputs; ffr-teacher produces them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.registry import Registry

TAXONOMIES: Registry[tuple[str, ...]] = Registry("error taxonomy", {
    "paper3": ("temporal", "spatial", "misconception"),
    "paper6": ("temporal", "spatial", "attribute", "counting", "dynamics", "logic"),
})


class PatchError(FFRError):
    """A patch (usually a teacher's JSON) fails the schema."""


@dataclass(frozen=True)
class PatchRegion:
    """A normalised box [x1, y1, x2, y2] with a short description; ``t`` (seconds) says which frame it is on."""

    box: tuple[float, float, float, float]
    t: float | None = None
    label: str = ""


@dataclass(frozen=True)
class EvidencePatch:
    error_type: str
    guidance: str = ""
    windows: tuple[tuple[float, float], ...] = ()
    key_frames: tuple[int, ...] = ()
    regions: tuple[PatchRegion, ...] = ()

    def is_empty(self) -> bool:
        return not (self.guidance.strip() or self.windows or self.key_frames or self.regions)

    def text_fields(self) -> list[str]:
        """Every free-text string in the patch (what a leak check must read)."""
        return [self.guidance, *(r.label for r in self.regions)]

    def to_json(self) -> dict[str, Any]:
        return {
            "error_type": self.error_type,
            "guidance": self.guidance,
            "windows": [list(w) for w in self.windows],
            "key_frames": list(self.key_frames),
            "regions": [{"box": list(r.box), "t": r.t, "label": r.label} for r in self.regions],
        }

    @classmethod
    def from_json(
        cls,
        data: Any,
        *,
        taxonomy: tuple[str, ...] = TAXONOMIES["paper3"],
        num_frames: int | None = None,
        duration: float | None = None,
    ) -> EvidencePatch:
        """Validate a dict (or JSON string). Out-of-range times, frames or boxes are errors, not clamped."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise PatchError(f"patch is not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise PatchError(f"patch must be a JSON object, got {type(data).__name__}")
        error_type = data.get("error_type", "")
        if not isinstance(error_type, str):
            raise PatchError(f"patch field 'error_type' must be a string, got {type(error_type).__name__}")
        error_type = error_type.strip().lower()
        if error_type not in taxonomy:
            raise PatchError(f"patch field 'error_type': {error_type!r} is not one of {list(taxonomy)}")
        guidance = data.get("guidance", "")
        if not isinstance(guidance, str):
            raise PatchError("patch field 'guidance' must be a string")
        windows = []
        for i, window in enumerate(_list(data, "windows")):
            if not isinstance(window, list | tuple) or len(window) != 2 or not all(_is_num(v) for v in window):
                raise PatchError(f"patch field 'windows[{i}]' must be [start_s, end_s]")
            start, end = float(window[0]), float(window[1])
            if start < 0 or end < start or (duration is not None and end > duration + 1e-6):
                limit = f" within 0..{duration:.2f}s" if duration is not None else ""
                raise PatchError(f"patch field 'windows[{i}]' = [{start}, {end}] is not a valid window{limit}")
            windows.append((start, end))
        key_frames = []
        for i, frame in enumerate(_list(data, "key_frames")):
            if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
                raise PatchError(f"patch field 'key_frames[{i}]' must be a non-negative integer, got {frame!r}")
            if num_frames is not None and frame >= num_frames:
                raise PatchError(f"patch field 'key_frames[{i}]' = {frame} is outside the {num_frames} sampled frames")
            key_frames.append(frame)
        regions = []
        for i, region in enumerate(_list(data, "regions")):
            if not isinstance(region, dict):
                raise PatchError(f"patch field 'regions[{i}]' must be an object with 'box'")
            box = region.get("box")
            if not isinstance(box, list | tuple) or len(box) != 4 or not all(_is_num(v) for v in box):
                raise PatchError(f"patch field 'regions[{i}].box' must be [x1, y1, x2, y2]")
            x1, y1, x2, y2 = (float(v) for v in box)
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise PatchError(f"patch field 'regions[{i}].box' = {list(box)} is not a normalised box")
            t = region.get("t")
            if t is not None and (not _is_num(t) or t < 0 or (duration is not None and t > duration + 1e-6)):
                raise PatchError(f"patch field 'regions[{i}].t' = {t!r} is not a time within the video")
            label = region.get("label")
            if label is not None and not isinstance(label, str):
                raise PatchError(f"patch field 'regions[{i}].label' must be a string, got {type(label).__name__}")
            regions.append(PatchRegion((x1, y1, x2, y2), None if t is None else float(t), label or ""))
        patch = cls(error_type, guidance.strip(), tuple(windows), tuple(key_frames), tuple(regions))
        if patch.is_empty():
            raise PatchError("patch is empty: no guidance, windows, key frames or regions")
        return patch


def _is_num(value: Any) -> bool:
    """A finite number (NaN and Infinity are not JSON and compare false with everything)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _list(data: dict, key: str) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise PatchError(f"patch field '{key}' must be a list")
    return value


_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)


def find_json_object(text: str) -> Any:
    """The JSON object in a model reply: inside ``<answer>`` or ``<patch>`` tags, a code fence, or bare."""
    for pattern in (r"<patch>(.*?)</patch>", r"<answer>(.*?)</answer>", r"```(?:json)?\s*(.*?)```"):
        match = re.search(pattern, text, re.DOTALL)
        if match:
            text = match.group(1)
            break
    match = _JSON_BLOCK.search(text)
    if not match:
        raise PatchError("reply holds no JSON object")
    try:
        return json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise PatchError(f"reply's JSON does not parse ({exc.msg})") from None
