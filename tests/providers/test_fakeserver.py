"""The fake API server: answers, latency, faults, rate limit, batches (via the real SDKs)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic.types import TextBlock

from tests.fakeserver import FakeServer
from tests.fakeserver_wire import (
    LLAMA_CPP_JSON_SCHEMA_ERROR,
    PRICING_READ,
    REVIEW_SCHEMA,
    Fault,
)

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Review Foo"}]}


def post(server: FakeServer, path: str, body: Any, **headers: str) -> httpx2.Response:
    """One blocking POST to the fake server."""
    return httpx2.post(f"{server.url}{path}", json=body, headers=headers, timeout=5)


def test_default_answer_is_a_review(fake_server: FakeServer) -> None:
    response = post(fake_server, "/v1/chat/completions", CHAT)
    answer = json.loads(response.json()["choices"][0]["message"]["content"])
    assert set(answer) == {"headline", "quote", "verdict"}
    assert answer["verdict"] in ("ship", "skip")
    assert 90 <= len(answer["quote"].split()) <= 130


def test_default_answer_follows_the_request_schema(fake_server: FakeServer) -> None:
    schema = {**REVIEW_SCHEMA, "properties": {**REVIEW_SCHEMA["properties"]}}
    schema["properties"]["confidence"] = {"type": "number"}
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    answer = json.loads(
        post(fake_server, "/v1/chat/completions", body).json()["choices"][0]["message"]["content"]
    )
    assert answer["confidence"] == 0.8 and answer["verdict"] in ("ship", "skip")


def test_a_nullable_field_is_filled_only_when_the_prompt_asks(fake_server: FakeServer) -> None:
    schema = {**REVIEW_SCHEMA, "properties": {**REVIEW_SCHEMA["properties"]}}
    schema["properties"]["pricing_read"] = {"type": ["string", "null"]}
    answers = []
    for ask in ("Leave pricing_read null.", "Give your pricing read too: one sentence."):
        body = {
            **CHAT,
            "messages": [*CHAT["messages"], {"role": "user", "content": ask}],
            "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
        }
        reply = post(fake_server, "/v1/chat/completions", body).json()
        answers.append(json.loads(reply["choices"][0]["message"]["content"]))
    assert answers[0]["pricing_read"] is None
    assert answers[1]["pricing_read"] in PRICING_READ.values()


def test_answer_is_settable_and_requests_are_recorded(fake_server: FakeServer) -> None:
    fake_server.answer = lambda body: {"verdict": "skip", "echo": body["model"]}
    response = post(fake_server, "/v1/chat/completions", CHAT)
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {
        "verdict": "skip",
        "echo": "gpt-test",
    }
    assert fake_server.total == 1 and fake_server.counts["/v1/chat/completions"] == 1
    assert fake_server.bodies("/v1/chat/completions") == [CHAT]


async def test_latency_does_not_block_concurrent_requests(fake_server: FakeServer) -> None:
    fake_server.latency = 0.3
    async with httpx2.AsyncClient(base_url=fake_server.url, timeout=5) as client:
        start = time.monotonic()
        replies = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=CHAT) for _ in range(20))
        )
        elapsed = time.monotonic() - start
    assert all(r.status_code == 200 for r in replies)
    assert elapsed >= 0.3  # the latency was applied; concurrency is checked below
    assert fake_server.max_in_flight == 20


def test_faults_are_a_fifo_that_only_generation_paths_consume(fake_server: FakeServer) -> None:
    fake_server.script(["500", "ok", "429:retry-after=2"])
    assert post(fake_server, "/v1/files/nope", {}).status_code == 404
    assert post(fake_server, "/v1/chat/completions", CHAT).status_code == 500
    assert post(fake_server, "/v1/chat/completions", CHAT).status_code == 200
    limited = post(fake_server, "/v1/messages", {"model": "m"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert fake_server.pending == []


def test_fault_specs_parse() -> None:
    assert Fault.parse("429:retry-after-ms=1500").headers() == {"retry-after-ms": "1500"}
    assert "GMT" in Fault.parse("429:retry-after-date=5").headers()["retry-after"]
    assert Fault.parse("timeout:seconds=2.5").seconds == 2.5
    assert Fault.parse("503:path=/v1/batches").matches("/v1/batches/b1")
    assert not Fault.parse("503").matches("/v1/batches/b1")
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("explode")


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")],
)
def test_error_bodies_have_each_apis_shape(fake_server: FakeServer, path: str, shape: str) -> None:
    fake_server.script(["529"])
    body = post(fake_server, path, {"model": "m"}).json()
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}


async def test_rate_limit_answers_429_past_the_budget(fake_server: FakeServer) -> None:
    fake_server.rate_limit(3000)  # 50 a second, enforced per second
    async with httpx2.AsyncClient(base_url=fake_server.url, timeout=5) as client:
        replies = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=CHAT) for _ in range(80))
        )
    codes = [r.status_code for r in replies]
    assert 50 <= codes.count(200) < 80 and codes.count(429) == fake_server.rate_limited
    fake_server.rate_limit(None)
    assert post(fake_server, "/v1/chat/completions", CHAT).status_code == 200


def test_rate_limit_retry_after(fake_server: FakeServer) -> None:
    fake_server.rate_limit(60, burst=1)
    assert post(fake_server, "/v1/messages", {"model": "m"}).status_code == 200
    limited = post(fake_server, "/v1/messages", {"model": "m"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert 0 < int(limited.headers["retry-after-ms"]) <= 1000


def test_require_key(fake_server: FakeServer) -> None:
    fake_server.require_key = "sk-right"
    assert post(fake_server, "/v1/messages", {"model": "m"}).status_code == 401
    ok = post(fake_server, "/v1/messages", {"model": "m"}, **{"x-api-key": "sk-right"})
    assert ok.status_code == 200


def test_llama_cpp_compat(fake_server: FakeServer) -> None:
    fake_server.compat = "llama_cpp"
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "r"}}}
    refused = post(fake_server, "/v1/chat/completions", body)
    assert refused.status_code == 500
    assert refused.json()["error"]["message"] == LLAMA_CPP_JSON_SCHEMA_ERROR
    body["response_format"] = {"type": "json_object", "schema": REVIEW_SCHEMA}
    assert post(fake_server, "/v1/chat/completions", body).status_code == 200
    assert post(fake_server, "/v1/responses", {"model": "m", "input": "hi"}).status_code == 404


@pytest.mark.parametrize(("words", "cached"), [(200, False), (1200, True)])
def test_prompt_cache_is_simulated(fake_server: FakeServer, words: int, cached: bool) -> None:
    """A breakpoint caches its prefix only past the model's minimum (1024 tokens here);
    the rules in detail are in test_fakecache."""
    text = " ".join(f"persona{i}" for i in range(words))
    system = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
    body = {"model": "m", "system": system, "messages": [{"role": "user", "content": "x"}]}
    first = post(fake_server, "/v1/messages", body).json()["usage"]
    second = post(fake_server, "/v1/messages", body).json()["usage"]
    assert first["cache_read_input_tokens"] == second["cache_creation_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert (first["cache_creation_input_tokens"] > words) is cached
    assert (first["input_tokens"] == 8) is cached  # "x" is 8 tokens with its block and turn


def test_truncated_body_is_cut_short(fake_server: FakeServer) -> None:
    fake_server.script(["truncated"])
    with pytest.raises(httpx2.RemoteProtocolError):
        post(fake_server, "/v1/chat/completions", CHAT)
    assert post(fake_server, "/v1/chat/completions", CHAT).status_code == 200


def test_overlong_body_is_whole_but_promises_more(fake_server: FakeServer) -> None:
    fake_server.script(["overlong"])
    with pytest.raises(httpx2.RemoteProtocolError, match="without sending complete message body"):
        post(fake_server, "/v1/chat/completions", CHAT)
    assert post(fake_server, "/v1/chat/completions", CHAT).status_code == 200


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions", "/v1/responses"])
def test_200s_that_are_no_answer(fake_server: FakeServer, path: str) -> None:
    fake_server.script(["html200", "empty200", "error200", "error200:status=400"])
    page = post(fake_server, path, CHAT)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>Service temporarily unavailable</title>" in page.text
    assert post(fake_server, path, CHAT).json() == {}
    overloaded, invalid = (post(fake_server, path, CHAT) for _ in range(2))
    assert overloaded.status_code == invalid.status_code == 200
    if path == "/v1/messages":
        assert overloaded.json()["error"]["type"] == "overloaded_error"
        assert invalid.json()["error"]["type"] == "invalid_request_error"
    else:
        assert overloaded.json()["error"]["type"] == "server_error"
        assert invalid.json()["error"]["type"] == "invalid_request_error"


def test_a_fault_can_be_aimed_at_requests_whose_body_names_something(
    fake_server: FakeServer,
) -> None:
    fake_server.script(["500:body=The Skeptic"])
    assert post(fake_server, "/v1/chat/completions", CHAT).status_code == 200
    skeptic = {**CHAT, "messages": [{"role": "system", "content": "You are The Skeptic."}]}
    assert post(fake_server, "/v1/chat/completions", skeptic).status_code == 500
    assert fake_server.pending == []


def _anthropic_request(custom_id: str) -> Any:
    params = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}
    return {"custom_id": custom_id, "params": params}


async def test_anthropic_message_batches(fake_server: FakeServer) -> None:
    fake_server.batch.outcomes = {"b": "expired", "c": "errored", "d": "refusal"}
    fake_server.batch.delay = 0.2
    client = anthropic.AsyncAnthropic(api_key="k", base_url=fake_server.url, max_retries=0)
    batch = await client.messages.batches.create(
        requests=[_anthropic_request(cid) for cid in "abcd"]
    )
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 4
    await asyncio.sleep(0.25)
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.expired) == (2, 1)
    results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
    assert [results[c].type for c in "abcd"] == ["succeeded", "expired", "errored", "succeeded"]
    first = results["a"]
    assert first.type == "succeeded" and isinstance(block := first.message.content[0], TextBlock)
    assert json.loads(block.text)["verdict"] in ("ship", "skip")
    refused = results["d"]
    assert refused.type == "succeeded" and refused.message.stop_reason == "refusal"
    errored = results["c"]
    assert errored.type == "errored" and errored.error.error.type == "api_error"
    await client.close()


async def test_anthropic_batch_cancel(fake_server: FakeServer) -> None:
    fake_server.batch.delay = 60
    client = anthropic.AsyncAnthropic(api_key="k", base_url=fake_server.url, max_retries=0)
    batch = await client.messages.batches.create(requests=[_anthropic_request("a")])
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 1
    await client.close()


def _openai_lines(*custom_ids: str) -> bytes:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}
    lines = [
        {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}
        for cid in custom_ids
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def test_openai_files_and_batches(fake_server: FakeServer) -> None:
    fake_server.batch.outcomes = {"b": "400", "c": "expired"}
    client = openai.AsyncOpenAI(api_key="k", base_url=fake_server.openai_url, max_retries=0)
    upload = await client.files.create(
        file=("in.jsonl", _openai_lines("a", "b", "c")), purpose="batch"
    )
    assert upload.bytes > 0 and upload.purpose == "batch"
    batch = await client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = await client.batches.retrieve(batch.id)
    assert done.status == "expired"
    assert done.request_counts is not None and done.request_counts.completed == 1
    assert done.output_file_id and done.error_file_id
    output = (await client.files.content(done.output_file_id)).text.splitlines()
    errors = [
        json.loads(line)
        for line in (await client.files.content(done.error_file_id)).text.splitlines()
    ]
    success = json.loads(output[0])
    assert success["custom_id"] == "a" and success["response"]["status_code"] == 200
    content = success["response"]["body"]["choices"][0]["message"]["content"]
    assert json.loads(content)["verdict"] in ("ship", "skip")
    assert {e["custom_id"]: e["response"] and e["response"]["status_code"] for e in errors} == {
        "b": 400,
        "c": None,
    }
    assert [e["error"]["code"] for e in errors if e["error"]] == ["batch_expired"]
    await client.close()


async def test_openai_batch_cancel(fake_server: FakeServer) -> None:
    fake_server.batch.delay = 60
    client = openai.AsyncOpenAI(api_key="k", base_url=fake_server.openai_url, max_retries=0)
    upload = await client.files.create(file=("in.jsonl", _openai_lines("a")), purpose="batch")
    batch = await client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert (await client.batches.retrieve(batch.id)).status == "in_progress"
    assert (await client.batches.cancel(batch.id)).status == "cancelling"
    cancelled = await client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled" and cancelled.error_file_id
    await client.close()
