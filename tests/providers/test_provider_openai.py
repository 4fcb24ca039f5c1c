"""OpenAIProvider: the real openai SDK over HTTP against the fake server."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest

from panel.providers.base import AnswerError, Message, ModelRequest, ProviderError
from panel.providers.openai import NO_KEY, Api, Mode, OpenAIProvider
from tests.fakeserver import FakeServer
from tests.fakeserver_wire import PROXY_PAGE, REVIEW_SCHEMA

MODEL = "gpt-test"
REQUEST = ModelRequest(
    system="You are the futurist. " * 40,
    messages=(Message("user", "Review the launch: Foo, a deploy CLI."),),
    schema=REVIEW_SCHEMA,
    max_tokens=700,
)
APIS = ["chat", "responses"]
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}

LONG = replace(REQUEST, system=REQUEST.system * 8)
"""A system prompt past the provider's minimum cacheable length (1,024 tokens)."""


@pytest.fixture(autouse=True)
def _fresh_fallbacks() -> None:
    """Servers reuse ports across tests, so learned fallbacks must not leak."""
    OpenAIProvider.forget_fallbacks()


def make(server: FakeServer, api: Api = "chat", mode: Mode = "auto") -> OpenAIProvider:
    """A provider pointed at the fake server, with a short timeout."""
    return OpenAIProvider("sk-test", server.openai_url, timeout=0.5, mode=mode, api=api)


