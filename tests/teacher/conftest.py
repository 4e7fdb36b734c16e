"""Teacher-test fixtures: a multiple-choice sample over the shared real video, the student's frames, and a scripted
OpenAI-compatible server on 127.0.0.1 (real HTTP) that replays queued replies and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ffr_data.clips import sample_frames
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import parse_sample
from ffr_teacher import TeacherConfig

STUDENT_SAMPLING = FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28)
SECRET = "sk-test-SECRET-0123456789"


def sample_row(path: str, **changes: Any) -> dict[str, Any]:
    row = {
        "problem_id": "order-1", "data_source": "test", "path": path, "data_type": "video",
        "problem_type": "multiple choice", "problem": "Which shape appeared first?",
        "options": ["A. the red square", "B. the green disc", "C. the blue triangle", "D. the yellow star"],
        "solution": "<answer>B</answer>",
        "evidence": {"windows": [[1.5, 2.0]], "regions": [{"t": 1.75, "box": [0.1, 0.1, 0.4, 0.4],
                                                              "label": "the small shape"}]},
        "meta": {"family": "order", "candidate_evidence": [
            {"windows": [[2.5, 3.0]], "regions": [{"t": 2.75, "box": [0.5, 0.5, 0.9, 0.9], "label": "a shape"}]},
            {"windows": [[1.5, 2.0]], "regions": [{"t": 1.75, "box": [0.1, 0.1, 0.4, 0.4], "label": "a shape"}]},
        ]},
    }
    row.update(changes)
    return row


@pytest.fixture
def make_sample(video_path):
    def make(**changes: Any):
        return parse_sample({**sample_row(str(video_path)), **changes})

    return make


@pytest.fixture
def sample(make_sample):
    return make_sample()


@pytest.fixture(scope="session")
def frames(video_path):
    """The student's view: 8 frames of 56x56 at 0.00, 0.50, 1.12, ... 3.88 s."""
    return sample_frames(str(video_path), STUDENT_SAMPLING)


@dataclass
class Step:
    status: int = 200
    body: Any = None  # a dict (JSON), bytes (raw), or a function(request_json) -> dict
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def completion(text: str = "", tool_calls: list[dict] | None = None, finish: str = "stop") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message = {"role": "assistant", "content": text or None, "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(tool_calls)]}
        finish = "tool_calls"
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


def patch_reply(guidance: str = "Compare the moments around 1.5-2.0 s and note which shape appears first.",
                **fields: Any) -> str:
    patch = {"error_type": "temporal", "guidance": guidance, "windows": [[1.5, 2.0]], "key_frames": [3],
             "regions": [{"box": [0.1, 0.1, 0.4, 0.4], "t": 1.75, "label": "the small shape"}], **fields}
    return f"<think>The student looked at the wrong moment.</think>\n<patch>{json.dumps(patch)}</patch>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class ScriptedServer:
    """Replays queued Steps in order (the last one repeats when ``repeat_last``); records requests."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.repeat_last = False
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def queue(self, *steps: Step | dict | Callable) -> ScriptedServer:
        for step in steps:
            self.steps.append(step if isinstance(step, Step) else Step(body=step))
        return self

    def reply(self, *texts: str) -> ScriptedServer:
        return self.queue(*(completion(t) for t in texts))

    def next_step(self) -> Step:
        with self._lock:
            if not self.steps:
                return Step(500, {"error": {"message": "script exhausted"}})
            if self.repeat_last and len(self.steps) == 1:
                return self.steps[0]
            return self.steps.pop(0)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                step = server.next_step()
                time.sleep(step.delay_s)
                payload = step.body(body) if callable(step.body) else step.body
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(step.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in step.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def openai_config(scripted):
    """A fast-failing openai-backend config pointed at the scripted server."""

    def make(**changes: Any) -> TeacherConfig:
        base = dict(backend="openai", base_url=scripted.url, model="scripted", api_key=SECRET, timeout_s=5.0,
                    max_retries=1, backoff_s=0.01, backoff_max_s=0.05, sampling=STUDENT_SAMPLING)
        base.update(changes)
        return TeacherConfig(**base)

    return make


@pytest.fixture
def helpers():
    """Reply builders for tests (test modules cannot import this conftest)."""

    class Helpers:
        Step = Step
        completion = staticmethod(completion)
        patch_reply = staticmethod(patch_reply)
        secret = SECRET
        sampling = STUDENT_SAMPLING

    return Helpers
