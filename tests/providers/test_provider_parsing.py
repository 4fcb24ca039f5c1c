"""Property tests of the providers' answer parsing: any 200 body, through the real SDKs.

Each example is answered by an ``httpx2.MockTransport`` handed to the provider's SDK
client, so the SDK reads, decodes and builds its models exactly as it does off the
network. Whatever the body, ``generate`` returns a ModelResponse or raises one
ProviderError (with the body kept as raw) or AnswerError, never anything else.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from panel.providers.anthropic import AnthropicProvider, Structured
from panel.providers.base import (
    AnswerError,
    Message,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
)
from panel.providers.openai import Api, OpenAIProvider
from tests.fakeserver_wire import (
    REVIEW_SCHEMA,
    Fault,
    anthropic_message,
    chat_completion,
    default_answer,
    error_reply,
    response_object,
)

MODEL = "m"
REQUEST = ModelRequest(
    system="You are the skeptic.",
    messages=(Message("user", "Review the launch: Foo, a deploy CLI."),),
    schema=REVIEW_SCHEMA,
    max_tokens=700,
)
WIRE_REQUEST: dict[str, Any] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "x"}],
    "output_config": {"format": {"type": "json_schema", "schema": REVIEW_SCHEMA}},
}
TOOL_REQUEST = {**WIRE_REQUEST, "tool_choice": {"type": "tool", "name": "review"}}
KINDS = ["ok", "refusal", "max_tokens", "content_filter", "not_json", "missing_field"]
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Scripted:
    """The body the mock transport answers with, set per example."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.content_type = "application/json"

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": self.content_type}
        return httpx2.Response(200, headers=headers, content=self.body)


def anthropic(structured: Structured) -> Callable[[httpx2.MockTransport], Provider]:
    """An Anthropic provider answered by a transport."""
    return lambda t: AnthropicProvider("k", "http://api.test", structured=structured, transport=t)


def openai(api: Api) -> Callable[[httpx2.MockTransport], Provider]:
    """An OpenAI provider answered by a transport."""
    return lambda t: OpenAIProvider("k", "http://api.test/v1", api=api, transport=t)


PROVIDERS = {
    "anthropic": anthropic("output_format"),
    "anthropic-tool": anthropic("tool"),
    "openai-chat": openai("chat"),
    "openai-responses": openai("responses"),
}


def valid_answer(provider: str, kind: str) -> Any:
    """A well-formed answer of ``provider``'s API, of fault ``kind`` (ok, refusal...)."""
    fault = Fault(kind=kind)
    if provider.startswith("anthropic"):
        body = TOOL_REQUEST if provider == "anthropic-tool" else WIRE_REQUEST
        return anthropic_message(body, default_answer(body), fault, (10, 0, 0))
    build = response_object if provider == "openai-responses" else chat_completion
    return build(WIRE_REQUEST, default_answer(WIRE_REQUEST), fault, 0)


