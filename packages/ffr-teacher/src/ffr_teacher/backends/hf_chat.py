"""The ``hf`` backend: a local transformers VLM (``ffr_data.models.load_vlm``) with the same prompts and tool loop,
tools in the plain-text syntax, frames passed as images through the processor. ``HFChat`` also powers
``ffr teacher serve``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ffr_data.clips import ClipTools
from ffr_data.errors import ConfigError
from ffr_data.models import load_vlm
from ffr_teacher.config import TeacherConfig
from ffr_teacher.loop import ChatReply, RepairLoop
from ffr_teacher.metrics import TeacherMetrics
from ffr_teacher.registry import register_backend
from ffr_teacher.results import RepairRequest, RepairResult
from ffr_teacher.tools import ToolExecutor, format_text_call

MEDIA_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")


def to_hf_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Internal messages -> (chat-template messages with ``{"type": "image"}`` parts, the images in order).
    Tool results become user turns and tool calls become TOOL_CALL lines, which any chat template can render."""
    out: list[dict[str, Any]] = []
    images: list[np.ndarray] = []
    for message in messages:
        role, content = message["role"], message.get("content")
        parts: list[dict[str, Any]] = []
        if role == "tool":
            role = "user"
            parts.append({"type": "text", "text": "Tool result: "})
        if isinstance(content, str):
            parts.append({"type": "text", "text": content})
        elif isinstance(content, list):
            for part in content:
                if part["type"] == "image":
                    parts.append({"type": "image"})
                    images.append(part["image"])
                else:
                    parts.append({"type": "text", "text": part.get("text", "")})
        if message.get("tool_calls"):
            lines = "\n".join(format_text_call(call) for call in message["tool_calls"])
            parts.append({"type": "text", "text": ("\n" if parts else "") + lines})
        out.append({"role": role, "content": parts or [{"type": "text", "text": ""}]})
    return out, images


class HFChat:
    """Greedy or sampled generation with a local VLM; calls are serialised (one model, one lock)."""

    native_tools = False

    def __init__(self, model_dir: str, device: str = "cpu", dtype: str = "float32", temperature: float = 0.0):
        import torch

        self.model, self.processor = load_vlm(model_dir, getattr(torch, dtype))
        self.model.to(device).eval()
        self.device, self.temperature = device, temperature
        self.model_dir = str(model_dir)
        tokenizer = self.processor.tokenizer
        ids = [tokenizer.convert_tokens_to_ids(t) for t in MEDIA_TOKENS]
        self.suppress_ids = [i for i in ids if i is not None and i != tokenizer.unk_token_id]
        self.eos_id = tokenizer.eos_token_id
        self._lock = threading.Lock()

    def generate(self, messages: list[dict[str, Any]], max_tokens: int,
                 temperature: float | None = None) -> ChatReply:
        """One completion for internal-format messages (images as RGB arrays)."""
        import torch

        hf_messages, images = to_hf_messages(messages)
        text = self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt").to(self.device)
        temperature = self.temperature if temperature is None else temperature
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with self._lock, torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=max_tokens, suppress_tokens=self.suppress_ids or None,
                                         pad_token_id=self.processor.tokenizer.pad_token_id, **sampling)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        stopped = bool(new_tokens.numel()) and int(new_tokens[-1]) == self.eos_id
        reply = self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True)
        finish = "stop" if stopped or new_tokens.numel() < max_tokens else "length"
        return ChatReply(reply, [], finish, int(inputs["input_ids"].shape[1]), int(new_tokens.numel()))

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 max_tokens: int) -> ChatReply:
        return self.generate(messages, max_tokens)


class HFBackend:
    cacheable = True

    def __init__(self, cfg: TeacherConfig):
        if not cfg.model:
            raise ConfigError("teacher.backend=hf needs teacher.model (a local model directory)")
        self.cfg = cfg
        self.chat = HFChat(cfg.model, cfg.device, cfg.dtype, cfg.temperature)

    def identity(self) -> dict[str, Any]:
        return {"backend": "hf", "model": self.chat.model_dir}

    def repair(self, request: RepairRequest, clip_tools: ClipTools) -> RepairResult:
        executor = ToolExecutor(clip_tools, self.cfg.segment_frames, self.cfg.max_segment_frames)
        return RepairLoop(self.chat, self.cfg, executor).run(request)

    def close(self) -> None:
        return None


@register_backend("hf")
def _create(cfg: TeacherConfig, metrics: TeacherMetrics) -> HFBackend:
    return HFBackend(cfg)
