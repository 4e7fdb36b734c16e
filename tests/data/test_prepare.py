"""``ffr data prepare``: counted drops by reason, absolute paths, idempotent output, one-line CLI errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import index_pattern_frames, run_ffr, write_video
from ffr_data.errors import FFRError
from ffr_data.prepare import PrepareConfig, prepare, resolve_video
from ffr_data.sampling import FrameSamplingConfig

SAMPLING = FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28)


@pytest.fixture
def dataset(tmp_path, helpers, video_path):
    """A video root with good and bad videos and an input file exercising every drop reason."""
    root = tmp_path / "videos"
    write_video(root / "good.mp4", index_pattern_frames())
    write_video(root / "sub" / "good2.mp4", index_pattern_frames(16))
    write_video(root / "one_frame.mp4", index_pattern_frames(1))
    write_video(root / "abs.mp4", index_pattern_frames())
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    (root / "empty.mp4").write_bytes(b"")
    other = tmp_path / "other_root"
    write_video(other / "elsewhere.mp4", index_pattern_frames())
    row = helpers.row
    rows = [
        row(problem_id="good-1", path="good.mp4"),
        row(problem_id="good-2", path="sub/good2.mp4", evidence={"windows": [[0.5, 1.0]]}),
        row(problem_id="abs", path=str(root / "abs.mp4")),
        row(problem_id="mapped", path="elsewhere.mp4", data_source="mapped"),
        row(problem_id="same-video", path="./good.mp4"),
        row(problem_id="missing", path="nope.mp4"),
        row(problem_id="corrupt", path="corrupt.mp4"),
        row(problem_id="empty", path="empty.mp4"),
        row(problem_id="short", path="one_frame.mp4"),
        row(problem_id="late", path="good.mp4", evidence={"windows": [[3.0, 9.5]]}),
        row(problem_id="escape", path="../outside.mp4"),
        row(problem_id="image", path="good.mp4", data_type="image"),
        "{this is not json",
        row(problem_id="essay", problem_type="essay"),
        row(problem_id="no-options", options=None),
        row(problem_id="not-an-option", solution="<answer>F</answer>"),
        row(problem_id="good-1", path="good.mp4"),
        row(problem_id="abs-outside", path=str(video_path)),  # absolute, but outside the video root
    ]
    inputs = helpers.write_rows(tmp_path / "in" / "train.jsonl", rows)
    root_map = tmp_path / "in" / "roots.yaml"
    root_map.write_text("mapped: ../other_root\n")
    return {"root": root, "input": inputs, "root_map": root_map, "out": tmp_path / "out"}


def run_prepare(dataset, **cfg):
    return prepare([dataset["input"]], dataset["out"], PrepareConfig(sampling=SAMPLING, **cfg),
                   video_root=dataset["root"], root_map_file=dataset["root_map"], progress=False)


def test_report_counts_every_drop_reason(dataset, video_path):
    result = run_prepare(dataset)
    report = result.report
    reasons = {reason: entry["count"] for reason, entry in report["dropped_by_reason"].items()}
    assert reasons == {
        "missing_file": 1, "corrupt_video": 1, "empty_file": 1, "too_few_frames": 1,
        "evidence_outside_video": 1, "path_escapes_root": 2, "unsupported_data_type": 1, "malformed_json": 1,
        "schema_error:problem_type": 1, "schema_error:options": 1, "schema_error:solution": 1,
        "duplicate_problem_id": 1,
    }
    assert (report["kept"], report["dropped"]) == (5, 13)
    example = report["dropped_by_reason"]["schema_error:options"]["examples"][0]
    assert example["row"] == 15 and example["problem_id"] == "no-options"
    assert "field 'options'" in example["detail"] and str(dataset["input"]) in example["detail"]
    assert "nope.mp4: file not found" in report["dropped_by_reason"]["missing_file"]["examples"][0]["detail"]
    assert "9.500s" in report["dropped_by_reason"]["evidence_outside_video"]["examples"][0]["detail"]
    assert report["settings"]["sampling"]["num_frames"] == 8
    assert report["videos"]["rows_by_decoder"] == {"decord": 5}
    kept = [json.loads(line) for line in (dataset["out"] / "train.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in kept] == ["good-1", "good-2", "abs", "mapped", "same-video"]
    root = dataset["root"].resolve()
    assert [r["path"] for r in kept] == [str(root / "good.mp4"), str(root / "sub" / "good2.mp4"), str(root / "abs.mp4"),
                                         str(dataset["root_map"].parent.parent / "other_root" / "elsewhere.mp4"),
                                         str(root / "good.mp4")]
    assert all(os.path.isabs(r["path"]) for r in kept)
    assert kept[1]["evidence"] == {"windows": [[0.5, 1.0]], "regions": []}


def test_prepared_rows_load_with_datasets_and_the_ffr_schema(dataset):
    import datasets

    from ffr_data.schema import load_samples

    run_prepare(dataset)
    path = dataset["out"] / "train.jsonl"
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == 5 and loaded[0]["problem_id"] == "good-1"
    assert [s.problem_id for s in load_samples(path).samples] == loaded["problem_id"]


def test_rerunning_is_idempotent_and_reuses_probes(dataset):
    first = run_prepare(dataset)
    outputs = {p: p.read_bytes() for p in (dataset["out"] / "train.jsonl", dataset["out"] / "report.json")}
    assert first.probed == 8 and first.reused == 0
    second = run_prepare(dataset)
    assert {p: p.read_bytes() for p in outputs} == outputs
    assert second.probed == 1 and second.reused == 7  # only the missing file is looked at again
    # A changed file is probed again, and its new state counts.
    write_video(dataset["root"] / "corrupt.mp4", index_pattern_frames())
    third = run_prepare(dataset)
    assert third.probed == 2 and third.report["kept"] == 6
    assert "corrupt_video" not in third.report["dropped_by_reason"]
    # Other sampling settings invalidate the cache.
    fourth = prepare([dataset["input"]], dataset["out"], PrepareConfig(), video_root=dataset["root"],
                     root_map_file=dataset["root_map"], progress=False)
    assert fourth.probed == 8


def test_default_root_is_the_input_folder_and_escapes_are_caught(tmp_path, helpers):
    write_video(tmp_path / "v.mp4", index_pattern_frames())
    inputs = helpers.write_rows(tmp_path / "rows.jsonl", [helpers.row(path="v.mp4")])
    assert prepare([inputs], tmp_path / "out", PrepareConfig(sampling=SAMPLING), progress=False).report["kept"] == 1
    assert resolve_video("a/../b.mp4", tmp_path) == tmp_path / "b.mp4"
    assert resolve_video("/abs/x.mp4", tmp_path) == Path("/abs/x.mp4")
    for escaping in ("../x.mp4", "a/../../x.mp4"):
        with pytest.raises(ValueError, match="leads outside the video root"):
            resolve_video(escaping, tmp_path)


def test_bad_arguments_are_ffr_errors(tmp_path, helpers):
    inputs = helpers.write_rows(tmp_path / "a" / "rows.jsonl", [helpers.row()])
    twin = helpers.write_rows(tmp_path / "b" / "rows.jsonl", [helpers.row()])
    cases = [
        (([tmp_path / "missing.jsonl"], tmp_path / "o"), {}, "missing.jsonl: input file not found"),
        (([inputs, twin], tmp_path / "o"), {}, "another input has the same name"),
        (([inputs], tmp_path / "o"), {"video_root": tmp_path / "no_root"}, "video root is not a folder"),
        (([inputs], tmp_path / "o"), {"root_map_file": tmp_path / "none.yaml"}, "root map not found"),
        (([inputs], inputs), {}, "--out must be a folder"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(FFRError, match=message):
            prepare(*args, progress=False, **kwargs)
    bad_map = tmp_path / "map.json"
    bad_map.write_text('["not", "a", "mapping"]')
    with pytest.raises(FFRError, match="root map must be a mapping"):
        prepare([inputs], tmp_path / "o", root_map_file=bad_map, progress=False)


def ffr_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    return run_ffr(monkeypatch, capsys, "data", "prepare", *args)


def test_cli_prints_one_line_errors_and_runs(dataset, monkeypatch, capsys):
    missing = dataset["input"].parent / "nope.jsonl"
    code, _, err = ffr_main(monkeypatch, capsys, str(missing), "--out", str(dataset["out"]))
    assert code == 2 and err.strip().splitlines() == [f"error: {missing}: input file not found"]
    code, _, err = ffr_main(monkeypatch, capsys, str(dataset["input"]), "--out", str(dataset["out"]),
                            "sampling.frames=8")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "unknown config key 'sampling.frames'" in err
    code, out, err = ffr_main(monkeypatch, capsys, str(dataset["input"]), "--out", str(dataset["out"]),
                              "--video-root", str(dataset["root"]), "--root-map", str(dataset["root_map"]),
                              "sampling.num_frames=8", "workers=2")
    assert code == 0, err
    assert "kept 5 rows, dropped 13" in out
    report = json.loads((dataset["out"] / "report.json").read_text())
    assert report["settings"]["workers"] == 2 and report["settings"]["sampling"]["num_frames"] == 8
    assert report["kept"] == 5
