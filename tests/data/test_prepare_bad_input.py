"""``ffr data prepare`` against hostile input: every bad file, row or folder is a counted drop or a one-line error,
and no input or earlier output is ever lost."""

from __future__ import annotations

import json
import logging
import os

import pytest

from conftest import corrupt_frames, index_pattern_frames, run_ffr, write_video
from ffr_data.errors import FFRError
from ffr_data.prepare import PROBE_CACHE, PrepareConfig, prepare
from ffr_data.sampling import FrameSamplingConfig

CFG = PrepareConfig(sampling=FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28))


def run(inputs, out, **kwargs):
    return prepare(list(inputs), out, CFG, progress=False, **kwargs)


def reasons(report) -> dict[str, int]:
    return {reason: entry["count"] for reason, entry in report["dropped_by_reason"].items()}


def ffr(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    return run_ffr(monkeypatch, capsys, "data", "prepare", *args)


@pytest.fixture
def folder(tmp_path, helpers):
    """D/rows.jsonl (three rows) next to its videos, as in the issue's reproduction."""
    root = tmp_path / "D"
    write_video(root / "a.mp4", index_pattern_frames())
    write_video(root / "b.mp4", index_pattern_frames())
    rows = [helpers.row(problem_id="a", path="a.mp4"), helpers.row(problem_id="b", path="b.mp4"),
            helpers.row(problem_id="gone", path="missing.mp4")]
    return helpers.write_rows(root / "rows.jsonl", rows)


# --- videos --------------------------------------------------------------------------------------------------------

def test_a_video_with_garbage_frame_data_is_a_counted_corrupt_video(tmp_path, helpers):
    corrupt_frames(write_video(tmp_path / "bad.mp4", index_pattern_frames()))
    write_video(tmp_path / "good.mp4", index_pattern_frames())
    rows = helpers.write_rows(tmp_path / "rows.jsonl", [helpers.row(problem_id="bad", path="bad.mp4"),
                                                        helpers.row(problem_id="good", path="good.mp4")])
    report = run([rows], tmp_path / "out").report
    assert reasons(report) == {"corrupt_video": 1} and report["kept"] == 1
    assert "bad.mp4" in report["dropped_by_reason"]["corrupt_video"]["examples"][0]["detail"]


# --- inputs and outputs: nothing is lost ---------------------------------------------------------------------------

def test_an_output_that_would_overwrite_its_input_is_refused(folder, monkeypatch, capsys):
    before = folder.read_bytes()
    code, _, err = ffr(monkeypatch, capsys, str(folder), "--out", str(folder.parent))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{folder}: --out {folder.parent} would overwrite this input" in err
    assert folder.read_bytes() == before and not (folder.parent / "report.json").exists()
    # --overwrite replaces earlier outputs, never an input.
    code, _, err = ffr(monkeypatch, capsys, str(folder), "--out", str(folder.parent), "--overwrite")
    assert code == 2 and "would overwrite this input" in err and folder.read_bytes() == before


def test_inputs_reached_through_symlinks_are_protected_too(folder, tmp_path):
    linked_out = tmp_path / "link-to-D"
    linked_out.symlink_to(folder.parent, target_is_directory=True)
    with pytest.raises(FFRError, match="would overwrite this input"):
        run([folder], linked_out)
    out = tmp_path / "out"
    out.mkdir()
    (out / "rows.jsonl").symlink_to(folder)  # writing out/rows.jsonl would replace the input's link
    with pytest.raises(FFRError, match="would overwrite this input"):
        run([folder], out)
    (out / "rows.jsonl").unlink()
    root_map = out / "report.json"  # the root map is an input as well
    root_map.write_text("test: ../D\n")
    with pytest.raises(FFRError, match=r"report\.json: --out .* would overwrite this input"):
        run([folder], out, root_map_file=root_map)


def test_a_second_set_never_silently_replaces_the_first(folder, tmp_path, helpers):
    out = tmp_path / "out"
    first = run([folder], out).report
    assert first["kept"] == 2
    other = helpers.write_rows(tmp_path / "other" / "val.jsonl", [helpers.row(problem_id="v", path="../D/a.mp4")])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FFRError, match=r"holds a set prepared from other inputs .*rows\.jsonl.*--overwrite"):
        run([other], out, video_root=folder.parent)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # The same inputs again: idempotent.
    assert run([folder], out).report == first
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # --overwrite replaces the whole set: the old set's output goes, the folder holds one consistent set.
    replaced = run([other], out, video_root=folder.parent, overwrite=True).report
    assert replaced["kept"] == 1 and not (out / "rows.jsonl").exists() and (out / "val.jsonl").is_file()
    assert list(replaced["files"]) == [str(other)]


