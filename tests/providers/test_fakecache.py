"""The fake server's prompt caches follow the providers' documented rules (over HTTP)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.fakecache import (
    BLOCK_OVERHEAD,
    OPENAI_MIN,
    OPENAI_STEP,
    count_tokens,
    min_cacheable,
    openai_tokens,
)
from tests.fakeserver import FakeServer
from tests.fakeserver_wire import REVIEW_SCHEMA

SONNET = "claude-sonnet-4-5"
OTHER_SCHEMA = {**REVIEW_SCHEMA, "required": ["verdict"]}
OPENAI_PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def filler(size: int, tag: str = "p") -> str:
    """Text of exactly ``size`` tokens, distinct words tagged ``tag``."""
    text = " ".join(f"{tag}{i}" for i in range(size))
    assert count_tokens(text) == size
    return text


def post(server: FakeServer, path: str, body: Any) -> httpx2.Response:
    """One blocking POST to the fake server."""
    return httpx2.post(f"{server.url}{path}", json=body, timeout=5)


def mark(text: str, ttl: str | None = None) -> dict[str, Any]:
    """A text block that is a cache breakpoint."""
    control = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return {"type": "text", "text": text, "cache_control": control}


def claude(prefix: str, tail: str = "Review Foo", model: str = SONNET, **extra: Any) -> Any:
    """A Messages request whose system prompt ``prefix`` is one breakpoint."""
    body = {"model": model, "max_tokens": 100, "system": [mark(prefix)]}
    return {**body, "messages": [{"role": "user", "content": tail}], **extra}


def usage(server: FakeServer, body: Any) -> dict[str, int]:
    """The usage of one Messages reply."""
    reply = post(server, "/v1/messages", body)
    assert reply.status_code == 200, reply.text
    found: dict[str, int] = reply.json()["usage"]
    return found


def cached(read: int, written: int) -> dict[str, int]:
    """The cache part of an Anthropic usage."""
    return {"cache_read_input_tokens": read, "cache_creation_input_tokens": written}


def cache_part(found: dict[str, int]) -> dict[str, int]:
    """The cache fields of ``found``."""
    return {k: found[k] for k in ("cache_read_input_tokens", "cache_creation_input_tokens")}


def test_token_count_is_its_own_rough_bpe() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("internationalization") == 4  # 20 characters: ceil(20 / 6)
    assert count_tokens("deployment") == 2 and count_tokens("deploying") == 2
    assert count_tokens("deploys") == 1 and count_tokens("  ") == 0


@pytest.mark.parametrize(
    ("model", "least"),
    [
        ("claude-haiku-4-5", 4096),
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-opus-4-5", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-1-20250805", 1024),
        ("claude-opus-4", 1024),
        ("claude-sonnet-4-20250514", 1024),
        ("claude-sonnet-4-6", 1024),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-haiku-3-5", 2048),
        ("claude-test", 1024),
    ],
)
def test_minimum_cacheable_prefix_per_model(model: str, least: int) -> None:
    assert min_cacheable(model) == least


# -- Anthropic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size"), [(SONNET, 1000), ("claude-haiku-4-5-20251001", 4000), ("m", 900)]
)
def test_a_breakpoint_below_the_minimum_writes_nothing(
    fake_server: FakeServer, model: str, size: int
) -> None:
    body = claude(filler(size), model=model)
    first, second = usage(fake_server, body), usage(fake_server, body)
    assert cache_part(first) == cache_part(second) == cached(0, 0)
    assert first["input_tokens"] == second["input_tokens"] > size


def test_a_prefix_is_written_once_then_read_with_any_tail(fake_server: FakeServer) -> None:
    client = anthropic.Anthropic(api_key="k", base_url=fake_server.url, max_retries=0)
    prefix = filler(1500)

    def ask(tail: str) -> anthropic.types.Usage:
        system: Any = [mark(prefix)]
        messages: Any = [{"role": "user", "content": tail}]
        reply = client.messages.create(
            model=SONNET, max_tokens=100, system=system, messages=messages
        )
        return reply.usage

    first, second, other = ask("Review Foo"), ask("Review Foo"), ask("Review Bar, a database")
    block = 1500 + BLOCK_OVERHEAD
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (block, 0)
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, block)
    assert (other.cache_creation_input_tokens, other.cache_read_input_tokens) == (0, block)
    assert first.input_tokens == second.input_tokens < other.input_tokens < 20
    stats = fake_server.stats()
    assert stats["cache_read_tokens"] == 2 * block and stats["cache_write_tokens"] == block
    assert stats["cache_requests"] == 3 and stats["cache_hits"] == 2
    total = sum(u.input_tokens + block for u in (first, second, other))
    assert stats["prompt_tokens"] == total


@pytest.mark.parametrize("path", ["/v1/messages", *OPENAI_PATHS.values()])
async def test_writes_are_visible_only_once_answered(fake_server: FakeServer, path: str) -> None:
    body = claude(filler(3000)) if path == "/v1/messages" else openai_body(path, filler(3000))
    fake_server.latency = 0.2
    async with httpx2.AsyncClient(base_url=fake_server.url, timeout=5) as client:
        replies = await asyncio.gather(*(client.post(path, json=body) for _ in range(4)))
        late = await client.post(path, json=body)
    reads = [read_of(path, r.json()["usage"]) for r in replies]
    assert reads == [0, 0, 0, 0] and read_of(path, late.json()["usage"]) > 2900
    if path == "/v1/messages":
        assert all(r.json()["usage"]["cache_creation_input_tokens"] > 0 for r in replies)


def read_of(path: str, found: dict[str, Any]) -> int:
    """Cached tokens read, in any API's usage."""
    if path == "/v1/messages":
        return int(found["cache_read_input_tokens"])
    details = found["prompt_tokens_details" if "chat" in path else "input_tokens_details"]
    return int(details["cached_tokens"])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"system": [mark(filler(1500).replace("p700", "q700"))]}, id="a-byte"),
        pytest.param({"output_config": {"format": {"type": "json_schema"}}}, id="output-config"),
        pytest.param({"tool_choice": {"type": "auto"}}, id="tool-choice"),
        pytest.param({"model": "claude-sonnet-4-6"}, id="model"),
    ],
)
def test_any_change_before_the_breakpoint_misses(
    fake_server: FakeServer, change: dict[str, Any]
) -> None:
    schema = {"format": {"type": "json_schema", "schema": REVIEW_SCHEMA}}
    body = claude(filler(1500), output_config=schema)
    assert cache_part(usage(fake_server, body)) == cached(0, 1503)
    assert cache_part(usage(fake_server, {**body, **change}))["cache_read_input_tokens"] == 0
    assert cache_part(usage(fake_server, body)) == cached(1503, 0)


