"""Rate limits and deadlines, end to end: the real SDKs against the HTTP test server.

A 429 (or 529) is the provider saying "later": retried under a time budget per review,
with jittered waits, while the adaptive limiter slows the run down. A deadline per review
and per panel bounds a hung API: no retry past it, a call in flight cut at it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from panel.batch.run import run_batch
from panel.cli import main
from panel.cli.app import Env, run_context
from panel.drafting.config import load_config
from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.personas import load_personas
from panel.drafting.retry import DEFAULT_POLICY, RetryPolicy
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import registry
from panel.records import ToolPanel
from panel.store import Store, open_store
from tests.conftest import EXAMPLES, context_for
from tests.fakeserver import FakeServer
from tests.fakeserver_wire import JSON, default_answer

MODEL = "anthropic:claude-haiku-4-5"
FAST = RetryPolicy(
    max_attempts=4, base_seconds=0.01, max_backoff_seconds=0.05, retry_after_cap_seconds=0.3
)


def configure(server: FakeServer) -> None:
    """Point the anthropic provider at ``server``, with the SDK's default 60 s timeout."""
    registry.configure("anthropic", {"api_key": "sk-test", "base_url": server.url})


def make_ctx(
    store: Store, policy: RetryPolicy = FAST, limiter: AdaptiveLimiter | None = None
) -> RunContext:
    return context_for(
        store, MODEL, editor="t", policy=policy, measure_diversity=False, limiter=limiter
    )


async def draft(
    server: FakeServer, policy: RetryPolicy, personas: int = 4
) -> tuple[ToolPanel, Store]:
    configure(server)
    store = open_store(default_db())
    launch = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
    return await draft_panel(make_ctx(store, policy), launch, load_personas()[:personas]), store


def calls(store: Store) -> list[dict[str, object]]:
    """The call log, oldest first."""
    return [dict(row) for row in reversed(store.recent_calls(1000))]


def write_queue(path: Path, count: int) -> Path:
    with path.open("w") as handle:
        for i in range(count):
            launch = {
                "name": f"Queued Tool {i}",
                "category": "Developer Tools",
                "entry": "Freemium",
                "description": f"Queued launch number {i}: a tool that does one thing well.",
            }
            handle.write(json.dumps(launch) + "\n")
    return path


