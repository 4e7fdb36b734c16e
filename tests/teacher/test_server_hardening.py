"""``ffr teacher serve`` against a hostile client: request framing (Content-Length, Transfer-Encoding), Content-Type
and Host checks (DNS rebinding), malformed JSON and schemas, a fuzz pass over the body, image bombs, prompts beyond
the context, the generation-time cap, and a port already in use. Every client error is a 4xx JSON error."""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import openai
import pytest

from ffr_teacher.loop import ChatReply
from ffr_teacher.media import to_data_url
from ffr_teacher.server import ServeConfig, TeacherServer, create_server, host_allowed

VALID = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "Where is the flash?"}]}


class RecordingEngine:
    def __init__(self) -> None:
        self.seen: list = []

    def generate(self, messages, max_tokens, temperature=None):
        self.seen.append(messages)
        return ChatReply("ok", [], "stop", 3, 1)


@pytest.fixture
def engine():
    return RecordingEngine()


@pytest.fixture
def keyless(engine):
    server = TeacherServer(engine, ServeConfig(port=0, max_request_bytes=20_000), "scripted").start()
    yield server
    server.stop()


def raw_exchange(port: int, data: bytes) -> tuple[int, dict]:
    """Send raw bytes, close our sending side, and read the whole response: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def request_bytes(body: bytes, headers: dict[str, str], method: str = "POST",
                  path: str = "/v1/chat/completions") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode() + body


def post_raw(port: int, body: bytes, **headers: str) -> tuple[int, dict]:
    base = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", "Content-Length": str(len(body))}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return raw_exchange(port, request_bytes(body, {k: v for k, v in base.items() if v is not None}))


BODY = json.dumps(VALID).encode()


@pytest.mark.parametrize("value", ["-1", "+8", "1_0", "ten", "", "8.0", "99999999999999999999"])
def test_a_bad_content_length_is_400_and_the_body_never_reaches_the_model(keyless, engine, value):
    status, data = post_raw(keyless.port, BODY, Content_Length=value)
    assert status == 400 and "Content-Length must be one non-negative integer" in data["error"]["message"]
    assert engine.seen == []


def test_conflicting_content_lengths_are_400(keyless, engine):
    head = {"Host": "127.0.0.1", "Content-Type": "application/json"}
    data = request_bytes(BODY, head)[:-len(BODY) - 2] + \
        f"Content-Length: {len(BODY)}\r\nContent-Length: 5\r\n\r\n".encode() + BODY
    status, body = raw_exchange(keyless.port, data)
    assert status == 400 and "Content-Length" in body["error"]["message"] and engine.seen == []


@pytest.mark.parametrize("headers", [{"Content_Length": None}, {"Transfer_Encoding": "chunked"},
                                     {"Transfer_Encoding": "gzip, chunked", "Content_Length": None}])
def test_bodies_without_a_content_length_are_411(keyless, engine, headers):
    status, data = post_raw(keyless.port, BODY, **headers)
    assert status == 411 and "Content-Length" in data["error"]["message"] and engine.seen == []


def test_a_body_shorter_than_declared_is_400(keyless, engine):
    status, data = post_raw(keyless.port, BODY, Content_Length=str(len(BODY) + 10))
    assert status == 400 and "ended after" in data["error"]["message"] and engine.seen == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp"])
def test_only_json_content_is_accepted(keyless, engine, content_type):
    status, data = post_raw(keyless.port, BODY, Content_Type=content_type)
    assert status == 415 and "application/json" in data["error"]["message"] and engine.seen == []


def test_json_with_a_charset_is_accepted(keyless, engine):
    status, data = post_raw(keyless.port, BODY, Content_Type="Application/JSON; charset=utf-8")
    assert status == 200 and data["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8000", "127.0.0.1.nip.io", None,
                                  "localhost.evil.com"])
def test_a_keyless_server_refuses_foreign_host_headers(keyless, engine, host):
    status, data = post_raw(keyless.port, BODY, Host=host)
    assert status == 403 and "DNS-rebinding" in data["error"]["message"] and engine.seen == []
    head = {"Host": host} if host else {}
    status, _ = raw_exchange(keyless.port, request_bytes(b"", head, "GET", "/v1/models"))
    assert status == 403


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LOCALHOST.", "127.0.0.1:9", "[::1]:8000",
                                  "192.168.1.20:8000", "::1"])
def test_loopback_and_ip_literal_hosts_are_served(host):
    assert host_allowed(host)


def test_with_an_api_key_any_host_is_served(engine):
    server = TeacherServer(engine, ServeConfig(port=0, api_key="k"), "scripted").start()
    try:
        status, _ = post_raw(server.port, BODY, Host="teacher.internal.example:8000", Authorization="Bearer k")
        assert status == 200
        status, _ = post_raw(server.port, BODY, Host="teacher.internal.example:8000")
        assert status == 401
    finally:
        server.stop()


def test_the_openai_client_passes_every_check(keyless):
    client = openai.OpenAI(base_url=keyless.base_url, api_key="EMPTY", max_retries=0, timeout=10)
    assert client.chat.completions.create(**VALID).choices[0].message.content == "ok"
    localhost = openai.OpenAI(base_url=f"http://localhost:{keyless.port}/v1", api_key="EMPTY", max_retries=0)
    assert [m.id for m in localhost.models.list().data] == ["scripted"]


TOOL = {"type": "function", "function": {"name": "get_frame", "parameters": {
    "type": "object", "properties": {"t": {"type": "number"}}}}}


@pytest.mark.parametrize(("body", "message"), [
    ({**VALID, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": []}}}]},
     "properties' must be an object"),
    ({**VALID, "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}, "parameters"),
    ({**VALID, "tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "properties": {"t": "number"}}}}]}, "properties.t"),
    ({**VALID, "tools": [{"type": "function", "function": {"name": "f", "description": ["x"]}}]}, "description"),
    ({**VALID, "tools": [{"type": "function", "function": {"name": ["f"]}}]}, "tools[0]"),
    ({**VALID, "tools": [TOOL], "tool_choice": 7}, "tool_choice"),
    ({**VALID, "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}}, "tool_choice"),
    ({**VALID, "messages": [{"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": "f",
                                                                                             "arguments": 3}}]}]},
     "arguments"),
    ({**VALID, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}]},
     "must be a string"),
])
def test_malformed_schemas_get_a_400_with_a_message(keyless, engine, body, message):
    status, data = post_raw(keyless.port, json.dumps(body).encode())
    assert status == 400 and message in data["error"]["message"], data
    assert engine.seen == []


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"messages": [], "max_tokens": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'{"messages": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "nested too deeply"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', "not valid JSON"),
    (b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', "not valid JSON"),
])
def test_json_that_python_cannot_take_is_400(keyless, engine, raw, message):
    status, data = post_raw(keyless.port, raw)
    assert status == 400 and message in data["error"]["message"] and engine.seen == []


def test_protocol_errors_from_the_stdlib_are_json_too(keyless):
    status, data = raw_exchange(keyless.port, request_bytes(b"", {"Host": "127.0.0.1", "X-Long": "x" * 70_000}))
    assert status == 431 and "error" in data
    status, data = raw_exchange(keyless.port, request_bytes(b"", {"Host": "127.0.0.1"}, "OPTIONS"))
    assert status == 501 and "error" in data


def _garbage(rng: random.Random, depth: int = 0):
    choices = [None, True, -1, 0, 2**70, -(2**70), 1e308, -0.5, "", "x" * rng.randint(1, 300), "data:image/png;base64,",
               "\u0000\ud7ff", [], {}, ["a", 1]]
    if depth < 3:
        choices += [[_garbage(rng, depth + 1) for _ in range(rng.randint(1, 3))],
                    {rng.choice(["type", "text", "role", "content", "url", "function", "name", "k"]):
                     _garbage(rng, depth + 1) for _ in range(rng.randint(1, 3))}]
    return rng.choice(choices)


def _mutate(value, rng: random.Random):
    """``value`` with one randomly chosen node (at any depth) replaced by garbage."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: _mutate(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        return [*value[:index], _mutate(value[index], rng), *value[index + 1:]]
    return _garbage(rng)


