"""A real HTTP server on 127.0.0.1 that speaks the Anthropic and OpenAI wire formats.

It answers ``POST /v1/messages``, ``/v1/chat/completions`` and ``/v1/responses`` with a
review (or whatever ``server.answer`` returns), plus the batch endpoints of both APIs
(see ``fakeserver_batch``; the JSON shapes live in ``fakeserver_wire``). Faults are
scripted per request as a FIFO queue::

    server.script(["429:retry-after=2", "reset", "ok"])

Prompt caching follows each provider's documented rules (see ``fakecache``): a request's
cache hit is looked up when it arrives and its writes are visible once it is answered.
``advance(seconds)`` moves the cache clock on; ``reset_cache()`` empties it.

Run it alone for benchmarks: ``python -m tests.fakeserver --port 8080 --rpm 3000``.
``GET /_stats`` gives the counters and cache totals, ``POST /_reset_cache`` empties the
cache, ``POST /_advance`` with ``{"seconds": N}`` moves its clock on.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

from tests.fakecache import Plan, PromptCache
from tests.fakeserver_batch import BatchStore
from tests.fakeserver_wire import (
    BODY_FAULTS,
    GENERATE_PATHS,
    JSON,
    LLAMA_CPP_JSON_SCHEMA_ERROR,
    Fault,
    Reply,
    anthropic_message,
    body_fault,
    chat_completion,
    default_answer,
    error_reply,
    json_reply,
    response_object,
)

Answer = Callable[[JSON], "JSON | str"]
"""Given the request body, the model's answer: a dict (sent as JSON) or raw text."""
Compat = Literal["openai", "llama_cpp"]


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """Parsed JSON, or the raw bytes of a non-JSON body."""


