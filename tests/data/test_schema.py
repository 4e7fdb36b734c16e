"""The sample schema: every bad-input case names its file, row and field; good rows round-trip."""

from __future__ import annotations

import json

import pytest

from ffr_data.errors import SchemaError
from ffr_data.schema import (
    extract_tagged_answer,
    load_samples,
    parse_option,
    parse_sample,
    read_rows,
    write_jsonl,
)

BAD_ROWS = [
    # (overrides, field, words in the message)
    ({"problem_id": None}, "problem_id", "missing"),
    ({"problem": "  "}, "problem", "empty"),
    ({"problem_type": "essay"}, "problem_type", "unknown problem_type 'essay'"),
    ({"data_type": "audio"}, "data_type", "unknown data_type 'audio'"),
    ({"options": None}, "options", "at least two options"),
    ({"options": ["A. red"]}, "options", "at least two options"),
    ({"options": "A. red B. green"}, "options", "list of strings"),
    ({"options": ["red", "green"]}, "options", "does not start with a letter"),
    ({"options": ["A. red", "A. green"]}, "options", "letters repeat"),
    ({"solution": "<answer>E</answer>"}, "solution", "'E' is not one of the option letters"),
    ({"solution": "<answer> </answer>"}, "solution", "empty answer"),
    ({"problem_type": "numerical", "options": None, "solution": "<answer>about 3</answer>"}, "solution", "not a number"),
    ({"meta": ["x"]}, "meta", "must be an object"),
    ({"evidence": [1, 2]}, "evidence", "must be an object"),
    ({"evidence": {"windows": [[2.0, 1.0]]}}, "evidence", "not a valid time window"),
    ({"evidence": {"windows": [[1.0]]}}, "evidence", "windows[0] must be [start_s, end_s]"),
    ({"evidence": {"windows": [["a", 1.0]]}}, "evidence", "must be a number"),
    ({"evidence": {"regions": [{"box": [0.5, 0.1, 0.2, 0.3]}]}}, "evidence", "not a normalised box"),
    ({"evidence": {"regions": [{"box": [0.1, 0.1, 0.2]}]}}, "evidence", "regions[0].box must be"),
    ({"evidence": {"regions": [{"t": 1.0}]}}, "evidence", "regions[0] must be an object with 'box'"),
    # Values are never coerced to strings, numbers must be finite, times non-negative.
    ({"solution": ["<answer>B</answer>"]}, "solution", "must be a string, got list"),
    ({"problem_id": {"id": 3}}, "problem_id", "must be a string or an integer, got dict"),
    ({"problem_id": True}, "problem_id", "must be a string or an integer, got bool"),
    ({"path": ["v.mp4"]}, "path", "must be a string, got list"),
    ({"path": "v\x00.mp4"}, "path", "contains a NUL byte"),
    ({"problem": {"text": "q"}}, "problem", "must be a string, got dict"),
    ({"data_source": ["a"]}, "data_source", "must be a string, got list"),
    ({"process": 7}, "process", "must be a string, got int"),
    ({"evidence": {"windows": [[float("nan"), 1.0]]}}, "evidence", "windows[0] must be a finite number, got nan"),
    ({"evidence": {"windows": [[0.5, float("inf")]]}}, "evidence", "windows[0] must be a finite number, got inf"),
    ({"evidence": {"regions": [{"t": float("nan"), "box": [0.1, 0.1, 0.2, 0.2]}]}}, "evidence", "finite number"),
    ({"evidence": {"regions": [{"t": -0.5, "box": [0.1, 0.1, 0.2, 0.2]}]}}, "evidence", "negative time"),
    ({"evidence": {"regions": [{"box": [0.1, 0.1, 0.2, 0.2], "label": 5}]}}, "evidence", "label must be a string"),
    ({"meta": {"score": float("nan")}}, "meta", "NaN or Infinity"),
    ({"problem_type": "numerical", "options": None, "solution": "<answer>nan</answer>"}, "solution", "not a number"),
]


@pytest.mark.parametrize(("overrides", "field", "words"), BAD_ROWS)
def test_bad_rows_name_file_row_and_field(helpers, overrides, field, words):
    with pytest.raises(SchemaError) as info:
        parse_sample(helpers.row(**overrides), file="data.jsonl", row_index=7)
    err = info.value
    assert (err.file, err.row, err.field) == ("data.jsonl", 7, field)
    assert str(err).startswith(f"data.jsonl:7: field '{field}': ")
    assert words in str(err)
    assert "\n" not in str(err)


def test_integer_problem_ids_are_kept_as_text(helpers):
    assert parse_sample(helpers.row(problem_id=17)).problem_id == "17"


def test_non_finite_numbers_in_a_jsonl_file_are_dropped_and_never_written(tmp_path, helpers):
    # Python's json module reads NaN/Infinity (they are not JSON); such a row must not come out as invalid JSON.
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(helpers.row(problem_id="ok")) + "\n"
                    + '{"problem_id": "nan", "path": "v.mp4", "problem_type": "multiple choice", "problem": "q", '
                      '"options": ["A. x", "B. y"], "solution": "<answer>A</answer>", '
                      '"evidence": {"windows": [[NaN, 1.0]]}}\n')
    result = load_samples(path)
    assert [s.problem_id for s in result.samples] == ["ok"]
    assert (result.errors[0].row, result.errors[0].field) == (2, "evidence")
    write_jsonl(tmp_path / "out.jsonl", result.samples)
    strict = [json.loads(line, parse_constant=lambda c: pytest.fail(f"wrote {c}"))
              for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in strict] == ["ok"]


