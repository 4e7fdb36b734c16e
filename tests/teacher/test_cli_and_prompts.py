"""``ffr teacher repair`` / ``options``, the config, and snapshots of the rendered teacher prompt."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ffr_data.config import resolve, to_dict
from ffr_data.errors import ConfigError, FFRError
from ffr_teacher import TeacherConfig
from ffr_teacher.prompts import PROMPT_VERSION, instructions_text

SNAPSHOTS = Path(__file__).parent / "snapshots"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_file(tmp_path, sample, video_path):
    shutil.copy(video_path, tmp_path / "clip.mp4")
    row = sample.to_json()
    row["path"] = "clip.mp4"  # relative to the data file, as prepared data is
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({"problem_id": "broken"}) + "\n")
    return path


def run(*args: str):
    from ffr_data.cli_root import build_app

    return CliRunner().invoke(build_app(), ["teacher", *args])


def test_repair_command_prints_the_patch(data_file):
    result = run("repair", "--data", str(data_file), "--id", "order-1", "--response", "<answer>A</answer>",
                 "--backend", "annotation", "sampling.num_frames=8", "sampling.max_pixels=3136")
    assert result.exit_code == 0, result.output
    assert "evidence patch" in result.output and '"windows"' in result.output and "1.5" in result.output
    assert "backend=annotation" in result.output


def test_repair_command_with_the_openai_backend_shows_tool_calls(data_file, scripted, helpers):
    scripted.queue(helpers.completion(tool_calls=[("get_frame", {"t": 1.0}), ("get_frame", {"t": 40.0})]))
    scripted.reply(helpers.patch_reply())
    result = run("repair", "--data", str(data_file), "--id", "order-1", "--response", "A", "--backend", "openai",
                 f"base_url={scripted.url}", "model=scripted", "sampling.num_frames=8", "sampling.max_pixels=3136")
    assert result.exit_code == 0, result.output
    assert "teacher tool calls" in result.output and "get_frame" in result.output
    assert "outside the video" in result.output and "tool_calls=2" in result.output


def test_repair_command_applies_the_video_root_rule(tmp_path, sample, video_path):
    """A relative path that climbs out of the video root is refused, as ``ffr data prepare`` refuses it."""
    (tmp_path / "data").mkdir()
    shutil.copy(video_path, tmp_path / "clip.mp4")
    data = tmp_path / "data" / "rows.jsonl"
    rows = [{**sample.to_json(), "problem_id": "escape", "path": "../clip.mp4"},
            {**sample.to_json(), "problem_id": "inside", "path": "clip.mp4"}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    common = ("--data", str(data), "--response", "A", "--backend", "annotation", "sampling.num_frames=8",
              "sampling.max_pixels=3136")
    result = run("repair", "--id", "escape", *common)
    assert isinstance(result.exception, FFRError), result.output
    message = str(result.exception)
    assert "rows.jsonl" in message and "'path'" in message and "outside the video root" in message
    assert "\n" not in message
    allowed = run("repair", "--id", "inside", "--video-root", str(tmp_path), *common)
    assert allowed.exit_code == 0, allowed.output  # the same file, named inside the root
    escaped = run("repair", "--id", "escape", "--video-root", str(tmp_path / "data"), *common)
    assert isinstance(escaped.exception, FFRError) and "outside the video root" in str(escaped.exception)


def test_repair_command_refuses_symlinks_and_absolute_paths_out_of_an_explicit_root(tmp_path, sample, video_path):
    root = tmp_path / "videos"
    root.mkdir()
    (root / "link.mp4").symlink_to(video_path)  # inside the root by name, outside once resolved
    data = tmp_path / "rows.jsonl"
    rows = [{**sample.to_json(), "problem_id": "link", "path": "link.mp4"},
            {**sample.to_json(), "problem_id": "absolute", "path": str(video_path)}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    common = ("--data", str(data), "--response", "A", "--backend", "annotation", "--video-root", str(root))
    for problem_id in ("link", "absolute"):
        result = run("repair", "--id", problem_id, *common)
        assert isinstance(result.exception, FFRError), result.output
        assert "outside the video root" in str(result.exception)


def test_repair_command_errors_are_one_line(data_file):
    result = run("repair", "--data", str(data_file), "--id", "nope", "--response", "A")
    assert isinstance(result.exception, FFRError) and "no valid row with problem_id 'nope'" in str(result.exception)
    assert "1 invalid rows skipped" in str(result.exception)
    result = run("repair", "--data", str(data_file), "--id", "order-1", "--response", "A", "colour=red")
    assert isinstance(result.exception, ConfigError) and "unknown config key 'colour'" in str(result.exception)


def test_options_command_lists_every_key():
    result = run("options")
    assert result.exit_code == 0
    for key in ("backend", "api_key", "max_tool_calls", "leak.token_overlap", "sampling.max_pixels"):
        assert key in result.output


def test_config_files_in_configs_teacher_resolve():
    files = sorted((REPO / "configs" / "teacher").glob("*.yaml"))
    assert {f.stem for f in files} >= {"annotation", "openai", "hf"}
    for path in files:
        cfg = resolve(TeacherConfig(), path)
        assert cfg.backend in ("annotation", "openai", "hf")


def test_config_validation_and_secret():
    with pytest.raises(ConfigError, match="taxonomy"):
        TeacherConfig(taxonomy="paper9")
    with pytest.raises(ConfigError, match="max_turns"):
        resolve(TeacherConfig(), None, ["max_turns=0"])
    cfg = resolve(TeacherConfig(), None, ["api_key=sk-123", "leak.fuzzy_ratio=0.9"])
    assert cfg.api_key == "sk-123" and "sk-123" not in repr(cfg) and "api_key" not in to_dict(cfg)


@pytest.mark.parametrize(("name", "changes", "tool_mode"), [
    ("gt-native", {}, "native"), ("nogt-text", {"use_ground_truth": False}, "text"),
    ("paper6-notools", {"taxonomy": "paper6"}, "none"),
])
def test_prompt_snapshots(sample, frames, name, changes, tool_mode):
    """The rendered instructions are pinned: a change must be deliberate (FFR_UPDATE_SNAPSHOTS=1 rewrites them, and
    PROMPT_VERSION must then change, since it is part of every cache key)."""
    text = f"{PROMPT_VERSION}\n" + instructions_text(sample, frames, "<think>red first</think><answer>A</answer>",
                                                     TeacherConfig(**changes), tool_mode)
    path = SNAPSHOTS / f"teacher_prompt_{name}.txt"
    if os.environ.get("FFR_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.read_text() == text
