"""Nothing lost: crashed panels in a batch, invalid answers never cached, failed regenerates,
exit codes a script can trust, and the desk's refusals carrying its security headers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from panel.batch.run import run_batch
from panel.cli import main
from panel.drafting import diversity
from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.personas import load_personas
from panel.drafting.retry import RetryPolicy
from panel.drafting.retry import rate_limited as retry_rate_limited
from panel.errors import ModelFailure
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import Message, ModelRequest, ProviderError
from panel.providers.anthropic import AnthropicProvider
from panel.providers.fake import FakeProvider, canned_answer
from panel.providers.openai import OpenAIProvider
from panel.records import Launch
from panel.store import Store, open_store
from panel.workflow import regenerate_review
from tests.conftest import EXAMPLES, context_for

FAST = RetryPolicy(max_attempts=2, base_seconds=0.001, max_backoff_seconds=0.01)
NOT_JSON = "I think this tool is great!"
REQUEST = ModelRequest(
    system="You are the skeptic.",
    messages=(Message("user", "Review the launch."),),
    schema={"type": "object"},
)


def make_ctx(store: Store, model: str = "fake:ship") -> RunContext:
    ctx = context_for(store, model, policy=FAST)
    ctx.measure_diversity = False
    return ctx


def launch() -> Launch:
    return load_launch(EXAMPLES / "gpt-5-mini-api.yaml")


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


def cached_keys(store: Store) -> int:
    return int(store.conn.execute("SELECT COUNT(*) FROM response_cache").fetchone()[0])


# -- defect 4: only answers that validated are cached -----------------------------------


async def test_invalid_answers_are_not_replayed_from_the_cache(
    store: Store, fake: FakeProvider
) -> None:
    ctx = make_ctx(store)
    ctx.max_reasks = 0
    fake.script(*[NOT_JSON] * 4)
    first = await draft_panel(ctx, launch(), load_personas())
    assert all(r.failed for r in first.reviews)
    assert cached_keys(store) == 0
    errors = [row["error"] for row in store.recent_calls(10)]
    assert len(errors) == 4 and all(e.startswith("invalid answer: ") for e in errors)

    # Drafting again asks the model again (no replay of the four failures).
    calls_before = len(fake.calls)
    second = await draft_panel(ctx, launch(), load_personas())
    assert len(fake.calls) == calls_before + 4
    assert not any(r.failed for r in second.reviews)
    assert cached_keys(store) == 4

    # Valid answers are served from the cache: a third draft costs no call.
    await draft_panel(ctx, launch(), load_personas())
    assert len(fake.calls) == calls_before + 4


async def test_a_cached_answer_that_no_longer_validates_is_dropped(
    store: Store, fake: FakeProvider
) -> None:
    ctx = make_ctx(store)
    await draft_panel(ctx, launch(), load_personas())
    assert cached_keys(store) == 4
    # An old database may hold an answer that today's rules refuse.
    key = store.conn.execute("SELECT key FROM response_cache LIMIT 1").fetchone()[0]
    entry = {
        "text": NOT_JSON,
        "input_tokens": 1,
        "output_tokens": 1,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "stop_reason": None,
    }
    store.conn.execute(
        "UPDATE response_cache SET response = ? WHERE key = ?", (json.dumps(entry), key)
    )
    calls_before = len(fake.calls)
    panel = await draft_panel(ctx, launch(), load_personas())
    assert not any(r.failed for r in panel.reviews)
    # The bad entry was served once (as a cache hit noted invalid), dropped, and re-asked.
    assert len(fake.calls) == calls_before + 1
    hit = store.conn.execute(
        "SELECT error FROM calls WHERE cached = 1 AND cache_key = ? ORDER BY id DESC", (key,)
    ).fetchone()
    assert hit[0].startswith("invalid answer: the answer is not valid JSON")
    assert (
        store.conn.execute("SELECT 1 FROM response_cache WHERE key = ?", (key,)).fetchone() is None
    )


def test_draft_fresh_bypasses_the_cache(
    launch_file: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draft", str(launch_file), "-m", "fake:ship"]) == 0
    assert len(fake.calls) == 4
    assert main(["draft", str(launch_file), "-m", "fake:ship"]) == 0
    assert len(fake.calls) == 4  # answered from the cache
    assert main(["draft", str(launch_file), "-m", "fake:ship", "--fresh"]) == 0
    assert len(fake.calls) == 8


def test_draft_help_names_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", "--help"]) == 0
    assert "--fresh" in capsys.readouterr().out


# -- defect 9: exit codes ---------------------------------------------------------------


@pytest.mark.parametrize(("failures", "code"), [(0, 0), (1, 5), (4, 6)])
def test_draft_exit_code_tells_what_happened(
    launch_file: Path,
    fake: FakeProvider,
    capsys: pytest.CaptureFixture[str],
    failures: int,
    code: int,
) -> None:
    fatal = ProviderError("HTTP 401: bad key", retryable=False, status=401)
    # Personas run concurrently; the first `failures` calls made fail for good.
    fake.script(*[fatal] * failures)
    assert main(["draft", str(launch_file), "-m", "fake:ship"]) == code
    err = capsys.readouterr().err
    assert err.count(" failed: HTTP 401: bad key") == failures


# -- defect 3: a panel whose drafting raises is never a silent gap -----------------------


def write_queue(path: Path, count: int) -> Path:
    rows = [{"name": f"Tool {i}", "description": f"Tool number {i}."} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


async def test_a_crashed_panel_is_counted_recorded_and_retried(
    tmp_path: Path, store: Store, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = write_queue(tmp_path / "q.jsonl", 6)
    real = diversity.assess_async

    async def broken(reviews: list[object]) -> object:
        if any("Tool 3" in str(r) for r in reviews):
            raise RuntimeError("embedding worker died")
        return await real(reviews)  # type: ignore[arg-type]

    monkeypatch.setattr(diversity, "assess_async", broken)
    ctx = make_ctx(store)
    ctx.measure_diversity = True
    first = await run_batch(ctx, queue, load_personas(), concurrency=3)
    assert (first.done, first.failed, first.crashed) == (5, 0, 1)
    assert first.errors == ["tool-3: RuntimeError: embedding worker died"]
    assert first.exit_code == 5
    assert store.find_panel("tool-3") is None
    run = store.conn.execute("SELECT status, note FROM batch_runs").fetchone()
    assert tuple(run) == ("incomplete", "1 not drafted")
    item = store.conn.execute(
        "SELECT status, error FROM batch_items WHERE slug = 'tool-3'"
    ).fetchone()
    assert tuple(item) == ("error", "RuntimeError: embedding worker died")

    # The next run of the same queue drafts only what is missing.
    monkeypatch.setattr(diversity, "assess_async", real)
    second = await run_batch(ctx, queue, load_personas(), concurrency=3)
    assert (second.done, second.skipped, second.crashed, second.exit_code) == (1, 5, 0, 0)
    assert store.find_panel("tool-3") is not None
    assert store.conn.execute("SELECT status FROM batch_runs").fetchone()[0] == "finished"


def test_batch_summary_and_exit_code_count_crashed_panels(
    tmp_path: Path,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue = write_queue(tmp_path / "q.jsonl", 4)

    async def broken(reviews: list[object]) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(diversity, "assess_async", broken)
    assert main(["batch", str(queue), "-m", "fake:ship"]) == 6
    captured = capsys.readouterr()
    assert "Batch: 0 drafted, 0 with failures, 0 already done, of 4; 4 not drafted" in captured.out
    assert "error: tool-0: RuntimeError: boom" in captured.err
    assert "Task exception was never retrieved" not in captured.err


async def test_a_bug_in_one_review_keeps_the_other_reviews(
    store: Store, fake: FakeProvider
) -> None:
    def crash(request: ModelRequest) -> str:
        raise AttributeError("'NoneType' object has no attribute 'text'")

    fake.script(crash)
    panel = await draft_panel(make_ctx(store), launch(), load_personas())
    failed = [r for r in panel.reviews if r.failed]
    assert len(failed) == 1 and len([r for r in panel.reviews if not r.failed]) == 3
    assert failed[0].error is not None and "internal error (AttributeError" in failed[0].error
    assert store.get_panel(panel.slug) == panel


# -- defect 8: a failed regenerate keeps the review -------------------------------------


async def test_a_failed_regenerate_keeps_the_review(store: Store, fake: FakeProvider) -> None:
    ctx = make_ctx(store)
    panel = await draft_panel(ctx, launch(), load_personas())
    before = panel.review("skeptic")
    outage = ProviderError("HTTP 503: overloaded", retryable=True, status=503)
    fake.script(outage, outage)
    with pytest.raises(ModelFailure, match="regenerating skeptic failed, the review was kept"):
        await regenerate_review(ctx, panel.slug, "skeptic", expected_revision=panel.revision)
    after = store.get_panel(panel.slug)
    assert after.revision == panel.revision and after.review("skeptic") == before
    # Both attempts are in the call log.
    errors = [row["error"] for row in store.recent_calls(2)]
    assert all(e and "HTTP 503" in e for e in errors)
    # And a regenerate that works still replaces it.
    fake.script(lambda request: canned_answer("skip", request))
    changed = await regenerate_review(ctx, panel.slug, "skeptic", expected_revision=panel.revision)
    assert changed.revision == panel.revision + 1
    assert changed.review("skeptic") != before


def test_a_deeply_nested_answer_is_an_invalid_answer_not_a_crash() -> None:
    from panel.drafting.generate import parse_review

    with pytest.raises(ValueError, match="nested far too deep"):
        parse_review("[" * 100_000 + "]" * 100_000)


# -- one rate-limit rule: what says "later", and what no wait cures ---------------------


def _answering(status: int, payload: object) -> httpx2.MockTransport:
    return httpx2.MockTransport(lambda request: httpx2.Response(status, json=payload))


async def test_an_exhausted_quota_is_not_retried_as_a_rate_limit() -> None:
    quota = {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
            "param": None,
        }
    }
    provider = OpenAIProvider(
        api_key="k", base_url="http://api.test/v1", transport=_answering(429, quota)
    )
    with pytest.raises(ProviderError) as caught:
        await provider.generate("gpt-5-mini", REQUEST)
    error = caught.value
    assert not error.retryable and not error.rate_limited and error.status == 429
    assert "out of quota" in error.message and "OPENAI_API_KEY" in error.message
    await provider.aclose()


@pytest.mark.parametrize(
    ("kind", "rate_limited"),
    [("overloaded_error", True), ("rate_limit_error", True), ("api_error", False)],
)
async def test_an_error_object_in_a_200_is_classified_by_its_type(
    kind: str, rate_limited: bool
) -> None:
    body = {"type": "error", "error": {"type": kind, "message": "later"}}
    provider = AnthropicProvider(
        api_key="k", base_url="http://api.test", transport=_answering(200, body)
    )
    with pytest.raises(ProviderError) as caught:
        await provider.generate("claude-haiku-4-5", REQUEST)
    error = caught.value
    assert error.retryable and error.status == 200
    assert error.rate_limited is rate_limited
    assert retry_rate_limited(error) is rate_limited
    await provider.aclose()


def test_a_429_or_529_status_is_a_rate_limit_by_default() -> None:
    assert ProviderError("x", retryable=True, status=429).rate_limited
    assert ProviderError("x", retryable=True, status=529).rate_limited
    assert not ProviderError("x", retryable=True, status=503).rate_limited