def fuzz_bodies(seed: int, count: int) -> list[bytes]:
    image = to_data_url(np.full((30, 40, 3), 90, np.uint8), "png")
    full = {"model": "m", "max_tokens": 2, "temperature": 0.2, "tool_choice": "auto", "tools": [TOOL],
            "messages": [{"role": "system", "content": "You are a teacher."},
                         {"role": "user", "content": [{"type": "text", "text": "Look"},
                                                      {"type": "image_url", "image_url": {"url": image}}]},
                         {"role": "assistant", "content": None, "tool_calls": [
                             {"id": "c0", "type": "function",
                              "function": {"name": "get_frame", "arguments": '{"t": 1.0}'}}]},
                         {"role": "tool", "tool_call_id": "c0", "content": "frame at 1.0 s"}]}
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        mutated = full
        for _ in range(rng.randint(1, 3)):
            mutated = _mutate(mutated, rng)
        bodies.append(json.dumps(mutated).encode())
    return bodies


def assert_client_errors_only(port: int, bodies: list[bytes]) -> list[int]:
    statuses = []
    for body in bodies:
        status, data = post_raw(port, body)  # a dropped connection or a non-JSON body fails here
        assert status == 200 or 400 <= status < 500, (status, data, body[:300])
        assert status == 200 or data["error"]["message"], body[:300]
        statuses.append(status)
    return statuses


