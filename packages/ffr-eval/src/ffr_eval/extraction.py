"""Answer extraction: the strict reading (``<answer>`` content) and the lenient reading (lmms-eval's rules).

Strict: the first ``<answer>…</answer>`` block, trimmed; no block means unparseable. This is what Video-R1 and the
FFR release score (they fall back to the whole output, which then only matches by accident).

Lenient: lmms-eval's reasoning-tag removal, then the content of an ``<answer>`` block when
there is one (a documented deviation from lmms-eval, which never strips ``<answer>``: it keeps reasoning and
non-reasoning models comparable), then the benchmark's own option-letter rule, registered below by name. Rules that
fall back to a random option in lmms-eval (Video-Holmes, LongVideoBench) return None here, so runs are reproducible
and the item is counted as unparseable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ffr_data.registry import Registry
from ffr_data.schema import Sample
from ffr_eval.lmms_rules import strip_reasoning_tags

_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)

LetterRule = Callable[[str, Sample], "str | None"]
LETTER_RULES: Registry[LetterRule] = Registry("answer-extraction rule")
letter_rule = LETTER_RULES.register


def answer_tag(text: str) -> str | None:
    """Content of the first ``<answer>`` block, trimmed; None when there is none."""
    match = _ANSWER.search(text or "")
    return match.group(1).strip() if match else None


def strip_reasoning(text: str) -> str:
    """lmms-eval's removal of complete ``<think>…</think>`` / ``<analysis>…</analysis>`` blocks (case-sensitive).

    With only a closing tag, what follows the last one is kept (chat templates that prefill ``<think>``); an unclosed
    opening tag is left alone. The reference's own code (``ffr_eval.lmms_rules``).
    """
    return strip_reasoning_tags(text)


def lenient_text(output: str) -> str:
    """Reasoning removed, then the ``<answer>`` content when present, else the remaining text."""
    stripped = strip_reasoning(output)
    tagged = answer_tag(stripped)
    return tagged if tagged is not None else stripped


def extract_letter(output: str, sample: Sample, rule: str) -> str | None:
    """The option letter the lenient reading finds in a raw model output, by the named benchmark rule."""
    return LETTER_RULES.get(rule)(lenient_text(output), sample)


# --- lmms-eval's shared MCQ extractor (_task_utils/mcq_extract.py) ------------------------------------------------

_ANSWER_PHRASES = ("the answer is", "answer is", "the correct answer is", "correct answer is", "the correct option is",
                   "correct option is", "the best answer is", "the best option is", "i choose", "i would choose",
                   "答案是", "正确答案是", "答案为", "정답은", "답은", "答えは", "正解は")


_EDGE_PUNCTUATION = ",.!?;:'\""


def _candidates(padded: str, letters: str) -> list[tuple[int, int, str]]:
    """(priority, position, letter) for every format the shared extractor recognises."""
    cls = f"[{re.escape(letters)}]"
    found: list[tuple[int, int, str]] = []
    head = re.match(rf" ({cls})(?![A-Za-z])", padded)
    if head:
        found.append((10, head.start(1), head.group(1)))
    tail = re.search(rf"(?<![A-Za-z])({cls}) $", padded)
    if tail:
        found.append((9, tail.start(1), tail.group(1)))
    phrases = "|".join(re.escape(p) for p in _ANSWER_PHRASES)
    for m in re.finditer(rf"(?:{phrases})\s*[:：]?\s*\(?({cls})(?![A-Za-z])", padded, flags=re.IGNORECASE):
        if m.group(1) in letters:
            found.append((7, m.start(1), m.group(1)))
    patterns = ((6, rf"\(({cls})\)"), (5, rf"(?<![A-Za-z])({cls})\."), (4, rf"(?<![A-Za-z])({cls}):"),
                (3, rf"(?<![A-Za-z(])({cls})\)"), (2, rf"(?<![A-Za-z])({cls}) "))
    for priority, pattern in patterns:
        found += [(priority, m.start(1), m.group(1)) for m in re.finditer(pattern, padded)]
    return found


def shared_mcq_letter(text: str, letters: Sequence[str]) -> str | None:
    """Highest priority wins, the last position within a priority; any occurrence only when nothing else matched."""
    letters = "".join(letters)
    if not letters:
        return None
    padded = " " + text.strip().strip(_EDGE_PUNCTUATION) + " "
    found = _candidates(padded, letters)
    if found:
        return max(found)[2]
    anywhere = [(m.start(), m.group(0)) for m in re.finditer(f"[{re.escape(letters)}]", padded)]
    return max(anywhere)[1] if anywhere else None


@letter_rule("shared-mcq")
def _shared_mcq(text: str, sample: Sample) -> str | None:
    return shared_mcq_letter(text, sample.option_letters)


# --- per-benchmark rules -------------------------------------------------------------------------------------------

@letter_rule("vsibench")
def _vsibench(text: str, sample: Sample) -> str | None:
    """First space-separated token, trailing dots removed, compared case-insensitively."""
    tokens = text.strip().split(" ")
    token = tokens[0].rstrip(".").strip().upper() if tokens else ""
    return token if token in sample.option_letters else None


@letter_rule("mvbench")
def _mvbench(text: str, sample: Sample) -> str | None:
    """``^X.`` first; else punctuation to spaces, lowercase, the first standalone letter a–e ("a" the article too)."""
    head = re.match(r"^\s*([A-E])\.\s*\S", text)
    if head:
        return head.group(1)
    words = re.sub(r"[^\w\s]", " ", text).lower().split()
    letter = next((w for w in words if w in ("a", "b", "c", "d", "e")), None)
    return letter.upper() if letter else None


_LVB_PHRASES = ("The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
                "The correct option is", "Best answer:", "Best option:")


@letter_rule("longvideobench")
def _longvideobench(text: str, sample: Sample) -> str | None:
    """Answer phrases removed, then the first capital A–E anywhere ("Based…" gives B); no random fallback."""
    for phrase in _LVB_PHRASES:
        text = text.replace(phrase, "")
    match = re.search(f"[{''.join(sample.option_letters)}]", text)
    return match.group(0) if match else None


@letter_rule("mmmu")
def _mmmu(text: str, sample: Sample) -> str | None:
    """MMMU's parse_multi_choice_response (Video-Holmes): ``(X)``, then ``X `` then ``X.``; option-text containment
    for replies over 5 words; the last position among several; no random fallback."""
    for char in (",", ".", "!", "?", ";", ":", "'"):
        text = text.strip(char)
    padded = f" {text} "
    letters = sample.option_letters
    for template in ("({})", "{} ", "{}."):
        hits = [letter for letter in letters if template.format(letter) in padded]
        if hits:
            return max(hits, key=lambda letter: padded.rfind(template.format(letter)))
    if len(padded.split()) > 5:
        hits = [letter for letter in letters if (sample.option_text(letter) or "\0").lower() in padded.lower()]
        if hits:
            return max(hits, key=lambda letter: padded.lower().rfind(sample.option_text(letter).lower()))
    return None


@letter_rule("tempcompass")
def _tempcompass(text: str, sample: Sample) -> str | None:
    """TempCompass rules: the whole answer string or option text, a bare letter, ``X.`` / ``X)``, or an index such
    as "Caption A" / "Option 1"; anything else would go to a GPT judge, so it is unparseable here."""
    reply = text.strip()
    labels = sample.meta.get("option_labels") or {}
    for option in sample.options:
        letter, option_text = option.split(".", 1)[0].strip(), option.split(".", 1)[1].strip()
        if reply in (option.strip(), option_text) or reply == labels.get(letter):
            return letter
        if labels.get(letter) and reply in (f"{labels[letter]}: {option_text}", f"{labels[letter]}:{option_text}"):
            return letter
    if reply in sample.option_letters:
        return reply
    head = re.match(r"^([A-Z])[\.\)]", reply)
    return head.group(1) if head and head.group(1) in sample.option_letters else None


@letter_rule("mmvu")
def _mmvu(text: str, sample: Sample) -> str | None:
    """MMVU's very lenient rules, as a judgement against the gold letter: the gold letter is returned when the first
    standalone a–e matches it, the gold letter stands alone anywhere, the gold option text is in the reply, or the
    reply has the letter and a >2-character word of the gold option; otherwise the first standalone letter."""
    gold, lowered = sample.answer, text.lower()
    first = re.search(r"\b([a-e])\b", lowered)
    gold_text = (sample.option_text(gold) or "").lower()
    letter_alone = re.search(rf"\b{re.escape(gold)}\b", text) is not None
    words = [w for w in re.findall(r"\w+", gold_text) if len(w) > 2]
    if ((first and first.group(1).upper() == gold) or letter_alone or (gold_text and gold_text in lowered)
            or (gold in text and any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words))):
        return gold
    if first and first.group(1).upper() in sample.option_letters:
        return first.group(1).upper()
    return None
