"""Every scripted fault, end to end: real SDKs, real HTTP, the core's retry policy.

Each test drafts a four-persona panel whose first request meets the fault, then checks
the outcome the policy promises, every attempt in the call log, and the other personas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from panel.generate import RunContext, draft_panel
from panel.launches import load_launch
from panel.models import ModelChoice
from panel.paths import default_db
from panel.personas import load_personas
from panel.prompts import load_prompts
from panel.providers import registry
from panel.records import ToolPanel
from panel.retry import RetryPolicy
from panel.store import Store, open_store
from tests.conftest import EXAMPLES
from tests.fakeserver import FakeServer

POLICY = RetryPolicy(
    max_attempts=4, base_seconds=0.01, max_backoff_seconds=0.05, retry_after_cap_seconds=0.3
)
MODELS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-5-mini"}


@dataclass(frozen=True)
class Case:
    """A fault and what the policy must make of it."""

    fault: str
    retried: bool
    """True: retried and succeeds on the next attempt. False: fails the persona."""
    error: str = ""
    """For failures: text the persona's error must contain."""
    log_note: str = ""
    """Text the first attempt's call-log entry must contain."""


CASES = [
    Case("429:retry-after=0.2", True, log_note="retry-after 0.2 s honoured"),
    Case("429:retry-after-ms=150", True, log_note="retry-after 0.15 s honoured"),
    Case("429:retry-after-date=1", True, log_note="retry-after"),
    Case("429:retry-after=3600", True, log_note="retry-after 3600 s capped at 0.3 s"),
    Case("500", True, log_note="retrying: backoff"),
    Case("503", True, log_note="retrying: backoff"),
    Case("529", True, log_note="retrying: backoff"),
    Case("reset", True, log_note="retrying"),
    Case("timeout:seconds=3", True, log_note="retrying"),
    Case("truncated", True, log_note="retrying"),
    Case("not_json", True, log_note=""),
    Case("missing_field", True, log_note=""),
    Case("refusal", True, log_note="refus"),
    Case("max_tokens", True, log_note=""),
    Case("401", False, error="not set or invalid"),
    Case("403", False, error="403"),
    Case("404", False, error="not found"),
    Case("400", False, error="400"),
]


def configure(provider: str, server: FakeServer) -> None:
    options: dict[str, object] = {"api_key": "sk-test", "timeout": 1.0}
    options["base_url"] = server.url if provider == "anthropic" else server.openai_url
    registry.configure(provider, options)


async def run_panel(
    provider: str, server: FakeServer, personas: int = 4
) -> tuple[ToolPanel, Store]:
    configure(provider, server)
    store = open_store(default_db())
    ctx = RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(explicit=MODELS[provider]),
        editor="t",
        policy=POLICY,
    )
    launch = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
    return await draft_panel(ctx, launch, load_personas()[:personas]), store


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
async def test_fault(provider: str, case: Case, fake_server: FakeServer) -> None:
    # The first request of the panel meets the fault; the others are answered normally.
    fake_server.script([case.fault])
    panel, store = await run_panel(provider, fake_server)
    calls = [dict(row) for row in reversed(store.recent_calls(50))]
    assert len(panel.reviews) == 4 and store.get_panel(panel.slug) == panel
    failed = [r for r in panel.reviews if r.failed]
    faulted = [c for c in calls if c["error"]]
    assert len(faulted) == 1, faulted
    persona = faulted[0]["persona_id"]
    if case.retried:
        assert failed == []
        review = panel.review(persona)
        assert review is not None and review.provenance is not None
        assert review.provenance.attempts == 2
        attempts = [c for c in calls if c["persona_id"] == persona]
        assert [c["error"] is None for c in attempts] == [False, True]
        assert case.log_note in attempts[0]["error"]
    else:
        assert [r.persona_id for r in failed] == [persona]
        assert case.error in (failed[0].error or "")
        assert "(after 1 attempt)" in (failed[0].error or "")
        assert failed[0].raw, "the last raw response is kept"
        assert panel.verdict_count == 3
    # every attempt is in the call log: the faulted one, and one per persona after it
    expected = 5 if case.retried else 4
    assert len(calls) == expected
    assert fake_server.total == expected


async def test_retries_exhausted_keeps_other_personas(fake_server: FakeServer) -> None:
    fake_server.script(["503"] * 4)
    panel, store = await run_panel("anthropic", fake_server, personas=1)
    failed = [r for r in panel.reviews if r.failed]
    assert len(failed) == 1 and failed[0].error is not None
    assert failed[0].error.endswith("(after 4 attempts)")
    # the rest of the panel is drafted afterwards and the failed review stays on record
    launch = panel.launch
    ctx = RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(explicit=MODELS["anthropic"]),
        editor="t",
        policy=POLICY,
    )
    full = await draft_panel(ctx, launch, load_personas()[1:], all_personas=load_personas())
    assert full.review("dx") == failed[0] and full.verdict_count == 3
    attempts = [r for r in store.recent_calls(50) if r["persona_id"] == failed[0].persona_id]
    assert len(attempts) == 4


async def test_usage_and_cache_tokens_reach_the_call_log(fake_server: FakeServer) -> None:
    panel, store = await run_panel("anthropic", fake_server)
    await draft_panel(
        RunContext(
            store=store,
            prompts=load_prompts(),
            models=ModelChoice(explicit=MODELS["anthropic"]),
            editor="t",
            policy=POLICY,
            use_cache=False,
        ),
        panel.launch,
        load_personas(),
    )
    rows = store.recent_calls(4)
    assert all(r["cache_read_tokens"] > 0 for r in rows), "repeated system prompts are cached"
    assert all(r["cost_usd"] > 0 for r in rows)
    body = fake_server.bodies("/v1/messages")[0]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert json.dumps(body).count("untrusted-launch") >= 2