async def test_a_rate_limited_batch_loses_no_review_and_pays_each_call_once(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    # 800 calls at 200 ms against 3,000 requests/min: the run must slow down to the limit.
    fake_server.latency = 0.2
    fake_server.rate_limit(3000)
    configure(fake_server)
    personas = load_personas()
    store = open_store(default_db())
    concurrency = 8
    ctx = make_ctx(store, DEFAULT_POLICY, limiter=AdaptiveLimiter(concurrency * len(personas)))
    queue = write_queue(tmp_path / "queue.jsonl", 200)
    progress = await run_batch(ctx, queue, personas, concurrency=concurrency)
    assert (progress.done, progress.failed) == (200, 0), progress.errors
    reviews = [r for panel in store.list_panels() for r in panel.reviews]
    assert len(reviews) == 800
    assert [r.error for r in reviews if r.failed] == []
    assert fake_server.rate_limited > 0, "the limit was reached"
    stats = fake_server.stats()
    assert stats["served"] == 800 and stats["repeated"] == 0, "each request answered once"
    assert ctx.limiter is not None and ctx.limiter.rate_limited > 0


async def test_four_reviewers_told_the_same_retry_after_spread_out(
    fake_server: FakeServer,
) -> None:
    answered: list[float] = []

    def answer(body: JSON) -> JSON | str:
        answered.append(time.monotonic())
        return default_answer(body)

    fake_server.answer = answer
    # Each reviewer's first request is told "retry in an hour", capped at 0.3 s.
    fake_server.script(["429:retry-after=3600"] * 4)
    panel, store = await draft(fake_server, FAST)
    assert not any(r.failed for r in panel.reviews)
    assert len(answered) == 4
    assert all("capped at 0.3 s" in str(c["error"]) for c in calls(store) if c["error"])
    # Retrying all at the cap would land them within a few ms of each other.
    assert max(answered) - min(answered) > 0.03


@pytest.mark.parametrize("fault", ["429:retry-after-ms=5", "429", "529"])
async def test_a_rate_limit_storm_past_max_attempts_does_not_fail_the_review(
    fault: str, fake_server: FakeServer
) -> None:
    storm = 3 * FAST.max_attempts
    fake_server.script([fault] * storm)
    panel, store = await draft(fake_server, FAST, personas=1)
    review = panel.reviews[0]
    assert not review.failed, review.error
    assert review.provenance is not None and review.provenance.attempts == storm + 1
    log = calls(store)
    assert [c["status"] for c in log] == [int(fault[:3])] * storm + [None]
    assert all("— retrying" in str(c["error"]) for c in log[:-1])


async def test_the_rate_limit_budget_ends_a_review(fake_server: FakeServer) -> None:
    policy = replace(FAST, rate_limit_budget_seconds=0.3)
    fake_server.script(["429:retry-after-ms=50"] * 100)
    panel, store = await draft(fake_server, policy, personas=1)
    review = panel.reviews[0]
    assert review.failed and review.error is not None
    assert "would pass this review's 0.3 s budget for rate limits" in review.error
    assert review.error.startswith("Anthropic API failed (status 429, rate_limit_error)")
    log = calls(store)
    assert 1 < len(log) < 100
    assert "— not retrying: rate limited for" in str(log[-1]["error"])
    assert all("retrying: retry-after" in str(c["error"]) for c in log[:-1])


async def test_other_errors_keep_their_count_between_rate_limits(fake_server: FakeServer) -> None:
    fake_server.script(["429:retry-after-ms=5", "503"] * FAST.max_attempts)
    panel, store = await draft(fake_server, FAST, personas=1)
    review = panel.reviews[0]
    assert review.failed and review.error is not None
    attempts = 2 * FAST.max_attempts
    assert review.error.endswith(f"(after {attempts} attempts)")
    assert [c["status"] for c in calls(store)] == [429, 503] * FAST.max_attempts


async def test_a_hung_call_is_cut_at_the_review_deadline(fake_server: FakeServer) -> None:
    # The server holds the first request for 30 s; the SDK would wait 60 s for it.
    fake_server.script(["timeout:seconds=30"])
    policy = replace(FAST, review_deadline_seconds=0.5)
    panel, store = await draft(fake_server, policy)
    failed = [r for r in panel.reviews if r.failed]
    assert len(failed) == 1 and failed[0].error is not None
    assert failed[0].error == "deadline of 0.5 s for this review reached (after 1 attempt)"
    assert panel.verdict_count == 3, "the other reviewers are unaffected"
    hung = [c for c in calls(store) if c["persona_id"] == failed[0].persona_id]
    assert [c["error"] for c in hung] == ["deadline of 0.5 s for this review reached"]


async def test_no_retry_is_scheduled_past_the_deadline(fake_server: FakeServer) -> None:
    fake_server.script(["503:retry-after=20"])
    policy = replace(FAST, retry_after_cap_seconds=30, review_deadline_seconds=5)
    panel, store = await draft(fake_server, policy, personas=1)
    review = panel.reviews[0]
    assert review.failed and review.error is not None
    assert review.error.endswith("(after 1 attempt; deadline of 5 s for this review reached)")
    (only,) = calls(store)
    assert "not retrying: deadline of 5 s for this review reached" in str(only["error"])
    assert fake_server.total == 1


async def test_the_panel_deadline_bounds_the_whole_panel(fake_server: FakeServer) -> None:
    fake_server.script(["timeout:seconds=30"] * 4)
    policy = replace(FAST, review_deadline_seconds=60, panel_deadline_seconds=0.5)
    panel, store = await draft(fake_server, policy)
    assert [r.error for r in panel.reviews] == [
        "deadline of 0.5 s for this panel reached (after 1 attempt)"
    ] * 4
    assert store.get_panel(panel.slug) == panel, "the panel is stored, its failures on record"
    assert len(calls(store)) == 4


async def test_a_retry_after_pauses_the_other_callers_without_holding_slots() -> None:
    limiter = AdaptiveLimiter(4)
    limiter.throttled(0.2)
    pause_ends = limiter.not_before
    granted: list[float] = []
    held_while_paused: list[int] = []

    async def call() -> None:
        async with limiter.slot():
            granted.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def watch() -> None:
        await asyncio.sleep(0.05)
        held_while_paused.append(limiter.in_flight)

    await asyncio.gather(*(call() for _ in range(4)), watch())
    assert held_while_paused == [0]
    assert min(granted) >= pause_ends
    assert limiter.limit < 4, "the 429 cut the cap too"


def test_panel_toml_sets_the_budgets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "panel.toml"
    config.write_text(
        "[retry]\nrate_limit_budget_seconds = 90\nreview_deadline_seconds = 120\n"
        "panel_deadline_seconds = 200.5\nmax_attempts = 3\n"
    )
    expected = replace(
        DEFAULT_POLICY,
        rate_limit_budget_seconds=90.0,
        review_deadline_seconds=120.0,
        panel_deadline_seconds=200.5,
        max_attempts=3,
    )
    assert load_config(config).policy == expected
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    with open_store(default_db()) as store:
        assert run_context(Env(default_db(), False, None), store, "fake:ship").policy == expected


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("review_deadline = 5", "unknown key 'review_deadline' in [retry] (allowed: "),
        ("review_deadline_seconds = 0", "[retry] review_deadline_seconds must be a number of"),
        ('panel_deadline_seconds = "10m"', "[retry] panel_deadline_seconds must be a number"),
        ("max_attempts = 2.5", "[retry] max_attempts must be a whole number above 0, like 6"),
    ],
)
def test_bad_retry_settings_are_one_line(
    table: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "panel.toml"
    config.write_text(f"[retry]\n{table}\n")
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and str(config) in err


async def test_a_rate_limit_cuts_the_cap_from_the_calls_in_flight() -> None:
    # 64 slots but only 10 calls fit under the provider's limit: one cut, not five.
    limiter = AdaptiveLimiter(64)
    release = asyncio.Event()
    entered = 0

    async def call() -> None:
        nonlocal entered
        async with limiter.slot():
            entered += 1
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(10)]
    while entered < 10:
        await asyncio.sleep(0)
    limiter.throttled()
    assert limiter.limit == pytest.approx(7.0)
    release.set()
    await asyncio.gather(*tasks)
