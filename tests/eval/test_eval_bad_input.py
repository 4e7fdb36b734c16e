"""Bad input to `ffr eval` and `ffr eval score`: one line naming the file (and line), or a counted skip that the
report shows. Never a traceback, a silent replacement or a crash."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import corrupt_frames
from ffr_data.cli_root import build_app
from ffr_data.errors import ConfigError, VideoError
from ffr_data.video import decode_frames
from ffr_eval.generation import BatchGenerator


def ffr(*args):
    return CliRunner().invoke(build_app(), ["eval", *map(str, args)])


def ffr_main(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """The `ffr` console script in this process: (exit code, stdout, stderr)."""
    from ffr_data import cli_root

    monkeypatch.setattr(sys, "argv", ["ffr", "eval", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as info:
        cli_root.main()
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def write_predictions(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_duplicate_prediction_ids_keep_the_first_and_are_reported(synth_root, tmp_path):
    # gold answers of test-0..3 are A, B, C, D
    preds = write_predictions(tmp_path / "p.jsonl", [
        {"problem_id": "test-0", "output": "<answer>A</answer>"},
        {"problem_id": "test-0", "output": "<answer>B</answer>"},                 # a second answer: not used
        {"problem_id": "test-1", "status": "error", "error": "VideoError: x", "error_kind": "video"},
        {"problem_id": "test-1", "output": "<answer>B</answer>"},                 # a retry after an error row
        {"problem_id": "test-2", "output": "<answer>A</answer>"},
        {"problem_id": "test-3", "output": "<answer>D</answer>"}])
    result = ffr("score", "--benchmark", "synth", "--predictions", preds, "--data-root", synth_root,
                 "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    synth = json.loads((tmp_path / "out/results.json").read_text())["benchmarks"]["synth"]
    assert synth["metrics"]["strict"]["overall_micro"] == 75.0                    # test-0 keeps its first answer
    assert synth["counts"]["duplicate_prediction_rows"] == 1 and synth["counts"]["errors"] == 0
    assert f"{preds}:2: id 'test-0' again (first at row 1; kept the first)" in synth["counts"][
        "duplicate_prediction_examples"]
    assert "duplicate prediction ids (the first answer kept): 1" in result.output


def test_unusable_prediction_rows_are_shown_in_the_printed_report(synth_root, tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", [{"problem_id": "test-0", "output": "A"}, {"problem_id": "test-1"},
                                                     {"output": "B"}])
    result = ffr("score", "--benchmark", "synth", "--predictions", preds, "--data-root", synth_root)
    assert result.exit_code == 0, result.output
    assert "unusable prediction rows (not scored): 2" in result.output
    assert f"{preds}:2: needs a question id" in result.output


@pytest.mark.parametrize(("content", "where", "reason"), [
    (b'{"problem_id": "test-0", "output": "A"}\n{"problem_id": "test-1", "output": "\xff\xfe"}\n', ":",
     "is not UTF-8 text (byte 0xff at line 2)"),
    (bytes(range(256)) * 4, ":", "is not UTF-8 text (byte 0x80 at line 2)"),          # byte 10 ends line 1
    (b"\x00" * 64, ":", "is a binary file, not JSON text (NUL byte at line 1)"),
])
def test_binary_or_non_utf8_predictions_are_one_line_errors(synth_root, tmp_path, monkeypatch, capsys, content, where,
                                                          reason):
    preds = tmp_path / "preds.jsonl"
    preds.write_bytes(content)
    code, _, err = ffr_main(monkeypatch, capsys, "score", "--benchmark", "synth", "--predictions", preds,
                            "--data-root", synth_root)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {preds}{where} {reason}")


def test_non_utf8_or_corrupt_data_files_are_one_line_errors(synth_root, tmp_path, monkeypatch, capsys):
    preds = write_predictions(tmp_path / "p.jsonl", [{"problem_id": "test-0", "output": "A"}])
    latin1 = tmp_path / "latin1.jsonl"
    lines = (synth_root / "test.jsonl").read_bytes().splitlines(keepends=True)
    latin1.write_bytes(b"".join(lines[:2]) + lines[2].replace(b"Where", b"W\xe9re") + b"".join(lines[3:]))
    code, _, err = ffr_main(monkeypatch, capsys, "score", "--benchmark", "synth", "--predictions", preds,
                            "--data", latin1)
    assert code == 2 and err.strip().splitlines() == [err.strip()] and err.startswith(f"error: {latin1}: is not UTF-8 text (byte 0xe9 at line 3)")
    parquet = tmp_path / "vsibench/test-00000-of-00001.parquet"
    parquet.parent.mkdir()
    parquet.write_bytes(b"PAR1" + bytes(200) + b"PAR1")
    code, _, err = ffr_main(monkeypatch, capsys, "score", "--benchmark", "vsibench", "--predictions", preds,
                            "--data-root", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {parquet}: not a readable parquet file")
    native = tmp_path / "mvbench/json/moving_count.json"
    native.parent.mkdir(parents=True)
    native.write_bytes(b'[{"question": "\x81"}]')
    code, _, err = ffr_main(monkeypatch, capsys, "score", "--benchmark", "mvbench", "--predictions", preds,
                            "--data-root", tmp_path)
    assert code == 2 and err.startswith(f"error: {native}: is not UTF-8 text"), err


def test_the_decode_path_skips_only_bad_videos(monkeypatch):
    """A VideoError (missing, corrupt, undecodable) becomes that sample's counted error row; any other exception
    is a bug or a bad setting and stops the run instead of turning every sample into an error."""
    generator = BatchGenerator.__new__(BatchGenerator)   # the decode step needs no model
    from ffr_data import decode_batch

    sample = type("S", (), {"problem_id": "q1", "path": "v.mp4"})()
    monkeypatch.setattr(decode_batch, "sample_frames", lambda *a: (_ for _ in ()).throw(VideoError("v.mp4", "bad")))
    monkeypatch.setattr(BatchGenerator, "_generate", lambda self, items, cfg: [])
    generator.reset_timing()
    (row,) = generator.run([sample], None, None, None)
    assert (row["status"], row["error_kind"], row["error"]) == ("error", "video", "VideoError: v.mp4: bad")
    monkeypatch.setattr(decode_batch, "sample_frames", lambda *a: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        generator.run([sample], None, None, None)


def test_a_video_too_short_for_the_sampling_is_that_samples_error_row(tmp_path, video_path):
    """Real videos through the shared decode path: one frame where two are needed is an error row of kind `video`
    naming the file; its neighbour goes on to generation."""
    from conftest import index_pattern_frames, write_video
    from ffr_data.clips import FrameCache
    from ffr_data.schema import Sample
    from ffr_data.synth import student_sampling

    short = write_video(tmp_path / "one_frame.mp4", index_pattern_frames(1))
    samples = [Sample(problem_id=name, problem="?", problem_type="free-form", solution="<answer>x</answer>",
                      path=str(path)) for name, path in (("short", short), ("fine", video_path))]
    generator = BatchGenerator.__new__(BatchGenerator)   # the decode step needs no model
    generator.reset_timing()
    generated = []
    generator._generate = lambda items, cfg: generated.extend(items) or [
        {"problem_id": s.problem_id, "status": "ok", "output": "x"} for s, _ in items]
    rows = generator.run(samples, student_sampling(), None, FrameCache())
    assert rows[0]["status"] == "error" and rows[0]["error_kind"] == "video"
    assert rows[0]["error"].startswith("TooFewFramesError: ") and "one_frame.mp4: only 1 frame(s)" in rows[0]["error"]
    assert rows[1] == {"problem_id": "fine", "status": "ok", "output": "x", "num_frames": 8}
    assert [s.problem_id for s, _ in generated] == ["fine"] and generator.timing()["samples"] == 2


def test_ffr_eval_counts_a_corrupt_video_and_scores_the_rest(tiny_student_dir, synth_root, tmp_path):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    corrupt_frames(root / "videos/test-1.mp4")
    with pytest.raises(VideoError):  # the decoding layer types it (no raw decoder error escapes)
        decode_frames(root / "videos/test-1.mp4", indices=[0, 4])
    out = tmp_path / "run"
    result = ffr("--model", tiny_student_dir, "--benchmarks", "Synth", "--data", root / "test.jsonl", "--out", out,
                 "decoding.max_new_tokens=4", "progress=false", "chart=false")
    assert result.exit_code == 0, result.output
    synth = json.loads((out / "results.json").read_text())["benchmarks"]["synth"]
    assert synth["counts"]["scored"] == 3 and synth["counts"]["error_kinds"] == {"video": 1}
    assert synth["counts"]["complete"] is False and "test-1" in synth["counts"]["error_examples"][0]
    assert "synth: **incomplete**: 1 generation error(s) {'video': 1}" in result.output
    assert (out / "synth/scored.jsonl").is_file()


def test_ffr_eval_takes_data_like_score_and_names_folders_as_the_registry(tiny_student_dir, synth_root, tmp_path):
    result = ffr("--model", tmp_path, "--benchmarks", "synth,mvbench", "--data", synth_root / "test.jsonl",
                 "--out", tmp_path / "x")
    assert isinstance(result.exception, ConfigError) and "names one benchmark's annotation" in str(result.exception)
    out = tmp_path / "run"
    result = ffr("--model", tiny_student_dir, "--benchmarks", "SYNTH", "--data", synth_root / "test.jsonl",
                 "--out", out, "limit=1", "decoding.max_new_tokens=2", "progress=false", "chart=false")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["synth"]
    synth = json.loads((out / "results.json").read_text())["benchmarks"]["synth"]
    assert synth["settings"]["source"]["files"] == [str(synth_root / "test.jsonl")]
    assert synth["counts"]["scored"] == 1 and synth["headline"]["official_metric"] == "mean_acc"
