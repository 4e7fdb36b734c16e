"""The single implementation of "sample + frames (+ evidence patch) -> chat messages -> processor inputs".

Teacher, trainer and evaluator all call this module, so a prompt cannot drift between training and evaluation.
Templates are data, registered by name; the rendered text is pinned by snapshot tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ffr_data.clips import ClipTools
from ffr_data.config import field as cfg_field
from ffr_data.config import non_negative, one_of, positive
from ffr_data.patch import EvidencePatch
from ffr_data.registry import Registry
from ffr_data.schema import Sample
from ffr_data.video import Frames


@dataclass(frozen=True)
class PromptTemplate:
    """How a question is asked. ``body`` gets ``{question}``; ``answer_formats`` maps problem type -> instruction."""

    body: str
    answer_formats: dict[str, str]
    patch_header: str
    patch_footer: str


_VIDEO_R1_BODY = (
    "{question}\n"
    "Please think about this question as if you were a human pondering deeply. Engage in an internal dialogue "
    "using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', etc, or other "
    "natural language thought expressions. It's encouraged to include self-reflection or verification in the "
    "reasoning process. Provide your detailed reasoning between the <think> </think> tags, and then give your "
    "final answer between the <answer> </answer> tags.\n"
)
_VIDEO_R1_FORMATS = {
    "multiple choice": "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags.",
    "numerical": "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": "Please transcribe text from the image/video clearly and provide your text answer within the <answer> </answer> tags.",
    "free-form": "Please provide your text answer within the <answer> </answer> tags.",
    "regression": "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

TEMPLATES: Registry[PromptTemplate] = Registry("prompt template", {
    # Video-R1's question template (what Video-R1 and the FFR release train and evaluate with).
    "video-r1": PromptTemplate(
        body=_VIDEO_R1_BODY,
        answer_formats=_VIDEO_R1_FORMATS,
        patch_header="Evidence patch (it points at evidence in this video; it does not give the answer):",
        patch_footer="Please reconsider the question with this evidence and answer in the same format.",
    ),
    # A short template for tiny students, where every prompt token costs.
    "compact": PromptTemplate(
        body="{question}\n",
        answer_formats={
            "multiple choice": "Answer as <think>…</think><answer>letter</answer>.",
            "numerical": "Answer as <think>…</think><answer>number</answer>.",
            "OCR": "Answer as <think>…</think><answer>text</answer>.",
            "free-form": "Answer as <think>…</think><answer>text</answer>.",
            "regression": "Answer as <think>…</think><answer>number</answer>.",
        },
        patch_header="Evidence patch:",
        patch_footer="Reconsider with this evidence.",
    ),
})


@dataclass(frozen=True)
class PromptConfig:
    template: str = cfg_field("video-r1", help=f"Question template by name: {', '.join(TEMPLATES)}.",
                              check=one_of(TEMPLATES))
    patch_visuals: bool = cfg_field(True, help="Render a patch's cited windows as dense frames and its regions as "
                                               "zoomed crops (False: the patch is text only).")
    patch_window_frames: int = cfg_field(4, help="Frames re-sampled densely inside each cited window (even).",
                                         check=positive)
    patch_max_windows: int = cfg_field(1, help="At most this many cited windows become evidence videos.",
                                       check=non_negative)
    patch_max_regions: int = cfg_field(2, help="At most this many cited regions become zoomed crops.",
                                       check=non_negative)


def template(name: str) -> PromptTemplate:
    return TEMPLATES.get(name)


def format_question(sample: Sample) -> str:
    """The question with its options, exactly as every model (student or teacher) sees it."""
    text = sample.problem.rstrip()
    if sample.problem_type == "multiple choice" and sample.options:
        text += "\nOptions:\n" + "\n".join(o.strip() for o in sample.options)
    return text


@dataclass
class PatchMedia:
    """A patch rendered for the student: its text block plus evidence videos and zoomed crops."""

    text: str
    videos: list[Frames] = field(default_factory=list)
    images: list[Frames] = field(default_factory=list)
    video_captions: list[str] = field(default_factory=list)
    image_captions: list[str] = field(default_factory=list)


def _fmt_window(window: tuple[float, float]) -> str:
    return f"{window[0]:.2f}-{window[1]:.2f} s"


def _fmt_box(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in box) + "]"


def patch_text(patch: EvidencePatch) -> str:
    """Every patch field as structured text (the text-only rendering, and the text part of the full one)."""
    lines = [f"Error type: {patch.error_type}."]
    cites = []
    if patch.windows:
        cites.append("time " + ", ".join(_fmt_window(w) for w in patch.windows))
    if patch.key_frames:
        cites.append("frames " + ", ".join(str(f) for f in patch.key_frames))
    for region in patch.regions:
        where = f" at {region.t:.2f} s" if region.t is not None else ""
        label = f" ({region.label})" if region.label else ""
        cites.append(f"region {_fmt_box(region.box)}{where}{label}")
    if cites:
        lines.append("Look at: " + "; ".join(cites) + ".")
    if patch.guidance:
        lines.append(f"Guidance: {patch.guidance}")
    return "\n".join(lines)


def render_patch(patch: EvidencePatch, tools: ClipTools | None, frames: Frames, cfg: PromptConfig) -> PatchMedia:
    """Turn a patch into student inputs: text, dense frames of cited windows, zoomed crops of cited regions.

    Key frames (0-based indices into the student's sampled ``frames``) become a window around those frames when the
    patch cites no window, so a frame-only patch still gets visual evidence.
    """
    media = PatchMedia(text=patch_text(patch))
    if not cfg.patch_visuals or tools is None:
        return media
    windows = list(patch.windows)
    if not windows and patch.key_frames:
        times = [frames.timestamps[i] for i in patch.key_frames if i < len(frames)]
        if times:
            step = (frames.timestamps[-1] - frames.timestamps[0]) / max(1, len(frames) - 1)
            windows = [(max(0.0, min(times) - step / 2), min(frames.info.duration, max(times) + step / 2))]
    for window in windows[: cfg.patch_max_windows]:
        media.videos.append(tools.get_segment(window[0], window[1], cfg.patch_window_frames))
        media.video_captions.append(f"Frames of {_fmt_window(window)}:")
    for i, region in enumerate(patch.regions[: cfg.patch_max_regions], start=1):
        t = region.t
        if t is None:
            t = (windows[0][0] + windows[0][1]) / 2 if windows else frames.timestamps[len(frames) // 2]
        media.images.append(tools.zoom_region(t, region.box))
        media.image_captions.append(f"Zoom of region {i}:")
    return media


@dataclass
class Prompt:
    """Chat messages plus the media they reference, in order of appearance."""

    messages: list[dict[str, Any]]
    videos: list[Frames]
    images: list[Frames]


def build_prompt(sample: Sample, frames: Frames, cfg: PromptConfig, patch: PatchMedia | None = None) -> Prompt:
    """The student prompt for ``sample`` over its sampled ``frames``, optionally with a rendered patch."""
    tpl = template(cfg.template)
    answer_format = tpl.answer_formats[sample.problem_type]
    content: list[dict[str, Any]] = [
        {"type": "video"},
        {"type": "text", "text": tpl.body.format(question=format_question(sample)) + answer_format},
    ]
    videos, images = [frames], []
    if patch is not None:
        content.append({"type": "text", "text": f"\n{tpl.patch_header}\n{patch.text}\n"})
        for caption, video in zip(patch.video_captions, patch.videos, strict=True):
            content += [{"type": "text", "text": caption}, {"type": "video"}]
            videos.append(video)
        for caption, image in zip(patch.image_captions, patch.images, strict=True):
            content += [{"type": "text", "text": caption}, {"type": "image"}]
            images.append(image)
        content.append({"type": "text", "text": ("\n" if patch.videos or patch.images else "") + tpl.patch_footer})
    return Prompt([{"role": "user", "content": content}], videos, images)


def video_metadata(frames: Frames):
    """Metadata a Qwen video processor needs: absolute frame indices (Qwen3-VL timestamps) and the true sampled fps
    (Qwen2.5-VL's seconds per temporal grid), also for dense, non-uniform segments."""
    from transformers.video_utils import VideoMetadata

    info = frames.info
    n = len(frames)
    total = max(n, int(round(n * info.fps / frames.sampled_fps)))
    return VideoMetadata(total_num_frames=total, fps=info.fps, frames_indices=list(frames.indices),
                         duration=info.duration, width=frames.size[0], height=frames.size[1])


def render_text(processor: Any, prompt: Prompt) -> str:
    return processor.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True)


def encode_prompts(processor: Any, prompts: Sequence[Prompt], padding_side: str = "left"):
    """Processor inputs (``BatchFeature`` of torch tensors) for a batch of prompts, padded on ``padding_side``.

    Frames are already sampled and resized to the patch multiple, so the processor neither samples nor resizes.
    """
    texts = [render_text(processor, p) for p in prompts]
    videos = [f for p in prompts for f in p.videos]
    images = [np.ascontiguousarray(f.array[0]) for p in prompts for f in p.images]
    kwargs: dict[str, Any] = {"text": texts, "padding": True, "padding_side": padding_side, "return_tensors": "pt"}
    if videos:
        videos_kwargs: dict[str, Any] = {"do_resize": False}
        if hasattr(getattr(processor, "video_processor", None), "cap_pixels_per_frame"):
            videos_kwargs["cap_pixels_per_frame"] = False  # frames are already sized by FrameSamplingConfig
        kwargs.update(videos=[v.array for v in videos], video_metadata=[video_metadata(v) for v in videos],
                      do_sample_frames=False, videos_kwargs=videos_kwargs)
    if images:
        kwargs.update(images=images, images_kwargs={"do_resize": False})
    return processor(**kwargs)
