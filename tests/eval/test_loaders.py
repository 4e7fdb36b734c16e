"""Loaders on tiny fixtures in each benchmark's native release format and in the Video-R1-eval format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_video
from ffr_data.errors import FFRError
from ffr_eval.benchmarks import BENCHMARKS, load_benchmark
from ffr_eval.config import EvalConfig


def put_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def put_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("benchmarks")
    clip = write_video(root / "clip.mp4", np.full((4, 32, 32, 3), 90, np.uint8), fps=4)

    def video(*parts: str) -> None:
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, target)

    put_json(root / "mmvu/validation.json", [
        {"id": "validation_0", "video": "https://huggingface.co/datasets/yale-nlp/MMVU/resolve/main/videos/Biology/1.mp4",
         "question": "Which process?", "choices": {"A": "mitosis", "B": "osmosis", "C": "meiosis", "D": "", "E": ""},
         "answer": "B", "question_type": "multiple-choice", "metadata": {"subject": "Biology"}},
        {"id": "validation_1", "video": "https://x/resolve/main/videos/Biology/1.mp4", "question": "Name it.",
         "choices": {"A": "", "B": "", "C": "", "D": "", "E": ""}, "answer": "osmosis",
         "question_type": "open-ended", "metadata": {"subject": "Biology"}}])
    video("mmvu/videos/Biology/1.mp4")
    put_parquet(root / "vsibench/test-00000-of-00001.parquet", [
        {"id": 1, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "object_rel_distance",
         "question": "Which is closer?", "ground_truth": "B", "options": ["A. chair", "B. table"]},
        {"id": 2, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "object_counting",
         "question": "How many chairs?", "ground_truth": "4", "options": None}])
    video("vsibench/scannet/scene0011_00.mp4")
    put_parquet(root / "videommmu/Perception/test-00000-of-00001.parquet", [
        {"id": "perception_Art_Theory_1", "question": "Which style?", "options": ["A. baroque", "B. gothic"],
         "answer": "A", "question_type": "multiple-choice"}])
    put_parquet(root / "videommmu/Adaptation/test-00000-of-00001.parquet", [
        {"id": "adaptation_Math_2", "question": "Compute it.", "options": [], "answer": "12",
         "question_type": "open"}])
    video("videommmu/Art/perception_Art_Theory_1.mp4")
    video("videommmu/Science/adaptation_Math_2.mp4")
    put_json(root / "holmes/test_Video-Holmes.json", [
        {"video ID": "film1", "Question Type": "TCI", "Question": "Why?",
         "Options": {k: f"reason {k}" for k in "ABCDEF"}, "Answer": "C"}])
    video("holmes/videos_cropped/film1.mp4")
    put_json(root / "longvideobench/lvb_val.json", [
        {"id": "lvb1", "video_id": "v1", "video_path": "v1.mp4", "question": "What happens?",
         "candidates": ["run", "jump", "sit"], "correct_choice": 1, "duration_group": 600, "question_category": "S2E"},
        {"id": "lvb2", "video_id": "v1", "video_path": "v1.mp4", "question": "Hidden?", "candidates": ["a", "b"]}])
    video("longvideobench/videos/v1.mp4")
    (root / "lvbench").mkdir()
    (root / "lvbench/video_info.meta.jsonl").write_text(json.dumps(
        {"key": "yt1", "type": "sports", "qa": [
            {"uid": "u1", "question": "Who scores?\n(A) red\n(B) blue\n(C) green\n(D) nobody", "answer": "B",
             "question_type": ["entity recognition", "reasoning"], "time_reference": "00:15-00:19"}]}) + "\n")
    video("lvbench/videos/yt1.mp4")
    put_json(root / "mvbench/json/action_sequence.json", [
        {"video": "a1.mp4", "question": "What next?", "candidates": ["sit", "stand", "walk"], "answer": "walk"}])
    put_json(root / "mvbench/json/moving_count.json", [
        {"video": "video_1.mp4", "question": "How many?", "candidates": ["2", "3"], "answer": "3"},
        {"video": "video_2.mp4", "question": "Broken", "candidates": ["2", "3"], "answer": "4"}])
    video("mvbench/video/star/Charades_segment/a1.mp4")
    video("mvbench/video/data0613/clevrer/video_validation/video_1.mp4")
    put_json(root / "tempcompass/questions/multi-choice.json", {"vid1": {"speed": [
        {"question": "How fast is the car?\nA. slow\nB. fast", "answer": "B. fast"}]}})
    put_json(root / "tempcompass/questions/yes_no.json", {"vid1": {"direction": [
        {"question": "Is the car moving left?", "answer": "yes"}]}})
    put_json(root / "tempcompass/questions/caption_matching.json", {"vid1": {"order": [
        {"question": "Which caption matches the video?\nCaption A: a car stops.\nCaption B: a car starts.",
         "answer": "Caption B: a car starts."}]}})
    put_json(root / "tempcompass/questions/captioning.json", {"vid1": {"speed": [
        {"question": "Describe the video.", "answer": "a fast car"}]}})
    video("tempcompass/videos/vid1.mp4")
    put_parquet(root / "videomme/videomme/test-00000-of-00001.parquet", [
        {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
         "url": "https://www.youtube.com/watch?v=fFjv93ACGo8", "videoID": "fFjv93ACGo8", "question_id": "001-1",
         "task_type": "Counting Problem", "question": "How many?", "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
         "answer": "C"}])
    video("videomme/data/fFjv93ACGo8.MP4")
    put_json(root / "mlvu/json/1_plotQA.json", [
        {"video": "m1.mp4", "duration": 300, "question": "What does he hold?", "candidates": ["a cup", "a pen"],
         "answer": "a pen", "question_type": "plotQA"}])
    put_json(root / "mlvu/json/8_sub_scene.json", [{"video": "m2.mp4", "question": "Describe.", "answer": "x"}])
    video("mlvu/video/1_plotQA/m1.mp4")
    return root


def load(name: str, root: Path, **cfg):
    return load_benchmark(name, EvalConfig(data_root=str(root), **cfg))


def assert_videos_exist(loaded) -> None:
    for sample in loaded.samples:
        assert Path(sample.path).is_file(), (sample.problem_id, sample.path)


def test_every_builtin_benchmark_has_a_native_fixture(data_root):
    assert set(BENCHMARKS) == {"synth", "mmvu", "vsibench", "videommmu", "holmes", "longvideobench", "lvbench",
                               "mvbench", "tempcompass", "videomme", "mlvu"}


def test_mmvu_native(data_root):
    loaded = load("mmvu", data_root)
    mc, open_ended = loaded.samples
    assert loaded.source["format"] == "native"
    assert mc.options == ("A. mitosis", "B. osmosis", "C. meiosis") and mc.answer == "B"
    assert mc.meta["part"] == "multiple-choice" and mc.meta["subject"] == "Biology"
    assert open_ended.problem_type == "free-form" and open_ended.meta["scorer"] == "mmvu_open"
    assert open_ended.answer == "osmosis"
    assert_videos_exist(loaded)


def test_vsibench_native_parquet(data_root):
    loaded = load("vsibench", data_root)
    mc, numeric = loaded.samples
    assert (mc.problem_type, mc.answer, mc.meta["task"]) == ("multiple choice", "B", "object_rel_distance")
    assert (numeric.problem_type, numeric.answer, numeric.meta["task"]) == ("regression", "4", "object_counting")
    assert_videos_exist(loaded)


def test_videommmu_native_tracks(data_root):
    loaded = load("videommmu", data_root)
    by_id = {s.problem_id: s for s in loaded.samples}
    mc = by_id["perception_Art_Theory_1"]
    assert mc.options == ("A. baroque", "B. gothic") and mc.meta["track"] == "Perception"
    assert by_id["adaptation_Math_2"].meta["scorer"] == "mmmu_open"
    assert_videos_exist(loaded)


def test_holmes_longvideobench_lvbench_native(data_root):
    holmes = load("holmes", data_root)
    assert holmes.samples[0].option_letters == tuple("ABCDEF") and holmes.samples[0].meta["task"] == "TCI"
    lvb = load("longvideobench", data_root)
    assert [s.answer for s in lvb.samples] == ["B"] and lvb.samples[0].meta["duration_group"] == 600
    assert lvb.skipped == {"no correct_choice (test split without answers)": 1}
    lvbench = load("lvbench", data_root)
    sample = lvbench.samples[0]
    assert sample.problem == "Who scores?" and sample.options[1] == "B. blue" and sample.answer == "B"
    assert sample.meta["capability"] == ["entity recognition", "reasoning"]
    for loaded in (holmes, lvb, lvbench):
        assert_videos_exist(loaded)


def test_mvbench_native_folders_and_answer_letters(data_root):
    loaded = load("mvbench", data_root)
    by_id = {s.problem_id: s for s in loaded.samples}
    assert by_id["action_sequence/0"].answer == "C"               # "walk" is the third candidate
    assert by_id["moving_count/0"].path.endswith("data0613/clevrer/video_validation/video_1.mp4")
    assert loaded.skipped == {"answer is not one of the candidates": 1}
    assert_videos_exist(loaded)


def test_tempcompass_native_formats(data_root):
    loaded = load("tempcompass", data_root)
    by_format = {s.meta["format"]: s for s in loaded.samples}
    mc = by_format["multi-choice"]
    assert mc.problem == "How fast is the car?" and mc.options == ("A. slow", "B. fast") and mc.answer == "B"
    assert by_format["yes_no"].meta["scorer"] == "yes_no" and by_format["yes_no"].answer == "yes"
    caption = by_format["caption_matching"]
    assert caption.options == ("A. a car stops.", "B. a car starts.") and caption.answer == "B"
    assert caption.meta["option_labels"] == {"A": "Caption A", "B": "Caption B"}
    assert loaded.skipped == {"captioning is judged by a GPT model only (no judge in ffr eval)": 1}
    assert_videos_exist(loaded)


def test_videomme_and_mlvu_native(data_root):
    videomme = load("videomme", data_root)
    sample = videomme.samples[0]
    assert sample.problem_id == "001-1" and sample.meta["duration"] == "short" and sample.path.endswith(".MP4")
    mlvu = load("mlvu", data_root)
    assert [s.answer for s in mlvu.samples] == ["B"] and mlvu.samples[0].meta["task"] == "plotQA"
    assert sum(mlvu.skipped.values()) == 1
    for loaded in (videomme, mlvu):
        assert_videos_exist(loaded)


def test_video_r1_eval_format_and_schema_errors(tmp_path):
    root = tmp_path / "mvbench"
    write_video(root / "MVBench/star/x.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=4)
    put_json(root / "eval_mvbench.json", [
        {"problem_id": 7, "problem": "What next?", "options": ["A. sit", "B. walk"], "problem_type": "multiple choice",
         "solution": "<answer>B</answer>", "path": "./MVBench/star/x.mp4", "data_type": "video",
         "question_type": "action_sequence"},
        {"problem_id": 8, "problem": "Broken", "options": ["A. sit", "B. walk"], "problem_type": "multiple choice",
         "solution": "<answer>C</answer>", "path": "./MVBench/star/x.mp4"}])
    loaded = load("mvbench", tmp_path)
    assert loaded.source["format"] == "video-r1"
    (sample,) = loaded.samples
    assert sample.problem_id == "7" and sample.meta["task"] == "action_sequence"
    assert Path(sample.path).is_file()
    assert loaded.skipped == {"schema: field 'solution' invalid": 1}
    assert "answer 'C' is not one of the option letters" in loaded.skip_examples[0]


def test_synth_and_user_benchmarks(tmp_path, synth_root):
    synth = load("synth", synth_root)
    assert len(synth.samples) == 4 and {s.meta["family"] for s in synth.samples} == {"location", "timing"}
    assert_videos_exist(synth)
    cfg = EvalConfig(user_benchmarks={"mine": {"annotation": str(synth_root / "test.jsonl"),
                                               "video_root": str(synth_root), "title": "My set"}})
    mine = load_benchmark("mine", cfg)
    assert mine.benchmark.title == "My set" and len(mine.samples) == 4
    assert_videos_exist(mine)


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(FFRError, match=r"unknown benchmark 'nope' \(known: holmes, longvideobench"):
        load("nope", tmp_path)
    with pytest.raises(FFRError, match=r"mvbench: no annotation found under .* json/<task>\.json"):
        load("mvbench", tmp_path)
    (tmp_path / "holmes").mkdir()
    (tmp_path / "holmes/test_Video-Holmes.json").write_text('{"not": "a list"}')
    with pytest.raises(FFRError, match="expected a list of rows"):
        load("holmes", tmp_path)
