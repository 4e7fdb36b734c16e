"""The ``hf`` backend: a local transformers VLM (``ffr_data.models.load_vlm``) with the same prompts and tool loop,
tools in the plain-text syntax, frames passed as images through the processor. ``HFChat`` also powers
``ffr teacher serve``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffr_data.clips import ClipTools
from ffr_data.errors import ConfigError
from ffr_data.models import load_vlm, model_type
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


# Model families whose processor output can be merged across requests: input_ids / attention_mask are left-padded,
# every other tensor (pixel_values, image_grid_thw, ...) is concatenated along its first axis.
BATCHABLE_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl"})


@dataclass
class Prepared:
    """One request after the chat template and the processor: model inputs for a batch of one, and their length."""

    inputs: dict[str, Any]
    prompt_tokens: int


class _RowLimits:
    """Stops each row of a batch at its own max_tokens (a per-row boolean, as generate's stopping criteria allow)."""

    def __init__(self, prompt_length: int, limits: list[int]):
        self.prompt_length, self.limits = prompt_length, limits
        self._limits_tensor: Any = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self._limits_tensor is None:
            self._limits_tensor = torch.tensor(self.limits, device=input_ids.device)
        return (input_ids.shape[1] - self.prompt_length) >= self._limits_tensor


class HFChat:
    """Greedy or sampled generation with a local VLM, one request or a batch; calls are serialised (one model, one
    lock). :meth:`prepare` (chat template + processor) needs no lock and can run on the caller's thread."""

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
        self.eos_ids = _eos_ids(self.model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.batchable = model_type(self.model) in BATCHABLE_MODEL_TYPES
        self.context_length = _context_length(self.model)
        self._lock = threading.Lock()

    def prepare(self, messages: list[dict[str, Any]]) -> Prepared:
        """Internal-format messages (images as RGB arrays) as model inputs. Raises whatever the chat template or the
        processor raise for input they cannot take (a caller-side error)."""
        from PIL import Image

        hf_messages, arrays = to_hf_messages(messages)
        text = self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)
        images = [Image.fromarray(np.ascontiguousarray(a)) for a in arrays]  # HWC, never mistaken for CHW
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt")
        return Prepared(dict(inputs), int(inputs["input_ids"].shape[1]))

    def generate(self, messages: list[dict[str, Any]], max_tokens: int,
                 temperature: float | None = None) -> ChatReply:
        """One completion for internal-format messages (images as RGB arrays)."""
        return self.generate_batch([(self.prepare(messages), max_tokens)], temperature)[0]

    def generate_batch(self, batch: list[tuple[Prepared, int]], temperature: float | None = None,
                       max_time_s: float | None = None) -> list[ChatReply]:
        """Completions for prepared requests, generated together (each stops at its own max_tokens), in order.
        ``max_time_s`` bounds the whole call; rows it cuts short finish with ``length``."""
        import torch

        if len(batch) > 1 and not self.batchable:
            raise ValueError(f"{model_type(self.model)} requests cannot be batched (one at a time)")
        inputs = batch[0][0].inputs if len(batch) == 1 else self._collate([p.inputs for p, _ in batch])
        inputs = {key: value.to(self.device) if hasattr(value, "to") else value for key, value in inputs.items()}
        limits = [max_tokens for _, max_tokens in batch]
        prompt_length = int(inputs["input_ids"].shape[1])
        temperature = self.temperature if temperature is None else temperature
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with self._lock, torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=max(limits), max_time=max_time_s,
                                         stopping_criteria=[_RowLimits(prompt_length, limits)],
                                         suppress_tokens=self.suppress_ids or None, pad_token_id=self.pad_id,
                                         **sampling)
        return [self._reply(output[row, prompt_length:], prepared.prompt_tokens, limit)
                for row, (prepared, limit) in enumerate(batch)]

    def _reply(self, new_tokens: Any, prompt_tokens: int, limit: int) -> ChatReply:
        tokens = new_tokens[:limit].tolist()
        stopped = next((i for i, token in enumerate(tokens) if token in self.eos_ids), None)
        if stopped is not None:
            tokens = tokens[:stopped + 1]
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True)
        return ChatReply(text, [], "stop" if stopped is not None else "length", prompt_tokens, len(tokens))

    def _collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """One batch from several single-request inputs: per-token rows (input_ids, attention_mask, token type ids)
        left-padded, vision tensors (pixel_values, grids) concatenated in row order."""
        import torch

        width = max(int(item["input_ids"].shape[1]) for item in items)
        merged: dict[str, Any] = {}
        for key in dict.fromkeys(k for item in items for k in item):
            values = [item[key] for item in items if key in item]
            per_token = len(values) == len(items) and all(
                v.dim() == 2 and v.shape == item["input_ids"].shape for v, item in zip(values, items, strict=True))
            if per_token:
                fill = self.pad_id if key == "input_ids" else 0
                merged[key] = torch.cat([torch.nn.functional.pad(v, (width - v.shape[1], 0), value=fill)
                                         for v in values])
            else:
                merged[key] = torch.cat(values)
        return merged

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 max_tokens: int) -> ChatReply:
        return self.generate(messages, max_tokens)


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, list | tuple) else [configured])
    ids.add(tokenizer.eos_token_id)
    return frozenset(int(i) for i in ids if i is not None)


def _context_length(model: Any) -> int | None:
    """The model's context in tokens (its text model's max_position_embeddings), None when it does not say."""
    config = model.config
    for candidate in (getattr(config, "text_config", None), config):
        value = getattr(candidate, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


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
