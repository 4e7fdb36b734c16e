"""The fair preset of the synthetic benchmark: disjoint splits, larger answer spaces, balanced answers, pointing
meta (decoy windows, answer cells) checked on the decoded videos, determinism; and the default preset unchanged."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.config import resolve
from ffr_data.errors import FFRError
from ffr_data.schema import extract_tagged_answer, load_samples
from ffr_data.synth import (
    FAIR_SPLITS,
    SynthConfig,
    cell_names,
    fair_config,
    generate_benchmark,
    preset,
    student_sampling,
)

FAIR_SMALL = {"sft": 24, "rl": 24, "val": 12, "test": 12, "warmup": 12}
COLOURS6 = ["red", "green", "blue", "yellow", "magenta", "cyan"]
NINE = ["top-left", "top-centre", "top-right", "middle-left", "centre", "middle-right", "bottom-left",
        "bottom-centre", "bottom-right"]


@pytest.fixture(scope="module")
def fair_synth(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fair") / "synth-fair"
    return out, generate_benchmark(out, fair_config(), FAIR_SMALL, seed=5, workers=1, progress=False)


def rows(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def all_rows(folder: Path) -> list[dict]:
    return [r for split in FAIR_SPLITS for r in rows(folder, split)]


def test_the_default_preset_writes_the_rows_it_always_wrote(small_synth):
    """The rows of the default preset are byte-for-byte those of the version before presets existed (pinned)."""
    folder, report = small_synth
    digest = hashlib.sha256(b"".join((folder / f"{s}.jsonl").read_bytes() for s in ("train", "val", "test", "warmup")))
    assert digest.hexdigest() == "a5674ca612774cf4750497cd3a0e756d02ebe4cca7d6f2c453ed74dc1bed0076"
    assert report["preset"] == "default" and not (folder / "sft.jsonl").exists()


def test_fair_splits_are_the_presets_and_disjoint(fair_synth):
    folder, report = fair_synth
    assert sorted(p.name for p in folder.glob("*.jsonl")) == sorted(f"{s}.jsonl" for s in FAIR_SPLITS)
    assert report["preset"] == "fair" and report["counts"] == FAIR_SMALL
    for split in FAIR_SPLITS:
        loaded = load_samples(folder / f"{split}.jsonl")
        assert loaded.errors == [] and len(loaded.samples) == FAIR_SMALL[split]
    every = all_rows(folder)
    seeds = Counter(r["meta"]["seed"] for r in every)
    videos = Counter(hashlib.sha256((folder / r["path"]).read_bytes()).hexdigest() for r in every)
    layouts = Counter((r["meta"]["family"], json.dumps(r["meta"]["candidate_evidence"])) for r in every)
    assert max(seeds.values()) == max(videos.values()) == max(layouts.values()) == 1
    assert preset("fair").counts["test"] >= 2400  # sqrt(0.25 / 2400) < 0.0103: about a point of standard error


def test_fair_answer_spaces(fair_synth):
    folder, _ = fair_synth
    seen: dict[str, set] = {}
    for r in all_rows(folder):
        family = r["meta"]["family"]
        seen.setdefault(family, set()).add((r["problem_type"], tuple(r["options"])))
        answer = extract_tagged_answer(r["solution"])
        if family == "count":
            assert r["problem_type"] == "numerical" and r["options"] == [] and 1 <= int(answer) <= 6
            assert r["process"].endswith(f": {answer} flash{'es' if answer != '1' else ''}.</think>")
        else:
            assert answer in "ABCDEFGHI"[:len(r["options"])]
    assert seen["count"] == {("numerical", ())}
    for family in ("order", "attribute"):
        assert seen[family] == {("multiple choice", tuple(f"{'ABCDEF'[i]}. {c}" for i, c in enumerate(COLOURS6)))}
    assert seen["location"] == {("multiple choice", tuple(f"{'ABCDEFGHI'[i]}. {c}" for i, c in enumerate(NINE)))}
    assert list(cell_names(3, 3)) == NINE and cell_names(2, 2) == ("top-left", "top-right", "bottom-left",
                                                                    "bottom-right")


def test_fair_answers_are_balanced_within_each_family(tmp_path):
    """Answers cycle over each family's own options: 6 colours, 6 counts, 9 cells."""
    from ffr_data.synth.generate import plan_split

    specs = plan_split("test", 4 * 18, fair_config(), seed=0)
    by_family: dict[str, Counter] = {}
    for spec in specs:
        by_family.setdefault(spec.family, Counter())[spec.answer] += 1
    assert {f: sorted(c.items()) for f, c in by_family.items()} == {
        "order": [(k, 3) for k in range(6)], "attribute": [(k, 3) for k in range(6)],
        "count": [(k, 3) for k in range(6)], "location": [(k, 2) for k in range(9)]}