def test_text_files_must_be_utf8_and_not_binary(tmp_path, helpers):
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(json.dumps(helpers.row()).encode() + b"\n" + '{"problem": "caf\xe9"}'.encode("latin-1") + b"\n")
    with pytest.raises(SchemaError, match=r"latin1\.jsonl: is not UTF-8 text \(byte 0xe9 at line 2\)"):
        read_rows(latin)
    binary = tmp_path / "clip.jsonl"
    binary.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    with pytest.raises(SchemaError, match=r"clip\.jsonl: is (a binary file|not UTF-8 text)"):
        read_rows(binary)
    nul = tmp_path / "nul.jsonl"
    nul.write_bytes(json.dumps(helpers.row()).encode() + b"\n{\"a\x00\": 1}\n")
    with pytest.raises(SchemaError, match=r"nul\.jsonl: is a binary file, not JSON text \(NUL byte at line 2\)"):
        read_rows(nul)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(helpers.row()).encode() + b"\n")
    assert [s.problem_id for s in load_samples(bom).samples] == ["q1"]


def test_a_row_that_is_not_an_object():
    with pytest.raises(SchemaError, match=r"^f.jsonl:3: a row must be a JSON object, got list$"):
        parse_sample([1, 2], file="f.jsonl", row_index=3)


def test_good_row_round_trips_with_evidence_and_meta(helpers):
    raw = helpers.row(process="<think>x</think>", meta={"family": "order", "k": [1, 2]},
                      evidence={"windows": [[0.5, 1.0]], "regions": [{"t": 0.75, "box": [0.1, 0.2, 0.3, 0.4],
                                                                       "label": "the small shape"}]})
    sample = parse_sample(raw)
    assert sample.answer == "B"
    assert sample.option_letters == ("A", "B", "C", "D")
    assert sample.option_text("C") == "blue"
    assert sample.option_text("E") is None
    assert sample.evidence.windows == ((0.5, 1.0),)
    assert sample.evidence.regions[0].box == (0.1, 0.2, 0.3, 0.4)
    assert parse_sample(json.loads(json.dumps(sample.to_json()))) == sample


def test_to_json_leaves_out_absent_optional_fields(helpers):
    out = parse_sample(helpers.row()).to_json()
    assert "process" not in out and "evidence" not in out
    assert out["options"] == ["A. red", "B. green", "C. blue", "D. yellow"]


def test_answer_extraction_and_option_parsing():
    assert extract_tagged_answer("<think>a</think><answer> C </answer>") == "C"
    assert extract_tagged_answer("plain 42") == "plain 42"
    assert parse_option("B. green") == ("B", "green")
    assert parse_option("(C) blue") == ("C", "blue")
    assert parse_option("D: yellow") == ("D", "yellow")
    with pytest.raises(ValueError, match="does not start with a letter"):
        parse_option("green")


def test_load_samples_collects_every_bad_row_and_keeps_the_rest(tmp_path, helpers):
    path = helpers.write_rows(tmp_path / "rows.jsonl", [
        helpers.row(problem_id="ok1"),
        "{not json",
        helpers.row(problem_id="bad", problem_type="essay"),
        "",
        helpers.row(problem_id="ok1"),
        helpers.row(problem_id="ok2", solution="<answer>D</answer>"),
    ])
    result = load_samples(path)
    assert [s.problem_id for s in result.samples] == ["ok1", "ok2"]
    where = [(e.row, e.field) for e in result.errors]
    assert where == [(2, None), (3, "problem_type"), (5, "problem_id")]
    assert "malformed JSON line" in str(result.errors[0])
    assert "duplicate problem_id 'ok1'" in str(result.errors[2])
    assert all(str(e).startswith(f"{path}:") for e in result.errors)


def test_json_list_files_use_zero_based_rows_and_accept_a_data_key(tmp_path, helpers):
    listed = tmp_path / "rows.json"
    listed.write_text(json.dumps([helpers.row(problem_id="a"), helpers.row(problem_id="b", options=None)]))
    result = load_samples(listed)
    assert [s.problem_id for s in result.samples] == ["a"]
    assert (result.errors[0].row, result.errors[0].field) == (1, "options")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [helpers.row(problem_id="c")]}))
    assert [s.problem_id for s in load_samples(wrapped).samples] == ["c"]


def test_unreadable_files_are_one_line_errors(tmp_path):
    with pytest.raises(SchemaError, match=r"missing\.jsonl: file not found$"):
        read_rows(tmp_path / "missing.jsonl")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"a": 1},')
    with pytest.raises(SchemaError, match=r"broken\.json: not valid JSON \(.* at line 1\)$"):
        read_rows(broken)
    scalar = tmp_path / "scalar.json"
    scalar.write_text('{"rows": 3}')
    with pytest.raises(SchemaError, match="must hold a list of rows"):
        read_rows(scalar)


def test_write_jsonl_then_load_gives_the_same_samples(tmp_path, helpers):
    samples = [parse_sample(helpers.row(problem_id=f"q{i}", process="<think>t</think>")) for i in range(3)]
    write_jsonl(tmp_path / "out" / "s.jsonl", samples)
    assert load_samples(tmp_path / "out" / "s.jsonl").samples == samples
