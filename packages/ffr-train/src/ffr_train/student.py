"""Students: any local HF VLM (loaded by ``ffr_data.models.load_vlm``), or the tiny one (a real Qwen-VL architecture from a small config, with a
byte-level BPE tokenizer trained offline), saved and reloaded through the normal ``from_pretrained`` path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ffr_data.errors import FFRError
from ffr_data.prompting import TEMPLATES

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|video_pad|>", "<|image_pad|>"]
# Qwen's chat layout, minus the default system prompt; media become <|vision_start|><|*_pad|><|vision_end|>.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinySize:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    mlp: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int


SIZES = {
    "xs": TinySize(64, 2, 4, 2, 256, 32, 2, 2),
    "s": TinySize(128, 3, 4, 2, 512, 64, 2, 4),
    "m": TinySize(256, 4, 8, 4, 1024, 128, 2, 4),
}
ARCHS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
TINY_MARKER = "ffr_tiny_student.json"


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE over ``corpus`` (plus every prompt template) with Qwen's special tokens, as a HF fast
    tokenizer. Byte-level, so any text encodes; the corpus only decides how compactly."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(corpus)
    for tpl in TEMPLATES.values():
        texts += [tpl.body, tpl.patch_header, tpl.patch_footer, *tpl.answer_formats.values()]
    texts += ["<think>", "</think>", "<answer>", "</answer>", "user\n", "assistant\n"] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                              "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"},
    )


def _model_config(arch: str, size: TinySize, tokenizer) -> Any:
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = size.hidden // size.heads
    half = head_dim // 2
    # [temporal, height, width] in Qwen's proportions (16/24/24 of 64): most frequencies go to the spatial axes.
    spatial = (3 * half) // 8
    mrope = [half - 2 * spatial, spatial, spatial]  # sums to head_dim / 2
    text = dict(vocab_size=len(tokenizer), hidden_size=size.hidden, intermediate_size=size.mlp,
                num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.kv_heads,
                max_position_embeddings=4096, bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=True,
                rope_parameters=dict(rope_type="default", rope_theta=10000.0, mrope_section=mrope))
    common = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
                  tie_word_embeddings=True)
    vh = size.vision_hidden
    if arch == "qwen2_vl":
        vision = dict(depth=size.vision_depth, embed_dim=vh, hidden_size=size.hidden, num_heads=size.vision_heads,
                      mlp_ratio=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        return Qwen2VLConfig(text_config=text, vision_config=vision, **common)
    if arch == "qwen2_5_vl":
        vision = dict(depth=size.vision_depth, hidden_size=vh, intermediate_size=2 * vh, num_heads=size.vision_heads,
                      out_hidden_size=size.hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                      window_size=56, fullatt_block_indexes=[size.vision_depth - 1], tokens_per_second=2)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
    if arch == "qwen3_vl":
        text.update(head_dim=head_dim, rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                                             mrope_section=mrope, mrope_interleaved=True))
        vision = dict(depth=size.vision_depth, hidden_size=vh, intermediate_size=2 * vh, num_heads=size.vision_heads,
                      out_hidden_size=size.hidden, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                      num_position_embeddings=64, deepstack_visual_indexes=[size.vision_depth - 1])
        return Qwen3VLConfig(text_config=text, vision_config=vision, **common)
    raise FFRError(f"unknown tiny-student architecture {arch!r} (known: {', '.join(ARCHS)})")


def _processor(arch: str, tokenizer, max_pixels: int):
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
    )
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    patch = 16 if arch == "qwen3_vl" else 14
    size = {"shortest_edge": (2 * patch) ** 2, "longest_edge": max_pixels * 64}
    image = Qwen2VLImageProcessor(size=size, patch_size=patch)
    if arch == "qwen3_vl":
        video = Qwen3VLVideoProcessor(size=size, patch_size=patch)
        return Qwen3VLProcessor(image_processor=image, video_processor=video, tokenizer=tokenizer,
                                chat_template=CHAT_TEMPLATE)
    video = Qwen2VLVideoProcessor(size=size, patch_size=patch)
    cls = Qwen2VLProcessor if arch == "qwen2_vl" else Qwen2_5_VLProcessor
    return cls(image_processor=image, video_processor=video, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def build_tiny_student(out_dir: str | Path, corpus: Iterable[str], *, arch: str = "qwen2_5_vl", size: str = "xs",
                       vocab_size: int = 1024, max_pixels: int = 56 * 56, seed: int = 0) -> Path:
    """Build, save and return the directory of a tiny random-init student (model + processor + tokenizer)."""
    from transformers import AutoModelForImageTextToText

    if size not in SIZES:
        raise FFRError(f"unknown tiny-student size {size!r} (known: {', '.join(SIZES)})")
    out = Path(out_dir)
    tokenizer = train_tokenizer(corpus, vocab_size)
    config = _model_config(arch, SIZES[size], tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    _processor(arch, tokenizer, max_pixels).save_pretrained(out)
    settings = {"arch": arch, "size": size, "vocab_size": len(tokenizer), "max_pixels": max_pixels, "seed": seed,
                "parameters": sum(p.numel() for p in model.parameters())}
    (out / TINY_MARKER).write_text(json.dumps(settings, indent=2))
    return out


def is_tiny_student(path: str | Path) -> bool:
    """True for a directory written by :func:`build_tiny_student` (it carries its build settings)."""
    return (Path(path) / TINY_MARKER).is_file()


# Qwen2.5-VL-3B-Instruct's published configuration (config.json of the release): the shapes a lab's run has.
QWEN2_5_VL_3B = {
    "text": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=128000, rms_norm_eps=1e-6,
                 rope_parameters=dict(rope_type="default", rope_theta=1000000.0, mrope_section=[16, 24, 24])),
    "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                   patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                   fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2, in_chans=3),
}


def build_qwen2_5_vl_3b_shaped(out_dir: str | Path, corpus: Iterable[str], *, text_layers: int | None = None,
                               vision_layers: int | None = None, max_pixels: int = 128 * 28 * 28,
                               seed: int = 0) -> Path:
    """A randomly initialised Qwen2.5-VL with the real 3B configuration (optionally fewer text / vision layers, for
    CPU measurements), with the offline tokenizer; saved like any checkpoint. Its layers, widths, heads, vocabulary
    and vision tower are the 3B model's, so memory and time per layer are what a lab's run sees."""
    from transformers import AutoModelForImageTextToText, Qwen2_5_VLConfig

    tokenizer = train_tokenizer(corpus, 1024)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {**QWEN2_5_VL_3B["text"], "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "tie_word_embeddings": True}
    vision = dict(QWEN2_5_VL_3B["vision"])
    if text_layers:
        text["num_hidden_layers"] = text_layers
    if vision_layers:
        vision["depth"] = vision_layers
        vision["fullatt_block_indexes"] = [i for i in vision["fullatt_block_indexes"] if i < vision_layers] or \
            [vision_layers - 1]
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                              video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                              vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    _processor("qwen2_5_vl", tokenizer, max_pixels).save_pretrained(out)
    return out
