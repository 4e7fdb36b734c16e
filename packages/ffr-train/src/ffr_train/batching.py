"""Per-prompt encodings and their collation into generation / training batches.

Each distinct prompt (a sample's plain prompt, or its patched prompt) is run through the processor once. Generation
batches left-pad prompts; training batches are ``[left-padded prompt | right-padded completion]`` with each
sequence's media concatenated in order, so a repaired slot is trained under its own patched prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ffr_data.prompting import Prompt, encode_prompts

# Per-prompt tensors that are concatenated across a batch (rows of patches, or one row per video / image).
MEDIA_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "pixel_values", "image_grid_thw")


@dataclass
class EncodedPrompt:
    input_ids: torch.Tensor  # (L,)
    mm_token_type_ids: torch.Tensor | None  # (L,)
    media: dict[str, torch.Tensor]
    source: Prompt | None = None  # the messages and frames it was encoded from (what a vLLM engine would send)

    @property
    def length(self) -> int:
        return int(self.input_ids.numel())


def encode_prompt(processor, prompt: Prompt) -> EncodedPrompt:
    batch = encode_prompts(processor, [prompt])
    media = {k: batch[k] for k in MEDIA_KEYS if k in batch and batch[k] is not None}
    if "second_per_grid_ts" in media:
        media["second_per_grid_ts"] = torch.as_tensor(media["second_per_grid_ts"], dtype=torch.float32).flatten()
    mm = batch.get("mm_token_type_ids")
    return EncodedPrompt(batch["input_ids"][0], mm[0] if mm is not None else None, media, prompt)


def _media(prompts: Sequence[EncodedPrompt]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key in MEDIA_KEYS:
        parts = [p.media[key] for p in prompts if key in p.media]
        if parts:
            out[key] = torch.cat(parts, dim=0)
    return out


def collate_prompts(prompts: Sequence[EncodedPrompt], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded generation batch."""
    width = max(p.length for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    mm = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - p.length:] = p.input_ids
        mask[row, width - p.length:] = 1
        if p.mm_token_type_ids is not None:
            mm[row, width - p.length:] = p.mm_token_type_ids
    batch = {"input_ids": ids, "attention_mask": mask, **_media(prompts)}
    if prompts[0].mm_token_type_ids is not None:
        batch["mm_token_type_ids"] = mm
    return batch


def collate_sequences(prompts: Sequence[EncodedPrompt], completions: Sequence[torch.Tensor], pad_id: int):
    """Training batch of prompt + completion sequences; returns (model inputs, completion mask (B, Lc))."""
    prompt_batch = collate_prompts(prompts, pad_id)
    width = max(1, max(int(c.numel()) for c in completions))
    comp = torch.full((len(completions), width), pad_id, dtype=torch.long)
    comp_mask = torch.zeros((len(completions), width), dtype=torch.long)
    for row, c in enumerate(completions):
        comp[row, : c.numel()] = c
        comp_mask[row, : c.numel()] = 1
    batch = dict(prompt_batch)
    batch["input_ids"] = torch.cat([prompt_batch["input_ids"], comp], dim=1)
    batch["attention_mask"] = torch.cat([prompt_batch["attention_mask"], comp_mask], dim=1)
    if "mm_token_type_ids" in prompt_batch:
        batch["mm_token_type_ids"] = torch.cat([prompt_batch["mm_token_type_ids"], torch.zeros_like(comp)], dim=1)
    return batch, comp, comp_mask
