"""The teacher's prompts, written for FFR after the paper's rules (docs/decisions.md, "teacher prompt"): an error-analysis
prompt (think first, then a JSON patch), a negative prompt with BAD/GOOD pairs and a blind test, "point at evidence,
do not describe it", and never state or imply the answer. Snapshot tests pin the rendered text.

Messages are built in an internal chat format: OpenAI-style dicts whose image parts are ``{"type": "image",
"image": <RGB ndarray>}``; each backend converts them (data URLs for HTTP, processor images for local models).
"""

from __future__ import annotations

from typing import Any

from ffr_data.prompting import format_question
from ffr_data.schema import Sample
from ffr_data.video import Frames
from ffr_teacher.config import TeacherConfig

PROMPT_VERSION = "ffr-teacher-v1"  # part of every cache key: change it whenever the text below changes

ERROR_TYPES: dict[str, str] = {
    "temporal": "the student missed when something happens: the order, timing or duration of events, or a brief "
                "event between the moments it looked at",
    "spatial": "the student misread what specific frames show: where something is, or a small detail in a region",
    "misconception": "the student misread the task: it answered a different question than the one asked",
    "attribute": "the student misjudged a property of an object (its colour, shape, size or text)",
    "counting": "the student miscounted objects or occurrences",
    "dynamics": "the student misread motion or change: direction, speed, what changed and how",
    "logic": "the student saw the right evidence but reasoned about it wrongly",
}

SYSTEM_PROMPT = """You are the teacher in a video-reasoning course. A student model watched frames of a video, \
answered a question, and got it wrong. Your job is to find which piece of evidence in this video the student \
missed or misread, and to return a minimal evidence patch: a pointer to where the deciding evidence is (time \
windows, frame indices, image regions) and what to compare there, so that the student can look again and reason \
to the answer by itself. You never give the answer."""

ANALYSIS_PROMPT = """## How to work
1. Error analysis first, inside <think> </think>: compare the student's reasoning with the video{gt_clause}. \
Find the first step where it went wrong and the evidence it needed. Classify the error as exactly one of:
{error_types}
   Then decide the minimum evidence that would let the student fix its own reasoning.
2. Then write the patch as one JSON object inside <patch> </patch>:
<patch>{{"error_type": "{first_type}", "windows": [[start_s, end_s]], "key_frames": [frame_index, ...], \
"regions": [{{"box": [x1, y1, x2, y2], "t": seconds, "label": "neutral words"}}], \
"guidance": "one or two sentences that say where to look and what to compare"}}</patch>
   - "windows": time ranges in seconds, within 0 to {duration:.2f}.
   - "key_frames": 0-based indices of the frames shown above (0 to {last_frame}).
   - "regions": boxes normalised to 0..1 with the origin at the top-left, "t" the time in seconds of the frame \
they are on; "label" names the place neutrally ("the small object on the left"), never the thing asked about.
   - Give only what is needed; leave a field as [] when it does not help."""

NEGATIVE_PROMPT = """## Rules (a patch that breaks one is rejected)
- Point at evidence, do not describe it: say where to look and what to compare, never what is there.
- Never state or imply the answer: no option letter, no option text or its synonyms, no number that could be the \
answer, and no colour, count, identity, position or direction that the question asks about.
- Do not say which option is right or wrong, do not finish the student's reasoning, never write "the answer is".
- Single-field test: if any one field of the patch on its own gives the answer away, it is too revealing.
- Blind test: someone who has never seen the video reads only your patch. If they could answer the question, \
rewrite the patch.
Examples (BAD gives the answer away, GOOD points at the evidence):
- Counting. BAD: "The light flashes three times." GOOD: "Step through 1.0-2.5 s frame by frame and count every \
flash yourself."
- Temporal order. BAD: "The red square appears before the blue disc." GOOD: "Compare the moments around 0.8 s \
and 2.1 s and note which shape appears first."
- Spatial. BAD: "The flash is in the top-left corner." GOOD: "Look at frames 5-6 and check every part of the \
picture, not only the centre."
- Attribute. BAD: "The cup is green." GOOD: "Zoom into the region around the cup at 1.2 s and look at it again."
- Dynamics. BAD: "The ball rolls to the right." GOOD: "Follow the ball from frame 3 to frame 6 and compare where \
it starts and where it ends."
- Misconception. BAD: "Option B is correct because the book was put down." GOOD: "The question asks which object \
was put down, not which was picked up; watch the moment the hand releases something.\""""

