"""AnthropicProvider: the real anthropic SDK over HTTP against the fake server."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest
from anthropic.types.messages import MessageBatchIndividualResponse

from panel.providers.anthropic import NO_KEY, AnthropicProvider, Structured
from panel.providers.anthropic.batch import result_item
from panel.providers.base import (
    AnswerError,
    Message,
    ModelRequest,
    ProviderError,
    parse_retry_after,
)
from tests.fakeserver import FakeServer
from tests.fakeserver_wire import PROXY_PAGE, REVIEW_SCHEMA

MODEL = "claude-test"
REQUEST = ModelRequest(
    system="You are the skeptic. " * 40,
    messages=(Message("user", "Review the launch: Foo, a deploy CLI."),),
    schema=REVIEW_SCHEMA,
    max_tokens=700,
)

LONG = replace(REQUEST, system=REQUEST.system * 8)
"""A system prompt past the provider's minimum cacheable length (1,024 tokens)."""


@pytest.fixture(autouse=True)
def _fresh_fallbacks() -> None:
    """Servers reuse ports across tests, so learned fallbacks must not leak."""
    AnthropicProvider.forget_fallbacks()


@pytest.fixture
def provider(fake_server: FakeServer) -> AnthropicProvider:
    """A provider pointed at the fake server, with a short timeout."""
    return AnthropicProvider(api_key="sk-test", base_url=fake_server.url, timeout=0.5)


async def fail(provider: AnthropicProvider) -> ProviderError:
    """The ProviderError one call raises."""
    with pytest.raises(ProviderError) as caught:
        await provider.generate(MODEL, REQUEST)
    return caught.value


async def test_answer_usage_and_wire_request(
    provider: AnthropicProvider, fake_server: FakeServer
) -> None:
    fake_server.require_key = "sk-test"
    response = await provider.generate(MODEL, REQUEST)
    review = json.loads(response.text)
    assert review["verdict"] in ("ship", "skip") and review["headline"]
    assert response.stop_reason == "end_turn"
    assert response.input_tokens > 0 and response.output_tokens > 0
    usage = response.raw["usage"]
    assert isinstance(usage, dict) and usage["input_tokens"] == response.input_tokens
    [body] = fake_server.bodies("/v1/messages")
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": REVIEW_SCHEMA}}
    assert "tools" not in body and "temperature" not in body
    assert body["system"] == [
        {"type": "text", "text": REQUEST.system, "cache_control": {"type": "ephemeral"}}
    ]
    assert body["max_tokens"] == 700 and body["model"] == MODEL


async def test_system_prompt_is_cached(provider: AnthropicProvider) -> None:
    short = await provider.generate(MODEL, REQUEST)
    assert short.cache_write_tokens == 0 == short.cache_read_tokens
    first = await provider.generate(MODEL, LONG)
    second = await provider.generate(MODEL, LONG)
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens
    assert second.cache_write_tokens == 0


async def test_forced_tool_mode(fake_server: FakeServer) -> None:
    provider = AnthropicProvider("sk-test", fake_server.url, structured="tool")
    response = await provider.generate(MODEL, REQUEST)
    assert json.loads(response.text)["verdict"] in ("ship", "skip")
    assert response.stop_reason == "tool_use"
    [body] = fake_server.bodies("/v1/messages")
    [tool] = body["tools"]
    assert tool["name"] == "review" and tool["strict"] is True
    assert tool["input_schema"] == REVIEW_SCHEMA
    assert body["tool_choice"]["type"] == "tool" and body["tool_choice"]["name"] == "review"
    assert "output_config" not in body


async def test_auto_falls_back_to_a_tool_when_output_format_is_rejected(
    provider: AnthropicProvider, fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    rejected = f"400:message=output_config.format is not supported on {MODEL}"
    fake_server.script([rejected])
    with caplog.at_level(logging.WARNING, logger="panel.providers.anthropic"):
        first = await provider.generate(MODEL, REQUEST)
        second = await provider.generate(MODEL, REQUEST)
    assert json.loads(first.text) and json.loads(second.text)
    bodies = fake_server.bodies("/v1/messages")
    assert ["tools" in body for body in bodies] == [False, True, True]
    [record] = [r for r in caplog.records if r.name == "panel.providers.anthropic.client"]
    assert "forced strict tool" in record.message


async def test_other_400s_do_not_fall_back(
    provider: AnthropicProvider, fake_server: FakeServer
) -> None:
    fake_server.script(["400:message=messages: text content blocks must be non-empty"])
    error = await fail(provider)
    assert not error.retryable and error.status == 400
    assert "rejected the request (status 400)" in error.message
    assert fake_server.total == 1


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
    provider: AnthropicProvider, fake_server: FakeServer, spec: str, retry_after: float | None
) -> None:
    fake_server.script([spec])
    error = await fail(provider)
    assert error.retryable and error.retry_after == retry_after
    assert error.status == int(spec[:3]) and error.raw and '"type": "error"' in error.raw
    assert fake_server.total == 1  # the SDK itself did not retry


async def test_retry_after_http_date(provider: AnthropicProvider, fake_server: FakeServer) -> None:
    fake_server.script(["429:retry-after-date=30"])
    error = await fail(provider)
    assert error.retryable and error.retry_after is not None and 27 <= error.retry_after <= 30


async def test_overloaded_names_its_type(
    provider: AnthropicProvider, fake_server: FakeServer
) -> None:
    fake_server.script(["529"])
    assert "overloaded_error" in (await fail(provider)).message


