"""The Robust Improvement Reward and its dependency-alignment term. Pure functions, tested exactly.

For rollout slot i with first-pass correctness z_i::

    R_i = z_i * (acc_i + fmt_i) + (1 - z_i) * (acc*_i + fmt*_i - kappa) + lambda * align_i

(generally: the sum of every configured reward part, accuracy and format by default), where the starred parts
score the repaired rollout (the student's answer under the evidence patch). A failed slot
for which the teacher gave no patch keeps its first-pass parts and pays no tax (there was no help).

``align`` is the share of the patch's cited evidence items that the repaired rationale (its ``<think>`` text)
refers to: each key frame k counts when the rationale names "frame k" (0-based, as the patch does); each time window
counts when the rationale names a time inside it ("1.5 s") or a sampled frame whose timestamp lies inside it; each
region counts when the rationale uses its label's words or the box's position ("top-left", ...). No cited items -> 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ffr_data.patch import EvidencePatch

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_FRAMES = re.compile(r"\bframes?\s+((?:\d+\s*(?:,|and|&|to|-)?\s*)+)", re.IGNORECASE)
_TIMES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", re.IGNORECASE)
_STOP = {"the", "a", "an", "of", "at", "in", "on", "shape", "object", "region", "area", "moment", "this", "that"}


@dataclass(frozen=True)
class SlotReward:
    """One chosen rollout's reward: its total and every part (all logged)."""

    total: float
    parts: dict[str, float]
    tax: float
    align: float
    repaired: bool

    @property
    def accuracy(self) -> float:
        return self.parts.get("accuracy", 0.0)


def rationale_of(completion: str) -> str:
    match = _THINK.search(completion)
    return match.group(1) if match else completion


def cited_frames(text: str) -> set[int]:
    frames: set[int] = set()
    for match in _FRAMES.finditer(text):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if re.search(r"\bto\b|-", match.group(1)) and len(numbers) == 2 and numbers[0] <= numbers[1]:
            frames.update(range(numbers[0], numbers[1] + 1))
        else:
            frames.update(numbers)
    return frames


def cited_times(text: str) -> list[float]:
    return [float(m.group(1)) for m in _TIMES.finditer(text)]


def _position_words(box: Sequence[float]) -> set[str]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    vertical = "top" if cy < 0.5 else "bottom"
    horizontal = "left" if cx < 0.5 else "right"
    return {f"{vertical}-{horizontal}", f"{vertical} {horizontal}"}


def alignment(completion: str, patch: EvidencePatch, frame_times: Sequence[float], tolerance_s: float = 0.25) -> float:
    """Share of the patch's cited items (key frames, windows, regions) that the rationale refers to, in [0, 1]."""
    text = rationale_of(completion).lower()
    frames = cited_frames(text)
    times = cited_times(text) + [frame_times[f] for f in frames if 0 <= f < len(frame_times)]
    hits: list[bool] = [k in frames for k in patch.key_frames]
    for start, end in patch.windows:
        hits.append(any(start - tolerance_s <= t <= end + tolerance_s for t in times))
    for region in patch.regions:
        words = {w for w in re.findall(r"[a-z]+", region.label.lower()) if w not in _STOP}
        hits.append(any(w in text for w in words) or any(p in text for p in _position_words(region.box)))
    return sum(hits) / len(hits) if hits else 0.0


def rir(
    first: dict[str, float],
    repaired: dict[str, float] | None,
    *,
    correct: bool,
    kappa: float,
    lam: float,
    align: float = 0.0,
) -> SlotReward:
    """The RIR of one slot. ``first`` / ``repaired`` hold the reward parts of each pass (accuracy, format, ...)."""
    if correct or repaired is None:
        return SlotReward(sum(first.values()), dict(first), 0.0, 0.0, False)
    return SlotReward(sum(repaired.values()) - kappa + lam * align, dict(repaired), kappa, align, True)