async def fail(provider: OpenAIProvider) -> ProviderError:
    """The ProviderError one call raises."""
    with pytest.raises(ProviderError) as caught:
        await provider.generate(MODEL, REQUEST)
    return caught.value


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages this provider logged."""
    return [r.getMessage() for r in caplog.records if r.name == "panel.providers.openai.client"]


async def test_chat_answer_usage_and_wire_request(fake_server: FakeServer) -> None:
    fake_server.require_key = "sk-test"
    response = await make(fake_server).generate(MODEL, REQUEST)
    assert json.loads(response.text)["verdict"] in ("ship", "skip")
    assert response.stop_reason == "stop" and response.output_tokens > 0
    [body] = fake_server.bodies("/v1/chat/completions")
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "review", "schema": REVIEW_SCHEMA, "strict": True},
    }
    assert body["messages"][0] == {"role": "system", "content": REQUEST.system}
    assert body["messages"][1]["role"] == "user"
    assert body["temperature"] == 0.7
    # a compatible server (any base_url) gets max_tokens, which all of them understand
    assert body["max_tokens"] == 700 and "max_completion_tokens" not in body


async def test_cached_prompt_tokens_are_split_out(fake_server: FakeServer) -> None:
    provider = make(fake_server)
    await provider.generate(MODEL, REQUEST)
    short = await provider.generate(MODEL, REQUEST)
    assert short.cache_read_tokens == 0
    first = await provider.generate(MODEL, LONG)
    second = await provider.generate(MODEL, LONG)
    assert first.cache_read_tokens == 0 and second.cache_read_tokens > 0
    usage = second.raw["usage"]
    assert isinstance(usage, dict)
    assert second.input_tokens + second.cache_read_tokens == usage["prompt_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == second.cache_read_tokens


async def test_reasoning_models_get_no_temperature(fake_server: FakeServer) -> None:
    await make(fake_server).generate("gpt-5-mini", REQUEST)
    assert "temperature" not in fake_server.bodies("/v1/chat/completions")[0]


async def test_responses_api_wire_request_and_usage(fake_server: FakeServer) -> None:
    provider = make(fake_server, "responses")
    await provider.generate(MODEL, LONG)
    response = await provider.generate(MODEL, LONG)
    assert json.loads(response.text)["verdict"] in ("ship", "skip")
    assert response.stop_reason == "completed" and response.cache_read_tokens > 0
    body = fake_server.bodies("/v1/responses")[0]
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "review", "schema": REVIEW_SCHEMA, "strict": True}
    }
    assert body["instructions"] == LONG.system and body["store"] is False
    assert body["input"] == [{"role": "user", "content": REQUEST.messages[0].content}]
    assert body["max_output_tokens"] == 700


async def test_auto_falls_back_to_json_object_for_llama_cpp(
    fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.compat = "llama_cpp"
    provider = make(fake_server)
    with caplog.at_level(logging.WARNING, logger="panel.providers.openai"):
        first = await provider.generate(MODEL, REQUEST)
        second = await make(fake_server).generate(MODEL, REQUEST)  # a new instance remembers
    assert json.loads(first.text)["verdict"] and json.loads(second.text)["verdict"]
    formats = [b["response_format"]["type"] for b in fake_server.bodies("/v1/chat/completions")]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert (
        fake_server.bodies("/v1/chat/completions")[1]["response_format"]["schema"] == REVIEW_SCHEMA
    )
    [warning] = warnings(caplog)
    assert "refused response_format json_schema" in warning


async def test_auto_falls_back_from_responses_to_chat(
    fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.compat = "llama_cpp"
    provider = make(fake_server, "responses")
    with caplog.at_level(logging.WARNING, logger="panel.providers.openai"):
        assert json.loads((await provider.generate(MODEL, REQUEST)).text)
        assert json.loads((await provider.generate(MODEL, REQUEST)).text)
    assert fake_server.counts["/v1/responses"] == 1
    assert fake_server.counts["/v1/chat/completions"] == 3
    assert len(warnings(caplog)) == 2


async def test_json_schema_mode_names_the_fix(fake_server: FakeServer) -> None:
    fake_server.compat = "llama_cpp"
    error = await fail(make(fake_server, mode="json_schema"))
    assert not error.retryable and error.status == 500
    assert "does not support response_format json_schema" in error.message
    assert "use mode json_object" in error.message


async def test_json_object_mode(fake_server: FakeServer) -> None:
    await make(fake_server, mode="json_object").generate(MODEL, REQUEST)
    [body] = fake_server.bodies("/v1/chat/completions")
    assert body["response_format"] == {"type": "json_object", "schema": REVIEW_SCHEMA}


async def test_a_plain_500_is_not_mistaken_for_a_format_refusal(fake_server: FakeServer) -> None:
    fake_server.script(["500"])
    error = await fail(make(fake_server))
    assert error.retryable and fake_server.total == 1


async def test_missing_responses_endpoint_is_named(fake_server: FakeServer) -> None:
    fake_server.compat = "llama_cpp"
    error = await fail(make(fake_server, "responses", mode="json_schema"))
    assert error.status == 404 and not error.retryable
    assert "no /responses endpoint" in error.message and "OPENAI_BASE_URL" in error.message


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("spec", "retry_after"),
    [
        ("429:retry-after=2", 2.0),
        ("429:retry-after-ms=1500", 1.5),
        ("429:retry-after=3600", 3600.0),
        ("500", None),
        ("503", None),
        ("529", None),
        ("408", None),
        ("409", None),
    ],
)
async def test_retryable_statuses(
    fake_server: FakeServer, api: Api, spec: str, retry_after: float | None
) -> None:
    fake_server.script([spec])
    error = await fail(make(fake_server, api))
    assert error.retryable and error.retry_after == retry_after
    assert error.status == int(spec[:3]) and error.raw and '"error"' in error.raw
    assert fake_server.total == 1  # the SDK itself did not retry


async def test_retry_after_http_date(fake_server: FakeServer) -> None:
    fake_server.script(["429:retry-after-date=30"])
    error = await fail(make(fake_server))
    assert error.retryable and error.retry_after is not None and 27 <= error.retry_after <= 30


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    "spec", ["reset", "timeout:seconds=5", "truncated", "overlong", "bad_body"]
)
async def test_transport_faults_are_retryable(fake_server: FakeServer, api: Api, spec: str) -> None:
    provider = make(fake_server, api)
    fake_server.script([spec])
    error = await fail(provider)
    assert error.retryable and error.status is None and error.retry_after is None
    if spec.startswith("timeout"):
        assert "did not answer within 0.5s" in error.message
    if spec in ("truncated", "overlong"):
        # what arrived before the body broke off is kept for the call log
        kind = "chat.completion" if api == "chat" else "response"
        assert error.raw and f'"object": "{kind}"' in error.raw
    if spec == "bad_body":
        assert error.raw and error.raw.endswith("<html>502</html>")
    assert json.loads((await provider.generate(MODEL, REQUEST)).text)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("spec", "what", "retryable"),
    [
        ("html200", "an HTML page (Service temporarily unavailable)", True),
        ("empty200", "{field} is null, not a list", True),
        ("error200", "an error object with status 200 (server_error): Overloaded", True),
        ("error200:status=429", "an error object with status 200 (requests)", True),
        ("error200:status=401", "an error object with status 200 (invalid_request_error)", False),
    ],
)
async def test_a_200_that_is_no_answer_is_a_classified_error(
    fake_server: FakeServer, api: Api, spec: str, what: str, retryable: bool
) -> None:
    provider = make(fake_server, api)
    fake_server.script([spec])
    error = await fail(provider)
    what = what.format(field="choices" if api == "chat" else "output")
    source = fake_server.openai_url
    assert error.message.startswith(f"unexpected response from {source}: {what}")
    assert error.retryable is retryable and error.status == 200
    if spec == "html200":
        assert error.raw == PROXY_PAGE.decode()
    elif spec == "empty200":
        assert error.raw == "{}"
    else:
        assert error.raw and "error" in json.loads(error.raw)
    assert json.loads((await provider.generate(MODEL, REQUEST)).text)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("400", "rejected the request (status 400)"),
        ("422", "rejected the request (status 422)"),
        ("401", "OPENAI_API_KEY is not set or invalid"),
        ("403", "OPENAI_API_KEY is not set or invalid"),
        ("404", f"model {MODEL!r} not found"),
    ],
)
async def test_permanent_statuses(
    fake_server: FakeServer, api: Api, spec: str, fragment: str
) -> None:
    fake_server.script([spec])
    error = await fail(make(fake_server, api))
    assert not error.retryable and error.status == int(spec) and fragment in error.message
    if spec == "404":
        assert "check --model" in error.message


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("spec", "match", "stop"),
    [
        ("refusal", "refused", None),
        ("content_filter", "content filter", "content_filter"),
        ("max_tokens", "cut off", None),
    ],
)
async def test_unusable_answers_are_answer_errors(
    fake_server: FakeServer, api: Api, spec: str, match: str, stop: str | None
) -> None:
    fake_server.script([spec])
    with pytest.raises(AnswerError, match=match) as caught:
        await make(fake_server, api).generate(MODEL, REQUEST)
    if stop:
        assert caught.value.response.stop_reason == stop
    assert caught.value.response.raw


@pytest.mark.parametrize("api", APIS)
async def test_unusable_content_is_returned_for_the_core_to_validate(
    fake_server: FakeServer, api: Api
) -> None:
    provider = make(fake_server, api)
    fake_server.script(["not_json", "missing_field"])
    with pytest.raises(ValueError):
        json.loads((await provider.generate(MODEL, REQUEST)).text)
    assert "verdict" not in json.loads((await provider.generate(MODEL, REQUEST)).text)


async def test_missing_key_without_base_url() -> None:
    error = await fail(OpenAIProvider())
    assert error.message == NO_KEY and not error.retryable


async def test_base_url_from_environment_needs_no_key(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.openai_url)
    await OpenAIProvider().generate(MODEL, REQUEST)
    assert fake_server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_one_provider_serves_successive_event_loops(fake_server: FakeServer) -> None:
    provider = make(fake_server)
    for _ in range(2):
        assert json.loads(asyncio.run(provider.generate(MODEL, REQUEST)).text)
    asyncio.run(provider.aclose())
