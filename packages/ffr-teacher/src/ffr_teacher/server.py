"""``ffr teacher serve``: an OpenAI-compatible chat-completions server for a local HF VLM (stdlib HTTP server).

``POST /v1/chat/completions`` (text and ``image_url`` parts; images only as base64 data URLs: the server never opens
a path or fetches a URL sent by a client), ``GET /v1/models``, ``GET /health``. ``tools`` are accepted: they are
described to the model in the plain-text syntax, and ``TOOL_CALL:`` lines in its reply come back as OpenAI tool
calls. Binds 127.0.0.1 by default; optional API key (401), request size limit (413); malformed requests get a 4xx
JSON error with a message, never a traceback. Model calls are serialised by the model's lock.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from ffr_data.config import field
from ffr_teacher.loop import ChatReply
from ffr_teacher.server_requests import ChatRequest, RequestError, parse_chat_request, tool_calls_from_text

log = logging.getLogger(__name__)
DRAIN_LIMIT = 64 * 2**20  # an oversized body up to this size is read and discarded so the client sees the 413


@dataclass(frozen=True)
class ServeConfig:
    model: str = field("", help="The local model directory to serve.")
    host: str = field("127.0.0.1", help="Address to bind; the default serves this machine only.")
    port: int = field(8000, help="Port to bind (0: any free port, printed at start).")
    api_key: str | None = field(None, secret=True, help="Require 'Authorization: Bearer KEY' (None: no auth).")
    max_request_bytes: int = field(32 * 2**20, help="Larger request bodies get HTTP 413.")
    max_tokens_limit: int = field(4096, help="Largest max_tokens a request may ask for.")
    default_max_tokens: int = field(1024, help="max_tokens when a request does not say.")
    max_images: int = field(64, help="Most images in one request.")
    served_name: str | None = field(None, help="Model name reported by the API (default: the directory name).")
    device: str = field("cpu", help="Torch device of the model.")
    dtype: str = field("float32", help="Model dtype: float32, bfloat16 or float16.")


class ChatEngine(Protocol):
    def generate(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float | None = None) -> ChatReply: ...


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of concurrent clients (a 1 s SYN retry each)


class TeacherServer:
    """The HTTP server around a chat engine; ``start()`` runs it on a background thread."""

    def __init__(self, engine: ChatEngine, cfg: ServeConfig, name: str):
        self.engine, self.cfg, self.name = engine, cfg, name
        self.httpd = _HTTPServer((cfg.host, cfg.port), _Handler)
        self.httpd.app = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.cfg.host if ":" not in self.cfg.host else f"[{self.cfg.host}]"
        return f"http://{host}:{self.port}/v1"

    def start(self) -> TeacherServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ffr-teacher-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        reply = self.engine.generate(request.messages, request.max_tokens, request.temperature)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        finish = reply.finish_reason or "stop"
        if request.tool_names:
            content, calls = tool_calls_from_text(reply.text, request.tool_names)
            if calls:
                message = {"role": "assistant", "content": content or None, "tool_calls": calls}
                finish = "tool_calls"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": self.name, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        }


class _Handler(BaseHTTPRequestHandler):
    server_version = "ffr-teacher"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = 120  # seconds a client may take to send its request

    @property
    def app(self) -> TeacherServer:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": status}})

    def _authorized(self) -> bool:
        key = self.app.cfg.api_key
        if not key:
            return True
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {key}"
        return hmac.compare_digest(given.encode(), expected.encode())

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok", "model": self.app.name})
        elif path == "/v1/models":
            if not self._authorized():
                self._error(401, "missing or wrong API key", "authentication_error")
                return
            self._send(200, {"object": "list", "data": [
                {"id": self.app.name, "object": "model", "created": 0, "owned_by": "ffr"}]})
        else:
            self._error(404, f"no route {path!r} (POST /v1/chat/completions, GET /v1/models, GET /health)",
                        "not_found_error")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/v1/chat/completions":
            self.close_connection = True
            self._error(404, f"no route {path!r} (POST /v1/chat/completions)", "not_found_error")
            return
        if not self._authorized():
            self.close_connection = True
            self._error(401, "missing or wrong API key", "authentication_error")
            return
        body = self._read_body()
        if body is None:
            return
        try:
            request = parse_chat_request(body, self.app.cfg)
        except RequestError as exc:
            self._error(exc.status, exc.message)
            return
        try:
            response = self.app.complete(request)
        except Exception as exc:  # the model failed: a 500 with a one-line message; the traceback stays in the log
            log.exception("generation failed")
            self._error(500, f"generation failed ({type(exc).__name__})", "server_error")
            return
        self._send(200, response)

    def _read_body(self) -> Any:
        """The JSON body, or None after an error response (411, 413, 400)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or self.headers.get("Content-Length") is None:
            self.close_connection = True
            self._error(411, "a Content-Length header is required")
            return None
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            self.close_connection = True
            self._error(400, "Content-Length is not a number")
            return None
        limit = self.app.cfg.max_request_bytes
        if length > limit:
            self.close_connection = True
            remaining = length if length <= DRAIN_LIMIT else 0
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 2**20))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._error(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._error(400, f"request body is not valid JSON ({getattr(exc, 'msg', exc)})")
            return None


def create_server(cfg: ServeConfig) -> TeacherServer:
    """Load the model in ``cfg.model`` and bind the server (not yet serving)."""
    from ffr_teacher.backends.hf_chat import HFChat

    engine = HFChat(cfg.model, cfg.device, cfg.dtype)
    return TeacherServer(engine, cfg, cfg.served_name or Path(cfg.model).resolve().name)