def error_body(provider: str, status: int) -> Any:
    """The API's own error object for ``status``."""
    path = "/v1/messages" if provider.startswith("anthropic") else "/v1/chat/completions"
    return error_reply(path, status, None, {}, {"model": MODEL}).json()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["text", "tool_use", "message", "output_text", "refusal", "review"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path to every node inside a JSON value."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*at, index))


def mutate(value: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    """``value`` with the node at ``path`` replaced by ``replacement`` (or deleted)."""
    if not path:
        return replacement
    value = copy.deepcopy(value)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return value


@st.composite
def broken_answers(draw: st.DrawFn, provider: str) -> Any:
    """A valid answer (or error object) with one to three nodes replaced or deleted."""
    if draw(st.booleans()):
        value = valid_answer(provider, draw(st.sampled_from(KINDS)))
    else:
        value = error_body(provider, draw(st.sampled_from([400, 429, 500, 529])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(value))))
        delete = bool(path) and draw(st.booleans())
        value = mutate(value, path, draw(json_values), delete)
    return value


def outcome(provider: Provider) -> ModelResponse | Exception:
    """What one call makes of the body its transport sends: a response, or the error."""
    try:
        return asyncio.run(provider.generate(MODEL, REQUEST))
    except (ProviderError, AnswerError) as exc:
        return exc


def check(result: ModelResponse | Exception, body: bytes) -> None:
    """A response with the right types, or a classified error that keeps the body."""
    if isinstance(result, ModelResponse):
        assert isinstance(result.text, str)
        counts = (result.input_tokens, result.output_tokens, result.cache_read_tokens)
        assert all(isinstance(n, int) for n in (*counts, result.cache_write_tokens))
        json.dumps(result.raw)
    elif isinstance(result, ProviderError):
        assert result.message and result.raw is not None
        if body.strip():
            assert result.raw, "a non-empty body is kept as raw"
    else:
        assert isinstance(result, AnswerError) and isinstance(result.response.text, str)


@pytest.fixture(autouse=True)
def _fresh_fallbacks() -> None:
    AnthropicProvider.forget_fallbacks()
    OpenAIProvider.forget_fallbacks()


@pytest.mark.parametrize("name", PROVIDERS)
@seed(1234)
@SETTINGS
@given(data=st.data())
def test_any_json_body(name: str, data: st.DataObject) -> None:
    scripted = Scripted()
    provider = PROVIDERS[name](httpx2.MockTransport(scripted))
    value = data.draw(st.one_of(json_values, broken_answers(name)), label="body")
    scripted.body = json.dumps(value).encode()
    check(outcome(provider), scripted.body)


@pytest.mark.parametrize("name", PROVIDERS)
@seed(1234)
@SETTINGS
@given(
    body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
    content_type=st.sampled_from(["application/json", "text/html", "text/plain", ""]),
)
def test_any_bytes_body(name: str, body: bytes, content_type: str) -> None:
    scripted = Scripted()
    scripted.body, scripted.content_type = body, content_type
    provider = PROVIDERS[name](httpx2.MockTransport(scripted))
    check(outcome(provider), body)


@pytest.mark.parametrize("name", PROVIDERS)
def test_valid_answers_still_parse(name: str) -> None:
    """The mutations above start from answers that parse, refusals and cut-offs included."""
    scripted = Scripted()
    provider = PROVIDERS[name](httpx2.MockTransport(scripted))
    for kind in KINDS:
        scripted.body = json.dumps(valid_answer(name, kind)).encode()
        result = outcome(provider)
        if kind in ("ok", "not_json", "missing_field"):
            assert isinstance(result, ModelResponse), result
        elif name.startswith("anthropic") and kind == "content_filter":
            assert isinstance(result, ModelResponse)  # Anthropic has no content filter stop
        else:
            assert isinstance(result, AnswerError), (kind, result)


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(("status", "retryable"), [(529, True), (429, True), (400, False)])
def test_error_objects_with_status_200_are_classified_by_type(
    name: str, status: int, retryable: bool
) -> None:
    scripted = Scripted()
    scripted.body = json.dumps(error_body(name, status)).encode()
    result = outcome(PROVIDERS[name](httpx2.MockTransport(scripted)))
    assert isinstance(result, ProviderError)
    assert result.retryable is retryable and result.status == 200
    assert "unexpected response from" in result.message
    assert "an error object with status 200" in result.message
    assert result.raw == scripted.body.decode()


class CutOff(httpx2.AsyncByteStream):
    """A body that breaks off after its first chunk, as a dropped connection does."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_body_cut_off_keeps_what_arrived(name: str, encoding: str) -> None:
    answer = json.dumps(valid_answer(name, "ok")).encode()
    sent = gzip.compress(answer) if encoding == "gzip" else answer
    first = sent[: len(sent) // 2]

    def handler(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "application/json", "content-encoding": encoding}
        return httpx2.Response(200, headers=headers, stream=CutOff(first))

    result = outcome(PROVIDERS[name](httpx2.MockTransport(handler)))
    assert isinstance(result, ProviderError) and result.retryable
    assert "RemoteProtocolError" in result.message
    assert result.raw and len(result.raw) > 20 and answer.decode().startswith(result.raw)
