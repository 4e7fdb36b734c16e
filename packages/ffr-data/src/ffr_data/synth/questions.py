"""From a layout to a benchmark row: question, fixed options, answer, rationale, ground-truth evidence, meta."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ffr_data.synth.check import region_box
from ffr_data.synth.config import COLOUR_NAMES, LETTERS, QUADRANTS, SynthConfig
from ffr_data.synth.layout import Layout, Shape, slots_of


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _order_rationale(layout: Layout, slots: list[int]) -> str:
    first, second = layout.decisive
    return (f"<think>{first.colour} flashes at frame {slots[0]}, {second.colour} at frame {slots[1]}, "
            f"so {first.colour} is first.</think>")


def _count_rationale(layout: Layout, slots: list[int]) -> str:
    n = len(slots)
    if n == 1:
        return f"<think>a flash at frame {slots[0]}: 1 flash.</think>"
    return f"<think>flashes at frames {_and([str(s) for s in slots])}: {n} flashes.</think>"


def _location_rationale(layout: Layout, slots: list[int]) -> str:
    return f"<think>a flash at frame {slots[0]}, {QUADRANTS[layout.answer]}.</think>"


def _attribute_rationale(layout: Layout, slots: list[int]) -> str:
    return f"<think>at frame {slots[0]} the small shape is {layout.decisive[0].colour}.</think>"


@dataclass(frozen=True)
class Family:
    """A question family: its question, its fixed options and its rationale template."""

    question: str
    options: tuple[str, ...]
    rationale: Callable[[Layout, list[int]], str]


FAMILIES: dict[str, Family] = {
    "order": Family("Which colour flashed first?", COLOUR_NAMES, _order_rationale),
    "count": Family("How many times did a shape flash?", ("1", "2", "3", "4"), _count_rationale),
    "location": Family("Where did the brief flash appear?", QUADRANTS, _location_rationale),
    "attribute": Family("What colour was the small shape?", COLOUR_NAMES, _attribute_rationale),
}


def shape_evidence(shape: Shape, cfg: SynthConfig, sampled: Sequence[int]) -> dict[str, Any]:
    """One shape's window (its first to last frame, in seconds) and region (at the first sampled frame showing it,
    or at the middle of its window when no sampled frame does)."""
    slots = slots_of(shape, sampled)
    t = sampled[slots[0]] / cfg.fps if slots else (shape.start + shape.end) / 2 / cfg.fps
    return {"windows": [[shape.start / cfg.fps, shape.end / cfg.fps]],
            "regions": [{"t": t, "box": list(region_box(shape, cfg)), "label": shape.label}]}


def build_row(layout: Layout, cfg: SynthConfig, sampled: Sequence[int], *, problem_id: str, path: str,
              seed: int) -> dict[str, Any]:
    """The benchmark row (FFR / Video-R1 schema) for ``layout``."""
    family = FAMILIES[layout.family]
    decisive = [shape_evidence(s, cfg, sampled) for s in layout.decisive]
    first_slots = [slots_of(s, sampled)[0] for s in layout.decisive]
    evidence_frames = sorted({j for s in layout.decisive for j in slots_of(s, sampled)})
    return {
        "problem_id": problem_id,
        "data_source": "synth",
        "path": path,
        "data_type": "video",
        "problem_type": "multiple choice",
        "problem": family.question,
        "options": [f"{letter}. {text}" for letter, text in zip(LETTERS, family.options, strict=True)],
        "process": family.rationale(layout, first_slots),
        "solution": f"<answer>{LETTERS[layout.answer]}</answer>",
        "evidence": {"windows": [w for e in decisive for w in e["windows"]],
                     "regions": [r for e in decisive for r in e["regions"]]},
        "meta": {
            "family": layout.family,
            "difficulty": layout.difficulty,
            "evidence_frames": evidence_frames,
            # Every salient shape, decisive or not, in time order: nothing marks which one decides the question.
            "candidate_evidence": sorted((shape_evidence(s, cfg, sampled) for s in layout.shapes),
                                         key=lambda e: (e["windows"][0], e["regions"][0]["box"])),
            "seed": seed,
        },
    }
