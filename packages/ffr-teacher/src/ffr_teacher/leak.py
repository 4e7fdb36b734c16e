"""The answer-leak guard: does any text field of a patch name or imply the answer? Pure functions.

A field leaks when it contains, for the sample's gold answer:

- the answer **letter** as an option reference: ``B``, ``(B)``, ``option B``, ``answer: b`` (a capital ``A``/``I``
  used as an article or pronoun, "A shape appears", is not a reference);
- the answer **text** (the gold option's text, or a free-form answer): the whole phrase, or for a one-word answer its
  stem ("books" for "book"), or most of its distinctive words in any order (a paraphrase, ``token_overlap``), or a
  run of words spelled almost like it ("color" for "colour", ``fuzzy_ratio``). Words every option shares ("the",
  "shape" in "the red shape" / "the blue shape") are not distinctive. A field that mentions *every* option equally
  ("compare when the red and the blue shape flash") singles none out and passes;
- the **numeric** answer in digits or number words ("3", "3.0", "three", "thrice"), except numbers that are clearly
  times or frame references ("1.5-3 s", "frames 3 and 4") and "one" used as a pronoun ("the one that flashes");
- a phrase that **announces** an answer ("the correct option", "the answer is", "you should choose").

A patch also leaks by its **structure** when the answer is a count n >= 2 and it cites exactly n windows or n
regions (the blind test: a reader who never saw the video could count them).

And it leaks by a **region** when the sample says where each option lies (``meta.answer_cells``: one normalised box
per option, as the synthetic benchmark's location questions do) and a cited box has most of its area
(``REGION_CELL_SHARE``) inside the gold option's cell: the coordinates alone would answer "where". A box spread over
several cells narrows the answer without determining it and passes; so does a box that sits in a wrong cell.
Unusable ``answer_cells`` fail closed (the patch is rejected, the reason names the field).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ffr_data.patch import EvidencePatch
from ffr_data.schema import Sample, parse_option
from ffr_data.scoring import bare_number, parse_number
from ffr_data.stemming import porter_stem
from ffr_teacher.config import LeakGuardConfig

# Function words only: words that can be an answer ("before", "left", "more", "yes") are not stopwords.
STOPWORDS = frozenset((
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "of", "in", "on", "at", "to", "from", "by",
    "with", "for", "and", "or", "but", "not", "no", "is", "are", "was", "were", "be", "been", "being", "do", "does",
    "did", "has", "have", "had", "which", "what", "who", "whom", "whose", "when", "where", "why", "how", "there",
    "here", "then", "than", "as", "each", "every", "any", "some", "all", "both", "either", "neither", "other",
    "another", "same", "such", "very", "only", "just", "also", "so", "too", "again", "their", "them", "they", "he",
    "she", "his", "her", "him", "we", "our", "you", "your", "i", "me", "my", "mine", "s", "t",
))

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_WORDS: dict[str, int] = {
    **{w: i for i, w in enumerate(_UNITS)}, **{w: 10 * (i + 2) for i, w in enumerate(_TENS)},
    "once": 1, "twice": 2, "thrice": 3, "hundred": 100,
}
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_DIGITS = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w]|\.\d)")
_WORD_NUMBER = re.compile(rf"\b({'|'.join(_TENS)})[\s-]+({'|'.join(_UNITS[1:10])})\b|\b({'|'.join(NUMBER_WORDS)})\b",
                          re.IGNORECASE)
_TIME_AFTER = re.compile(r"^\s*(?:(?:-|–|to|and)\s*\d+(?:\.\d+)?\s*)?(?:s|sec|secs|seconds?)\b", re.IGNORECASE)
_FRAME_BEFORE = re.compile(r"(?:\bframes?|\bt\s*=)\s*(?:\d+(?:\.\d+)?\s*(?:,|-|–|and|to)\s*)*$", re.IGNORECASE)
_PRONOUN_ONE_BEFORE = re.compile(r"\b(?:the|each|which|that|this|every|any|no|another|other|a|some|last|next|same|"
                                 r"new|right|wrong|first|second)\s+$", re.IGNORECASE)
_REVEAL = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:correct|right|true|final)\s+(?:answer|option|choice|letter)\b",
    r"\banswer\s+(?:is|should\s+be|would\s+be|must\s+be)\b",
    r"\b(?:should|must)\s+(?:choose|select|pick|answer)\b",
)]


@dataclass(frozen=True)
class AnswerForms:
    """The ways an answer can be written: its option letter, its text(s), its numeric value(s); plus, for multiple
    choice, every option's text (to tell distinctive words from shared ones)."""

    letter: str | None = None
    phrases: tuple[str, ...] = ()
    numbers: tuple[float, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Leak:
    kind: str  # letter | option_text | paraphrase | number | reveal_phrase | count_structure | region
    field: int  # index into the checked texts
    detail: str


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def stems(words: Iterable[str]) -> list[str]:
    return [porter_stem(w) for w in words]


def _is_number(word: str) -> bool:
    return word in NUMBER_WORDS or bare_number(word) is not None


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry content: no stopwords, no numbers (numbers are checked as values)."""
    return set(stems(w for w in tokens(text) if w not in STOPWORDS and not _is_number(w)))


def answer_forms(sample: Sample) -> AnswerForms:
    """The answer forms of a sample's gold answer (``sample.answer``)."""
    answer = sample.answer.strip()
    options = []
    for option in sample.options:
        try:
            options.append(parse_option(option))
        except ValueError:
            continue
    letters = {letter: text for letter, text in options}
    if sample.problem_type == "multiple choice" and answer.upper() in letters:
        letter = answer.upper()
        phrase = letters[letter]
        number = parse_number(phrase)
        phrases = (phrase,) if phrase and not all(_is_number(w) for w in tokens(phrase)) else ()
        return AnswerForms(letter, phrases, (number,) if number is not None else (), tuple(t for _, t in options))
    number = bare_number(answer)
    if number is None and sample.problem_type in ("numerical", "regression"):
        number = parse_number(answer)
    phrases = () if number is not None and sample.problem_type in ("numerical", "regression") else (answer,)
    return AnswerForms(None, tuple(p for p in phrases if p), (number,) if number is not None else ())


def letter_leak(text: str, letter: str) -> str | None:
    """The matched text when ``text`` refers to option ``letter``; None otherwise."""
    lower = letter.lower()
    patterns = [
        rf"\b(?i:option|choice|answer|letter)s?\s*[:#]?\s*[\(\[]?[{letter}{lower}][\)\]]?(?![A-Za-z0-9])",
        rf"[\(\[]{letter}[\)\]]",
    ]
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            return match.group(0)
    for match in re.finditer(rf"(?<![A-Za-z0-9'’\-]){letter}(?![A-Za-z0-9'’\-])", text):
        if letter in "AI" and re.match(r"\s+[a-z]", text[match.end():]):
            continue  # "A shape", "I think": an article or pronoun, not a reference
        return match.group(0)
    return None


def phrase_hit(text: str, phrase: str, cfg: LeakGuardConfig, shared: set[str] = frozenset(),
               others: Sequence[str] = ()) -> str | None:
    """How ``text`` names ``phrase`` (None when it does not): the whole phrase; a word of it that no other option
    has (``others``: the other options' texts); most of its distinctive words (a paraphrase); or a near spelling.
    ``shared``: stems every option has, which distinguish nothing."""
    words, phrase_words = tokens(text), tokens(phrase)
    if not phrase_words:
        return None
    joined, phrase_joined = " ".join(words), " ".join(phrase_words)
    distinctive = content_stems(phrase) - shared
    if (distinctive or len(phrase_words) > 1) and re.search(rf"(?<![a-z0-9]){re.escape(phrase_joined)}(?![a-z0-9])",
                                                            joined):
        return f"option text '{phrase_joined}'"
    if not distinctive:
        return None
    text_stems = set(stems(words))
    other_stems = set().union(*(content_stems(o) for o in others)) if others else set()
    unique = distinctive - other_stems if others else (distinctive if len(distinctive) == 1 else set())
    present = distinctive & text_stems
    if unique & text_stems:
        return f"answer word '{sorted(unique & text_stems)[0]}'"
    if len(distinctive) > 1 and len(present) / len(distinctive) >= cfg.token_overlap:
        return f"paraphrase ({len(present)}/{len(distinctive)} answer words)"
    targets = [phrase_joined] + [w for w in phrase_words if porter_stem(w) in unique]
    for target in targets:
        if len(target) >= cfg.fuzzy_min_chars:
            window = _near_spelling(words, target, cfg.fuzzy_ratio)
            if window:
                return f"near spelling '{window}'"
    return None


def _near_spelling(words: list[str], target: str, ratio: float) -> str | None:
    n = len(target.split())
    for size in range(max(1, n - 1), n + 2):
        for start in range(0, max(0, len(words) - size) + 1):
            window = " ".join(words[start:start + size])
            if window and difflib.SequenceMatcher(None, window, target).ratio() >= ratio:
                return window
    return None


def _shared_stems(options: Sequence[str]) -> set[str]:
    if len(options) < 2:
        return set()
    sets = [content_stems(o) for o in options]
    return set.intersection(*sets)


def text_leak(text: str, forms: AnswerForms, cfg: LeakGuardConfig) -> tuple[str, str] | None:
    """(kind, detail) when ``text`` leaks the answer; None when it is clean. Pure."""
    if forms.letter:
        hit = letter_leak(text, forms.letter)
        if hit:
            return "letter", f"answer letter as {hit!r}"
    shared = _shared_stems(forms.options)
    for phrase in forms.phrases:
        others = [o for o in forms.options if o != phrase]
        hit = phrase_hit(text, phrase, cfg, shared, others)
        mentions_all = bool(others) and all(
            phrase_hit(text, o, cfg, shared, [p for p in forms.options if p != o]) for o in others)
        if hit and not mentions_all:
            return ("paraphrase" if hit.startswith(("paraphrase", "near")) else "option_text"), hit
    for value in forms.numbers:
        hit = number_leak(text, value)
        if hit:
            return "number", f"numeric answer as {hit!r}"
    if cfg.reveal_phrases:
        for pattern in _REVEAL:
            match = pattern.search(text)
            if match:
                return "reveal_phrase", f"announces an answer: {match.group(0)!r}"
    return None


def number_leak(text: str, value: float) -> str | None:
    """The matched text when ``text`` states ``value`` in digits or words (times and frame references excepted)."""
    for match in _DIGITS.finditer(text):
        if abs(float(match.group(0)) - value) > 1e-9:
            continue
        if _TIME_AFTER.match(text[match.end():]) or _FRAME_BEFORE.search(text[:match.start()]):
            continue
        return match.group(0)
    for match in _WORD_NUMBER.finditer(text):
        if match.group(3):
            word = match.group(3).lower()
            number = NUMBER_WORDS[word]
            if word == "one" and (_PRONOUN_ONE_BEFORE.search(text[:match.start()])
                                  or re.match(r"\s+another\b", text[match.end():], re.IGNORECASE)):
                continue
        else:
            number = NUMBER_WORDS[match.group(1).lower()] + NUMBER_WORDS[match.group(2).lower()]
        if abs(number - value) <= 1e-9:
            return match.group(0)
    return None


def find_leak(texts: Sequence[str], forms: AnswerForms, cfg: LeakGuardConfig) -> Leak | None:
    """The first leak among ``texts`` (the patch's free-text fields), or None. Pure."""
    for index, text in enumerate(texts):
        found = text_leak(text, forms, cfg)
        if found:
            return Leak(found[0], index, found[1])
    return None


def structure_leak(patch: EvidencePatch, forms: AnswerForms) -> str | None:
    """What gives a count away when ``patch`` cites as many windows or regions as the numeric answer (n >= 2)."""
    for value in forms.numbers:
        if value < 2 or value != int(value):
            continue
        for name, items in (("windows", patch.windows), ("regions", patch.regions)):
            if len(items) == value:
                return f"{len(items)} {name} for a count of {int(value)}"
    return None


REGION_CELL_SHARE = 0.8  # a box with at least this share of its area in the gold option's cell places the answer


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _overlap(a: Sequence[float], b: Sequence[float]) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def answer_cells(sample: Sample) -> list[tuple[float, ...]] | None:
    """The sample's ``meta.answer_cells`` (one [x1, y1, x2, y2] box per option), None when it has none; ValueError
    naming the problem when they are unusable."""
    cells = sample.meta.get("answer_cells") if isinstance(sample.meta, dict) else None
    if cells is None:
        return None
    if not isinstance(cells, list) or len(cells) != len(sample.options):
        raise ValueError(f"meta.answer_cells must hold one box per option ({len(sample.options)})")
    boxes = []
    for i, cell in enumerate(cells):
        if not (isinstance(cell, list) and len(cell) == 4 and all(isinstance(v, int | float) and
                                                                  not isinstance(v, bool) for v in cell)):
            raise ValueError(f"meta.answer_cells[{i}] must be [x1, y1, x2, y2]")
        boxes.append(tuple(float(v) for v in cell))
    return boxes


def _option_letter(option: str) -> str | None:
    try:
        return parse_option(option)[0]
    except ValueError:
        return None


def region_leak(patch: EvidencePatch, sample: Sample) -> str | None:
    """What places the answer when a cited region lies (``REGION_CELL_SHARE`` of its area) inside the gold option's
    cell of ``meta.answer_cells``; None when no region does or the sample declares no cells."""
    if not patch.regions:
        return None
    try:
        cells = answer_cells(sample)
    except ValueError as exc:
        return f"cannot check regions: {exc}"
    letter = answer_forms(sample).letter
    if cells is None or letter is None:
        return None
    letters = [_option_letter(o) for o in sample.options]
    gold = cells[letters.index(letter)] if letter in letters else None
    for i, region in enumerate(patch.regions):
        area = _area(region.box)
        if gold is not None and area > 0 and _overlap(region.box, gold) / area >= REGION_CELL_SHARE:
            return f"region {i} lies in the answer's cell ({_overlap(region.box, gold) / area:.0%} of its area)"
    return None


def patch_leak(patch: EvidencePatch, sample: Sample, cfg: LeakGuardConfig) -> Leak | None:
    """The leak in ``patch`` (guidance, region labels, the count of its windows and regions, and its region boxes
    against ``meta.answer_cells``) for ``sample``'s answer, or None; None when the guard is disabled."""
    if not cfg.enabled:
        return None
    forms = answer_forms(sample)
    found = find_leak(patch.text_fields(), forms, cfg)
    if found is None and cfg.count_structure:
        structure = structure_leak(patch, forms)
        if structure:
            return Leak("count_structure", -1, structure)
    if found is None:
        placed = region_leak(patch, sample)
        if placed:
            return Leak("region", -1, placed)
    return found
