"""Panel generation: concurrency, validation, re-asks, retries, failures, the call log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel, parse_review
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.drafting.retry import RetryPolicy
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import ProviderError
from panel.providers.fake import FakeProvider, canned_answer
from panel.records import Launch, Verdict
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
    fake.script(*[lambda r: bad if "The Skeptic" in r.system else canned_answer("ship", r)] * 6)
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
