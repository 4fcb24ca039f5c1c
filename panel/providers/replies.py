"""Reading what an API sent back: the bytes of a cut-off body, the shape of a 200 answer.

Shared by the SDK providers. The SDKs build their response models without validation, so
a proxy's HTML page, ``{}`` or an error object sent with status 200 comes back as a str or
as a model whose fields are None; each provider checks the fields it reads with
:func:`wrong_fields` and turns what does not fit into a ProviderError.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from types import NoneType

import httpx2
import pydantic

from panel.providers.base import RATE_LIMIT_TYPES, ProviderError

_TITLE = re.compile(r"<title[^>]*>([^<]+)<", re.IGNORECASE)
RECEIVED = "panel.received"
"""The request extension where :func:`keep_received` keeps the bytes of its response."""
KEPT_BYTES = 1_000_000
"""How much of a body is kept: enough for the call log, bounded for big result files."""


class Received:
    """The first bytes of a response body as they arrive, and its content encoding."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.data = bytearray()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        """Count a chunk, keeping it while under :data:`KEPT_BYTES`."""
        self.size += len(chunk)
        self.data += chunk[: max(0, KEPT_BYTES - len(self.data))]

    def text(self) -> str:
        """What arrived, decoded (decompressed as far as it goes for gzip or deflate)."""
        data = bytes(self.data)
        if self.encoding in ("gzip", "deflate"):
            try:
                data = zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(data)
            except zlib.error:
                return f"({self.size} bytes of {self.encoding} data)"
        elif self.encoding not in ("", "identity"):
            return f"({self.size} bytes of {self.encoding} data)"
        more = f"... ({self.size} bytes in all)" if self.size > len(self.data) else ""
        return data.decode("utf-8", errors="replace") + more


class _Tee(httpx2.AsyncByteStream):
    """A response stream that copies each chunk into a :class:`Received`."""

    def __init__(self, stream: httpx2.AsyncByteStream, into: Received) -> None:
        self._stream = stream
        self._into = into

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._into.add(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


async def keep_received(response: httpx2.Response) -> None:
    """An httpx2 response hook: keep the body as it is read, so a cut-off body is not lost."""
    if isinstance(response.stream, httpx2.AsyncByteStream):
        into = Received(response.headers.get("content-encoding", "").strip().lower())
        response.request.extensions[RECEIVED] = into
        response.stream = _Tee(response.stream, into)


def http_client(
    make: Callable[..., httpx2.AsyncClient],
    timeout: float,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> httpx2.AsyncClient:
    """An SDK's default HTTP client (``make``) that keeps what it receives."""
    hooks = {"response": [keep_received]}
    if transport is None:
        return make(timeout=timeout, event_hooks=hooks)
    return make(timeout=timeout, event_hooks=hooks, transport=transport)


def received(exc: BaseException) -> str | None:
    """What the server sent before ``exc`` (a cut-off or unparsable body), if anything."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.doc
    request = getattr(exc, "request", None)
    extensions = getattr(request, "extensions", None)
    into = extensions.get(RECEIVED) if isinstance(extensions, Mapping) else None
    if not isinstance(into, Received):
        return None
    # A response had begun: keep its bytes, or at least say why there are none.
    cause = exc.__cause__ or exc
    return into.text() or f"{type(cause).__name__}: {cause}"


def not_an_object(value: object) -> str:
    """What a parsed body that is not a JSON object is ('an HTML page', 'a JSON array'...)."""
    if isinstance(value, str):
        if not value.strip():
            return "an empty body"
        if value.lstrip()[:1] != "<":
            return "text that is not JSON"
        title = _TITLE.search(value)
        return f"an HTML page ({title.group(1).strip()[:80]})" if title else "an HTML page"
    if value is None:
        return "an empty answer (null)"
    return f"{_kind(value)} instead of a JSON object"


Fields = Mapping[str, tuple[type, ...]]
"""Field names and the types each may have."""


def wrong_fields(obj: object, where: str, fields: Fields) -> str | None:
    """The first of ``fields`` of ``obj`` that is missing or of another type, described."""
    for name, types in fields.items():
        value = getattr(obj, name, None)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join(dict.fromkeys(_kind(t) for t in types))
            return f"{where}{name} is {_kind(value)}, not {expected}"
    return None


def unexpected(
    answer: object, problem: str, body: str | None, source: str, retryable: frozenset[str]
) -> ProviderError:
    """The error for a 200 answer of the wrong shape (``problem``), with its body as raw.

    An error object sent with status 200 is classified by its type: retryable when the
    type is in ``retryable``; any other unexpected answer is retried (a passing proxy page).
    """
    error = error_object(answer)
    if error is not None:
        kind, detail = error
        problem = f"an error object with status 200 ({kind}): {detail}"
    message = f"unexpected response from {source}: {problem}"
    again = error is None or error[0] in retryable
    raw = body if body is not None else as_text(answer)
    slow_down = error is not None and error[0] in RATE_LIMIT_TYPES
    return ProviderError(message, retryable=again, status=200, raw=raw, rate_limited=slow_down)


def as_text(answer: object) -> str:
    """A parsed answer back as text, for the call log (when its body is not at hand)."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, pydantic.BaseModel):
        return answer.model_dump_json(exclude_unset=True, warnings=False)
    return json.dumps(answer, default=str)


def error_object(answer: object) -> tuple[str, str] | None:
    """The (type, message) of an error object an answer carries instead of a result."""
    error = answer.get("error") if isinstance(answer, Mapping) else getattr(answer, "error", None)
    if isinstance(error, pydantic.BaseModel):
        error = error.model_dump(warnings=False)
    if isinstance(error, str) and error:  # e.g. Ollama's {"error": "..."}
        return "error", error
    if not isinstance(error, Mapping):
        return None
    kind = error.get("type") or error.get("code") or "error"
    return str(kind), str(error.get("message") or "")


_KINDS: dict[type, str] = {
    NoneType: "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def _kind(value: object) -> str:
    """A value's (or a type's) JSON kind, for messages."""
    kind = value if isinstance(value, type) else type(value)
    for known, name in _KINDS.items():
        if issubclass(kind, known):
            return name
    return "an object" if issubclass(kind, pydantic.BaseModel) else f"a {kind.__name__}"
