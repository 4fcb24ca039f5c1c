"""Every scripted fault, end to end: real SDKs, real HTTP, the core's retry policy.

Each case drafts a four-persona panel on Anthropic, OpenAI Chat and OpenAI Responses,
where the skeptic's first requests meet the fault, then checks the outcome the policy
promises, every attempt in the call log with the raw body kept, and the other personas.
Then `panel draft` and the desk's Regenerate meet a proxy's page on every try.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.caching import long_launch
from panel.cli import main
from panel.drafting.generate import draft_panel
from panel.drafting.personas import load_personas
from panel.drafting.retry import RetryPolicy
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import registry
from panel.records import ToolPanel
from panel.store import Store, open_store
from tests.conftest import EXAMPLES, context_for
from tests.fakeserver import FakeServer
from tests.pages_support import make_panel, store_panel
from tests.web.support import desk, form_for, post

POLICY = RetryPolicy(
    max_attempts=4, base_seconds=0.01, max_backoff_seconds=0.05, retry_after_cap_seconds=0.3
)
MODELS = {
    "anthropic": "anthropic:claude-haiku-4-5",
    "openai": "openai:gpt-5-mini",
    "openai-responses": "openai:gpt-5-mini",
}
PROVIDERS = list(MODELS)
"""Anthropic Messages, OpenAI Chat Completions, OpenAI Responses."""
TARGET = "skeptic"
"""The persona whose requests meet the fault (the server matches its name in the body)."""


@dataclass(frozen=True)
class Case:
    """A fault and what the policy must make of it."""

    fault: str
    retried: bool
    """True: retried, and the attempt after the faults succeeds. False: fails the persona."""
    note: str
    """Text every faulted call-log entry (and a failed persona's error) must contain."""
    times: int = 1
    """How many requests in a row meet the fault."""
    raw: str = ""
    """Text the faulted call-log entries (and a failed persona's raw) must keep."""


CASES = [
    Case("429:retry-after=0.2", True, "retry-after 0.2 s honoured"),
    Case("429:retry-after-ms=150", True, "retry-after 0.15 s honoured"),
    Case("429:retry-after-date=1", True, "retry-after"),
    Case("429:retry-after=3600", True, "retry-after 3600 s capped at 0.3 s"),
    Case("500", True, "retrying: backoff"),
    Case("503", True, "retrying: backoff"),
    Case("529", True, "retrying: backoff"),
    Case("reset", True, "retrying"),
    Case("timeout:seconds=3", True, "retrying"),
    Case("truncated", True, "without sending complete message body", raw='{"id": '),
    Case("overlong", True, "without sending complete message body", raw='"usage": {'),
    Case("bad_body", True, "unreadable response", raw="<html>502</html>"),
    Case("html200", True, "an HTML page (Service temporarily unavailable)", raw="<title>"),
    Case("empty200", True, "unexpected response from", raw="{}"),
    Case("error200", True, "an error object with status 200", raw='"Overloaded"'),
    Case("truncated", False, "without sending complete message body", times=4, raw='{"id": '),
    Case("html200", False, "an HTML page", times=4, raw="edge-proxy"),
    Case("empty200", False, "unexpected response from", times=4, raw="{}"),
    # A rate-limit error object is "later", not "no": waited out under the time budget.
    Case("error200:status=429", True, "status 200", times=6, raw="Rate limit reached"),
    Case("error200:status=400", False, "(invalid_request_error)", raw="Invalid request."),
    Case("not_json", True, "not valid JSON"),
    Case("missing_field", True, "verdict"),
    Case("refusal", True, "refus"),
    Case("max_tokens", True, "cut off"),
    Case("401", False, "not set or invalid"),
    Case("403", False, "403"),
    Case("404", False, "not found"),
    Case("400", False, "400"),
]


def configure(provider: str, server: FakeServer) -> None:
    options: dict[str, object] = {"api_key": "sk-test", "timeout": 1.0}
    options["base_url"] = server.url if provider == "anthropic" else server.openai_url
    if provider == "openai-responses":
        options["api"] = "responses"
    registry.configure(provider.removesuffix("-responses"), options)


async def run_panel(
    provider: str, server: FakeServer, personas: int = 4
) -> tuple[ToolPanel, Store]:
    configure(provider, server)
    store = open_store(default_db())
    ctx = context_for(store, MODELS[provider], editor="t", policy=POLICY)
    launch = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
    return await draft_panel(ctx, launch, load_personas()[:personas]), store


def aimed(fault: str, persona: str = "The Skeptic") -> str:
    """``fault`` for the requests of one persona only (matched by its name in the body)."""
    return f"{fault}{',' if ':' in fault else ':'}body={persona}"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.fault}x{c.times}" for c in CASES])
