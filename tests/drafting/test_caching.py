"""Prompts built for the providers' prompt caches (issue 15): the part the four reviewers
share comes first and is marked cacheable, the calls are ordered so the first writes it
and the others read it when (and only when) it is long enough for the model, and the
saving reaches the call log and `panel costs`. Against the HTTP test server, whose cache
follows the providers' documented rules (tests/fakecache.py), through the real SDKs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from benchmarks.caching import PAGES, figures, long_launch
from panel.batch.submit import submit_queue
from panel.cli import main
from panel.drafting.caching import MARGIN, cacheable, estimate_tokens, plan_calls
from panel.drafting.generate import draft_panel, first_review_request
from panel.drafting.personas import load_personas
from panel.drafting.prices import price_table
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers.anthropic.wire import message_params
from panel.providers.openai.wire import chat_params, responses_params
from panel.records import Launch, SourceText
from panel.store import open_store
from panel.store.costs import CachedCall
from tests.batch.test_batch_api import configure
from tests.conftest import EXAMPLES, context_for
from tests.fakecache import count_tokens
from tests.fakeserver import FakeServer

HAIKU, SONNET, MINI = (
    "anthropic:claude-haiku-4-5",
    "anthropic:claude-sonnet-4-5",
    "openai:gpt-5-mini",
)
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}
SHORT = EXAMPLES / "gpt-5-mini-api.yaml"


def source(words: int) -> SourceText:
    """A read source of about ``words`` words of the developer guide."""
    text = " ".join((PAGES / "guide.md").read_text("utf-8").split()[:words])
    return SourceText(where="guide.md", ok=True, text=text)


LAUNCH = Launch(slug="quill", name="Quillstream", description="Docs that follow the code.")


# -- the estimate and the per-model minimum ---------------------------------------------


def test_the_estimate_counts_english_by_characters_and_other_scripts_per_character() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 400) == 100
    assert estimate_tokens("通义千问") == 4
    guide = (PAGES / "guide.md").read_text("utf-8")
    # within a fifth of the test server's own (BPE-like) count of the same text
    assert 0.8 <= estimate_tokens(guide) / count_tokens(guide) <= 1.25


@pytest.mark.parametrize(
    ("model", "words", "expected"),
    [
        (HAIKU, 0, False),  # the house rules and the launch alone: ~900 tokens
        (HAIKU, 1500, False),  # ~2,400 tokens: over Sonnet's 1,024, under Haiku's 4,096
        (SONNET, 1500, True),
        (HAIKU, 4500, True),
        (MINI, 1500, True),
        ("local:smollm2", 4500, False),  # no prompt cache
        ("anthropic:claude-unknown", 4500, False),  # no minimum known: no detour
    ],
)
def test_a_prefix_is_cacheable_from_the_model_s_minimum(
    model: str, words: int, expected: bool, tmp_path: Path
) -> None:
    ctx = context_for(open_store(tmp_path / "p.db"), model)
    sources = [source(words)] if words else []
    request = first_review_request(ctx, load_personas()[0], LAUNCH, sources)
    assert cacheable(ctx.prices, model, request) is expected


def test_the_minimums_sit_beside_the_prices() -> None:
    prices = price_table()
    minimum = {m: p.cache_min_tokens for m, p in prices.models.items()}
    assert minimum[HAIKU] == 4096 and minimum[SONNET] == 1024 and minimum[MINI] == 1024
    assert minimum["local:*"] == 0
    assert MARGIN > 1


def test_only_a_cacheable_group_of_two_or_more_is_staged(tmp_path: Path) -> None:
    ctx = context_for(open_store(tmp_path / "p.db"), HAIKU)
    personas = load_personas()
    long = [first_review_request(ctx, p, LAUNCH, [source(4500)]) for p in personas]
    short = [first_review_request(ctx, p, LAUNCH) for p in personas]
    staged = plan_calls(ctx.prices, [(p.id, HAIKU, r) for p, r in zip(personas, long, strict=True)])
    assert staged.staged
    assert staged.gate(personas[0].id).after is None
    assert all(staged.gate(p.id).after is not None for p in personas[1:])
    assert not plan_calls(
        ctx.prices, [(p.id, HAIKU, r) for p, r in zip(personas, short, strict=True)]
    ).staged
    alone = plan_calls(ctx.prices, [(personas[0].id, HAIKU, long[0])])
    assert not alone.staged
    # two models: each group has its own first call
    mixed = [
        (p.id, HAIKU if i % 2 else MINI, r)
        for i, (p, r) in enumerate(zip(personas, long, strict=True))
    ]
    plan = plan_calls(ctx.prices, mixed)
    assert sum(plan.gate(p.id).after is None for p in personas) == 2


# -- the layout on the wire ----------------------------------------------------------


def test_the_shared_part_comes_first_and_is_the_same_for_every_reviewer(tmp_path: Path) -> None:
    ctx = context_for(open_store(tmp_path / "p.db"), HAIKU)
    personas = load_personas()
    requests = [first_review_request(ctx, p, LAUNCH, [source(300)]) for p in personas]
    assert len({r.system for r in requests}) == 1
    assert len({str(r.schema) for r in requests}) == 1  # one schema: it is in the prefix too
    assert len({r.shared_prefix() for r in requests}) == 1
    for persona, request in zip(personas, requests, strict=True):
        [user] = request.messages
        (sources, s_end), (launch, l_end), (own, o_end) = user.parts()
        assert s_end and l_end and not o_end
        assert sources.startswith("<untrusted-launch>") and "Name: " not in sources
        assert "Name: Quillstream" in launch and launch.rstrip().endswith("</untrusted-launch>")
        assert own.startswith(f"You are {persona.name},") and persona.name not in sources + launch
        # Anthropic: a breakpoint on the house rules and on each shared part, none after
        params = message_params("claude-haiku-4-5", request, tool=False)
        blocks = next(iter(params["messages"]))["content"]
        assert isinstance(blocks, list)
        assert [("cache_control" in b) for b in blocks] == [True, True, False]
        assert "".join(str(b["text"]) for b in blocks) == user.content
    # OpenAI: the same text, one routing key for the four, on both APIs
    keys = {
        chat_params("gpt-5-mini", r, json_object=False, compatible=False)["prompt_cache_key"]
        for r in requests
    }
    assert len(keys) == 1
    assert responses_params("gpt-5-mini", requests[0])["prompt_cache_key"] in keys
    compatible = chat_params("m", requests[0], json_object=True, compatible=True)
    assert "prompt_cache_key" not in compatible  # llama.cpp and friends do not know it


def test_a_short_launch_is_one_block_and_no_routing_key_without_sources(tmp_path: Path) -> None:
    ctx = context_for(open_store(tmp_path / "p.db"), HAIKU)
    request = first_review_request(ctx, load_personas()[0], LAUNCH)
    parts = request.messages[0].parts()
    assert [ends for _, ends in parts] == [True, False]
    assert parts[0][0].startswith("<untrusted-launch>\nThe launch:")


# -- a fresh panel against the caching simulator -------------------------------------


@pytest.mark.parametrize("model", [HAIKU, MINI])
async def test_a_long_launch_reads_most_of_its_input_from_cache(
    model: str, fake_server: FakeServer, tmp_path: Path
) -> None:
    provider = model.partition(":")[0]
    configure(provider, fake_server)
    fake_server.latency = 0.05
    store = open_store(tmp_path / "p.db")
    ctx = context_for(store, model, measure_diversity=False)
    launch = load_launch(long_launch(tmp_path))
    panel = await draft_panel(ctx, launch, load_personas())
    assert not any(r.failed for r in panel.reviews)
    got = figures(store, ctx.prices, launch.slug)
    assert got.calls == 4 and got.total_input > 24_000  # ~7,000 tokens of sources, four times
    assert got.cached_share >= 0.60, got
    assert got.input_saving >= 0.45, got
    # staged: the first call alone, then the other three together
    assert fake_server.max_in_flight == 3
    stats = fake_server.stats()
    assert stats["cache_hits"] == 3 and stats["cache_read_tokens"] == got.cache_read_tokens
    # the provenance of each review counts every input token
    assert sum(r.provenance.input_tokens for r in panel.reviews if r.provenance) == got.total_input


@pytest.mark.parametrize("model", [HAIKU, MINI])
async def test_a_short_launch_sends_its_four_calls_at_once(
    model: str, fake_server: FakeServer, tmp_path: Path
) -> None:
    configure(model.partition(":")[0], fake_server)
    fake_server.latency = 0.2
    store = open_store(tmp_path / "p.db")
    ctx = context_for(store, model, measure_diversity=False)
    launch = load_launch(SHORT)
    await draft_panel(ctx, launch, load_personas())
    assert fake_server.max_in_flight == 4  # no detour when nothing can be cached
    assert figures(store, ctx.prices, launch.slug).cache_read_tokens == 0


async def test_the_minimum_is_the_model_s_own(fake_server: FakeServer, tmp_path: Path) -> None:
    """~2,400 shared tokens: Sonnet (1,024) caches and is staged, Haiku (4,096) is not."""
    configure("anthropic", fake_server)
    fake_server.latency = 0.05
    folder = tmp_path / "launch"
    folder.mkdir()
    (folder / "part.md").write_text(source(1500).text, "utf-8")
    path = folder / "quill.yaml"
    path.write_text(
        "name: Quillstream\ndescription: Docs that follow the code.\nsources: [part.md]\n", "utf-8"
    )
    launch = load_launch(path)
    seen = {}
    for model in (SONNET, HAIKU):
        fake_server.max_in_flight = 0
        fake_server.reset_cache()
        store = open_store(tmp_path / f"{model.replace(':', '-')}.db")
        ctx = context_for(store, model, measure_diversity=False)
        await draft_panel(ctx, launch, load_personas())
        seen[model] = (fake_server.max_in_flight, figures(store, ctx.prices, launch.slug))
    assert seen[SONNET][0] == 3 and seen[SONNET][1].cached_share > 0.5
    assert seen[HAIKU][0] == 4 and seen[HAIKU][1].cache_read_tokens == 0
    assert seen[HAIKU][1].cache_write_tokens == 0  # a too-short breakpoint writes nothing


async def test_a_redraft_within_five_minutes_reads_and_after_them_writes_again(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    configure("anthropic", fake_server)
    store = open_store(tmp_path / "p.db")
    ctx = context_for(store, HAIKU, measure_diversity=False, use_cache=False)
    launch = load_launch(long_launch(tmp_path))
    personas = load_personas()
    await draft_panel(ctx, launch, personas)

    def last_four() -> list[tuple[int, int]]:
        rows = store.conn.execute(
            "SELECT cache_read_tokens, cache_write_tokens FROM calls ORDER BY id DESC LIMIT 4"
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    fake_server.advance(240)
    await draft_panel(ctx, launch, personas)
    assert all(read > 0 and write == 0 for read, write in last_four())  # first call too
    fake_server.advance(301)  # past the lifetime (refreshed by the reads above)
    await draft_panel(ctx, launch, personas)
    assert sorted(write > 0 for _, write in last_four()) == [False, False, False, True]


def test_costs_show_what_the_cache_saved(
    fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("anthropic", fake_server)
    store = open_store(default_db())
    ctx = context_for(store, HAIKU, measure_diversity=False)
    launch = load_launch(long_launch(tmp_path))
    asyncio.run(draft_panel(ctx, launch, load_personas()))
    got = figures(store, ctx.prices, launch.slug)
    assert main(["costs", "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "Cache saved" in out and "Cache read" in out
    saved = got.uncached_input_cost - got.input_cost
    assert f"${saved:.4f}" in out, out
    assert f"{got.cache_read_tokens:,}" in out


@pytest.mark.parametrize(
    ("reads", "writes", "batch", "expected"),
    [
        (0, 0, False, 0.0),
        (9000, 0, False, 9000 * (1.00 - 0.10) / 1e6),
        (0, 9000, False, 9000 * (1.00 - 1.25) / 1e6),  # a write not read back costs more
        (9000, 0, True, 9000 * (1.00 - 0.10) / 1e6 * 0.5),  # at the batch price it was billed
    ],
)
def test_the_saving_of_one_call(reads: int, writes: int, batch: bool, expected: float) -> None:
    prices = price_table()
    tokens = {"input_tokens": 500, "output_tokens": 300}
    billed = prices.cost(
        HAIKU, cache_read_tokens=reads, cache_write_tokens=writes, batch=batch, **tokens
    )
    call = CachedCall(HAIKU, 500, 300, reads, writes, billed)
    assert prices.cache_saving(call) == pytest.approx(expected)


def test_launches_that_share_a_source_share_that_prefix(tmp_path: Path) -> None:
    """A vendor's pricing page attached to two launches: the sources come first, with a
    breakpoint of their own, so the second launch's reviewers read it from the first's."""
    ctx = context_for(open_store(tmp_path / "p.db"), HAIKU)
    other = Launch(slug="quill-lite", name="Quillstream Lite", description="A smaller one.")
    persona = load_personas()[0]
    a, b = (first_review_request(ctx, persona, x, [source(3000)]) for x in (LAUNCH, other))
    blocks_a, blocks_b = (
        next(iter(message_params("m", r, tool=False)["messages"]))["content"] for r in (a, b)
    )
    assert isinstance(blocks_a, list) and isinstance(blocks_b, list)
    assert blocks_a[0] == blocks_b[0] and "cache_control" in blocks_a[0]
    assert blocks_a[1] != blocks_b[1]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_batch_api_requests_have_the_same_layout(
    provider: str, fake_server: FakeServer, tmp_path: Path
) -> None:
    configure(provider, fake_server)
    store = open_store(default_db())
    model = HAIKU if provider == "anthropic" else MINI
    ctx = context_for(store, model, measure_diversity=False)
    queue = tmp_path / "q.jsonl"
    queue.write_text(json.dumps({"name": "Tool 1", "description": "Tool number one."}) + "\n")
    personas = load_personas()
    await submit_queue(ctx, queue, personas)
    launch = Launch(slug="tool-1", name="Tool 1", description="Tool number one.")
    direct = [first_review_request(ctx, p, launch) for p in personas]
    if provider == "anthropic":
        [body] = fake_server.bodies("/v1/messages/batches")
        sent = [entry["params"] for entry in body["requests"]]
        expected = [dict(message_params("claude-haiku-4-5", r, tool=False)) for r in direct]
    else:
        [upload] = [r.body for r in fake_server.requests if r.path == "/v1/files"]
        lines = [json.loads(line) for line in upload.decode().splitlines() if line.startswith("{")]
        sent = [line["body"] for line in lines]
        # a base URL other than OpenAI's is a compatible server: no prompt_cache_key
        expected = [
            dict(chat_params("gpt-5-mini", r, json_object=False, compatible=True)) for r in direct
        ]
    assert json.loads(json.dumps(sent)) == json.loads(json.dumps(expected))
