"""``ffr teacher serve``: an OpenAI-compatible chat-completions server for a local HF VLM (stdlib HTTP server).

``POST /v1/chat/completions`` (text and ``image_url`` parts; images only as base64 data URLs: the server never opens
a path or fetches a URL sent by a client), ``GET /v1/models``, ``GET /health``. ``tools`` are accepted: they are
described to the model in the plain-text syntax, and ``TOOL_CALL:`` lines in its reply come back as OpenAI tool
calls; a client that describes the syntax itself (``tool_mode: text``) sends no ``tools`` and reads the text.
Concurrent requests are generated together in batches (:mod:`ffr_teacher.serve_engine`).

It is written for hostile clients: binds 127.0.0.1 by default; optional API key (401); without one, only a loopback
or IP-literal Host header is served (403; a web page cannot reach it by DNS rebinding) and only
``Content-Type: application/json`` (415; a page cannot send a form-style request without a CORS preflight); a body
needs one valid Content-Length within the limit (411/400/413) and is never read past it; image sizes are checked from
their headers before decoding; prompts beyond the model's context are refused (400) and generation time is capped.
Every client-caused error is a 4xx JSON error with a message; an unexpected failure is a 500 JSON error, never a
dropped connection or a traceback sent to the client.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from ffr_data.config import field
from ffr_data.errors import FFRError
from ffr_teacher.loop import ChatReply
from ffr_teacher.server_requests import ChatRequest, RequestError, parse_chat_request, tool_calls_from_text

log = logging.getLogger(__name__)
DRAIN_LIMIT = 64 * 2**20  # bytes of a refused body read (and discarded) so that its client sees the error response
LINGER_S = 2.0  # seconds spent discarding a refused request's body before the connection is closed
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class ServeConfig:
    model: str = field("", help="The local model directory to serve.")
    host: str = field("127.0.0.1", help="Address to bind; the default serves this machine only.")
    port: int = field(8000, help="Port to bind (0: any free port, printed at start).")
    api_key: str | None = field(None, secret=True, help="Require 'Authorization: Bearer KEY' (None: no auth, and "
                                                        "only loopback or IP-literal Host headers are served).")
    max_request_bytes: int = field(32 * 2**20, help="Larger request bodies get HTTP 413.")
    max_tokens_limit: int = field(4096, help="Largest max_tokens a request may ask for.")
    default_max_tokens: int = field(1024, help="max_tokens when a request does not say.")
    max_images: int = field(64, help="Most images in one request.")
    max_image_pixels: int = field(4096 * 4096, help="Most pixels in one image (read from its header, before "
                                                    "decoding).")
    max_request_pixels: int = field(32 * 2**20, help="Most pixels in all images of one request together.")
    max_prompt_tokens: int = field(0, help="Longest prompt in tokens (images included); 0: the model's context "
                                           "minus the request's max_tokens. Longer prompts get HTTP 400.")
    max_generation_s: float = field(120.0, help="Wall-clock cap on one generation (a batch); replies cut short "
                                                "finish with 'length'. 0: no cap.")
    max_batch: int = field(8, help="Most requests generated together (1: one at a time).")
    max_concurrent_requests: int = field(32, help="Requests being read, prepared or generated at once; more get "
                                                  "HTTP 503 with Retry-After.")
    served_name: str | None = field(None, help="Model name reported by the API (default: the directory name).")
    device: str = field("cpu", help="Torch device of the model.")
    dtype: str = field("float32", help="Model dtype: float32, bfloat16 or float16.")


class ChatEngine(Protocol):
    def generate(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float | None = None) -> ChatReply: ...


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of concurrent clients (a 1 s SYN retry each)


def bind(cfg: ServeConfig) -> _HTTPServer:
    """The listening socket for ``cfg`` (bound before any model is loaded); FFRError when the address is taken."""
    try:
        return _HTTPServer((cfg.host, cfg.port), _Handler, bind_and_activate=True)
    except OSError as exc:
        raise FFRError(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}") from None


class TeacherServer:
    """The HTTP server around a chat engine; ``start()`` runs it on a background thread."""

    def __init__(self, engine: ChatEngine, cfg: ServeConfig, name: str, httpd: _HTTPServer | None = None):
        self.engine, self.cfg, self.name = engine, cfg, name
        self.httpd = httpd or bind(cfg)
        self.httpd.app = self  # type: ignore[attr-defined]
        self.slots = threading.BoundedSemaphore(cfg.max_concurrent_requests)
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
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()

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


def host_allowed(host_header: str | None) -> bool:
    """Whether a keyless server answers a request with this Host header: ``localhost`` or an IP literal (a DNS
    rebinding page always sends its own domain name)."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):  # [v6]:port
        host = host[1:host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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

    # -- responses ----------------------------------------------------------------------------------------------
    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self._responded = True

    def _error(self, status: int, message: str, kind: str = "invalid_request_error",
               headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": status}}, headers)

    def _refuse(self, status: int, message: str, kind: str = "invalid_request_error", drain: int = 2**20,
                headers: dict[str, str] | None = None) -> None:
        """An error for a request whose body was not read: respond, then discard what the client still sends (at
        most ``drain`` bytes, LINGER_S seconds) so it reads the error rather than a reset connection, and close."""
        self.close_connection = True
        self._error(status, message, kind, headers)
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_S)
            deadline = time.monotonic() + LINGER_S
            while drain > 0 and time.monotonic() < deadline:
                chunk = self.connection.recv(min(drain, 2**16))
                if not chunk:
                    break
                drain -= len(chunk)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own errors (bad request line, unsupported method, oversized headers) as JSON too."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._error(code, message or self.responses.get(code, ("error",))[0])

    # -- checks -------------------------------------------------------------------------------------------------
    def _authorized(self) -> bool:
        key = self.app.cfg.api_key
        if not key:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {key}".encode())

    def _gate(self, auth: bool = True) -> bool:
        """The Host check (every route) and the API key check; False after an error response."""
        if not self.app.cfg.api_key and not host_allowed(self.headers.get("Host")):
            self._refuse(403, f"Host {str(self.headers.get('Host'))[:80]!r} is not served: without an API key this "
                              "server answers only 'localhost' or an IP address (DNS-rebinding protection)",
                         "forbidden")
            return False
        if auth and not self._authorized():
            self._refuse(401, "missing or wrong API key", "authentication_error")
            return False
        return True

    def _content_length(self) -> int | None:
        """The declared body length, or None after an error response (411, 400, 413)."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._refuse(411, "Transfer-Encoding is not supported; send the body with a Content-Length header")
            return None
        values = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not values:
            self._refuse(411, "a Content-Length header is required")
            return None
        if len(values) > 1 or not _CONTENT_LENGTH.fullmatch(next(iter(values))):
            shown = ", ".join(sorted(values))[:40]
            self._refuse(400, f"Content-Length must be one non-negative integer, got {shown!r}")
            return None
        length = int(next(iter(values)))
        limit = self.app.cfg.max_request_bytes
        if length > limit:
            self._refuse(413, f"request body of {length} bytes exceeds the limit of {limit} bytes",
                         drain=min(length, DRAIN_LIMIT))
            return None
        return length

    # -- routes -------------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._responded = False
        try:
            self._get()
        except Exception as exc:  # a bug: a JSON 500, never a dropped connection
            self._internal_error(exc)

    def do_POST(self) -> None:
        self._responded = False
        try:
            self._post()
        except Exception as exc:
            self._internal_error(exc)

    def _internal_error(self, exc: Exception) -> None:
        log.exception("request %s %s failed", self.command, self.path[:100])
        self.close_connection = True
        if not getattr(self, "_responded", False):
            with contextlib.suppress(OSError):
                self._error(500, f"internal server error ({type(exc).__name__}; logged)", "server_error")

    def _get(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if not self._gate(auth=path == "/v1/models"):
            return
        if path == "/health":
            self._send(200, {"status": "ok", "model": self.app.name})
        elif path == "/v1/models":
            self._send(200, {"object": "list", "data": [
                {"id": self.app.name, "object": "model", "created": 0, "owned_by": "ffr"}]})
        else:
            self._refuse(404, f"no route {path!r} (POST /v1/chat/completions, GET /v1/models, GET /health)",
                         "not_found_error")

    def _post(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/v1/chat/completions":
            self._refuse(404, f"no route {path!r} (POST /v1/chat/completions)", "not_found_error")
            return
        if not self._gate():
            return
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            self._refuse(415, f"Content-Type must be application/json, got {content_type or 'none'!r}")
            return
        if not self.app.slots.acquire(blocking=False):
            self._refuse(503, f"server busy: {self.app.cfg.max_concurrent_requests} requests in progress; retry",
                         "server_busy", headers={"Retry-After": "1"})
            return
        try:
            self._chat_completion()
        finally:
            self.app.slots.release()

    def _chat_completion(self) -> None:
        length = self._content_length()
        if length is None:
            return
        raw = self.rfile.read(length)
        if len(raw) < length:
            self._refuse(400, f"the body ended after {len(raw)} of {length} bytes")
            return
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except RecursionError:
            self._error(400, "request body is nested too deeply")
            return
        except ValueError as exc:  # JSONDecodeError, bad UTF-8, integers over Python's digit limit, NaN
            self._error(400, f"request body is not valid JSON ({getattr(exc, 'msg', str(exc)[:120])})")
            return
        try:
            request = parse_chat_request(body, self.app.cfg)
            response = self.app.complete(request)
        except RequestError as exc:
            self._error(exc.status, exc.message)
            return
        self._send(200, response)


def create_server(cfg: ServeConfig) -> TeacherServer:
    """Bind ``cfg.host:cfg.port`` (an FFRError when it is taken), then load the model in ``cfg.model``."""
    from ffr_teacher.backends.hf_chat import HFChat
    from ffr_teacher.serve_engine import BatchingEngine

    httpd = bind(cfg)
    try:
        chat = HFChat(cfg.model, cfg.device, cfg.dtype)
    except BaseException:
        httpd.server_close()
        raise
    engine = BatchingEngine(chat, cfg.max_batch, cfg.max_prompt_tokens, cfg.max_generation_s)
    return TeacherServer(engine, cfg, cfg.served_name or Path(cfg.model).resolve().name, httpd)
