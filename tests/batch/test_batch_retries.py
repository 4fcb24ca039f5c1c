"""Batch API calls run in the one retry loop: rate-limit budget, attempts, deadline.

The real anthropic SDK over HTTP against the fake server; faults are scripted on the
batch endpoints only (``path=/v1/messages/batches``).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from panel.batch.collect import refresh
from panel.batch.submit import submit_queue
from panel.drafting.context import RunContext
from panel.drafting.personas import load_personas
from panel.drafting.retry import RetryPolicy
from panel.errors import PanelError
from panel.paths import default_db
from panel.providers import registry
from panel.store import Store, open_store
from panel.store import batches as db
from tests.conftest import context_for
from tests.fakeserver import FakeServer

MODEL = "anthropic:claude-haiku-4-5"
BATCHES = "/v1/messages/batches"
FAST = RetryPolicy(
    max_attempts=3, base_seconds=0.01, max_backoff_seconds=0.05, retry_after_cap_seconds=0.3
)


def ctx_for(store: Store, policy: RetryPolicy = FAST) -> RunContext:
    return context_for(store, MODEL, editor="batch", policy=policy)


async def submitted(server: FakeServer, tmp_path: Path) -> tuple[Store, list[db.StoredBatch]]:
    """One batch of one launch, still running at the provider."""
    registry.configure("anthropic", {"api_key": "k", "base_url": server.url, "timeout": 5.0})
    server.batch.delay = 60
    queue = tmp_path / "q.jsonl"
    queue.write_text(json.dumps({"name": "Tool 1", "description": "Tool number 1."}) + "\n")
    store = open_store(default_db())
    result = await submit_queue(ctx_for(store), queue, load_personas())
    assert len(result.submitted) == 1
    return store, db.list_batches(store, pending=True)


def on_batches(fault: str, path: str = f"{BATCHES}/") -> str:
    """``fault`` scripted for the batch endpoints under ``path`` only."""
    return f"{fault}{',' if ':' in fault else ':'}path={path}"


def status_calls(server: FakeServer, batch: db.StoredBatch) -> int:
    return server.counts[f"{BATCHES}/{batch.batch_id}"]


@pytest.mark.parametrize("fault", ["429:retry-after-ms=5", "529"])
async def test_a_rate_limit_storm_past_max_attempts_does_not_fail_a_status_call(
    fault: str, fake_server: FakeServer, tmp_path: Path
) -> None:
    store, [batch] = await submitted(fake_server, tmp_path)
    storm = 3 * FAST.max_attempts
    fake_server.script([on_batches(fault)] * storm)
    [fresh] = await refresh(ctx_for(store), [batch])
    assert fresh.provider_status == "in_progress"
    assert status_calls(fake_server, batch) == storm + 1
    assert fake_server.pending == []


async def test_the_rate_limit_budget_ends_a_status_call(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    store, [batch] = await submitted(fake_server, tmp_path)
    fake_server.script([on_batches("429:retry-after-ms=50")] * 100)
    policy = replace(FAST, rate_limit_budget_seconds=0.3)
    with pytest.raises(PanelError) as raised:
        await refresh(ctx_for(store, policy), [batch])
    # The provider's message, as before: the CLI shows it on one line.
    assert str(raised.value).startswith("Anthropic API failed (status 429, rate_limit_error)")
    assert "attempt" not in str(raised.value)
    assert FAST.max_attempts < status_calls(fake_server, batch) < 100


async def test_other_errors_still_count_against_max_attempts(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    store, [batch] = await submitted(fake_server, tmp_path)
    fake_server.script([on_batches("503")] * 10)
    with pytest.raises(PanelError, match=r"status 503"):
        await refresh(ctx_for(store), [batch])
    assert status_calls(fake_server, batch) == FAST.max_attempts


async def test_a_hung_status_call_is_cut_at_the_deadline(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    # The server holds the request for 30 s; the client would wait 5 s, three times.
    store, [batch] = await submitted(fake_server, tmp_path)
    fake_server.script([on_batches("timeout:seconds=30")] * 3)
    policy = replace(FAST, review_deadline_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(PanelError) as raised:
        await refresh(ctx_for(store, policy), [batch])
    assert str(raised.value) == "deadline of 0.5 s for this batch API call reached"
    assert time.monotonic() - started < 3
    assert status_calls(fake_server, batch) == 1


@pytest.mark.parametrize(("fault", "posts"), [("429:retry-after-ms=5", 2), ("503", 1)])
async def test_a_submission_is_retried_only_when_refused_outright(
    fault: str, posts: int, fake_server: FakeServer, tmp_path: Path
) -> None:
    """A 5xx may have created the batch: sending it again could pay for it twice."""
    fake_server.script([on_batches(fault, BATCHES)])
    if posts == 1:
        with pytest.raises(PanelError, match=r"status 503"):
            await submitted(fake_server, tmp_path)
    else:
        await submitted(fake_server, tmp_path)
    assert fake_server.counts[BATCHES] == posts
    assert len(fake_server.batch.batches) == posts - 1