@pytest.mark.parametrize(("ttl", "life"), [(None, 300), ("5m", 300), ("1h", 3600)])
def test_entries_expire_and_a_read_refreshes_them(
    fake_server: FakeServer, ttl: str | None, life: int
) -> None:
    body = claude("")
    body["system"] = [mark(filler(1500), ttl)]
    assert cache_part(usage(fake_server, body)) == cached(0, 1503)
    fake_server.advance(life * 0.7)
    assert cache_part(usage(fake_server, body)) == cached(1503, 0)
    fake_server.advance(life * 0.7)  # past the write's lifetime, not the read's
    assert cache_part(usage(fake_server, body)) == cached(1503, 0)
    fake_server.advance(life + 1)
    assert cache_part(usage(fake_server, body)) == cached(0, 1503)


def test_more_than_four_breakpoints_is_a_400(fake_server: FakeServer) -> None:
    body = claude(filler(1500))
    body["system"] = [mark(f"part {i}") for i in range(5)]
    reply = post(fake_server, "/v1/messages", body)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert "maximum of 4 blocks with cache_control" in reply.json()["error"]["message"]
    body["system"] = body["system"][:4]
    assert post(fake_server, "/v1/messages", body).status_code == 200


@pytest.mark.parametrize(
    ("model", "caches"),
    [(SONNET, True), ("claude-sonnet-4-20250514", True), ("claude-haiku-4-5", False)],
)
def test_minimums_differ_by_model(fake_server: FakeServer, model: str, caches: bool) -> None:
    body = claude(filler(2000), model=model)
    usage(fake_server, body)
    assert (usage(fake_server, body)["cache_read_input_tokens"] > 0) is caches


