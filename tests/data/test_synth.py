"""The synthetic evidence benchmark: deterministic, disjoint, balanced, and fair (checked on the decoded videos)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.config import resolve
from ffr_data.errors import ConfigError, FFRError
from ffr_data.schema import extract_tagged_answer, load_samples
from ffr_data.synth import SPLITS, SynthConfig, ensure_benchmark, generate_benchmark, student_sampling
from ffr_data.synth.check import check_question
from ffr_data.synth.generate import question_seed, student_view
from ffr_data.synth.layout import Layout, PlanContext, plan_layout
from ffr_data.synth.render import render_frames, write_mp4

HARD_SPLITS = ("train", "val", "test")
SMALL_COUNTS = {"train": 16, "val": 8, "test": 8, "warmup": 8}  # what the small_synth fixture generates


def digest(folder: Path) -> dict[str, str]:
    """Hashes of every file of a benchmark except the report (which records timings and the worker count)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "synth_report.json"}


def rows(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def test_student_view_comes_from_ffr_sampling():
    assert student_view(SynthConfig()) == ((0, 4, 9, 13, 18, 22, 27, 31), (56, 56))
    sixteen = resolve(SynthConfig(), None, ["sampling.num_frames=16"])
    assert len(student_view(sixteen)[0]) == 16
    assert student_sampling().num_frames == 8 and student_sampling().max_pixels == 56 * 56


def test_files_and_rows_follow_the_schema(small_synth):
    folder, report = small_synth
    for split in SPLITS:
        loaded = load_samples(folder / f"{split}.jsonl")
        assert loaded.errors == [] and len(loaded.samples) == SMALL_COUNTS[split]
        for sample in loaded.samples:
            assert (folder / sample.path).is_file() and not Path(sample.path).is_absolute()
            assert sample.path == f"videos/{split}/{sample.problem_id}.mp4"
            assert len(sample.options) == 4 and len({sample.option_text(x) for x in "ABCD"}) == 4
            assert sample.process.startswith("<think>") and sample.process.endswith("</think>")
            assert sample.meta["difficulty"] == ("easy" if split == "warmup" else "hard")
    saved = json.loads((folder / "synth_config.json").read_text())
    assert saved == report["config"] and saved["sampling"]["num_frames"] == 8
    assert report["counts"] == SMALL_COUNTS and report["seed"] == 3


def test_answers_are_balanced_per_split_and_family(small_synth):
    folder, report = small_synth
    for split in SPLITS:
        answers = Counter(json.loads(line)["solution"] for line in (folder / f"{split}.jsonl").read_text().splitlines())
        n = SMALL_COUNTS[split]
        assert sorted(answers.values()) == [n // 4] * 4
        families = Counter(r["meta"]["family"] for r in rows(folder, split))
        assert set(families.values()) == {n // 4}
        for letters in report["splits"][split]["answers_by_family"].values():  # within a family: no letter twice
            assert set(letters.values()) == {1}                                # before every letter once
        assert report["splits"][split]["answers"] == {letter: n // 4 for letter in "ABCD"}
    by_family = report["splits"]["train"]["answers_by_family"]
    assert by_family == {f: {letter: 1 for letter in "ABCD"} for f in ("attribute", "count", "location", "order")}


def test_fixed_option_order_per_family(small_synth):
    folder, _ = small_synth
    options: dict[str, set] = {}
    for split in SPLITS:
        for r in rows(folder, split):
            options.setdefault(r["meta"]["family"], set()).add(tuple(r["options"]))
    assert {f: len(o) for f, o in options.items()} == {"order": 1, "count": 1, "location": 1, "attribute": 1}
    assert options["location"] == {("A. top-left", "B. top-right", "C. bottom-left", "D. bottom-right")}


def test_splits_are_disjoint(small_synth):
    folder, _ = small_synth
    seeds, layouts = Counter(), Counter()
    for split in SPLITS:
        for r in rows(folder, split):
            seeds[r["meta"]["seed"]] += 1
            layouts[(r["meta"]["family"], json.dumps(r["meta"]["candidate_evidence"]))] += 1
    assert max(seeds.values()) == 1 and max(layouts.values()) == 1
    assert len({question_seed(0, s, 5, 0) for s in SPLITS}) == 4


def test_generation_is_deterministic_across_runs_and_worker_counts(small_synth, tmp_path):
    folder, _ = small_synth
    again = tmp_path / "again"
    generate_benchmark(again, counts=SMALL_COUNTS, seed=3, workers=2, progress=False)
    assert digest(again) == digest(folder)
    other = tmp_path / "other_seed"
    generate_benchmark(other, counts={"train": 4, "val": 0, "test": 0, "warmup": 0}, seed=4, workers=1,
                       progress=False)
    assert rows(other, "train") != rows(folder, "train")[:4]
    assert (other / "val.jsonl").read_text() == ""


def test_rationales_cite_the_evidence_frames(small_synth):
    folder, _ = small_synth
    for split in SPLITS:
        for r in rows(folder, split):
            frames, family = r["meta"]["evidence_frames"], r["meta"]["family"]
            numbers = [int(x) for x in re.findall(r"\d+", r["process"])]
            answer = "ABCD".index(extract_tagged_answer(r["solution"]))
            cited = numbers[:-1] if family == "count" else numbers  # a count rationale ends with the count
            assert cited and set(cited) <= set(frames)
            if family == "count":
                assert numbers[-1] == answer + 1 == len(cited) == len(r["evidence"]["windows"])
            answer_text = r["options"][answer][3:]
            assert all(answer_text not in region["label"] for region in r["evidence"]["regions"])
            if split != "warmup":
                assert len(frames) == len(r["evidence"]["windows"])  # each brief event in exactly one sampled frame


def strength(frame: np.ndarray, box: list[float], background: np.ndarray) -> float:
    height, width = frame.shape[:2]
    x1, y1 = int(box[0] * width), int(box[1] * height)
    x2, y2 = int(np.ceil(box[2] * width)), int(np.ceil(box[3] * height))
    return float(np.linalg.norm(frame[y1:y2, x1:x2].astype(np.float32) - background, axis=-1).max())


def test_evidence_is_visible_in_sampled_frames_and_clearer_in_the_patch(small_synth):
    """An independent re-check of every hard question: the cited region stands out in the cited sampled frame,
    stays quiet in the sampled frames that do not show it, and the dense window shows it in more frames."""
    folder, _ = small_synth
    for split in HARD_SPLITS:
        for r in rows(folder, split):
            path = str(folder / r["path"])
            cache = FrameCache()
            frames = sample_frames(path, student_sampling(), cache)
            tools = ClipTools(path, student_sampling(), cache)
            background = np.median(frames.array.reshape(-1, 3), axis=0).astype(np.float32)
            for window, region in zip(r["evidence"]["windows"], r["evidence"]["regions"], strict=True):
                slot = frames.timestamps.index(region["t"])
                shown = strength(frames.array[slot], region["box"], background)
                assert shown > 24, (r["problem_id"], shown)
                dense = tools.get_segment(window[0], window[1], 4)
                assert all(strength(f, region["box"], background) > 24 for f in dense.array)
                zoom = tools.zoom_region(region["t"], region["box"]).array[0]
                assert np.sum(np.linalg.norm(zoom.astype(np.float32) - background, axis=-1) > 24) > \
                    np.sum(np.linalg.norm(frames.array[slot].astype(np.float32) - background, axis=-1) > 24) / 4
            if r["meta"]["family"] == "count":
                quiet = [j for j in range(8) if j not in r["meta"]["evidence_frames"]]
                for region in r["evidence"]["regions"]:
                    shown = strength(frames.array[frames.timestamps.index(region["t"])], region["box"], background)
                    assert all(strength(frames.array[j], region["box"], background) < 0.5 * shown for j in quiet)


def test_report_shows_the_self_check(small_synth):
    _, report = small_synth
    for split in SPLITS:
        check = report["splits"][split]["self_check"]
        assert check["attempts"] >= SMALL_COUNTS[split]
        assert check["decisive_shapes_checked"] >= SMALL_COUNTS[split]
        assert check["patch_clearer"] == check["decisive_shapes_checked"]
        assert check["mean_strength_in_sampled_frames"] > 24
    hard = report["splits"]["train"]["self_check"]
    assert hard["mean_sampled_frames_showing_it"] == 1.0 and hard["mean_dense_frames_showing_it"] > 1.0
    assert hard["mean_pixels_in_zoom"] > hard["mean_pixels_in_sampled_frame"]


def _layout(family: str, answer: int, seed: int = 1) -> Layout:
    cfg = SynthConfig()
    return plan_layout(np.random.default_rng(seed), PlanContext(cfg, student_view(cfg)[0], "hard"), family, answer)


def test_the_check_fails_when_the_evidence_is_missing_or_duplicated(tmp_path):
    cfg = SynthConfig()
    layout = _layout("location", 2)
    path = tmp_path / "q.mp4"
    write_mp4(path, render_frames(layout, cfg, np.random.default_rng(0)), cfg.fps)
    assert check_question(str(path), layout, cfg).passed
    blank = Layout(layout.family, layout.difficulty, layout.answer, ())  # the video without its flash
    write_mp4(path, render_frames(blank, cfg, np.random.default_rng(0)), cfg.fps)
    assert check_question(str(path), layout, cfg).failure == "not_visible"
    flash = layout.shapes[0]
    longer = Layout("location", "hard", 2, (flash.__class__(**{**flash.__dict__, "start": 0, "end": 31}),))
    write_mp4(path, render_frames(longer, cfg, np.random.default_rng(0)), cfg.fps)
    assert check_question(str(path), layout, cfg).failure == "spurious_in_other_frames"
    attribute = _layout("attribute", 0)
    wrong = Layout("attribute", "hard", 0, tuple(s.__class__(**{**s.__dict__, "colour": "yellow"}) if s.decisive
                                                  else s for s in attribute.shapes))
    write_mp4(path, render_frames(wrong, cfg, np.random.default_rng(0)), cfg.fps)
    assert check_question(str(path), attribute, cfg).failure == "colour_not_recognisable"


def test_impossible_settings_fail_loudly_instead_of_writing_unfair_questions(tmp_path):
    cfg = resolve(SynthConfig(), None, ["flash_contrast=0.02", "max_attempts=2", "families=[location]"])
    with pytest.raises(FFRError, match=r"no hard 'location' question passed the fairness check in 2 attempts"):
        generate_benchmark(tmp_path / "b", cfg, {"train": 1, "val": 0, "test": 0, "warmup": 0}, workers=1,
                           progress=False)
    with pytest.raises(FFRError, match="synth config 'families'"):
        generate_benchmark(tmp_path / "c", resolve(SynthConfig(), None, ["families=[colour]"]), workers=1)
    with pytest.raises(FFRError, match="unknown split 'dev'"):
        generate_benchmark(tmp_path / "d", counts={"dev": 3}, workers=1)
    with pytest.raises(ConfigError, match="unknown config key 'flash_colour'"):
        resolve(SynthConfig(), None, ["flash_colour=red"])


def test_ensure_benchmark_generates_once_and_checks_settings(tmp_path):
    counts = {"train": 4, "val": 4, "test": 0, "warmup": 4}
    folder = tmp_path / "synth"
    report = ensure_benchmark(folder, counts=counts, seed=0, workers=1, progress=False)
    stamp = (folder / "train.jsonl").stat().st_mtime_ns
    assert ensure_benchmark(folder, counts=counts, seed=0, workers=1, progress=False) == report
    assert ensure_benchmark(folder) == report  # settings left out accept what is there
    assert (folder / "train.jsonl").stat().st_mtime_ns == stamp
    with pytest.raises(FFRError, match="different seed"):
        ensure_benchmark(folder, counts=counts, seed=1)
    with pytest.raises(FFRError, match="different counts, config"):
        ensure_benchmark(folder, SynthConfig(flash_size=12), counts={"train": 8}, seed=0)
    next(iter((folder / "videos" / "val").glob("*.mp4"))).unlink()  # incomplete: generated again
    ensure_benchmark(folder, counts=counts, seed=0, workers=1, progress=False)
    assert len(list((folder / "videos" / "val").glob("*.mp4"))) == 4
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FFRError, match="not empty and not a synthetic benchmark folder"):
        ensure_benchmark(foreign, counts=counts)


def test_cli_synth_with_overrides(tmp_path):
    from typer.testing import CliRunner

    from ffr_data.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--train", "4", "--val", "0", "--test", "4",
                                      "--warmup", "4", "--seed", "2", "--workers", "1", "flash_contrast=0.5"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "synth_config.json").read_text())["flash_contrast"] == 0.5
    report = json.loads((out / "synth_report.json").read_text())
    assert report["counts"] == {"train": 4, "val": 0, "test": 4, "warmup": 4} and report["seed"] == 2
    assert "synthetic benchmark in" in result.output
    keys = CliRunner().invoke(app, ["synth", "--list-keys"])
    assert keys.exit_code == 0 and "flash_contrast" in keys.output
