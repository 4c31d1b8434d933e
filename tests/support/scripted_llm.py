"""A scripted OpenAI-compatible chat server on 127.0.0.1, for testing the LLM designer offline.

    with ScriptedLLM(key="sk-canary") as llm:
        llm.script("openai/test-coder", ["class Unit...", fault(429, {"Retry-After": "2"}), slow(3, "late")])
        spec = ... apiBase=llm.url + "/v1" ...
        llm.requests  # every request: model, messages, body, headers (names in lower case, Authorization
                      # hidden) and whether it carried `key`

Roles are told apart by model name: give each role its own model (openai/test-proposer,
openai/test-coder, ...) and script a queue of replies per model. The provider prefix is
optional in `script` (litellm sends "test-coder" for "openai/test-coder"). Each request takes
the next reply of its model's queue: a text (with usage tokens), a fault (status, headers such
as Retry-After, a body), a delay before answering, an empty reply or a malformed body. A
request with no reply left is answered 400 and recorded in `unscripted`; leaving the `with`
block then fails the test, as does a request whose bearer key is not `key` (answered 401).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = ("/v1/chat/completions", "/chat/completions")
CANARY_KEY = "sk-canary-0b1d2e3f4a5b6c7d8e9f"


@dataclass(frozen=True)
class Scripted:
    """One scripted answer; build with text(), fault(), slow(), empty() or malformed()."""

    text: str | None = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes | None = None  # sent as is, instead of a completion
    prompt_tokens: int | None = None  # None: about a token per 4 characters of the messages
    completion_tokens: int | None = None  # None: about a token per 4 characters of the text


def text(reply: str, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Scripted:
    return Scripted(text=reply, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def fault(status: int, headers: dict[str, str] | None = None, message: str = "scripted fault") -> Scripted:
    body = json.dumps({"error": {"message": message, "type": "scripted", "code": status}}).encode()
    return Scripted(text=None, status=status, headers=headers or {}, body=body)


def slow(delay: float, reply: str = "late") -> Scripted:
    return Scripted(text=reply, delay=delay)


def empty() -> Scripted:
    return Scripted(text="")


def malformed() -> Scripted:
    return Scripted(text=None, body=b'{"id": "x", "choices": [{"message": ')


@dataclass
class Request:
    path: str
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    headers: dict[str, str]
    authorized: bool


def _bare(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("openai/") else model


class ScriptedLLM:
    """The server; a context manager that starts it on a free port and stops it on exit."""

    def __init__(self, key: str = CANARY_KEY):
        self.key = key
        self.requests: list[Request] = []
        self.unscripted: list[Request] = []
        self._queues: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first: `with ScriptedLLM() as llm:`"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, model: str, replies: list[Scripted | str]) -> None:
        """Queue `replies` (plain strings are texts) for requests naming `model`."""
        with self._lock:
            self._queues[_bare(model)].extend(text(r) if isinstance(r, str) else r for r in replies)

    def requests_for(self, model: str) -> list[Request]:
        return [r for r in self.requests if r.model == _bare(model)]

    def left(self, model: str) -> int:
        with self._lock:
            return len(self._queues[_bare(model)])

    def _next(self, request: Request) -> Scripted | None:
        """Record `request`; the next reply of its model, if it is authorized and one is left."""
        with self._lock:
            self.requests.append(request)
            queue = self._queues[request.model]
            return queue.popleft() if queue and request.authorized else None

    def __enter__(self) -> ScriptedLLM:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a slow reply must not hold up the test's end
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if exc_info[0] is None:
            assert not self.unscripted, f"requests with no scripted reply: {[r.model for r in self.unscripted]}"
            bad = [r.model for r in self.requests if not r.authorized]
            assert not bad, f"requests without the expected API key: {bad}"


def _completion(model: str, reply: Scripted, messages: list[dict[str, Any]]) -> dict[str, Any]:
    chars = sum(len(str(m.get("content") or "")) for m in messages)
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else max(1, chars // 4)
    completion = reply.completion_tokens if reply.completion_tokens is not None else len(reply.text or "") // 4
    return {
        "id": f"chatcmpl-scripted-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _handler(server: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if self.path not in PATHS:
                self._send(404, b'{"error": {"message": "scripted LLM: no such path"}}')
                return
            auth = self.headers.get("Authorization", "")
            headers = {k.lower(): ("<hidden>" if k.lower() in ("authorization", "api-key") else v)
                       for k, v in self.headers.items()}
            request = Request(path=self.path, model=str(payload.get("model", "")),
                              messages=list(payload.get("messages") or []), body=payload, headers=headers,
                              authorized=auth == f"Bearer {server.key}")
            reply = server._next(request)
            if not request.authorized:
                self._send(401, b'{"error": {"message": "scripted LLM: wrong API key", "code": 401}}')
                return
            if reply is None:
                server.unscripted.append(request)
                message = f"scripted LLM: no reply left for model {request.model}"
                self._send(400, json.dumps({"error": {"message": message, "code": 400}}).encode())
                return
            if reply.delay:
                time.sleep(reply.delay)
            if reply.body is not None:
                self._send(reply.status, reply.body, reply.headers)
                return
            body = json.dumps(_completion(request.model, reply, request.messages)).encode()
            self._send(reply.status, body, reply.headers)

    return Handler