def test_fuzzed_bodies_never_crash_the_request_layer(keyless):
    statuses = assert_client_errors_only(keyless.port, fuzz_bodies(seed=0, count=300))
    assert 200 in statuses and 400 in statuses  # the fuzz reached both outcomes


# -- with the real tiny model: the processor, the context, the generation cap, batching ---------------------------

@pytest.fixture(scope="module")
def model_server(tiny_student_dir):
    cfg = ServeConfig(model=str(tiny_student_dir), port=0, max_request_bytes=2 * 2**20, max_tokens_limit=400)
    server = create_server(cfg).start()
    yield server
    server.stop()


def test_fuzzed_bodies_never_crash_the_model_path(model_server):
    statuses = assert_client_errors_only(model_server.port, fuzz_bodies(seed=1, count=60))
    assert 200 in statuses and 400 in statuses


def image_request(image: np.ndarray, max_tokens: int = 2) -> dict:
    return {**VALID, "max_tokens": max_tokens, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": to_data_url(image)}}]}]}


@pytest.mark.parametrize("shape", [(1, 4000, 3), (4000, 1, 3), (3, 900, 3)])
def test_an_image_the_processor_refuses_is_a_400_not_a_500(model_server, shape):
    status, data = post_raw(model_server.port, json.dumps(image_request(np.zeros(shape, np.uint8))).encode())
    assert status == 400 and "aspect ratio" in data["error"]["message"]


def png_bomb(width: int, height: int) -> bytes:
    """A valid, highly compressed all-black PNG of width x height pixels."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor, row = zlib.compressobj(9), b"\x00" * (width * 3 + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_an_image_bomb_is_refused_from_its_header_without_decoding(tmp_path):
    bomb = png_bomb(10_000, 10_000)  # 300 MB of pixels in a few hundred KB
    assert len(bomb) < 1_000_000
    path = tmp_path / "bomb.url"
    path.write_text("data:image/png;base64," + base64.b64encode(bomb).decode())
    script = ("import resource, sys\nfrom ffr_teacher.media import MediaError, from_data_url\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try:\n    from_data_url(open(sys.argv[1]).read())\nexcept MediaError as exc:\n    print(exc)\n"
              "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    message, grown_mb = out.stdout.strip().splitlines()
    assert "10000x10000 px exceeds" in message
    assert int(grown_mb) < 100, f"decoding grew the process by {grown_mb} MB"  # a full decode is 300 MB


def test_a_prompt_beyond_the_context_is_400(model_server):
    client = openai.OpenAI(base_url=model_server.base_url, api_key="EMPTY", max_retries=0, timeout=60)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", max_tokens=2, messages=[
            {"role": "user", "content": "where is the flash " * 20_000}])  # ~380 KB, far over 4096 tokens
    assert "exceeds the model's context of 4096 tokens" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", max_tokens=400, messages=[
            {"role": "user", "content": "where is the flash " * 900}])  # fits alone, not with max_tokens
    assert "with max_tokens=400" in info.value.message


def test_generation_time_is_capped(tiny_student_dir):
    prompt = [{"role": "user", "content": "Describe the video."}]
    server = create_server(ServeConfig(model=str(tiny_student_dir), port=0, max_tokens_limit=300)).start()
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=120)
        full = client.chat.completions.create(model="m", max_tokens=300, temperature=0, messages=prompt)
        assert full.usage.completion_tokens == 300 and full.choices[0].finish_reason == "length"
        server.engine.max_generation_s = 0.02
        capped = client.chat.completions.create(model="m", max_tokens=300, temperature=0, messages=prompt)
    finally:
        server.stop()
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens < 300


def test_a_port_in_use_fails_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ffr = Path(sys.executable).with_name("ffr")
        result = subprocess.run([str(ffr), "teacher", "serve", "--model", str(tmp_path / "no-model"), "--port",
                                 str(port)], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "FFR_TEACHER_SERVE_API_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "Traceback" not in result.stderr + result.stdout