@dataclass
class _Bucket:
    """A token bucket: ``rate`` tokens per second, at most ``capacity`` at once."""

    rate: float
    capacity: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> float | None:
        """Take a token; None when allowed, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


class FakeServer:
    """The fake API server; ``start()`` it, point SDK clients at ``url``, ``stop()`` it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.answer: Answer = default_answer
        self.latency = 0.0
        self.compat: Compat = "openai"
        """``llama_cpp`` mimics llama-cpp-python's server: no json_schema, no Responses API."""
        self.require_key: str | None = None
        """When set, requests without this key (x-api-key or Bearer) get a 401."""
        self.requests: list[Recorded] = []
        self.counts: Counter[str] = Counter()
        self.rate_limited = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.served: Counter[str] = Counter()
        """Generation requests let through the rate limit, by a hash of their body."""
        self.batch = BatchStore(self._batch_result)
        self.cache = PromptCache()
        """The simulated prompt caches of both APIs."""
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._faults: list[Fault] = []
        self._bucket: _Bucket | None = None
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL for the Anthropic SDK (which adds ``/v1/...`` itself)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        """Base URL for the OpenAI SDK (which expects the ``/v1`` prefix in it)."""
        return f"{self.url}/v1"

    @property
    def total(self) -> int:
        """Number of requests received, all paths."""
        return sum(self.counts.values())

    def stats(self) -> JSON:
        """Counters for benchmarks run against a server in another process (GET /_stats).

        With the cache totals over answered generation requests: ``cache_requests``,
        ``cache_hits`` (requests that read something), ``prompt_tokens`` (all prompt tokens),
        ``cache_read_tokens``, ``cache_write_tokens`` and ``cache_entries`` (live ones)."""
        with self.lock:
            counters = {
                "total": self.total,
                "counts": dict(self.counts),
                "rate_limited": self.rate_limited,
                "served": sum(self.served.values()),
                "repeated": sum(n - 1 for n in self.served.values()),
                "max_in_flight": self.max_in_flight,
            }
        return {**counters, **self.cache.stats()}

    def advance(self, seconds: float) -> None:
        """Move the prompt cache's clock on by ``seconds`` (expires entries without sleeping)."""
        self.cache.advance(seconds)

    def reset_cache(self) -> None:
        """Empty the prompt cache and zero its totals."""
        self.cache.reset()

    def plan_cache(self, path: str, body: JSON) -> Plan:
        """What the prompt cache gives a generation request arriving now (see ``fakecache``)."""
        return self.cache.plan(path, body, enabled=self.compat != "llama_cpp")

    def start(self) -> FakeServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections (wakes held ``timeout`` faults too)."""
        self.stopping.set()
        self._httpd.shutdown()
        with self.lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, faults: Iterable[str | Fault]) -> None:
        """Append faults to the FIFO queue; each matching request takes the first one."""
        with self.lock:
            self._faults.extend(Fault.parse(f) for f in faults)

    @property
    def pending(self) -> list[Fault]:
        """Faults not yet consumed."""
        with self.lock:
            return list(self._faults)

    def rate_limit(self, rpm: float | None, burst: int | None = None) -> None:
        """Limit to ``rpm`` requests per minute (None: no limit); past it, 429 + retry-after.

        A token bucket refilled at rpm/60 per second holding ``burst`` tokens (default one
        second's worth), the way providers enforce a per-minute limit over short windows.
        """
        with self.lock:
            if rpm is None:
                self._bucket = None
                return
            capacity = float(burst if burst is not None else max(1, math.ceil(rpm / 60)))
            self._bucket = _Bucket(rate=rpm / 60, capacity=capacity, tokens=capacity)

    def bodies(self, path: str) -> list[Any]:
        """Bodies of the recorded requests for ``path``."""
        with self.lock:
            return [r.body for r in self.requests if r.path == path]

    def _next_fault(self, path: str, body: bytes) -> Fault:
        with self.lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(path, body):
                    return self._faults.pop(index)
        return Fault()

    # -- wire formats -------------------------------------------------------------------

    def _batch_result(self, endpoint: str, body: JSON, spec: str | Fault) -> Reply:
        return self.generate(endpoint, body, Fault.parse(spec))

    def generate(self, path: str, body: JSON, fault: Fault, plan: Plan | None = None) -> Reply:
        """The reply of a generation endpoint for ``body`` under an answer-kind ``fault``.

        ``plan`` is the cache lookup made when the request arrived (made now when None); an
        answer commits its cache writes."""
        if fault.kind == "status":
            return self.error(path, fault.status, fault.message, fault.headers(), body)
        if path == "/v1/messages":
            plan = plan or self.plan_cache(path, body)
            if plan.error:
                return self.error(path, 400, plan.error, {}, body)
            answer = self.answer(body)
            self.cache.commit(plan)
            return json_reply(anthropic_message(body, answer, fault, plan.usage))
        if self.compat == "llama_cpp" and path == "/v1/responses":
            return json_reply({"detail": "Not Found"}, 404)
        response_format = body.get("response_format") or {}
        if self.compat == "llama_cpp" and response_format.get("type") == "json_schema":
            error = {"message": LLAMA_CPP_JSON_SCHEMA_ERROR, "type": "internal_server_error"}
            return json_reply({"error": {**error, "param": None, "code": None}}, 500)
        plan = plan or self.plan_cache(path, body)
        answer = self.answer(body)
        self.cache.commit(plan)
        build = response_object if path == "/v1/responses" else chat_completion
        return json_reply(build(body, answer, fault, plan.read, plan.prompt_tokens))

    def error(
        self, path: str, status: int, message: str | None, headers: dict[str, str], body: Any
    ) -> Reply:
        """An error reply in the real JSON shape of the API that ``path`` belongs to."""
        return error_reply(path, status, message, headers, body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    fake: FakeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def setup(self) -> None:
        """Track the connection so ``stop()`` can drop it; no Nagle delay, as real servers."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.fake.lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        with self.server.fake.lock:
            self.server.fake._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _serve(self) -> None:
        fake = self.server.fake
        path = self.path.split("?")[0]
        raw = self._read_body()
        if path == "/_stats":
            return self._send(json_reply(fake.stats()))
        body: Any = raw
        if "json" in self.headers.get("content-type", ""):
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = raw
        if path in ("/_reset_cache", "/_advance") and self.command == "POST":
            if path == "/_reset_cache":
                fake.reset_cache()
            else:
                fake.advance(float(body.get("seconds", 0) if isinstance(body, dict) else 0))
            return self._send(json_reply(fake.stats()))
        with fake.lock:
            headers = {name.lower(): value for name, value in self.headers.items()}
            fake.requests.append(Recorded(self.command, path, headers, body))
            fake.counts[path] += 1
            wait = fake._bucket.take() if fake._bucket else None
            fake.rate_limited += wait is not None
        if wait is not None:
            headers = {
                "retry-after": str(math.ceil(wait)),
                "retry-after-ms": str(math.ceil(wait * 1e3)),
            }
            return self._send(fake.error(path, 429, "rate limit exceeded", headers, body))
        key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
        if fake.require_key and key.removeprefix("Bearer ") != fake.require_key:
            return self._send(fake.error(path, 401, "invalid x-api-key", {}, body))
        fault = fake._next_fault(path, raw)
        if path in GENERATE_PATHS:
            generating = self.command == "POST" and isinstance(body, dict)
            plan = fake.plan_cache(path, body) if generating else None
            with fake.lock:
                fake.served[hashlib.sha256(raw).hexdigest()] += 1
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                fake.stopping.wait(fake.latency)
                self._respond(path, body, fault, plan)
            finally:
                with fake.lock:
                    fake.in_flight -= 1
        else:
            self._respond(path, body, fault)

    def _respond(self, path: str, body: Any, fault: Fault, plan: Plan | None = None) -> None:
        fake = self.server.fake
        if fault.kind == "reset":
            # SO_LINGER 0 makes close() send a TCP RST instead of a clean FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault.kind == "timeout":
            fake.stopping.wait(fault.seconds)
            self.close_connection = True
            return
        if fault.kind in BODY_FAULTS:
            reply = body_fault(path, fault, body)
        elif path in GENERATE_PATHS and self.command == "POST":
            if not isinstance(body, dict):
                reply = fake.error(path, 400, "request body must be a JSON object", {}, None)
            else:
                reply = fake.generate(path, body, fault, plan)
        elif fault.kind == "status":
            reply = fake.error(path, fault.status, fault.message, fault.headers(), body)
        else:
            content_type = self.headers.get("content-type", "")
            found = fake.batch.handle(self.command, path, body, content_type, fake.url)
            reply = found or fake.error(path, 404, f"Invalid URL ({self.command} {path})", {}, None)
        self._send(reply, fault.kind)

    def _send(self, reply: Reply, fault: str = "ok") -> None:
        """Send ``reply``; ``truncated`` and ``overlong`` promise more bytes than they send."""
        short = fault in ("truncated", "overlong")
        body = reply.body[: len(reply.body) // 2] if fault == "truncated" else reply.body
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("content-length", str(len(reply.body) + (100 if short else 0)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if short:
            self.close_connection = True


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A started FakeServer on a random port of 127.0.0.1, stopped after the test."""
    with FakeServer() as server:
        yield server


def main() -> None:
    """Serve until interrupted: ``python -m tests.fakeserver --port 8080 --rpm 3000``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rpm", type=float, default=None)
    parser.add_argument("--compat", choices=["openai", "llama_cpp"], default="openai")
    args = parser.parse_args()
    server = FakeServer(port=args.port)
    server.latency, server.compat = args.latency, args.compat
    server.rate_limit(args.rpm)
    server.start()
    print(f"fake server on {server.url} (OpenAI base URL {server.openai_url})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