def strength(frame: np.ndarray, box: list[float], background: np.ndarray) -> float:
    height, width = frame.shape[:2]
    x1, y1 = int(box[0] * width), int(box[1] * height)
    x2, y2 = int(np.ceil(box[2] * width)), int(np.ceil(box[3] * height))
    return float(np.linalg.norm(frame[y1:y2, x1:x2].astype(np.float32) - background, axis=-1).max())


def test_count_patches_point_at_a_constant_number_of_windows_and_decoys_are_empty(fair_synth):
    folder, _ = fair_synth
    counts = [r for split in ("sft", "rl", "val", "test") for r in rows(folder, split) if r["meta"]["family"] == "count"]
    assert {len(r["evidence"]["windows"]) for r in counts} == set(range(1, 7))  # every count, always 7 windows
    for r in counts:
        pointing = r["meta"]["pointing"]
        windows = sorted(r["evidence"]["windows"] + pointing["decoy_windows"])
        assert pointing["regions"] is False and len(windows) == 7
        assert all(a[1] < b[0] for a, b in itertools.pairwise(windows))  # disjoint, never touching
        path = str(folder / r["path"])
        cache = FrameCache()
        frames = sample_frames(path, student_sampling(), cache)
        inside = [[t for t in frames.timestamps if w[0] - 1e-6 <= t <= w[1] + 1e-6] for w in windows]
        assert all(len(ts) == 1 for ts in inside)  # each window over exactly one sampled frame
        background = np.median(frames.array.reshape(-1, 3), axis=0).astype(np.float32)
        tools = ClipTools(path, student_sampling(), cache)
        for decoy in pointing["decoy_windows"]:
            for region in r["evidence"]["regions"]:
                shown = strength(frames.array[frames.timestamps.index(region["t"])], region["box"], background)
                dense = tools.get_segment(decoy[0], decoy[1], 2)
                assert all(strength(f, region["box"], background) < 0.5 * shown for f in dense.array)


def test_location_rows_declare_their_cells_and_patches_cite_no_box(fair_synth):
    folder, _ = fair_synth
    locations = [r for r in all_rows(folder) if r["meta"]["family"] == "location"]
    for r in locations:
        cells = r["meta"]["answer_cells"]
        assert len(cells) == 9 and abs(sum((c[2] - c[0]) * (c[3] - c[1]) for c in cells) - 1.0) < 1e-9
        gold = cells["ABCDEFGHI".index(extract_tagged_answer(r["solution"]))]
        box = r["evidence"]["regions"][0]["box"]  # the ground truth (kept for the rationale and the self-check)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        assert gold[0] <= cx <= gold[2] and gold[1] <= cy <= gold[3]
        assert r["meta"]["pointing"] == {"regions": False, "decoy_windows": []}


