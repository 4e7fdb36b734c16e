"""From a layout to a benchmark row: question, fixed options, answer, rationale, ground-truth evidence, meta."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ffr_data.synth.check import UNBOXED_FAMILIES, region_box
from ffr_data.synth.config import LETTERS, SynthConfig, cell_names
from ffr_data.synth.layout import Layout, Shape, cell_area, slots_of


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _order_rationale(layout: Layout, slots: list[int], options: Sequence[str]) -> str:
    first, second = layout.decisive
    return (f"<think>{first.colour} flashes at frame {slots[0]}, {second.colour} at frame {slots[1]}, "
            f"so {first.colour} is first.</think>")


def _count_rationale(layout: Layout, slots: list[int], options: Sequence[str]) -> str:
    n = len(slots)
    if n == 1:
        return f"<think>a flash at frame {slots[0]}: 1 flash.</think>"
    return f"<think>flashes at frames {_and([str(s) for s in slots])}: {n} flashes.</think>"


def _location_rationale(layout: Layout, slots: list[int], options: Sequence[str]) -> str:
    return f"<think>a flash at frame {slots[0]}, {options[layout.answer]}.</think>"


def _attribute_rationale(layout: Layout, slots: list[int], options: Sequence[str]) -> str:
    return f"<think>at frame {slots[0]} the small shape is {layout.decisive[0].colour}.</think>"


def _palette(cfg: SynthConfig) -> tuple[str, ...]:
    return tuple(cfg.palette)


def _counts(cfg: SynthConfig) -> tuple[str, ...]:
    return tuple(str(n) for n in range(1, cfg.count_max + 1))


def _cells(cfg: SynthConfig) -> tuple[str, ...]:
    return cell_names(*cfg.location_grid)


@dataclass(frozen=True)
class Family:
    """A question family: its question, its answer values in their fixed option order (from the config) and its
    rationale template."""

    question: str
    values: Callable[[SynthConfig], tuple[str, ...]]
    rationale: Callable[[Layout, list[int], Sequence[str]], str]


FAMILIES: dict[str, Family] = {
    "order": Family("Which colour flashed first?", _palette, _order_rationale),
    "count": Family("How many times did a shape flash?", _counts, _count_rationale),
    "location": Family("Where did the brief flash appear?", _cells, _location_rationale),
    "attribute": Family("What colour was the small shape?", _palette, _attribute_rationale),
}


def option_count(family: str, cfg: SynthConfig) -> int:
    """How many answers the family has under ``cfg`` (options, or numbers for a numerical count)."""
    return len(FAMILIES[family].values(cfg))


def is_numerical(family: str, cfg: SynthConfig) -> bool:
    """Whether the family's answer is a number to write rather than an option to pick."""
    return family == "count" and cfg.count_answer == "number"


def answer_text(family: str, answer: int, cfg: SynthConfig) -> str:
    """What goes inside ``<answer>``: the option letter, or the number itself."""
    return FAMILIES[family].values(cfg)[answer] if is_numerical(family, cfg) else LETTERS[answer]


def pointing(layout: Layout, cfg: SynthConfig) -> dict[str, Any]:
    """How a patch may cite this question without the citation alone giving the answer away: a region box would
    place a location flash in its cell and a count's regions would number its flashes, so neither family gets
    regions; a count's windows are topped up with decoy windows over empty stretches to a constant number."""
    return {"regions": layout.family not in UNBOXED_FAMILIES,
            "decoy_windows": [[start / cfg.fps, end / cfg.fps] for start, end in layout.decoys]}


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
    values = family.values(cfg)
    numerical = is_numerical(layout.family, cfg)
    decisive = [shape_evidence(s, cfg, sampled) for s in layout.decisive]
    first_slots = [slots_of(s, sampled)[0] for s in layout.decisive]
    evidence_frames = sorted({j for s in layout.decisive for j in slots_of(s, sampled)})
    row = {
        "problem_id": problem_id,
        "data_source": "synth",
        "path": path,
        "data_type": "video",
        "problem_type": "numerical" if numerical else "multiple choice",
        "problem": family.question,
        "options": [] if numerical else [f"{letter}. {text}" for letter, text in zip(LETTERS, values, strict=False)],
        "process": family.rationale(layout, first_slots, values),
        "solution": f"<answer>{answer_text(layout.family, layout.answer, cfg)}</answer>",
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
    if cfg.pointing:
        row["meta"]["pointing"] = pointing(layout, cfg)
        if layout.family == "location":  # where each option lies, normalised, for the leak guard's region rule
            row["meta"]["answer_cells"] = [[v / cfg.size for v in cell_area(cfg, k)] for k in range(len(values))]
    return row
