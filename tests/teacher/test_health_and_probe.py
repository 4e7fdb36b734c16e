"""Fail fast on a broken teacher: the startup probe and the success-rate guard stop against a loopback server that
answers 4xx, garbage or nothing, with one line naming the reason; ``submit_many`` returns repair_many's results,
in order, without blocking."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading

import pytest

from ffr_teacher import (
    RepairRequest,
    RepairResult,
    TeacherConfig,
    TeacherHealth,
    TeacherHealthConfig,
    TeacherUnavailableError,
    build_teacher,
)
from ffr_teacher.results import failure


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never answers (the kernel completes the handshake)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


VLLM_WITHOUT_TOOL_PARSER = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
BROKEN = {
    "4xx": lambda h: h.Step(404, {"error": {"message": "The model `glm-4.5v` does not exist."}}),
    "no-tool-parser": lambda h: h.Step(400, {"error": {"message": VLLM_WITHOUT_TOOL_PARSER}}),
    "html": lambda h: h.Step(200, b"<html><body>502 Bad Gateway</body></html>"),
    "not-a-completion": lambda h: h.Step(200, {"choices": "nothing here"}),
    "prose": lambda h: h.Step(200, h.completion("I think the student missed the flash.")),
}
EXPECTED = {"4xx": ("http_4xx", "does not exist", "teacher.model"),
            "no-tool-parser": ("http_4xx", "--enable-auto-tool-choice", "teacher.tool_mode=text"),
            "html": ("no_json", "", "tool_mode=text"),
            "not-a-completion": ("no_json", "not a chat completion", "tool_mode=text"),
            "prose": ("no_json", "no JSON", "tool_mode=text"), "nothing": ("timeout", "timed out", "timeout_s")}


def broken_config(kind, scripted, openai_config, silent_port, helpers):
    if kind == "nothing":
        return openai_config(base_url=f"http://127.0.0.1:{silent_port}/v1", timeout_s=0.3, max_retries=0)
    scripted.queue(BROKEN[kind](helpers))
    scripted.repeat_last = True
    return openai_config(max_retries=0)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_the_probe_stops_on_a_broken_teacher_with_the_reason(kind, scripted, openai_config, silent_port, helpers,
                                                             sample, frames):
    cfg = broken_config(kind, scripted, openai_config, silent_port, helpers)
    reason, detail, hint = EXPECTED[kind]
    with build_teacher(cfg) as teacher, pytest.raises(TeacherUnavailableError) as info:
        teacher.probe(RepairRequest(sample, frames, "<answer>A</answer>"))
    message = str(info.value)
    assert message.startswith("teacher probe failed (backend openai") and f": {reason} (" in message
    assert detail in message and hint in message and "\n" not in message
    assert helpers.secret not in message


def test_the_probe_passes_a_working_teacher_and_counts_nothing(scripted, openai_config, helpers, sample, frames,
                                                               tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"))
    scripted.queue(helpers.completion(helpers.patch_reply()))
    scripted.repeat_last = True
    request = RepairRequest(sample, frames, "<answer>A</answer>")
    with build_teacher(cfg) as teacher:
        teacher.repair_many([request])  # now in the cache
        before = len(scripted.requests)
        result = teacher.probe(request)
        assert result.patch is not None and not result.cached
        assert len(scripted.requests) == before + 1  # the probe asked the server, not the cache
        assert teacher.metrics.snapshot()["calls"] == 1  # only the repair_many call


def test_a_leaky_but_working_teacher_passes_the_probe(scripted, openai_config, helpers, sample, frames):
    scripted.reply(helpers.patch_reply("The answer is the green disc."))
    scripted.repeat_last = True
    with build_teacher(openai_config()) as teacher:
        result = teacher.probe(RepairRequest(sample, frames, "A"))
    assert result.patch is None and result.reason == "leak"


def test_the_annotation_probe_needs_evidence(make_sample, frames):
    with build_teacher(TeacherConfig()) as teacher, pytest.raises(TeacherUnavailableError, match="no_evidence"):
        teacher.probe(RepairRequest(make_sample(evidence=None), frames, "A"))


@pytest.mark.parametrize("kind", ["4xx", "html", "nothing"])
def test_the_guard_stops_training_on_a_broken_teacher(kind, scripted, openai_config, silent_port, helpers, sample,
                                                      frames):
    cfg = dataclasses.replace(broken_config(kind, scripted, openai_config, silent_port, helpers),
                              health=TeacherHealthConfig(window=8, min_calls=8, min_success_rate=0.25))
    reason = EXPECTED[kind][0]
    health = TeacherHealth(cfg)
    requests = [RepairRequest(sample, frames, f"<answer>{letter}</answer> rollout {i}")
                for i, letter in enumerate("ACDACDAC")]
    with build_teacher(cfg) as teacher:
        results = teacher.repair_many(requests)  # never raises
        assert [r.reason for r in results] == [reason] * 8
        with pytest.raises(TeacherUnavailableError) as info:
            health.record(results)
    message = str(info.value)
    assert message.startswith("teacher success rate 0% over the last 8 repairs is below")
    assert f"failures {reason} x8" in message and "\n" not in message


def results(*reasons: str | None) -> list[RepairResult]:
    from ffr_data.patch import EvidencePatch

    patch = EvidencePatch.from_json({"error_type": "temporal", "guidance": "Look at 1-2 s.", "windows": [[1, 2]]},
                                    taxonomy=("temporal", "spatial", "misconception"))
    return [RepairResult(patch) if r is None else failure(r, f"detail of {r}") for r in reasons]


def test_the_guard_waits_for_min_calls_then_lists_reasons_by_count():
    health = TeacherHealth(TeacherHealthConfig(window=10, min_calls=4, min_success_rate=0.5))
    health.record(results("http_4xx", "timeout", "http_4xx"))  # 3 < min_calls: no verdict yet
    assert health.success_rate == 0.0
    with pytest.raises(TeacherUnavailableError) as info:
        health.record(results(None, "http_4xx"))
    message = str(info.value)
    assert "20% over the last 5 repairs" in message and "failures http_4xx x3, timeout x1" in message
    assert "latest http_4xx: detail of http_4xx" in message and "teacher.model" in message


def test_the_guard_follows_a_window_and_recovers():
    health = TeacherHealth(TeacherHealthConfig(window=4, min_calls=4, min_success_rate=0.5))
    health.record(results(None, None, "no_json", None))  # 75 %
    health.record(results("no_json"))  # window: None, no_json, None, no_json -> 50 %: still fine
    assert health.success_rate == 0.5 and health.failures() == {"no_json": 2}
    with pytest.raises(TeacherUnavailableError, match="25% over the last 4"):
        health.record(results("budget"))
    health.record(results(None, None, None))  # the old failures leave the window
    assert health.success_rate == 0.75


def test_a_disabled_guard_only_measures():
    health = TeacherHealth(TeacherHealthConfig(enabled=False, window=4, min_calls=1))
    health.record(results("http_4xx", "http_4xx"))
    assert health.success_rate == 0.0 and health.failures() == {"http_4xx": 2}


def test_health_settings_are_validated_and_do_not_change_cache_keys():
    from ffr_data.errors import ConfigError
    from ffr_teacher.config import semantic_dict

    with pytest.raises(ConfigError, match="min_success_rate"):
        TeacherConfig(health=TeacherHealthConfig(min_success_rate=1.5))
    with pytest.raises(ConfigError, match="min_calls"):
        TeacherConfig(health=TeacherHealthConfig(window=4, min_calls=5))
    changed = TeacherConfig(health=TeacherHealthConfig(window=99), startup_probe=False, timeout_tokens_per_s=3.0)
    assert semantic_dict(changed) == semantic_dict(TeacherConfig())


# -- submit_many ---------------------------------------------------------------------------------------------------

def deterministic_reply(helpers):
    def reply(request_json: dict) -> dict:
        text = json.dumps(request_json["messages"])
        if "rollout-A" in text:
            return helpers.completion(helpers.patch_reply())
        if "rollout-C" in text:
            return helpers.completion("The student is wrong.")
        return helpers.completion(helpers.patch_reply(key_frames=[99]))
    return reply


def summary(result: RepairResult) -> tuple:
    return (result.patch.to_json() if result.patch else None, result.reason, result.detail, result.turns,
            result.cached)


def test_submit_many_gives_repair_many_results_in_order(scripted, openai_config, helpers, sample, frames):
    scripted.queue(deterministic_reply(helpers))
    scripted.repeat_last = True
    requests = [RepairRequest(sample, frames, f"rollout-{letter} {i}") for i, letter in enumerate("ACDDACAAD")]
    requests.append(requests[0])  # a duplicate is de-duplicated in both
    with build_teacher(openai_config(concurrency=4)) as teacher:
        submitted = teacher.submit_many(requests).result(timeout=60)
    with build_teacher(openai_config(concurrency=4)) as teacher:
        blocking = teacher.repair_many(requests)
    assert [summary(r) for r in submitted] == [summary(r) for r in blocking]
    assert [r.reason for r in submitted] == [None, "no_json", "schema", "schema", None, "no_json", None, None,
                                             "schema", None]


def test_submit_many_does_not_block_and_several_can_be_in_flight(scripted, openai_config, helpers, sample, frames):
    release = threading.Event()
    answer = deterministic_reply(helpers)

    def held(request_json: dict) -> dict:
        release.wait(timeout=30)
        return answer(request_json)

    scripted.queue(held)
    scripted.repeat_last = True
    first = [RepairRequest(sample, frames, f"rollout-A {i}") for i in range(3)]
    second = [RepairRequest(sample, frames, f"rollout-C {i}") for i in range(2)]
    with build_teacher(openai_config(concurrency=8)) as teacher:
        futures = [teacher.submit_many(first), teacher.submit_many(second)]
        assert not any(f.done() for f in futures)  # the server holds every reply: the calls returned anyway
        release.set()
        assert [r.reason for r in futures[0].result(timeout=60)] == [None] * 3
        assert [r.reason for r in futures[1].result(timeout=60)] == ["no_json"] * 2
        assert teacher.metrics.snapshot()["calls"] == 5
