"""Every teacher failure gives ``patch=None`` with a counted reason, never an exception: timeouts, connection refused,
HTTP errors with and without retries, truncated and non-JSON replies, schema failures. The API key never leaks."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket

import pytest

from ffr_data.config import to_dict
from ffr_data.errors import ConfigError
from ffr_teacher import TeacherConfig, build_teacher
from ffr_teacher.backends.openai_chat import retry_delay


def repair(cfg, sample, frames):
    with build_teacher(cfg) as teacher:
        result = teacher.repair(sample, frames, "<answer>A</answer>")
        return result, teacher.metrics.snapshot()


def test_timeout_against_a_server_that_sleeps(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.Step(body=helpers.completion(helpers.patch_reply()), delay_s=1.0))
    scripted.repeat_last = True
    result, metrics = repair(openai_config(timeout_s=0.2, max_retries=1), sample, frames)
    assert result.patch is None and result.reason == "timeout" and "after 2 attempts" in result.detail
    assert len(scripted.requests) == 2 and metrics["retries"] == 1 and metrics["failures/timeout"] == 1


def test_the_timeout_is_sized_from_max_tokens_unless_given():
    assert TeacherConfig(max_tokens=2000).request_timeout_s == 30.0 + 2000 / 10.0
    assert TeacherConfig(max_tokens=500, timeout_base_s=5.0, timeout_tokens_per_s=50.0).request_timeout_s == 15.0
    assert TeacherConfig(max_tokens=2000, timeout_s=7.0).request_timeout_s == 7.0  # an explicit timeout wins
    with pytest.raises(ConfigError, match="timeout_tokens_per_s"):
        TeacherConfig(timeout_tokens_per_s=0)


@pytest.mark.parametrize(("max_tokens", "reason"), [(10, "timeout"), (200, None)])
def test_the_sized_timeout_is_what_the_client_waits(scripted, openai_config, sample, frames, helpers, max_tokens,
                                                    reason):
    """A server that takes 0.8 s: too slow for 10 tokens (0.2 + 10/100 s), in time for 200 (0.2 + 200/100 s)."""
    scripted.queue(helpers.Step(body=helpers.completion(helpers.patch_reply()), delay_s=0.8))
    cfg = openai_config(timeout_s=None, timeout_base_s=0.2, timeout_tokens_per_s=100.0, max_tokens=max_tokens,
                        max_retries=0)
    assert repair(cfg, sample, frames)[0].reason == reason


@pytest.mark.parametrize("body", [{"choices": "nothing"}, {"choices": [{"message": 5}]}, ["a", "list"],
                                  {"choices": [{"message": {"content": {"text": "x"}}, "finish_reason": "stop"}]}])
def test_a_200_that_is_not_a_completion_is_no_json_not_a_backend_error(scripted, openai_config, sample, frames,
                                                                        helpers, body):
    scripted.queue(helpers.Step(200, body))
    result, metrics = repair(openai_config(max_retries=0), sample, frames)
    assert result.reason == "no_json" and metrics["failures/backend_error"] == 0


def test_connection_refused(openai_config, sample, frames):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result, metrics = repair(openai_config(base_url=f"http://127.0.0.1:{port}/v1", max_retries=2), sample, frames)
    assert result.patch is None and result.reason == "connection"
    assert metrics["retries"] == 2 and metrics["http_requests"] == 3 and metrics["failures/connection"] == 1


@pytest.mark.parametrize(("status", "headers"), [(500, {}), (503, {}), (429, {"Retry-After": "0"})])
def test_transient_http_error_then_success(scripted, openai_config, sample, frames, helpers, status, headers):
    scripted.queue(helpers.Step(status, {"error": {"message": "busy"}}, headers=headers))
    scripted.reply(helpers.patch_reply())
    result, metrics = repair(openai_config(), sample, frames)
    assert result.patch is not None and len(scripted.requests) == 2
    assert metrics["retries"] == 1 and metrics["successes"] == 1


def test_5xx_until_retries_run_out(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.Step(502, {"error": {"message": "bad gateway"}}))
    scripted.repeat_last = True
    result, metrics = repair(openai_config(max_retries=2), sample, frames)
    assert (result.reason, len(scripted.requests), metrics["failures/http_5xx"]) == ("http_5xx", 3, 1)
    assert "HTTP 502" in result.detail


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_4xx_is_not_retried(scripted, openai_config, sample, frames, helpers, status):
    scripted.queue(helpers.Step(status, {"error": {"message": "nope"}}))
    result, metrics = repair(openai_config(max_retries=3), sample, frames)
    assert result.reason == "http_4xx" and f"HTTP {status}" in result.detail
    assert len(scripted.requests) == 1 and metrics["retries"] == 0


def test_truncated_reply(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.completion('<think>the student</think><patch>{"error_type": "tem', finish="length"))
    result, metrics = repair(openai_config(), sample, frames)
    assert result.reason == "truncated" and metrics["failures/truncated"] == 1


def test_reply_without_json(scripted, openai_config, sample, frames, helpers):
    scripted.reply("The student should look again.")
    assert repair(openai_config(), sample, frames)[0].reason == "no_json"


def test_http_body_that_is_not_json(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.Step(200, b"<html>proxy error</html>"))
    assert repair(openai_config(max_retries=0), sample, frames)[0].reason == "no_json"


def test_completion_without_choices(scripted, openai_config, sample, frames, helpers):
    scripted.queue({**helpers.completion("x"), "choices": []})
    assert repair(openai_config(), sample, frames)[0].reason == "no_json"


@pytest.mark.parametrize(("fields", "detail"), [
    ({"key_frames": [8]}, "key_frames[0]"), ({"windows": [[3.5, 9.0]]}, "windows[0]"),
    ({"error_type": "counting"}, "error_type"), ({"regions": [{"box": [0.5, 0.5, 0.2, 0.9]}]}, "regions[0].box"),
])
def test_json_failing_the_schema(scripted, openai_config, sample, frames, helpers, fields, detail):
    scripted.reply(helpers.patch_reply(**fields))
    result, metrics = repair(openai_config(), sample, frames)
    assert result.reason == "schema" and detail in result.detail and metrics["failures/schema"] == 1


def test_a_tool_on_a_missing_video_answers_the_teacher_with_an_error(scripted, openai_config, make_sample, frames, helpers):
    scripted.queue(helpers.completion(tool_calls=[("get_frame", {"t": 1.0})]))
    scripted.reply(helpers.patch_reply())
    missing = make_sample(path="/nonexistent/video.mp4")
    result, _metrics = repair(openai_config(), missing, frames)
    assert result.patch is not None and result.transcript[0].ok is False  # the tool error went to the teacher
    assert "file not found" in result.transcript[0].message


def test_a_backend_bug_is_counted_not_raised(openai_config, sample, frames):
    class Broken:
        cacheable = False

        def identity(self):
            return {}

        def repair(self, request, clip_tools):
            raise RuntimeError("boom")

        def close(self):
            return None

    from ffr_teacher import Teacher

    teacher = Teacher(openai_config(), backend=Broken())
    result = teacher.repair(sample, frames, "A")
    assert result.reason == "backend_error" and "boom" in result.detail
    assert teacher.metrics.snapshot()["failures/backend_error"] == 1


def test_api_key_never_appears_in_repr_config_dict_or_logs(scripted, openai_config, sample, frames, helpers,
                                                          caplog, tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"))
    scripted.queue(helpers.Step(500, {"error": {"message": "x"}}))
    scripted.reply(helpers.patch_reply())
    with caplog.at_level(logging.DEBUG), build_teacher(cfg) as teacher:
        assert teacher.repair(sample, frames, "A").patch is not None
        shown = repr(teacher) + repr(teacher.backend.chat) + repr(cfg) + json.dumps(to_dict(cfg))
    assert "api_key" not in to_dict(cfg) and helpers.secret not in shown
    assert helpers.secret not in caplog.text
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert helpers.secret not in path.read_text()
    assert scripted.headers[0]["authorization"] == f"Bearer {helpers.secret}"  # it was sent, though


def test_api_key_from_the_environment(scripted, openai_config, sample, frames, helpers, monkeypatch):
    monkeypatch.setenv("FFR_TEACHER_API_KEY", "sk-from-env")
    scripted.reply(helpers.patch_reply())
    repair(dataclasses.replace(openai_config(), api_key=None), sample, frames)
    assert scripted.headers[0]["authorization"] == "Bearer sk-from-env"


def test_missing_endpoint_is_a_config_error(monkeypatch):
    monkeypatch.delenv("FFR_TEACHER_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="base_url"):
        build_teacher(TeacherConfig(backend="openai", model="m"))
    with pytest.raises(ConfigError, match="unknown backend 'gpt'"):
        build_teacher(TeacherConfig(backend="gpt"))


def test_retry_delays_double_and_are_capped():
    cfg = TeacherConfig(backoff_s=0.5, backoff_max_s=3.0)
    assert [retry_delay(a, cfg) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert retry_delay(0, cfg, retry_after=2.0) == 2.0
