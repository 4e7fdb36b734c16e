"""How one step's training rows are cut into micro-batches, identically shaped on every rank.

Rows are packed by a token budget (rows x longest sequence), longest first. Then every rank runs as many
micro-batches as the rank that needs most, and a micro-batch gets a placeholder image row whenever another rank's
micro-batch at that position has images: every rank calls every module — the vision tower included — equally often,
so ZeRO-3's per-module parameter gathers and DDP's gradient reduction line up. Placeholder rows weigh 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ffr_train.batching import EncodedPrompt


class Row(Protocol):
    prompt: EncodedPrompt
    completion: torch.Tensor


def pack_micro_batches(lengths: Sequence[int], token_budget: int, max_rows: int) -> list[list[int]]:
    """Indices grouped into micro-batches whose padded size (rows x longest sequence) stays within ``token_budget``
    (0: no token limit) and whose row count stays within ``max_rows``; longest first, first fit, so long patched
    prompts share micro-batches instead of padding short ones. A sequence longer than the budget gets a micro-batch
    of its own. Pure; tested exactly."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    for i in order:
        for members in bins:
            width = lengths[members[0]]  # the first member is the longest
            if len(members) < max_rows and (not token_budget or (len(members) + 1) * width <= token_budget):
                members.append(i)
                break
        else:
            bins.append([i])
    return bins


def row_length(row: Row) -> int:
    return row.prompt.length + int(row.completion.numel())


def has_images(row: Row) -> bool:
    return "pixel_values" in row.prompt.media


class RankSync:
    """The few scalar collectives the update needs; on one process they are the identity."""

    def __init__(self, accelerator):
        self.accelerator = accelerator

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    def reduce(self, values: list[float], op: str) -> list[float]:
        if self.world == 1 or not values:
            return values
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return tensor.cpu().tolist()


@dataclass(frozen=True)
class Layout:
    """How many micro-batches every rank runs, and for each side (one per forward of a micro-batch) at each
    position whether some rank's rows there have images."""

    count: int
    images: list[list[bool]]


def synced_layout(sync: RankSync, sides: Sequence[Sequence[Sequence[Row]]]) -> Layout:
    """``sides[j][k]``: this rank's rows of side j in micro-batch k (every side has the same local count)."""
    local = len(sides[0]) if sides else 0
    count = int(sync.reduce([float(local)], "max")[0])
    flags = [float(k < local and any(has_images(r) for r in side[k])) for side in sides for k in range(count)]
    flags = sync.reduce(flags, "max")
    return Layout(count, [[bool(flags[j * count + k]) for k in range(count)] for j in range(len(sides))])


def fill_position(rows: list[list[Any]], images: list[bool], placeholders) -> tuple[list[list[Any]], int]:
    """Rows of each side at one position, completed with one placeholder row per side when this rank has none there
    or lacks images that another rank's rows have. Returns the rows and how many placeholders were added (0 or 1)."""
    if rows[0] and all(not flag or any(has_images(r) for r in side) for side, flag in zip(rows, images, strict=True)):
        return rows, 0
    extra = [placeholders.video_and_image if flag else placeholders.video for flag in images]
    return [[*side, row] for side, row in zip(rows, extra, strict=True)], 1