def conversation(turns: int) -> Any:
    """A system breakpoint, then ``turns`` user turns with answers between them; the last
    user turn is a breakpoint too (how a chat moves its breakpoint on each turn)."""
    messages: list[Any] = []
    for i in range(turns):
        if i:
            messages.append({"role": "assistant", "content": f"answer {i}"})
        block = {"type": "text", "text": f"ask {i}"}
        messages.append(
            {"role": "user", "content": [mark(f"ask {i}") if i == turns - 1 else block]}
        )
    return {**claude(filler(1500)), "messages": messages}


@pytest.mark.parametrize(("turns", "reads_first_turn"), [(2, True), (11, True), (12, False)])
def test_a_moved_breakpoint_reads_up_to_twenty_blocks_back(
    fake_server: FakeServer, turns: int, reads_first_turn: bool
) -> None:
    first = usage(fake_server, conversation(1))
    turn = count_tokens("ask 0") + BLOCK_OVERHEAD + 4
    assert cache_part(first) == cached(0, 1503 + turn)
    # the first turn ends 2 * (turns - 1) blocks before the new breakpoint
    again = usage(fake_server, conversation(turns))
    assert again["cache_read_input_tokens"] == (1503 + turn if reads_first_turn else 1503)


def test_batch_results_use_the_cache(fake_server: FakeServer) -> None:
    requests = [{"custom_id": c, "params": claude(filler(1500))} for c in "ab"]
    created = post(fake_server, "/v1/messages/batches", {"requests": requests}).json()
    url = f"{fake_server.url}/v1/messages/batches/{created['id']}/results"
    lines = httpx2.get(url, timeout=5).text.splitlines()
    usages = [json.loads(line)["result"]["message"]["usage"] for line in lines]
    assert [cache_part(u) for u in usages] == [cached(0, 1503), cached(1503, 0)]


# -- OpenAI ---------------------------------------------------------------------------------


def openai_body(path: str, prefix: str, tail: str = "Review Foo", **extra: Any) -> Any:
    """A Chat or Responses request: ``prefix`` as the system prompt, ``tail`` as the user's."""
    schema = extra.pop("schema", REVIEW_SCHEMA)
    user = {"role": "user", "content": tail}
    if path == OPENAI_PATHS["chat"]:
        fmt = {"type": "json_schema", "json_schema": {"name": "review", "schema": schema}}
        system = {"role": "system", "content": prefix}
        return {"model": "gpt-test", "messages": [system, user], "response_format": fmt, **extra}
    fmt = {"type": "json_schema", "name": "review", "schema": schema}
    body = {"model": "gpt-test", "instructions": prefix, "input": [user]}
    return {**body, "text": {"format": fmt}, **extra}


def openai_usage(server: FakeServer, path: str, body: Any) -> tuple[int, int]:
    """(prompt tokens, cached tokens) of one reply."""
    reply = post(server, path, body)
    assert reply.status_code == 200, reply.text
    found = reply.json()["usage"]
    total = found["prompt_tokens" if path == OPENAI_PATHS["chat"] else "input_tokens"]
    return int(total), read_of(path, found)


def floor_step(common: int) -> int:
    """What OpenAI reports as cached for a common prefix of ``common`` tokens."""
    return 0 if common < OPENAI_MIN else common - (common - OPENAI_MIN) % OPENAI_STEP


def common_prefix(a: Any, b: Any) -> int:
    """Tokens two requests share from the start."""
    left, right = openai_tokens(a), openai_tokens(b)
    return next((i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y), 0)


each_openai_path = pytest.mark.parametrize("path", list(OPENAI_PATHS.values()))


@each_openai_path
def test_openai_never_caches_under_1024_tokens(fake_server: FakeServer, path: str) -> None:
    body = openai_body(path, filler(800))
    first, second = openai_usage(fake_server, path, body), openai_usage(fake_server, path, body)
    assert first == second and 800 < first[0] < OPENAI_MIN and first[1] == 0


