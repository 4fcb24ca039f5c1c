"""Panel generation: concurrency, validation, re-asks, retries, failures, the call log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.drafting.context import RunContext
from panel.drafting.generate import (
    asks_pricing_read,
    draft_panel,
    first_review_request,
    parse_review,
)
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.drafting.retry import RetryPolicy
from panel.launches import load_launch
from panel.lengths import PRICING_READ_WORDS
from panel.paths import default_db
from panel.providers import ModelRequest, ProviderError
from panel.providers.fake import FakeProvider, canned_answer, pricing_read_of, reviewer_of
from panel.records import Launch, Persona, ReviewOutput, Verdict
from panel.store import Store, open_store
from tests.conftest import EXAMPLES, context_for

FAST = RetryPolicy(
    max_attempts=4, base_seconds=0.001, max_backoff_seconds=0.01, retry_after_cap_seconds=0.05
)


def make_ctx(store: Store, model: str = "fake:mixed", policy: RetryPolicy = FAST) -> RunContext:
    return context_for(store, model, policy=policy)


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


def launch() -> Launch:
    return load_launch(EXAMPLES / "gpt-5-mini-api.yaml")


async def test_panel_of_four_is_stored_with_provenance(store: Store, fake: FakeProvider) -> None:
    panel = await draft_panel(make_ctx(store), launch(), load_personas())
    assert [r.persona_id for r in panel.reviews] == ["dx", "skeptic", "futurist", "business"]
    assert [r.verdict for r in panel.reviews] == [
        Verdict.SHIP,
        Verdict.SKIP,
        Verdict.SHIP,
        Verdict.SKIP,
    ]
    assert panel.ship_share == 0.5 and panel.split == "2/4 ship"
    prov = panel.reviews[0].provenance
    assert prov is not None and prov.model == "fake:mixed" and prov.attempts == 1
    assert len(prov.persona_hash) == 64 and prov.template_hash == load_prompts().hash
    stored = store.get_panel("gpt-5-mini-api")
    assert stored == panel
    assert len(store.recent_calls(10)) == 4


async def test_personas_run_concurrently(store: Store, fake: FakeProvider) -> None:
    fake.latency = 0.05
    ctx = make_ctx(store)
    ctx.measure_diversity = False
    await draft_panel(ctx, launch(), load_personas())
    # all four persona calls were waiting on the provider at the same time (a sequential
    # loop would never have more than one); wall time is measured by benchmarks/
    assert fake.max_in_flight == 4


async def test_reask_shows_the_error_then_succeeds(store: Store, fake: FakeProvider) -> None:
    personas = load_personas()[:1]
    fake.script(
        "not json at all", json.dumps({"headline": "h", "quote": "too short", "verdict": "ship"})
    )
    panel = await draft_panel(make_ctx(store, "fake:ship"), launch(), personas)
    review = panel.reviews[0]
    assert review.verdict is Verdict.SHIP and not review.failed
    assert review.provenance is not None and review.provenance.attempts == 3
    second, third = fake.calls[1][1], fake.calls[2][1]
    assert "not valid JSON" in second.messages[-1].content
    assert second.messages[-2].content == "not json at all"
    assert "quote has 2 words" in third.messages[-1].content


async def test_persistent_bad_output_fails_one_persona_only(
    store: Store, fake: FakeProvider
) -> None:
    bad = json.dumps({"headline": "h", "quote": "short", "verdict": "maybe"})

    def answer(request: ModelRequest) -> str:
        return bad if reviewer_of(request) == "The Skeptic" else canned_answer("ship", request)

    fake.script(*[answer] * 6)
    panel = await draft_panel(make_ctx(store, "fake:ship"), launch(), load_personas())
    skeptic = panel.review("skeptic")
    assert skeptic is not None and skeptic.failed and skeptic.verdict is None
    assert skeptic.raw == bad
    assert skeptic.error is not None and "verdict" in skeptic.error
    assert skeptic.provenance is not None and skeptic.provenance.attempts == 3
    assert panel.verdict_count == 3 and panel.ship_count == 3
    assert store.get_panel(panel.slug).review("skeptic") == skeptic


async def test_retryable_errors_are_retried_and_logged(store: Store, fake: FakeProvider) -> None:
    fake.script(
        ProviderError("HTTP 503", retryable=True, status=503),
        ProviderError("HTTP 429", retryable=True, retry_after=3600, status=429),
    )
    panel = await draft_panel(make_ctx(store, "fake:ship"), launch(), load_personas()[:1])
    assert panel.reviews[0].verdict is Verdict.SHIP
    calls = list(reversed(store.recent_calls(10)))
    assert [c["attempt"] for c in calls] == [1, 2, 3]
    assert "retrying" in calls[0]["error"]
    assert "retry-after 3600 s capped at 0.05 s" in calls[1]["error"]
    assert calls[2]["error"] is None


async def test_fatal_error_fails_at_once(store: Store, fake: FakeProvider) -> None:
    fake.script(ProviderError("OPENAI_API_KEY is not set or invalid", retryable=False, status=401))
    panel = await draft_panel(make_ctx(store, "fake:ship"), launch(), load_personas()[:1])
    review = panel.reviews[0]
    assert review.failed and review.error is not None
    assert review.error.startswith("OPENAI_API_KEY is not set or invalid (after 1 attempt)")
    assert len(fake.calls) == 1


async def test_retries_exhausted(store: Store, fake: FakeProvider) -> None:
    fake.script(*[ProviderError("HTTP 500", retryable=True, status=500, raw="boom")] * 4)
    panel = await draft_panel(make_ctx(store, "fake:ship"), launch(), load_personas()[:1])
    review = panel.reviews[0]
    assert review.failed and review.raw == "boom"
    assert review.error == "HTTP 500 (after 4 attempts)"
    assert len(store.recent_calls(10)) == 4


async def test_redraft_is_a_new_revision_not_a_duplicate(store: Store, fake: FakeProvider) -> None:
    personas = load_personas()
    first = await draft_panel(make_ctx(store, "fake:ship"), launch(), personas)
    second = await draft_panel(
        make_ctx(store, "fake:skip"), launch(), personas[1:2], all_personas=personas
    )
    assert (first.revision, second.revision) == (1, 2)
    assert [r.verdict for r in second.reviews] == [
        Verdict.SHIP,
        Verdict.SKIP,
        Verdict.SHIP,
        Verdict.SHIP,
    ]
    assert len(store.list_panels()) == 1
    assert [h["action"] for h in store.history("panel", first.slug)] == ["draft", "redraft"]


def test_parse_review_messages() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_review("{")
    with pytest.raises(ValueError, match="verdict: Input should be 'ship' or 'skip'"):
        parse_review(json.dumps({"headline": "h", "quote": "w " * 60, "verdict": "maybe"}))
    with pytest.raises(ValueError, match="headline: Field required"):
        parse_review(json.dumps({"quote": "w " * 60, "verdict": "ship"}))


def test_tmp_isolation(tmp_path: Path) -> None:
    assert str(default_db()).startswith(str(tmp_path))


async def test_response_cache_pays_each_call_once(store: Store, fake: FakeProvider) -> None:
    personas = load_personas()
    first = await draft_panel(make_ctx(store), launch(), personas)
    assert len(fake.calls) == 4
    second = await draft_panel(make_ctx(store), launch(), personas)
    assert len(fake.calls) == 4, "a repeated request must be answered from the cache"
    assert [r.quote for r in second.reviews] == [r.quote for r in first.reviews]
    cached = [c for c in store.recent_calls(8) if c["cached"]]
    assert len(cached) == 4 and all(c["cost_usd"] == 0 for c in cached)
    fresh = make_ctx(store)
    fresh.use_cache = False
    await draft_panel(fresh, launch(), personas)
    assert len(fake.calls) == 8


async def test_cache_key_covers_the_model(store: Store, fake: FakeProvider) -> None:
    await draft_panel(make_ctx(store, "fake:ship"), launch(), load_personas()[:1])
    await draft_panel(make_ctx(store, "fake:skip"), launch(), load_personas()[:1])
    assert [m for m, _ in fake.calls] == ["ship", "skip"]


# -- the pricing read ----------------------------------------------------------------------------

VALID = {"headline": "h", "quote": "w " * 60, "verdict": "ship"}
READ = "I read the pricing as metered per call, which a platform team can expense."
SHAPE = '{"headline": ..., "quote": ..., "verdict": ...'


def by_id(persona_id: str) -> Persona:
    return next(p for p in load_personas() if p.id == persona_id)


def test_parse_review_requires_the_pricing_read_only_when_asked() -> None:
    with pytest.raises(ValueError, match=r"^pricing_read: Field required - add one sentence"):
        parse_review(json.dumps(VALID), pricing_read=True)
    with pytest.raises(ValueError, match=r"^pricing_read: Field required"):
        parse_review(json.dumps(VALID | {"pricing_read": None}), pricing_read=True)
    # every problem at once, so one re-ask can fix them all
    with pytest.raises(ValueError, match=r"quote has 2 words.*; pricing_read: Field required"):
        parse_review(json.dumps(VALID | {"quote": "too short"}), pricing_read=True)
    spaced = parse_review(json.dumps(VALID | {"pricing_read": f"  {READ}\n"}), pricing_read=True)
    assert spaced.pricing_read == READ
    # not asked: a pricing read the model volunteers is never kept
    assert parse_review(json.dumps(VALID | {"pricing_read": READ})).pricing_read is None
    assert parse_review(json.dumps(VALID)).pricing_read is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Free.", "pricing_read has 1 words; write one sentence of 6 to 45 words"),
        ("word " * 46, "pricing_read has 46 words; cut it to one sentence of 6 to 45 words"),
        (
            "It is free for research. It will be metered later for teams.",
            "pricing_read has 2 sentences; make it one sentence",
        ),
    ],
)
def test_a_bad_pricing_read_is_refused_with_a_message_the_model_can_act_on(
    text: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"^pricing_read: {problem}"):
        parse_review(json.dumps(VALID | {"pricing_read": text}), pricing_read=True)
    assert PRICING_READ_WORDS.low == 6 and PRICING_READ_WORDS.high == 45


def test_only_the_pricing_reviewer_s_request_and_prompts_name_the_pricing_read() -> None:
    ctx = make_ctx(open_store(default_db()))
    shape = SHAPE + ', "pricing_read": ...}'
    system = ctx.prompts.system()
    for persona in load_personas():
        request = first_review_request(ctx, persona, launch())
        asked = persona.pricing_read
        assert asks_pricing_read(request) is asked
        # One schema and one system prompt for all four, so their shared prefix caches.
        assert request.schema == ReviewOutput.wire_schema()
        assert request.system == system
        instructions = request.messages[0].parts()[-1][0]
        assert ("Give your pricing read too" in instructions) is asked
        assert ("Leave pricing_read null" in instructions) is not asked
        reask = ctx.prompts.reask("bad", pricing_read=asked)
        assert ("The pricing_read is one sentence" in reask) is asked
        assert shape in ctx.prompts.reask("bad", pricing_read=asked)
        assert shape in ctx.prompts.beats(["x: y?"], pricing_read=asked)
    assert [p.id for p in load_personas() if p.pricing_read] == ["business"]
    assert f"Answer only with the JSON object {shape}." in system
    assert "it is ONE\n  sentence of 6 to 45 words" in system


async def test_a_missing_pricing_read_is_asked_again_naming_it(
    store: Store, fake: FakeProvider
) -> None:
    def without_read(request: ModelRequest) -> str:
        answer = json.loads(canned_answer("skip", request))
        assert answer.pop("pricing_read"), "the fake answers the asked pricing read"
        return json.dumps(answer)

    fake.script(without_read)
    panel = await draft_panel(make_ctx(store, "fake:skip"), launch(), [by_id("business")])
    review = panel.reviews[0]
    assert not review.failed and review.provenance is not None
    assert review.provenance.attempts == 2
    first, second = fake.calls[0][1], fake.calls[1][1]
    assert review.pricing_read == pricing_read_of(first)
    reask = second.messages[-1].content
    assert reask.startswith("Your previous answer could not be used: pricing_read: Field required")
    assert f'{SHAPE}, "pricing_read": ...}}' in reask
    assert "The pricing_read is one sentence of 6 to 45 words." in reask
    assert asks_pricing_read(second) and second.schema == first.schema


async def test_free_and_paid_launches_get_their_own_pricing_reads(
    store: Store, fake: FakeProvider
) -> None:
    operator = [by_id("business")]
    reads: dict[str, str] = {}
    for name in ("claude-haiku-open-weights", "gpt-5-mini-api"):
        one = load_launch(EXAMPLES / f"{name}.yaml")
        panel = await draft_panel(make_ctx(store), one, operator)
        assert one.entry and panel.reviews[0].pricing_read
        reads[one.entry] = panel.reviews[0].pricing_read
    assert "a free research release with nothing to meter" in reads["Free"]
    assert "metered from the first call" in reads["Paid"]
    assert all("$" not in read and "per seat" not in read for read in reads.values())
    others = await draft_panel(make_ctx(store), launch(), load_personas()[:3])
    assert [r.pricing_read for r in others.reviews if r.persona_id != "business"] == [None] * 3