def test_files_prepare_did_not_write_are_not_overwritten(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "rows.jsonl").write_text("my own notes\n")
    with pytest.raises(FFRError, match=r"out/rows\.jsonl: exists and was not written by ffr data prepare"):
        run([folder], out)
    assert (out / "rows.jsonl").read_text() == "my own notes\n"
    (out / "rows.jsonl").unlink()
    (out / "report.json").write_text("{not a report")
    with pytest.raises(FFRError, match=r"report\.json: exists and was not written by ffr data prepare"):
        run([folder], out)
    assert run([folder], out, overwrite=True).report["kept"] == 2


# --- rows ----------------------------------------------------------------------------------------------------------

def test_bad_rows_are_counted_drops_and_the_rest_is_kept(tmp_path, helpers):
    write_video(tmp_path / "v.mp4", index_pattern_frames())
    rows = helpers.write_rows(tmp_path / "rows.jsonl", [
        helpers.row(problem_id="ok"),
        helpers.row(problem_id="nul", path="v\x00.mp4"),
        helpers.row(problem_id="list-solution", solution=["<answer>B</answer>"]),
        helpers.row(problem_id={"an": "object"}),
        helpers.row(problem_id="late-region", evidence={"regions": [{"t": -1.0, "box": [0.1, 0.1, 0.2, 0.2]}]}),
        '{"problem_id": "nan", "path": "v.mp4", "problem_type": "multiple choice", "problem": "q", '
        '"options": ["A. x", "B. y"], "solution": "<answer>A</answer>", "evidence": {"windows": [[NaN, 1.0]]}}',
    ])
    report = run([rows], tmp_path / "out").report
    assert reasons(report) == {"schema_error:path": 1, "schema_error:solution": 1, "schema_error:problem_id": 1,
                               "schema_error:evidence": 2}
    assert report["kept"] == 1
    examples = report["dropped_by_reason"]["schema_error:problem_id"]["examples"]
    assert examples[0]["row"] == 4 and "must be a string or an integer, got dict" in examples[0]["detail"]
    text = (tmp_path / "out" / "rows.jsonl").read_text()
    assert [json.loads(line, parse_constant=pytest.fail)["problem_id"] for line in text.splitlines()] == ["ok"]
    json.loads((tmp_path / "out" / "report.json").read_text(), parse_constant=pytest.fail)


def test_paths_the_file_system_cannot_look_up_are_counted_drops(tmp_path, helpers):
    write_video(tmp_path / "v.mp4", index_pattern_frames())
    rows = helpers.write_rows(tmp_path / "rows.jsonl", [helpers.row(problem_id="ok"),
                                                        helpers.row(problem_id="long", path="x" * 300 + ".mp4"),
                                                        helpers.row(problem_id="folder", path=".")])
    report = run([rows], tmp_path / "out").report
    assert reasons(report) == {"missing_file": 2} and report["kept"] == 1
    details = [e["detail"] for e in report["dropped_by_reason"]["missing_file"]["examples"]]
    assert "cannot be looked up (File name too long)" in details[0] and details[1].endswith(": not a file")


def test_duplicate_problem_ids_across_files_are_dropped_and_reported(tmp_path, helpers):
    write_video(tmp_path / "v.mp4", index_pattern_frames())
    train = helpers.write_rows(tmp_path / "train.jsonl", [helpers.row(problem_id="q1"), helpers.row(problem_id="q2")])
    val = helpers.write_rows(tmp_path / "val.jsonl", [helpers.row(problem_id="q2"), helpers.row(problem_id="q3")])
    report = run([train, val], tmp_path / "out").report
    assert reasons(report) == {"duplicate_problem_id": 1} and report["kept"] == 3
    example = report["dropped_by_reason"]["duplicate_problem_id"]["examples"][0]
    assert (example["file"], example["row"], example["problem_id"]) == (str(val), 1, "q2")
    assert f"first at {train}:2" in example["detail"]
    assert report["files"][str(val)] == {"output": str(tmp_path / "out" / "val.jsonl"), "kept": 1, "dropped": 1}


@pytest.mark.parametrize("content", [b"\x00\x00\x00\x18ftypmp42\x00\x01\x02\xff\xfe", b'{"a": 1}\n{"b": "caf\xe9"}\n'])
def test_a_binary_or_non_utf8_input_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, content):
    bad = tmp_path / "rows.jsonl"
    bad.write_bytes(content)
    code, _, err = ffr(monkeypatch, capsys, str(bad), "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {bad}: is ") and "line " in err and "Traceback" not in err