TOOLS_NATIVE = """## Tools
Before writing the patch you may look closer with the tools get_frame, get_segment and zoom_region (at most \
{max_calls} calls in all). Use them to check the student's claims and to locate the evidence; their images come \
back to you in the next message. When you have enough evidence, write <think> </think> and then the <patch>."""

TOOLS_TEXT = """## Tools
Before writing the patch you may look closer (at most {max_calls} calls in all). To call a tool, write one line \
per call, exactly in this form, and then stop and wait for the images:
TOOL_CALL: get_frame(t=SECONDS)
TOOL_CALL: get_segment(start_s=SECONDS, end_s=SECONDS, n=FRAMES)
TOOL_CALL: zoom_region(t=SECONDS, box=[x1, y1, x2, y2])
get_frame returns the frame at a time, get_segment returns n frames spread over a window, zoom_region returns an \
enlarged crop of a normalised box. When you have enough evidence, write <think> </think> and then the <patch>, \
with no TOOL_CALL line."""

LEAK_REMINDER = """Your patch was rejected by the answer-leak check: a text field names or implies the answer (an \
option letter, an option's text or a synonym, a number that could be the answer, or a phrase such as "the answer \
is"). Write the patch again, stricter: keep the windows, frames and regions that point at the evidence, and use \
only neutral words that say where to look and what to compare. Reply with <think> </think> and the <patch> only."""

BUDGET_REMINDER = "No tool calls are left. Write your <think> </think> and final <patch> now, without TOOL_CALL lines."
CONTINUE_TEXT = "Continue: call another tool, or write <think> </think> and the <patch>."


def ground_truth_text(sample: Sample) -> str:
    """The gold answer as the teacher sees it: for multiple choice the letter and the option text."""
    answer = sample.answer
    if sample.problem_type == "multiple choice":
        text = sample.option_text(answer.strip().upper())
        if text is not None:
            return f"{answer.strip().upper()}. {text}"
    return answer


def error_type_lines(taxonomy: tuple[str, ...]) -> str:
    return "\n".join(f"   - {name}: {ERROR_TYPES[name]}" for name in taxonomy)


def instructions_text(sample: Sample, frames: Frames, response: str, cfg: TeacherConfig, tool_mode: str) -> str:
    """Everything after the frames: question, ground truth, student response, task, rules and tools."""
    if cfg.use_ground_truth:
        truth = f"## Ground truth\n{ground_truth_text(sample)}"
        gt_clause = " and with the ground truth"
    else:
        truth = "## Ground truth\nNot given. The student's answer is wrong; judge its reasoning against the video."
        gt_clause = ""
    analysis = ANALYSIS_PROMPT.format(gt_clause=gt_clause, error_types=error_type_lines(cfg.taxonomy_classes),
                                      first_type=cfg.taxonomy_classes[0], duration=frames.info.duration,
                                      last_frame=len(frames) - 1)
    parts = [f"## Question\n{format_question(sample)}", truth,
             f"## Student's response\n{response.strip() or '(empty)'}", analysis, NEGATIVE_PROMPT]
    if tool_mode == "native":
        parts.append(TOOLS_NATIVE.format(max_calls=cfg.max_tool_calls))
    elif tool_mode == "text":
        parts.append(TOOLS_TEXT.format(max_calls=cfg.max_tool_calls))
    return "\n\n".join(parts)


def build_messages(sample: Sample, frames: Frames, response: str, cfg: TeacherConfig,
                   tool_mode: str) -> list[dict[str, Any]]:
    """The opening messages of a repair. ``tool_mode``: native, text or none."""
    info = frames.info
    content: list[dict[str, Any]] = [{"type": "text", "text": (
        f"The video lasts {info.duration:.2f} s. The student saw these {len(frames)} frames "
        "(0-based index and time):")}]
    for index, (t, image) in enumerate(zip(frames.timestamps, frames.array, strict=True)):
        content.append({"type": "text", "text": f"Frame {index} at {t:.2f} s:"})
        content.append({"type": "image", "image": image})
    content.append({"type": "text", "text": instructions_text(sample, frames, response, cfg, tool_mode)})
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
