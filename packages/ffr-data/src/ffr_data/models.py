"""Loading a local VLM (student, teacher or evaluated checkpoint) through the standard Auto classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.sampling import PATCH_MULTIPLE


def load_vlm(path: str | Path, dtype: Any = None) -> tuple[Any, Any]:
    """(model, processor) from a local directory; a directory that is not a model is a one-line error."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FFRError(f"{path}: not a model directory (no config.json)")
    try:
        processor = AutoProcessor.from_pretrained(path)
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype or torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise FFRError(f"{path}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
    return model, processor


def model_type(model_or_config: Any) -> str:
    config = getattr(model_or_config, "config", model_or_config)
    return str(getattr(config, "model_type", "unknown"))


def patch_multiple_for(model_or_config: Any) -> int:
    """Frame sides must be multiples of this for the model (patch size x spatial merge)."""
    return PATCH_MULTIPLE.get(model_type(model_or_config), 28)
