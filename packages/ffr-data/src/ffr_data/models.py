"""Loading a local VLM (student, teacher or evaluated checkpoint) through the standard Auto classes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.sampling import PATCH_MULTIPLE, FrameSamplingConfig


def load_vlm(path: str | Path, dtype: Any = None, attn_implementation: str | None = None) -> tuple[Any, Any]:
    """(model, processor) from a local model directory or a model id on the hub (``org/name``, fetched or read from
    the local hub cache by transformers). A local directory that is not a model, or an id that cannot be loaded,
    is a one-line error."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    local = Path(path)
    if local.exists() and not (local / "config.json").is_file():
        raise FFRError(f"{path}: not a model directory (no config.json)")
    if not local.exists() and (str(path).count("/") != 1 or str(path).startswith((".", "/"))):
        raise FFRError(f"{path}: no such model directory (and not a hub model id of the form org/name)")
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        processor = AutoProcessor.from_pretrained(str(path))
        model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype or torch.float32, **kwargs)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise FFRError(f"{path}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
    return model, processor


def reset_rope_deltas(model: Any) -> None:
    """Qwen-VL models cache ``rope_deltas`` from the previous call; a stale value corrupts the positions of the next
    batch, so every new batch (generation or forward) starts from none. Accepts wrapped models (DDP, DeepSpeed,
    peft): every submodule that holds the cache is reset."""
    for module in model.modules():
        if hasattr(module, "rope_deltas"):
            module.rope_deltas = None


def model_type(model_or_config: Any) -> str:
    config = getattr(model_or_config, "config", model_or_config)
    return str(getattr(config, "model_type", "unknown"))


def patch_multiple_for(model_or_config: Any) -> int:
    """Frame sides must be multiples of this for the model: its vision patch size times its spatial merge size
    (28 for Qwen2/2.5-VL, 32 for Qwen3-VL), read from the model's config; the table by model type otherwise."""
    config = getattr(model_or_config, "config", model_or_config)
    vision = getattr(config, "vision_config", None)
    patch, merge = getattr(vision, "patch_size", None), getattr(vision, "spatial_merge_size", None)
    if isinstance(patch, int) and isinstance(merge, int):
        return patch * merge
    return PATCH_MULTIPLE.get(model_type(model_or_config), 28)


def fit_sampling(sampling: FrameSamplingConfig, model_or_config: Any) -> FrameSamplingConfig:
    """The frame-sampling config with ``patch_multiple`` set from the model — the one place every student-side
    consumer (trainer, SFT, evaluation) takes it from, so a frame size can never disagree with the model."""
    return dataclasses.replace(sampling, patch_multiple=patch_multiple_for(model_or_config))