async def test_fault(provider: str, case: Case, fake_server: FakeServer) -> None:
    assert case.note, "an empty note would match any error"
    # The target's first requests meet the fault; the other personas are answered normally.
    fake_server.script([aimed(case.fault)] * case.times)
    panel, store = await run_panel(provider, fake_server)
    calls = [dict(row) for row in reversed(store.recent_calls(50))]
    assert len(panel.reviews) == 4 and store.get_panel(panel.slug) == panel
    assert fake_server.pending == [], "every scripted fault was met"
    others = [c for c in calls if c["persona_id"] != TARGET]
    assert len(others) == 3 and all(c["error"] is None for c in others)
    attempts = [c for c in calls if c["persona_id"] == TARGET]
    faulted = attempts[: case.times]
    for call in faulted:
        assert case.note in (call["error"] or ""), call
        assert case.raw in (call["response"] or ""), call
    failed = [r for r in panel.reviews if r.failed]
    if case.retried:
        assert failed == []
        review = panel.review(TARGET)
        assert review is not None and review.provenance is not None
        assert review.provenance.attempts == case.times + 1
        assert [c["error"] is None for c in attempts] == [False] * case.times + [True]
    else:
        assert [r.persona_id for r in failed] == [TARGET]
        error = failed[0].error or ""
        assert case.note in error
        plural = "s" if case.times > 1 else ""
        assert error.endswith(f"(after {case.times} attempt{plural})"), error
        assert failed[0].raw and case.raw in failed[0].raw, "the last raw response is kept"
        assert len(attempts) == case.times
        assert panel.verdict_count == 3
    # every attempt is in the call log: the target's, and one per other persona
    assert len(calls) == fake_server.total == 3 + case.times + case.retried


async def test_retries_exhausted_keeps_other_personas(fake_server: FakeServer) -> None:
    fake_server.script(["503"] * 4)
    panel, store = await run_panel("anthropic", fake_server, personas=1)
    failed = [r for r in panel.reviews if r.failed]
    assert len(failed) == 1 and failed[0].error is not None
    assert failed[0].error.endswith("(after 4 attempts)")
    # the rest of the panel is drafted afterwards and the failed review stays on record
    launch = panel.launch
    ctx = context_for(store, MODELS["anthropic"], editor="t", policy=POLICY)
    full = await draft_panel(ctx, launch, load_personas()[1:], all_personas=load_personas())
    assert full.review("dx") == failed[0] and full.verdict_count == 3
    attempts = [r for r in store.recent_calls(50) if r["persona_id"] == failed[0].persona_id]
    assert len(attempts) == 4


async def test_usage_and_cache_tokens_reach_the_call_log(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    configure("anthropic", fake_server)
    store = open_store(default_db())
    launch = load_launch(long_launch(tmp_path))  # ~7,000 tokens of sources: cacheable
    for use_cache in (True, False):  # the second draft asks the model again
        ctx = context_for(
            store, MODELS["anthropic"], editor="t", policy=POLICY, use_cache=use_cache
        )
        await draft_panel(ctx, launch, load_personas())
    rows = store.recent_calls(4)
    assert all(r["cache_read_tokens"] > 0 for r in rows), "the shared launch block is cached"
    assert all(r["cost_usd"] > 0 for r in rows)
    body = fake_server.bodies("/v1/messages")[0]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    blocks = body["messages"][0]["content"]
    assert [b.get("cache_control") for b in blocks] == [{"type": "ephemeral"}] * 2 + [None]
    assert json.dumps(body).count("untrusted-launch") >= 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_panel_draft_keeps_a_review_failed_by_unexpected_answers(
    provider: str,
    fake_server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`panel draft` end to end: a proxy page on every try fails one review, not the panel."""
    url = fake_server.url if provider == "anthropic" else fake_server.openai_url
    name = provider.removesuffix("-responses")
    api = 'api = "responses"\n' if provider == "openai-responses" else ""
    config = tmp_path / "panel.toml"
    config.write_text(
        f'[providers.{name}]\napi_key = "k"\nbase_url = "{url}"\n{api}'
        "[retry]\nmax_attempts = 3\nbase_seconds = 0.01\nmax_backoff_seconds = 0.05\n"
    )
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    fake_server.script([aimed("html200")] * 3)
    launch = EXAMPLES / "gpt-5-mini-api.yaml"
    code = main(["draft", str(launch), "-m", MODELS[provider], "--json"])
    out, err = capsys.readouterr()
    assert code == 5, err  # some reviewers failed
    assert "Traceback" not in err
    assert f"panel: {TARGET} failed: unexpected response from" in err
    assert "an HTML page (Service temporarily unavailable) (after 3 attempts)" in err
    record = json.loads(out)
    [failed] = [r for r in record["reviews"] if r["failed"]]
    assert failed["persona_id"] == TARGET and "edge-proxy" in failed["raw"]
    with open_store(default_db()) as store:
        assert store.get_panel(record["slug"]).review(TARGET) is not None
        calls = store.recent_calls(50)
    assert len(calls) == fake_server.total == 3 + 3
    assert sum(1 for c in calls if c["status"] == 200 and c["error"]) == 3


def test_desk_regenerate_meeting_a_proxy_page_keeps_the_review(
    fake_server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regenerate in the web desk, real SDK and HTTP: a 200 proxy page on every try."""
    config = tmp_path / "panel.toml"
    config.write_text(
        f'[providers.anthropic]\napi_key = "k"\nbase_url = "{fake_server.url}"\n'
        "[retry]\nmax_attempts = 2\nbase_seconds = 0.01\nmax_backoff_seconds = 0.05\n"
    )
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    with open_store(default_db()) as store:
        store_panel(store, make_panel("Acme Agent", "yynn"))
        before = store.get_panel("acme-agent")
    fake_server.script(["html200"] * 2)
    with desk(model=MODELS["anthropic"]) as client:
        page = "/panels/acme-agent"
        response = post(client, f"{page}/reviews/skeptic/regenerate", **form_for(client, page))
    assert response.status_code != 500
    assert "regenerating skeptic failed" in response.text
    assert "an HTML page (Service temporarily unavailable)" in response.text
    assert fake_server.total == 2
    with open_store(default_db()) as store:
        assert store.get_panel("acme-agent") == before
        assert [c["status"] for c in store.recent_calls(10)] == [200, 200]
