"""What lmms-eval does to every reply before a task's own rules, and its shared multiple-choice extractor.

Ported from lmms-eval at commit 75571cfe (2026-08): ``lmms_eval/api/reasoning.py`` (``strip_reasoning_tags``, run by
``evaluator.py`` on every response with the CLI's default ``--reasoning_tags``) and
``lmms_eval/tasks/_task_utils/mcq_extract.py`` (``extract_mcq_answer``). Both are line-for-line: the order of the
checks, the string methods and the tie-breaks are the reference's, because they decide edge cases.
"""

from __future__ import annotations

from collections.abc import Sequence

LMMS_EVAL_COMMIT = "75571cfe"
# lmms_eval/__main__.py: --reasoning_tags defaults to these pairs; evaluator.py strips them before process_results.
DEFAULT_REASONING_TAGS: tuple[tuple[str, str], ...] = (("<think>", "</think>"), ("<analysis>", "</analysis>"))


def strip_reasoning_tags(text: str, tag_pairs: Sequence[tuple[str, str]] = DEFAULT_REASONING_TAGS) -> str:
    """Remove every complete reasoning block (case-sensitive); with only a closing tag left, keep what follows the
    last one; an unclosed opening tag stays. The result is always whitespace-trimmed."""
    result = text or ""
    for start_tag, end_tag in tag_pairs:
        while start_tag in result and end_tag in result:
            start = result.find(start_tag)
            end = result.find(end_tag, start)
            if start == -1 or end == -1:
                break
            result = result[:start] + result[end + len(end_tag):]
        if end_tag in result and start_tag not in result:
            result = result.rsplit(end_tag, 1)[-1]
    return result.strip()


_DEFAULT_CHOICES = ("A", "B", "C", "D", "E", "F", "G", "H")
_ANSWER_PHRASES = (
    "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is",
    "best answer is", "the correct option is", "correct option is", "the best option is", "best option is",
    "the choice is", "choice is", "the correct choice is", "correct choice is", "i choose", "i select", "i pick",
    "my answer is", "my choice is", "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选", "答えは",
)
_PRIORITY = {"start": 10, "end": 9, "phrase": 7, "parentheses": 6, "period": 5, "colon": 4, "right_paren": 3,
             "space": 2, "fallback": 0}


def extract_mcq_answer(response: str, choices: Sequence[str] | None = None) -> str:
    """The choice letter lmms-eval reads from a reply ("" when none): the highest-priority format wins, and within
    one format the last position (``rfind``); any occurrence of a letter counts only when no format matched."""
    if not response or not response.strip():
        return ""
    all_choices = list(choices or _DEFAULT_CHOICES)
    text = response.strip()
    for char in (",", ".", "!", "?", ";", ":", "'", '"'):
        text = text.strip(char)
    text = " " + text + " "
    candidates: list[tuple[str, int, str]] = []
    for template, kind in (("({})", "parentheses"), ("{}.", "period"), ("{}:", "colon"), ("{})", "right_paren"),
                           ("{} ", "space")):
        for ch in all_choices:
            if template.format(ch) in text:
                candidates.append((ch, text.rfind(template.format(ch)), kind))
    text_lower = text.lower()
    for phrase in _ANSWER_PHRASES:
        idx = text_lower.find(phrase)
        if idx != -1:
            after = idx + len(phrase)
            for ch in all_choices:
                ch_pos = text.find(ch, after)
                if ch_pos != -1:
                    candidates.append((ch, ch_pos, "phrase"))
    stripped = text.strip()
    for ch in all_choices:
        if stripped.startswith(ch) and (len(stripped) == 1 or not stripped[1].isalpha()):
            candidates.append((ch, 0, "start"))
    for ch in all_choices:
        if stripped.endswith(ch) and (len(stripped) == 1 or not stripped[-2].isalpha()):
            candidates.append((ch, len(text) - 1, "end"))
    if not candidates:
        for ch in all_choices:
            if ch in text:
                candidates.append((ch, text.rfind(ch), "fallback"))
    if not candidates:
        return ""
    candidates.sort(key=lambda c: (_PRIORITY.get(c[2], 0), c[1]), reverse=True)
    return candidates[0][0]
