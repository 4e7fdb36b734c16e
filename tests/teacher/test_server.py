"""``ffr teacher serve``: a real server on 127.0.0.1 with the tiny student, spoken to by the official openai client;
auth, size limit, malformed requests, refused paths/URLs, tool calls in OpenAI shape; and the hf backend."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openai
import pytest

from ffr_teacher import TeacherConfig, build_teacher
from ffr_teacher.loop import ChatReply
from ffr_teacher.media import to_data_url
from ffr_teacher.server import ServeConfig, TeacherServer, create_server

KEY = "sk-serve-test"


@pytest.fixture(scope="module")
def server(tiny_student_dir):
    cfg = ServeConfig(model=str(tiny_student_dir), port=0, api_key=KEY, max_request_bytes=200_000,
                      max_tokens_limit=64)
    running = create_server(cfg).start()
    yield running
    running.stop()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)


def image_message(text: str, image: np.ndarray) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": to_data_url(image)}}]}]


def post(server: TeacherServer, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", "/v1/chat/completions", body=body,
                       headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = json.loads(response.read())
    connection.close()
    return response.status, data


def test_binds_loopback_by_default(server):
    assert ServeConfig().host == "127.0.0.1" and server.httpd.server_address[0] == "127.0.0.1"


def test_chat_completion_with_an_image(client, server):
    image = np.random.default_rng(0).integers(0, 255, (56, 56, 3), dtype=np.uint8)
    response = client.chat.completions.create(model=server.name, max_tokens=6, temperature=0,
                                              messages=image_message("What colour is the shape?", image))
    choice = response.choices[0]
    assert isinstance(choice.message.content, str) and choice.finish_reason in ("stop", "length")
    assert response.model == server.name and 1 <= response.usage.completion_tokens <= 6
    text_only = client.chat.completions.create(model=server.name, max_tokens=1,
                                               messages=[{"role": "user", "content": "What colour is the shape?"}])
    assert response.usage.prompt_tokens >= text_only.usage.prompt_tokens + 4  # the image's tokens reached the model
    assert [m.id for m in client.models.list().data] == [server.name]


def test_wrong_or_missing_api_key_is_401(server):
    for key in ("wrong", "EMPTY"):
        bad = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="m", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    status, body = post(server, b"{}", headers={"Authorization": ""})
    assert status == 401 and "API key" in body["error"]["message"]


def test_oversized_request_is_413(client, server):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=server.name, max_tokens=2,
                                       messages=[{"role": "user", "content": "x" * 300_000}])
    assert info.value.status_code == 413 and "exceeds the limit" in info.value.message


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"messages": []}', "'messages' must be a non-empty list"),
    (b'{"messages": [{"role": "wizard", "content": "hi"}]}', "messages[0].role"),
    (b'{"messages": [{"role": "user", "content": 3}]}', "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}', "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', "temperature"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "stream": true}', "streaming"),
    (b'{"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}', "not supported"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}', "tools[0]"),
])
def test_malformed_requests_get_a_4xx_json_message(server, body, message):
    status, data = post(server, body)
    assert status == 400 and message in data["error"]["message"]
    assert "Traceback" not in data["error"]["message"]


@pytest.mark.parametrize("url", ["/etc/passwd", "file:///etc/passwd", "http://127.0.0.1:1/x.png",
                                 "https://example.com/cat.png"])
def test_paths_and_urls_in_image_url_are_refused(client, server, url):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=server.name, max_tokens=2, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}])
    assert "never opened" in info.value.message


def test_health_and_unknown_routes(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/health")
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["status"] == "ok"
    connection.request("GET", "/v1/nothing")
    response = connection.getresponse()
    assert response.status == 404 and "no route" in json.loads(response.read())["error"]["message"]
    connection.close()


class ScriptedEngine:
    """A chat engine that replies with fixed text and records what it was given."""

    def __init__(self, reply: str):
        self.reply = reply
        self.seen: list = []

    def generate(self, messages, max_tokens, temperature=None):
        self.seen.append(messages)
        return ChatReply(self.reply, [], "stop", 10, 5)


def test_plain_text_tool_calls_come_back_in_openai_shape():
    engine = ScriptedEngine("Let me look.\nTOOL_CALL: get_segment(start_s=1.0, end_s=2.0)\nTOOL_CALL: nope(x=1)")
    server = TeacherServer(engine, ServeConfig(port=0), "scripted").start()
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        tools = [{"type": "function", "function": {"name": "get_segment", "description": "frames of a window",
                                                   "parameters": {"type": "object", "properties": {
                                                       "start_s": {"type": "number"}, "end_s": {"type": "number"}}}}}]
        response = client.chat.completions.create(model="scripted", max_tokens=20, tools=tools,
                                                  messages=[{"role": "user", "content": "Where?"}])
        choice = response.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me look."
        [call] = choice.message.tool_calls  # only declared tools become calls
        assert call.function.name == "get_segment" and json.loads(call.function.arguments) == {"start_s": 1.0,
                                                                                                 "end_s": 2.0}
        assert "TOOL_CALL: name(arg=value" in engine.seen[0][0]["content"]  # the tools were described to the model
        without_tools = client.chat.completions.create(model="scripted", max_tokens=20,
                                                       messages=[{"role": "user", "content": "Where?"}])
        assert without_tools.choices[0].message.tool_calls is None
        client.chat.completions.create(model="scripted", max_tokens=20, tools=tools, messages=[
            {"role": "system", "content": "You are a teacher."}, {"role": "user", "content": "Where?"}])
        system = engine.seen[-1][0]
        assert [m["role"] for m in engine.seen[-1]] == ["system", "user"]
        assert system["content"].startswith("You are a teacher.\n\nYou can call these tools")
    finally:
        server.stop()


def test_openai_backend_through_the_real_server(server, sample, frames):
    cfg = TeacherConfig(backend="openai", base_url=server.base_url, model=server.name, api_key=KEY, max_tokens=8,
                        max_turns=1, timeout_s=60, sampling=TeacherConfig().sampling)
    with build_teacher(cfg) as teacher:
        result = teacher.repair(sample, frames, "<answer>A</answer>")
    # A random tiny model writes no patch, but the whole path ran: 8 frames as data URLs, tools, parsing.
    assert result.patch is None and result.reason in ("no_json", "truncated", "budget") and result.turns == 1
    assert result.prompt_tokens > 8 * 4 and teacher.metrics.snapshot()["http_requests"] == 1


def test_hf_backend_passes_frames_through_the_processor(tiny_student_dir, sample, frames):
    cfg = TeacherConfig(backend="hf", model=str(tiny_student_dir), max_tokens=4, max_turns=1)
    teacher = build_teacher(cfg)
    result = teacher.repair(sample, frames, "<answer>A</answer>")
    assert result.reason in ("no_json", "truncated", "budget") and result.turns == 1
    no_frames = frames.__class__(frames.array[:2], frames.indices[:2], frames.timestamps[:2], frames.info)
    fewer = teacher.repair(sample, no_frames, "<answer>A</answer>")
    assert result.prompt_tokens - fewer.prompt_tokens >= 6 * 4  # 6 more frames, at least 4 image tokens each


def test_the_serve_command(tiny_student_dir):
    """``ffr teacher serve`` as a user runs it: a subprocess on a free port, then /health and one completion."""
    env = {**os.environ, "FFR_TEACHER_SERVE_API_KEY": KEY}
    ffr = Path(sys.executable).with_name("ffr")
    process = subprocess.Popen([str(ffr), "teacher", "serve", "--model", str(tiny_student_dir), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline, line = time.monotonic() + 120, ""
        while "serving" not in line and time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
        assert "serving" in line and "127.0.0.1" in line and "API key required" in line, line
        base_url = line.split(" at ")[1].split(" ")[0]
        client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=60)
        reply = client.chat.completions.create(model="x", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        assert reply.usage.completion_tokens >= 1
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_concurrent_requests_are_generated_in_batches_with_the_same_replies(tiny_student_dir):
    """While the model is busy, arriving requests queue; the next batch takes every one with the same temperature,
    each stopping at its own max_tokens, and the replies equal those of one request at a time."""
    import threading

    from ffr_teacher.backends.hf_chat import HFChat
    from ffr_teacher.serve_engine import BatchingEngine

    chat = HFChat(str(tiny_student_dir))
    rng = np.random.default_rng(1)
    requests = [dict(model="m", temperature=0, max_tokens=tokens, messages=image_message(
        f"Question {i}: where is the flash?", rng.integers(0, 255, (56, 28 * (1 + i % 3), 3), dtype=np.uint8)))
        for i, tokens in enumerate([4, 3, 12, 7, 20])]
    requests.append(dict(model="m", temperature=0.5, max_tokens=5, messages=[{"role": "user", "content": "hi"}]))

    def serve(max_batch: int, hold: bool) -> tuple[list, list[int]]:
        engine = BatchingEngine(chat, max_batch=max_batch)
        server = TeacherServer(engine, ServeConfig(port=0), "tiny").start()
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=60)
        replies: list = [None] * len(requests)

        def ask(i: int) -> None:
            replies[i] = client.chat.completions.create(**requests[i])

        try:
            if not hold:
                for i in range(len(requests)):
                    ask(i)
                return replies, engine.batches
            with chat._lock:  # the model is busy: the first request waits in generate, the rest queue up
                first = threading.Thread(target=ask, args=(0,))
                first.start()
                while not engine.batches and not engine._queue:
                    time.sleep(0.01)
                others = [threading.Thread(target=ask, args=(i,)) for i in range(1, len(requests))]
                for thread in others:
                    thread.start()
                while len(engine._queue) < len(others):
                    time.sleep(0.01)
            for thread in [first, *others]:
                thread.join(timeout=60)
            return replies, engine.batches
        finally:
            server.stop()

    alone, alone_batches = serve(max_batch=1, hold=False)
    batched, batches = serve(max_batch=8, hold=True)
    assert alone_batches == [1] * 6 and batches == [1, 4, 1]  # the t=0.5 request is batched on its own
    for one, many in zip(alone[:5], batched[:5], strict=True):
        assert many.choices[0].message.content == one.choices[0].message.content
        assert many.usage.completion_tokens == one.usage.completion_tokens
        assert many.usage.prompt_tokens == one.usage.prompt_tokens
    assert [r.usage.completion_tokens <= t for r, t in zip(batched[:5], [4, 3, 12, 7, 20], strict=True)] == [True] * 5