def test_list_keys_needs_no_inputs_and_shows_each_rule(monkeypatch, capsys, tmp_path):
    code, out, _ = ffr(monkeypatch, capsys, "--list-keys")
    assert code == 0 and "sampling.num_frames" in out and "(must be >= 2)" in out
    code, _, err = ffr(monkeypatch, capsys, "--out", str(tmp_path))
    assert code == 2 and err.strip() == "error: no input files given"
    code, _, err = ffr(monkeypatch, capsys, str(tmp_path / "rows.jsonl"))
    assert code == 2 and err.strip() == "error: ffr data prepare needs --out FOLDER"


# --- the video root ------------------------------------------------------------------------------------------------

def test_symlinks_and_absolute_paths_must_stay_inside_the_video_root(tmp_path, helpers):
    root = tmp_path / "videos"
    write_video(root / "inside.mp4", index_pattern_frames())
    secret = write_video(tmp_path / "private" / "secret.mp4", index_pattern_frames())
    (root / "escape.mp4").symlink_to(secret)
    (root / "alias.mp4").symlink_to(root / "inside.mp4")
    (root / "linked_dir").symlink_to(secret.parent, target_is_directory=True)
    rows = helpers.write_rows(tmp_path / "rows.jsonl", [
        helpers.row(problem_id="inside", path="inside.mp4"),
        helpers.row(problem_id="alias", path="alias.mp4"),
        helpers.row(problem_id="abs-inside", path=str(root / "inside.mp4")),
        helpers.row(problem_id="link-out", path="escape.mp4"),
        helpers.row(problem_id="dir-out", path="linked_dir/secret.mp4"),
        helpers.row(problem_id="passwd", path="/etc/passwd"),
        helpers.row(problem_id="abs-out", path=str(secret)),
    ])
    report = run([rows], tmp_path / "out", video_root=root).report
    assert reasons(report) == {"path_escapes_root": 4} and report["kept"] == 3
    details = [e["detail"] for e in report["dropped_by_reason"]["path_escapes_root"]["examples"]]
    assert "'escape.mp4' leads outside the video root" in details[0] and str(secret) in details[0]
    kept = [json.loads(line)["path"] for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert kept == [str((root / "inside.mp4").resolve())] * 3


def test_a_root_map_folder_that_does_not_exist_is_an_error(tmp_path, helpers):
    rows = helpers.write_rows(tmp_path / "rows.jsonl", [helpers.row()])
    root_map = tmp_path / "roots.yaml"
    root_map.write_text("test: no_such_folder\n")
    with pytest.raises(FFRError, match=r"roots\.yaml: the folder for data_source 'test' is not a folder"):
        run([rows], tmp_path / "out", root_map_file=root_map)
    root_map.write_bytes(b"test: vid\xe9os\n")
    with pytest.raises(FFRError, match=r"roots\.yaml: is not UTF-8 text \(byte 0xe9 at line 1\)"):
        run([rows], tmp_path / "out", root_map_file=root_map)
    root_map.write_text('test: "videos\\0"\n')
    with pytest.raises(FFRError, match=r"roots\.yaml: root map must be a mapping of data_source -> folder"):
        run([rows], tmp_path / "out", root_map_file=root_map)


# --- the probe cache -----------------------------------------------------------------------------------------------

def test_malformed_probe_cache_entries_are_ignored_with_a_warning_and_probed_again(folder, tmp_path, caplog):
    out = tmp_path / "out"
    first = run([folder], out)
    cache = json.loads((out / PROBE_CACHE).read_text())
    keys = sorted(cache["entries"])
    cache["entries"][keys[0]] = {"stamp": "yesterday", "result": None}
    cache["entries"][keys[1]]["result"]["num_frames"] = "many"
    (out / PROBE_CACHE).write_text(json.dumps(cache))
    with caplog.at_level(logging.WARNING, logger="ffr_data.probing"):
        second = run([folder], out)
    assert "2 malformed entries ignored" in caplog.text
    assert (second.probed, second.report) == (3, first.report)
    (out / PROBE_CACHE).write_text("[1, 2")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ffr_data.probing"):
        third = run([folder], out)
    assert "not a probe cache" in caplog.text and third.probed == 3 and third.report == first.report
    assert json.loads((out / PROBE_CACHE).read_text())["entries"]  # rewritten whole
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
