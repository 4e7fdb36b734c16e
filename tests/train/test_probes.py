"""`ffr probe`: greedy / patched / text-only / blind accuracy, all-fail groups and their repair, headroom."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from ffr_data.config import merge
from ffr_data.errors import FFRError
from ffr_data.models import load_vlm
from ffr_data.video import Frames, VideoInfo
from ffr_teacher import TeacherConfig, build_teacher
from ffr_train.config import TrainConfig
from ffr_train.data import load_split
from ffr_train.probes import Prober, QuestionProbe, blank_like, headroom, summarise

INFO = VideoInfo("v.mp4", 32, 8.0, 4.0, 56, 56, "test")


def record(family: str, answer: str, greedy: float, patch: float, group: list[float], patched_group=(),
           n_options: int = 4) -> QuestionProbe:
    return QuestionProbe("q", family, answer, n_options, {"greedy": greedy, "patch": patch, "blind": 0.0},
                         list(group), list(patched_group), True)


def test_summary_counts_all_fail_groups_and_their_repair():
    records = [
        record("count", "1", 0.0, 1.0, [0, 0, 0, 0], [1, 1, 0, 1], n_options=0),
        record("count", "2", 1.0, 1.0, [1, 0, 0, 0], n_options=0),
        record("count", "3", 0.0, 0.0, [0, 0, 0, 0], [0, 0, 0, 0], n_options=0),
        record("count", "4", 0.0, 1.0, [0, 1, 1, 0], n_options=0),
        record("location", "B", 1.0, 1.0, [1, 1, 1, 1]),
    ]
    summary = summarise(records)
    count = summary["count"]
    assert count["chance"] == 0.25  # four distinct gold values among the numerical rows
    assert (count["greedy"], count["patch"], count["blind"]) == (0.25, 0.75, 0.0)
    assert count["greedy_se"] == round((0.25 * 0.75 / 4) ** 0.5, 4)
    assert count["all_fail_share"] == 0.5 and count["first_pass_sampled"] == 0.1875
    assert count["all_fail_patched_sampled"] == 0.375 and count["all_fail_patched_any"] == 0.5
    assert count["all_fail_patched_greedy"] == 0.5
    assert summary["location"]["chance"] == 0.25 and summary["location"]["all_fail_share"] == 0.0
    assert summary["all"]["questions"] == 5 and summary["all"]["greedy"] == 0.4


def test_headroom_rule_per_family():
    base = {"count": {"greedy": 0.30}, "order": {"greedy": 0.40}, "all": {"greedy": 0.35}}
    tuned = {"count": {"greedy": 0.36}, "order": {"greedy": 0.42}, "all": {"greedy": 0.39}}
    result = headroom(base, tuned, 0.05)
    assert result == {"count": {"base": 0.30, "tuned": 0.36, "gain": 0.06, "passes": True},
                      "order": {"base": 0.40, "tuned": 0.42, "gain": 0.02, "passes": False}}
    assert headroom(base, tuned, 0.06)["count"]["passes"]  # exactly the minimum passes


def test_blank_frames_keep_shape_and_time():
    frames = Frames(np.random.default_rng(0).integers(0, 255, (4, 56, 56, 3), dtype=np.uint8), (0, 1, 2, 3),
                    (0.0, 0.1, 0.2, 0.3), INFO)
    blank = blank_like(frames, np.array([16, 17, 18], np.uint8))
    assert blank.array.shape == frames.array.shape and blank.timestamps == frames.timestamps
    assert (blank.array == np.array([16, 17, 18], np.uint8)).all()


@dataclass
class ScriptedEngine:
    """Answers every request with the same completion and records what it was asked."""

    tokenizer: object
    text: str
    calls: list = field(default_factory=list)

    def generate(self, requests, params):
        self.calls.append((params, [r.prompt for r in requests], [r.count for r in requests]))
        ids = torch.tensor(self.tokenizer(self.text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id])
        return [[ids.clone() for _ in range(r.count)] for r in requests]

    def sync_weights(self):
        pass


def test_prober_runs_every_check_and_blinds_only_the_pixels(flash_data, flash_student):
    _, processor = load_vlm(flash_student)
    cfg = merge(TrainConfig(), {"sampling.num_frames": 8, "sampling.max_pixels": 3136, "sampling.min_pixels": 784})
    samples, _ = load_split(flash_data / "train.jsonl")
    engine = ScriptedEngine(processor.tokenizer, "<think>x</think><answer>A</answer>")
    records = Prober(engine, processor, cfg, build_teacher(TeacherConfig())).run(samples, group_size=3, batch_size=8)
    gold_a = [s.answer == "A" for s in samples]
    assert [r.accuracy for r in records] == [dict.fromkeys(("greedy", "patch", "text", "blind"), float(a))
                                             for a in gold_a]
    assert [r.group for r in records] == [[float(a)] * 3 for a in gold_a]
    assert [r.patched_group for r in records] == [[] if a else [0.0] * 3 for a in gold_a]
    (greedy, *_), patch, text, blind, groups, repair = engine.calls
    assert not greedy.do_sample and groups[0].do_sample and groups[0].temperature == 1.0 and groups[2] == [3] * 8
    assert repair[2] == [3] * (8 - sum(gold_a))
    for full_prompt, text_prompt, blind_prompt in zip(patch[1], text[1], blind[1], strict=True):
        full, only_text, blinded = full_prompt.source, text_prompt.source, blind_prompt.source
        assert len(only_text.videos) == 1 and not only_text.images and len(full.videos) == 2 and full.images
        assert blinded.messages == full.messages  # every word of the patch kept
        assert [v.array.shape for v in blinded.videos] == [v.array.shape for v in full.videos]
        for media in (*blinded.videos, *blinded.images):
            assert (media.array == media.array.reshape(-1, 3)[0]).all()  # one colour everywhere
        assert any(len(np.unique(v.array.reshape(-1, 3), axis=0)) > 1 for v in full.videos)


def test_cli_probe_writes_the_checks_and_the_headroom(flash_data, flash_student, tmp_path):
    from typer.testing import CliRunner

    from ffr_data.cli_root import build_app

    app = build_app()
    out = tmp_path / "probe"
    result = CliRunner().invoke(app, [
        "probe", "--model", str(flash_student), "--compare", str(flash_student), "--data",
        str(flash_data / "val.jsonl"), "--out", str(out), "--group-size", "2", "--limit", "4", "--threads", "1",
        "sampling.num_frames=8", "sampling.max_pixels=3136", "sampling.min_pixels=784", "eval.max_new_tokens=8",
        "rollout.max_new_tokens=8"])
    assert result.exit_code == 0, result.output
    probe = json.loads((out / "probe.json").read_text())
    assert probe["summary"]["location"]["questions"] == 4 and probe["summary"]["location"]["chance"] == 0.25
    assert {"greedy", "patch", "text", "blind", "all_fail_share"} <= set(probe["summary"]["location"])
    assert probe["compare"]["headroom"]["location"]["gain"] == 0.0  # the same model: nothing gained
    assert probe["compare"]["headroom"]["location"]["passes"] is False
    lines = (out / "questions.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "compare_greedy" in json.loads(lines[0])
    bad = CliRunner().invoke(app, ["probe", "--model", str(flash_student), "--out", str(out), "--checks", "greedy,x"])
    assert isinstance(bad.exception, FFRError) and "--checks: unknown ['x']" in str(bad.exception)