@each_openai_path
@pytest.mark.parametrize("size", [1100, 3000])
def test_openai_reads_the_common_prefix_in_steps_of_128(
    fake_server: FakeServer, path: str, size: int
) -> None:
    first = openai_body(path, filler(size))
    other = openai_body(path, filler(size), tail="Review Bar, a hosted database for teams")
    assert openai_usage(fake_server, path, first)[1] == 0
    total, read = openai_usage(fake_server, path, other)
    common = common_prefix(first, other)
    assert size < common < size + 200 and read == floor_step(common) > 0
    assert common - OPENAI_STEP < read <= common
    assert total == len(openai_tokens(other)) > read  # cached tokens are counted inside


def test_openai_sdks_see_the_cached_tokens(fake_server: FakeServer) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_url, max_retries=0)
    prefix = filler(2000)
    system: Any = {"role": "system", "content": prefix}
    for tail in ("Review Foo", "Review Bar"):
        chat = client.chat.completions.create(
            model="gpt-test", messages=[system, {"role": "user", "content": tail}]
        )
    responses = [
        client.responses.create(model="gpt-test", instructions=prefix, input=t) for t in "ab"
    ]
    assert chat.usage and chat.usage.prompt_tokens_details
    assert chat.usage.prompt_tokens_details.cached_tokens == 1920
    assert chat.usage.prompt_tokens > 2000
    usages = [r.usage for r in responses]
    assert usages[0] and usages[1]
    assert usages[0].input_tokens_details.cached_tokens == 0
    assert usages[1].input_tokens_details.cached_tokens == 1920


@each_openai_path
@pytest.mark.parametrize(
    "change", [{"schema": OTHER_SCHEMA}, {"model": "gpt-other"}], ids=["schema", "model"]
)
def test_openai_a_different_schema_or_model_misses(
    fake_server: FakeServer, path: str, change: dict[str, Any]
) -> None:
    openai_usage(fake_server, path, openai_body(path, filler(3000)))
    assert openai_usage(fake_server, path, openai_body(path, filler(3000), **change))[1] == 0
    assert openai_usage(fake_server, path, openai_body(path, filler(3000)))[1] > 0


@each_openai_path
def test_openai_entries_expire_after_five_idle_minutes(fake_server: FakeServer, path: str) -> None:
    body = openai_body(path, filler(3000))
    openai_usage(fake_server, path, body)
    fake_server.advance(200)
    assert openai_usage(fake_server, path, body)[1] > 0
    fake_server.advance(200)
    assert openai_usage(fake_server, path, body)[1] > 0
    fake_server.advance(301)
    assert openai_usage(fake_server, path, body)[1] == 0


def test_llama_cpp_caches_nothing(fake_server: FakeServer) -> None:
    fake_server.compat = "llama_cpp"
    body = openai_body(OPENAI_PATHS["chat"], filler(3000))
    body["response_format"] = {"type": "json_object"}
    for _ in range(2):
        assert openai_usage(fake_server, OPENAI_PATHS["chat"], body)[1] == 0


# -- stats ----------------------------------------------------------------------------------


def test_stats_totals_reset_and_clock_over_http(fake_server: FakeServer) -> None:
    body = openai_body(OPENAI_PATHS["chat"], filler(1100))
    for _ in range(2):
        openai_usage(fake_server, OPENAI_PATHS["chat"], body)
    stats = httpx2.get(f"{fake_server.url}/_stats", timeout=5).json()
    total = len(openai_tokens(body))
    assert stats["cache_requests"] == 2 and stats["cache_hits"] == 1
    assert stats["cache_read_tokens"] == floor_step(total) and stats["cache_write_tokens"] == 0
    assert stats["prompt_tokens"] == 2 * total
    assert stats["cache_entries"] == (total - OPENAI_MIN) // OPENAI_STEP + 1
    advanced = post(fake_server, "/_advance", {"seconds": 301}).json()
    assert advanced["cache_entries"] == 0 and advanced["cache_requests"] == 2
    reset = post(fake_server, "/_reset_cache", {}).json()
    assert reset["cache_requests"] == reset["prompt_tokens"] == reset["cache_read_tokens"] == 0
    fake_server.reset_cache()
    assert openai_usage(fake_server, OPENAI_PATHS["chat"], body)[1] == 0
