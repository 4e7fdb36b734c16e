"""Scoring one model output against one sample, under both readings.

Every scorer returns a value in [0, 1] (accuracy items 0/1, MRA, 1 - WER, ROUGE) and what it parsed; ``parsed is
None`` marks an unparseable answer, which scores 0 and is counted. The scorer is chosen by ``problem_type``
(multiple choice: choice, numerical, regression: mra, OCR: ocr, free-form: rouge) unless a loader sets
``meta["scorer"]`` (TempCompass yes/no, MMVU and VideoMMMU open-ended questions).

- strict: Video-R1's ``eval_bench.py`` on the ``<answer>`` content (exact letter, bare numbers, MRA with ``<``).
- lenient: lmms-eval's readings on the reasoning-stripped reply (benchmark letter rules, first number, MRA ``<=``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ffr_data import scoring
from ffr_data.registry import Registry
from ffr_data.schema import Sample
from ffr_eval.extraction import answer_tag, extract_letter, lenient_text

PROTOCOLS = ("strict", "lenient")
DEFAULT_SCORERS = {"multiple choice": "choice", "numerical": "numerical", "regression": "mra", "OCR": "ocr",
                   "free-form": "rouge"}


@dataclass(frozen=True)
class ItemScore:
    value: float
    parsed: str | None
    flag: str | None = None  # official reading only: how the reference treated the item (ffr_eval.official.base)

    @property
    def unparseable(self) -> bool:
        return self.parsed is None


Scorer = Callable[[str, Sample, str], dict[str, ItemScore]]
SCORERS: Registry[Scorer] = Registry("scorer")
scorer = SCORERS.register


def scorer_name(sample: Sample) -> str:
    return str(sample.meta.get("scorer") or DEFAULT_SCORERS[sample.problem_type])


def score_output(output: str, sample: Sample, letter_rule: str = "shared-mcq") -> dict[str, ItemScore]:
    """{"strict": ItemScore, "lenient": ItemScore} for one raw model output."""
    return SCORERS.get(scorer_name(sample), where=sample.problem_id)(output or "", sample, letter_rule)


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def _text_scores(output: str, fn: Callable[[str], float]) -> dict[str, ItemScore]:
    tagged, loose = answer_tag(output), lenient_text(output)
    return {"strict": ItemScore(fn(tagged) if tagged is not None else 0.0, tagged),
            "lenient": ItemScore(fn(loose) if loose else 0.0, loose or None)}


@scorer("choice")
def _choice(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
    tagged = answer_tag(output)
    letter = extract_letter(output, sample, letter_rule)
    return {"strict": ItemScore(float(tagged == sample.answer), tagged),
            "lenient": ItemScore(float(letter == sample.answer), letter)}


@scorer("numerical")
def _numerical(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
    tagged = answer_tag(output)
    strict_ok = tagged is not None and scoring.bare_number(tagged) is not None
    number = scoring.parse_number(lenient_text(output))
    gold = scoring.bare_number(sample.answer)
    lenient_value = float(number is not None and gold is not None and round(number, 2) == round(gold, 2))
    return {"strict": ItemScore(float(strict_ok and scoring.numbers_match(sample.answer, tagged)),
                                tagged if strict_ok else None),
            "lenient": ItemScore(lenient_value, None if number is None else repr(number))}


@scorer("mra")
def _mra(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
    tagged = answer_tag(output)
    strict_ok = tagged is not None and scoring.bare_number(tagged) is not None
    loose = lenient_text(output)
    number = scoring.parse_number(loose)
    return {"strict": ItemScore(scoring.mean_relative_accuracy(sample.answer, tagged, strict=True) if strict_ok
                                else 0.0, tagged if strict_ok else None),
            "lenient": ItemScore(scoring.mean_relative_accuracy(sample.answer, loose, strict=False),
                                 None if number is None else repr(number))}


@scorer("ocr")
def _ocr(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
    return _text_scores(output, lambda text: _clip(1.0 - scoring.word_error_rate(sample.answer, text)))


@scorer("rouge")
def _rouge(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
    def mean_rouge(text: str) -> float:
        parts = scoring.rouge_f1(sample.answer, text)
        return _clip((parts["rouge1"] + parts["rouge2"] + parts["rougeL"]) / 3)
    return _text_scores(output, mean_rouge)


@scorer("yes_no")
def _yes_no(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
    """TempCompass yes/no: strict is the exact tag content; lenient is "the lowercased reply starts with yes/no"."""
    tagged = answer_tag(output)
    loose = lenient_text(output).lower()
    word = "yes" if loose.startswith("yes") else "no" if loose.startswith("no") else None
    return {"strict": ItemScore(float(tagged == sample.answer), tagged),
            "lenient": ItemScore(float(word == sample.answer.lower()), word)}


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


_STOPWORDS = frozenset(["a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "is", "are", "for", "with", "by", "from", "as"])
_SUPERSCRIPTS = str.maketrans({"²": "^2", "³": "^3", "⁴": "^4", "ⁿ": "^n", "¹": "^1"})


def mmvu_open_correct(gold: str, pred: str) -> bool:
    """MMVU's open-ended rules (before its GPT judge): exact, containment either way, first numbers within 0.01,
    every content word of a 2–5-word answer present, or equal O(·) notations."""
    gold, pred = _normalise(gold), _normalise(pred)
    if not pred:
        return False
    if gold == pred or gold in pred or pred in gold:
        return True
    gold_number, pred_number = scoring.parse_number(gold), scoring.parse_number(pred)
    if gold_number is not None and pred_number is not None and abs(gold_number - pred_number) <= 0.01:
        return True
    words = gold.split()
    content = [w for w in words if w not in _STOPWORDS]
    if 2 <= len(words) <= 5 and content and all(w in pred.split() for w in content):
        return True
    if "o(" in gold and "o(" in pred:
        def notation(text: str) -> str:
            return re.sub(r"\s+", "", text.translate(_SUPERSCRIPTS))
        return notation(gold[gold.index("o("):]) == notation(pred[pred.index("o("):])
    return False


def mmmu_open_correct(gold: str, pred: str) -> bool:
    """MMMU's eval_open: a numeric gold matches any number in the reply at 2 decimals; a text gold must be
    contained in the lowercased reply."""
    gold_number = scoring.bare_number(gold.strip())
    if gold_number is not None:
        numbers = [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*(?:\.\d+)?", pred)]
        return any(round(n, 2) == round(gold_number, 2) for n in numbers)
    return bool(gold.strip()) and _normalise(gold) in _normalise(pred)


def _open_scorer(rule: Callable[[str, str], bool]) -> Scorer:
    def score(output: str, sample: Sample, letter_rule: str) -> dict[str, ItemScore]:
        tagged, loose = answer_tag(output), lenient_text(output)
        strict_value = float(tagged is not None and _normalise(tagged) == _normalise(sample.answer))
        return {"strict": ItemScore(strict_value, tagged),
                "lenient": ItemScore(float(rule(sample.answer, loose)), loose or None)}
    return score


SCORERS.add("mmvu_open", _open_scorer(mmvu_open_correct))
SCORERS.add("mmmu_open", _open_scorer(mmmu_open_correct))
