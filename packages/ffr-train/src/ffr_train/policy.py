"""The trainable student: the loaded model with the vision tower frozen or not, LoRA adapters (peft) or full
fine-tuning, activation checkpointing; and the final model saved from it (merged weights plus, for LoRA, the
adapter alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ffr_data.models import load_vlm
from ffr_train.config import StudentConfig


def torch_dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


def vision_tower(model) -> torch.nn.Module | None:
    """The vision encoder with its merger into the language model (``visual`` in the Qwen-VL family)."""
    return next((m for name, m in model.named_modules() if name.split(".")[-1] == "visual"), None)


def lora_target_names(model, targets: tuple[str, ...], freeze_vision: bool) -> list[str]:
    """Full names of the linear layers that get adapters: those whose last name component is a target, outside the
    vision tower when it is frozen. Pure given the model; tested."""
    skip = {name for name, m in model.named_modules() if name.split(".")[-1] == "visual"} if freeze_vision else set()
    names = []
    for name, module in model.named_modules():
        in_skipped = any(name.startswith(prefix + ".") for prefix in skip)
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in targets and not in_skipped:
            names.append(name)
    return names


def _lora_config(model, cfg: StudentConfig):
    from peft import LoraConfig

    targets = lora_target_names(model, cfg.lora_targets, cfg.freeze_vision)
    if not targets:
        from ffr_data.errors import ConfigError

        raise ConfigError(f"student.lora_targets: no linear layer of this model is named any of {list(cfg.lora_targets)}")
    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none")


def prepare_student(model, cfg: StudentConfig):
    """The loaded model made ready to train per ``cfg``: vision frozen or not, LoRA or full, checkpointing."""
    if cfg.freeze_vision:
        tower = vision_tower(model)
        if tower is None:
            from ffr_data.errors import ConfigError

            raise ConfigError("student.freeze_vision: this model has no module named 'visual'")
        tower.requires_grad_(False)
    if cfg.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()  # non-reentrant by default, so frozen embeddings (LoRA) need no input gradients
    if cfg.lora_rank > 0:
        from peft import get_peft_model

        model = get_peft_model(model, _lora_config(model, cfg))
    return model.train()


def load_student(cfg: StudentConfig) -> tuple[Any, Any]:
    model, processor = load_vlm(cfg.path, torch_dtype(cfg.dtype), cfg.attn_implementation)
    return prepare_student(model, cfg), processor


def is_lora(model) -> bool:
    return hasattr(model, "peft_config")


def save_final(out: Path, model, state_dict: dict[str, torch.Tensor], processor, cfg: StudentConfig) -> Path:
    """``out`` as a plain model directory that ``from_pretrained`` and ``ffr eval`` load. For LoRA: the adapter alone
    in ``out/adapter/`` and the weights merged into the base model in ``out/`` (rebuilt from the base checkpoint
    and the trained state, so the training model is left untouched)."""
    out = Path(out)
    if is_lora(model):
        base, _ = load_vlm(cfg.path, torch_dtype(cfg.dtype), cfg.attn_implementation)
        from peft import get_peft_model

        trained = get_peft_model(base, _lora_config(base, cfg))
        trained.load_state_dict(state_dict, strict=True)
        trained.save_pretrained(out / "adapter")
        trained.merge_and_unload().save_pretrained(out)
    else:
        model.save_pretrained(out, state_dict=state_dict)
    processor.save_pretrained(out)
    return out