def test_fair_self_check_passes_and_the_patch_view_is_clearer(fair_synth):
    folder, report = fair_synth
    for split in ("sft", "rl", "val", "test"):
        check = report["splits"][split]["self_check"]
        assert check["patch_clearer"] == check["decisive_shapes_checked"] > 0
        assert check["mean_sampled_frames_showing_it"] == 1.0 and check["mean_dense_frames_showing_it"] == 2.0
    for r in rows(folder, "val"):  # the two dense frames of each cited window show the event
        path = str(folder / r["path"])
        cache = FrameCache()
        frames = sample_frames(path, student_sampling(), cache)
        background = np.median(frames.array.reshape(-1, 3), axis=0).astype(np.float32)
        tools = ClipTools(path, student_sampling(), cache)
        for window, region in zip(r["evidence"]["windows"], r["evidence"]["regions"], strict=True):
            assert strength(frames.array[frames.timestamps.index(region["t"])], region["box"], background) > 24
            assert all(strength(f, region["box"], background) > 24 for f in tools.get_segment(*window, 2).array)


def test_fair_preset_is_deterministic(fair_synth, tmp_path):
    folder, _ = fair_synth
    again = tmp_path / "again"
    generate_benchmark(again, fair_config(), FAIR_SMALL, seed=5, workers=2, progress=False)
    for split in FAIR_SPLITS:
        assert (again / f"{split}.jsonl").read_bytes() == (folder / f"{split}.jsonl").read_bytes()
    assert json.loads((again / "synth_config.json").read_text()) == json.loads((folder / "synth_config.json").read_text())


def test_bad_fair_settings_are_refused(tmp_path):
    small = {"sft": 1, "rl": 0, "val": 0, "test": 0, "warmup": 0}
    with pytest.raises(FFRError, match=r"unknown split 'train' \(this config's splits: sft, rl, val, test, warmup\)"):
        generate_benchmark(tmp_path / "a", fair_config(), {"train": 4}, workers=1, progress=False)
    with pytest.raises(FFRError, match="count_max must stay below the number of sampled frames"):
        generate_benchmark(tmp_path / "b", resolve(fair_config(), None, ["count_max=7", "sampling.num_frames=6"]),
                           small, workers=1, progress=False)
    with pytest.raises(FFRError, match="synth config 'palette'"):
        generate_benchmark(tmp_path / "c", resolve(fair_config(), None, ["palette=[red,red]"]), small, workers=1,
                           progress=False)
    with pytest.raises(FFRError, match="unknown synthetic benchmark preset 'fiar'"):
        preset("fiar")
    from ffr_data.errors import ConfigError

    with pytest.raises(ConfigError, match="location_grid"):
        resolve(SynthConfig(), None, ["location_grid=[4,4]"])
    with pytest.raises(ConfigError, match="palette"):
        resolve(SynthConfig(), None, ["palette=[red,purple]"])


def test_cli_fair_preset(tmp_path):
    from typer.testing import CliRunner

    from ffr_data.cli import app

    out = tmp_path / "cli"
    args = ["synth", "--preset", "fair", "--out", str(out), "--sft", "4", "--rl", "4", "--val", "0", "--test", "4",
            "--warmup", "4", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "synth_report.json").read_text())
    assert report["counts"] == {"sft": 4, "rl": 4, "val": 0, "test": 4, "warmup": 4} and report["preset"] == "fair"
    wrong = CliRunner().invoke(app, ["synth", "--preset", "fair", "--out", str(tmp_path / "w"), "--train", "4"])
    assert wrong.exit_code != 0 and "unknown split 'train'" in str(wrong.exception)


def test_config_differences_reads_missing_keys_as_their_defaults_also_in_nested_sections():
    from ffr_data.config import to_dict
    from ffr_data.synth import config_differences

    saved = to_dict(fair_config())
    del saved["sampling"]["decode_workers"]  # a field added after the benchmark was written
    del saved["pointing"]
    assert config_differences(saved, fair_config()) == ["pointing"]  # the fair preset's pointing is not the default
    saved["pointing"] = True
    assert config_differences(saved, fair_config()) == []
    saved["sampling"]["max_pixels"] = 12544
    assert config_differences(saved, fair_config()) == ["sampling"]