@pytest.mark.parametrize(
    "spec", ["reset", "timeout:seconds=5", "truncated", "overlong", "bad_body"]
)
async def test_transport_faults_are_retryable(
    provider: AnthropicProvider, fake_server: FakeServer, spec: str
) -> None:
    fake_server.script([spec])
    error = await fail(provider)
    assert error.retryable and error.status is None and error.retry_after is None
    if spec.startswith("timeout"):
        assert "did not answer within 0.5s" in error.message
    if spec in ("truncated", "overlong", "bad_body"):
        # what arrived before the body broke off is kept for the call log
        assert error.raw and error.raw.startswith('{"id": "msg_')
    if spec == "overlong":
        assert error.raw and error.raw.endswith("}}")  # the whole answer, though cut short
    # the next call on the same provider works again
    assert json.loads((await provider.generate(MODEL, REQUEST)).text)


@pytest.mark.parametrize(
    ("spec", "what", "retryable"),
    [
        ("html200", "an HTML page (Service temporarily unavailable)", True),
        ("empty200", "content is null, not a list", True),
        ("error200", "an error object with status 200 (overloaded_error): Overloaded", True),
        ("error200:status=429", "an error object with status 200 (rate_limit_error)", True),
        ("error200:status=401", "an error object with status 200 (authentication_error)", False),
    ],
)
async def test_a_200_that_is_no_answer_is_a_classified_error(
    provider: AnthropicProvider, fake_server: FakeServer, spec: str, what: str, retryable: bool
) -> None:
    fake_server.script([spec])
    error = await fail(provider)
    assert error.message.startswith(f"unexpected response from the Anthropic API: {what}")
    assert error.retryable is retryable and error.status == 200
    if spec == "html200":
        assert error.raw == PROXY_PAGE.decode()
    elif spec == "empty200":
        assert error.raw == "{}"
    else:
        assert error.raw and json.loads(error.raw)["type"] == "error"
    assert json.loads((await provider.generate(MODEL, REQUEST)).text)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("400", "rejected the request (status 400)"),
        ("422", "rejected the request (status 422)"),
        ("401", "ANTHROPIC_API_KEY is not set or invalid (status 401)"),
        ("403", "ANTHROPIC_API_KEY is not set or invalid (status 403)"),
        ("404", f"model {MODEL!r} not found: check --model"),
    ],
)
async def test_permanent_statuses(
    provider: AnthropicProvider, fake_server: FakeServer, spec: str, fragment: str
) -> None:
    fake_server.script([spec])
    error = await fail(provider)
    assert not error.retryable and error.status == int(spec) and fragment in error.message


async def test_wrong_base_url_is_named(fake_server: FakeServer) -> None:
    provider = AnthropicProvider("sk-test", f"{fake_server.url}/nowhere")
    error = await fail(provider)
    assert error.status == 404 and "check ANTHROPIC_BASE_URL" in error.message


async def test_refusal_is_an_answer_error(
    provider: AnthropicProvider, fake_server: FakeServer
) -> None:
    fake_server.script(["refusal"])
    with pytest.raises(AnswerError, match="refused") as caught:
        await provider.generate(MODEL, REQUEST)
    assert caught.value.response.stop_reason == "refusal"


@pytest.mark.parametrize("structured", ["output_format", "tool"])
async def test_max_tokens_is_an_answer_error(
    fake_server: FakeServer, structured: Structured
) -> None:
    provider = AnthropicProvider("sk-test", fake_server.url, structured=structured)
    fake_server.script(["max_tokens"])
    with pytest.raises(AnswerError, match="cut off") as caught:
        await provider.generate(MODEL, REQUEST)
    assert caught.value.response.stop_reason == "max_tokens"
    assert caught.value.response.output_tokens > 0


async def test_unusable_content_is_returned_for_the_core_to_validate(
    provider: AnthropicProvider, fake_server: FakeServer
) -> None:
    fake_server.script(["not_json", "missing_field"])
    not_json = await provider.generate(MODEL, REQUEST)
    with pytest.raises(ValueError):
        json.loads(not_json.text)
    assert "verdict" not in json.loads((await provider.generate(MODEL, REQUEST)).text)


async def test_missing_key_fails_at_first_call_not_at_construction() -> None:
    provider = AnthropicProvider()
    error = await fail(provider)
    assert error.message == NO_KEY and not error.retryable


async def test_environment_supplies_key_and_base_url(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_server.url)
    fake_server.require_key = "sk-env"
    assert json.loads((await AnthropicProvider().generate(MODEL, REQUEST)).text)


def test_one_provider_serves_successive_event_loops(fake_server: FakeServer) -> None:
    provider = AnthropicProvider("sk-test", fake_server.url)
    for _ in range(2):
        assert json.loads(asyncio.run(provider.generate(MODEL, REQUEST)).text)
    asyncio.run(provider.aclose())


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_a_batch_answer_of_the_wrong_shape_is_an_errored_item() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    result = {"type": "succeeded", "message": error}
    line = MessageBatchIndividualResponse.construct(custom_id="a", result=result)
    item = result_item(line, REQUEST)
    assert item.outcome == "errored" and item.error is not None
    assert isinstance(item.error, ProviderError) and item.error.retryable
    assert "(overloaded_error): Overloaded" in item.error.message
    assert item.error.raw and json.loads(item.error.raw) == error
