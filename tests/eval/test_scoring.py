"""Exact, hand-computed cases for the shared scoring functions (ffr_data.scoring)."""

from __future__ import annotations

import pytest

from ffr_data.scoring import (
    MRA_THRESHOLDS,
    mean_relative_accuracy,
    numbers_match,
    parse_number,
    relative_accuracy,
    rouge_f1,
    rouge_tokens,
    word_error_rate,
)
from ffr_data.stemming import porter_stem


@pytest.mark.parametrize(("ref", "hyp", "expected"), [
    ("the cat sat", "the cat sat", 0.0),
    ("the cat sat", "the dog sat", 1 / 3),           # one substitution
    ("the cat sat", "the cat", 1 / 3),               # one deletion
    ("the cat", "the big cat sat", 2 / 2),           # two insertions over two reference words
    ("a b c d", "b c d a", 2 / 4),                   # delete a at the start, insert a at the end
    ("", "x y", 2.0),                                # empty reference divides by one
    ("The Cat", "the cat", 2 / 2),                   # case-sensitive, like Video-R1
])
def test_word_error_rate(ref, hyp, expected):
    assert word_error_rate(ref, hyp) == pytest.approx(expected)


@pytest.mark.parametrize(("word", "stem"), [
    ("caresses", "caress"), ("ponies", "poni"), ("ties", "tie"), ("cats", "cat"), ("feed", "feed"),
    ("agreed", "agre"), ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"), ("conflated", "conflat"),
    ("troubled", "troubl"), ("sized", "size"), ("hopping", "hop"), ("falling", "fall"), ("hissing", "hiss"),
    ("filing", "file"), ("happy", "happi"), ("sky", "sky"), ("relational", "relat"), ("conditional", "condit"),
    ("rational", "ration"), ("digitizer", "digit"), ("radicalli", "radic"), ("vietnamization", "vietnam"),
    ("operator", "oper"), ("decisiveness", "decis"), ("hopefulness", "hope"), ("sensibiliti", "sensibl"),
    ("triplicate", "triplic"), ("formative", "form"), ("electrical", "electr"), ("goodness", "good"),
    ("allowance", "allow"), ("airliner", "airlin"), ("replacement", "replac"), ("adoption", "adopt"),
    ("effective", "effect"), ("cease", "ceas"), ("controll", "control"), ("roll", "roll"),
    ("generalization", "gener"), ("running", "run"), ("dying", "die"), ("flies", "fli"), ("spied", "spi"),
])
def test_porter_stem_matches_nltk(word, stem):
    assert porter_stem(word) == stem


def test_rouge_tokenizer_like_rouge_score():
    assert rouge_tokens("The cats, running-fast!") == ["the", "cat", "run", "fast"]
    assert rouge_tokens("The cats", stem=False) == ["the", "cats"]


def test_rouge_hand_computed():
    # ref: the cat sat on the mat (6 tokens); hyp: the cat lay on the mat (6 tokens)
    scores = rouge_f1("the cat sat on the mat", "the cat lay on the mat")
    assert scores["rouge1"] == pytest.approx(5 / 6)           # overlap 5 of 6 either way
    assert scores["rouge2"] == pytest.approx(3 / 5)           # the-cat, on-the, the-mat of 5 bigrams
    assert scores["rougeL"] == pytest.approx(5 / 6)           # LCS the cat on the mat
    # unequal lengths: ref 4 tokens, hyp 2 tokens, overlap 2 -> P=1, R=0.5, F=2/3
    scores = rouge_f1("a red ball rolls", "red ball")
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))   # 1 of 1 hyp bigram, 1 of 3 ref bigrams
    assert scores["rougeL"] == pytest.approx(2 / 3)
    # stemming makes inflections match
    assert rouge_f1("dogs running", "dog runs")["rouge1"] == pytest.approx(1.0)
    assert rouge_f1("dogs running", "dog runs", stem=False)["rouge1"] == pytest.approx(0.0)
    assert rouge_f1("", "anything") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


@pytest.mark.parametrize(("gold", "pred", "expected"), [
    ("3", "3", True), ("3", "3.0", False),            # exactly one has a decimal point -> 0
    ("3.0", "3.00", True), ("2.344", "2.34", True), ("2.35", "2.36", False),
    ("1,000", "1000", False), ("1,000", "1,000.0", True), ("12", "twelve", False), ("0.5", "0.504", True),
    ("0.5", "0.506", False),
])
def test_numbers_match(gold, pred, expected):
    assert numbers_match(gold, pred) is expected


def test_relative_accuracy():
    assert relative_accuracy("10", "10") == pytest.approx(1.0)
    assert relative_accuracy("10", "12") == pytest.approx(0.8)
    assert relative_accuracy("10", "25") == 0.0               # clipped at relative error 1
    assert relative_accuracy("10", "about 10") == 0.0         # not a bare number
    assert relative_accuracy("1,000", "900") == pytest.approx(0.9)
    assert relative_accuracy(4.0, 3.0) == pytest.approx(0.75)


def test_mra_thresholds_and_boundary_conventions():
    assert MRA_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    # relative error 0.5 exactly: lmms-eval's <= counts θ=0.50 (1/10); Video-R1's strict < counts nothing.
    assert mean_relative_accuracy("10", "15", strict=False) == pytest.approx(0.1)
    assert mean_relative_accuracy("10", "15", strict=True) == 0.0
    # relative error 0.12: passes θ with 1-θ > 0.12, i.e. θ in 0.50..0.85 (8 of 10) in both conventions
    assert mean_relative_accuracy("100", "112", strict=True) == pytest.approx(0.8)
    assert mean_relative_accuracy("100", "112", strict=False) == pytest.approx(0.8)
    assert mean_relative_accuracy("4", "4") == pytest.approx(1.0)
    # free text: Video-R1 needs a bare number, lmms-eval takes the first number
    assert mean_relative_accuracy("2.0", "2.2 m", strict=True) == 0.0
    # |2.2 - 2.0| / 2 = 0.10000000000000009 and np.linspace's 0.9 is 0.8999999999999999, so 1 - θ equals the error
    # exactly and θ=0.90 passes: 9 of 10 (benchmarks.md's "0.8" is the real-number reading)
    assert mean_relative_accuracy("2.0", "2.2 m", strict=False) == pytest.approx(0.9)
    # relative error 0.2: np.linspace's 0.8 is 0.8000000000000000444, 1 - θ < 0.2, so θ=0.80 fails: 6 of 10
    assert mean_relative_accuracy("10", "12", strict=False) == pytest.approx(0.6)
    assert mean_relative_accuracy("10", "12", strict=True) == pytest.approx(0.6)     # float32 0.8 > 0.8: fails too
    assert mean_relative_accuracy("3", "three chairs", strict=False) == pytest.approx(1.0)
    assert mean_relative_accuracy("3", "none", strict=False) == 0.0
    assert mean_relative_accuracy("0", "0", strict=False) == 0.0                          # lmms-eval divides by g
    assert mean_relative_accuracy("0", "0", strict=True) == pytest.approx(1.0)            # Video-R1 has +1e-8


@pytest.mark.parametrize(("text", "expected"), [
    ("3", 3.0), ("-2.5 metres", -2.5), ("about 1,234.5 cm", 1234.5), ("I see three chairs", 3.0),
    ("twenty-one", 21.0), ("three hundred and twenty", 320.0), ("two thousand five hundred", 2500.0),
    ("seven or 8", 7.0), ("8 or seven", 8.0), ("no number here", None), ("Ninety Nine", 99.0),
    ("someone", None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected
