"""Pure answer-scoring functions shared by the trainer's rewards and the evaluator's metrics.

Each function reproduces a published rule exactly; where two codebases disagree both readings are available:

- ``word_error_rate``: Video-R1's word-level Levenshtein distance / number of reference words.
- ``rouge_f1``: ROUGE-1/2/L F-measures computed as Google's ``rouge_score`` does (lowercase, non-alphanumerics to
  spaces, Porter-stemmed tokens longer than 3 characters, n-gram overlap / LCS), written here without a dependency.
- ``numbers_match``: Video-R1's "numerical" rule.
- ``relative_accuracy``: Video-R1's training reward for "regression" (1 - clipped relative error).
- ``mean_relative_accuracy``: VSI-Bench's MRA over thresholds 0.50...0.95, with Video-R1's strict ``<`` in float32
  (``strict=True``) or lmms-eval's ``<=`` in float64 (``strict=False``).
- ``parse_number``: lmms-eval's "first number in the text" (digits or English number words).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ffr_data.stemming import porter_stem

MRA_THRESHOLDS: tuple[float, ...] = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))

_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_UNITS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_TENS = {w: 10 * (i + 2) for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_WORD_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_NUMBER_WORD}))*\b", re.IGNORECASE)


def word_error_rate(ref: str, hyp: str) -> float:
    """Word-level edit distance (substitutions, insertions, deletions) divided by the reference word count.

    Words are whitespace-separated and compared case-sensitively, as in Video-R1. An empty reference divides by 1,
    so the result is the hypothesis length. The value can exceed 1; callers clip (``1 - wer`` floored at 0).
    """
    ref_words, hyp_words = ref.split(), hyp.split()
    previous = list(range(len(hyp_words) + 1))
    for i, ref_word in enumerate(ref_words, start=1):
        current = [i] + [0] * len(hyp_words)
        for j, hyp_word in enumerate(hyp_words, start=1):
            substitution = previous[j - 1] + (ref_word != hyp_word)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        previous = current
    return previous[-1] / max(1, len(ref_words))


def rouge_tokens(text: str, stem: bool = True) -> list[str]:
    """``rouge_score``'s tokenizer: lowercase, split on non-alphanumerics, Porter-stem tokens longer than 3."""
    tokens = [t for t in _NON_ALPHANUM.sub(" ", text.lower()).split() if t]
    return [porter_stem(t) if stem and len(t) > 3 else t for t in tokens]


def _fmeasure(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _ngram_f1(ref: list[str], hyp: list[str], n: int) -> float:
    ref_ngrams = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
    hyp_ngrams = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
    overlap = sum(min(count, hyp_ngrams[gram]) for gram, count in ref_ngrams.items())
    precision = overlap / max(sum(hyp_ngrams.values()), 1)
    recall = overlap / max(sum(ref_ngrams.values()), 1)
    return _fmeasure(precision, recall)


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token_a == token_b else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_f1(ref: str, hyp: str, stem: bool = True) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS) F-measures of ``hyp`` against ``ref``, each in [0, 1]."""
    ref_tokens, hyp_tokens = rouge_tokens(ref, stem), rouge_tokens(hyp, stem)
    if ref_tokens and hyp_tokens:
        lcs = _lcs_length(ref_tokens, hyp_tokens)
        rouge_l = _fmeasure(lcs / len(hyp_tokens), lcs / len(ref_tokens))
    else:
        rouge_l = 0.0
    return {"rouge1": _ngram_f1(ref_tokens, hyp_tokens, 1), "rouge2": _ngram_f1(ref_tokens, hyp_tokens, 2),
            "rougeL": rouge_l}


def bare_number(text: str | float | int) -> float | None:
    """Video-R1's ``normalize_number``: ``float(text)`` after removing commas; None when that fails."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return None


def numbers_match(gold: str, pred: str, decimals: int = 2) -> bool:
    """Video-R1's "numerical" rule.

    False when exactly one of the two strings contains ``.`` or ``,``; otherwise both must parse as bare numbers
    (commas removed) and be equal after rounding to ``decimals`` places.
    """
    gold, pred = str(gold).strip(), str(pred).strip()
    if any(c in gold for c in ".,") != any(c in pred for c in ".,"):
        return False
    gold_number, pred_number = bare_number(gold), bare_number(pred)
    if gold_number is None or pred_number is None:
        return False
    return round(gold_number, decimals) == round(pred_number, decimals)


def relative_accuracy(gold: str | float, pred: str | float) -> float:
    """Video-R1's regression reward: ``1 - min(1, (|p - g| + 1e-9) / (|g| + 1e-9))``; 0 when either is not a number."""
    gold_number, pred_number = bare_number(gold), bare_number(pred)
    if gold_number is None or pred_number is None:
        return 0.0
    relative_error = (abs(pred_number - gold_number) + 1e-9) / (abs(gold_number) + 1e-9)
    return 1.0 - min(1.0, max(0.0, relative_error))


def mean_relative_accuracy(gold: str | float, pred: str | float,
                           thresholds: tuple[float, ...] | None = None, strict: bool = True) -> float:
    """Mean Relative Accuracy: the fraction of thresholds θ for which the relative error passes ``1 - θ``.

    ``strict=True`` is Video-R1's ``eval_bench.py``: the prediction must be a bare number (commas removed), and in
    float32 ``|p - g| / (|g| + 1e-8) < 1 - θ``. ``strict=False`` is lmms-eval's VSI-Bench: the prediction is the first
    number in the text (:func:`parse_number`), and in float64 ``|p - g| / g <= 1 - θ`` (a gold of 0 scores 0).
    An unparseable prediction scores 0 in both. Default thresholds are built as each codebase builds them
    (``torch.arange`` in float32; ``np.linspace(0.5, 0.95, 10)``), which decides cases that sit on a threshold.
    """
    gold_number = bare_number(gold)
    pred_number = bare_number(pred) if strict or isinstance(pred, int | float) else parse_number(pred)
    if gold_number is None or pred_number is None:
        return 0.0
    if strict:
        g, p = np.float32(gold_number), np.float32(pred_number)
        relative_error = np.abs(p - g) / (np.abs(g) + np.float32(1e-8))
        levels = np.asarray(thresholds or MRA_THRESHOLDS, dtype=np.float32)
        passed = relative_error < (np.float32(1.0) - levels)
    else:
        if gold_number == 0:
            return 0.0
        relative_error = abs(pred_number - gold_number) / gold_number
        levels = np.asarray(thresholds, dtype=np.float64) if thresholds else np.linspace(0.5, 0.95, 10)
        passed = relative_error <= 1.0 - levels
    return float(np.mean(passed))


def _words_to_number(phrase: str) -> float:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", phrase.lower()):
        if word in ("", "and"):
            continue
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return float(total + current)


def parse_number(text: str) -> float | None:
    """The first number in free text: digits (optional minus, thousands commas, decimals) or a run of English number
    words ("three", "twenty-one", "three hundred and twenty"), whichever starts first; None when there is none.
    Units are not understood ("2.2 m" -> 2.2)."""
    text = str(text)
    digits = _DIGITS.search(text)
    words = _WORD_RUN.search(text)
    if words and (digits is None or words.start() < digits.start()):
        return _words_to_number(words.group(0))
    if digits:
        return float(digits.group(0).replace(",", ""))
    return None
