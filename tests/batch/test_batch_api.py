"""Provider batch APIs end to end: the real SDKs over HTTP against the fake server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from panel.batch.submit import submit_queue
from panel.cli import main
from panel.drafting.context import RunContext
from panel.drafting.generate import first_review_request
from panel.drafting.personas import load_personas
from panel.drafting.retry import RetryPolicy
from panel.paths import default_db
from panel.providers import registry
from panel.providers.batching import CUSTOM_ID_MAX, custom_id
from panel.records import Launch
from panel.store import Store, open_store
from tests.conftest import ROOT, context_for
from tests.fakeserver import FakeServer

MODELS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-5-mini"}
GENERATE = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}
POLICY = RetryPolicy(max_attempts=3, base_seconds=0.01, max_backoff_seconds=0.05)
# Tool 1's dx expires, Tool 2's skeptic errors (a 500), Tool 3's business answers non-JSON.
OUTCOMES = {"tool-1--dx": "expired", "tool-2--skeptic": "errored", "tool-3--business": "not_json"}


def configure(provider: str, server: FakeServer) -> None:
    url = server.url if provider == "anthropic" else server.openai_url
    registry.configure(provider, {"api_key": "k", "base_url": url, "timeout": 5.0})


def write_queue(path: Path, count: int = 3) -> Path:
    rows = [{"name": f"Tool {i}", "description": f"Tool number {i}."} for i in range(1, count + 1)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def ctx_for(store: Store, provider: str) -> RunContext:
    return context_for(store, MODELS[provider], editor="batch", policy=POLICY)


def user_turns(server: FakeServer, provider: str) -> list[list[str]]:
    """The user messages of each generation request the server saw (2+ for a re-ask)."""
    return [
        [text_of(m["content"]) for m in body["messages"] if m["role"] == "user"]
        for body in server.bodies(GENERATE[provider])
    ]


def text_of(content: str | list[dict[str, Any]]) -> str:
    """A user turn's text: Anthropic sends a cacheable turn as text blocks, in order."""
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def calls(store: Store) -> list[dict[str, Any]]:
    return [dict(row) for row in reversed(store.recent_calls(1000))]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_queue_drafts_end_to_end(
    provider: str, fake_server: FakeServer, tmp_path: Path
) -> None:
    configure(provider, fake_server)
    fake_server.batch.outcomes = OUTCOMES
    queue = write_queue(tmp_path / "q.jsonl")
    store = open_store(default_db())
    personas = load_personas()

    first = await submit_queue(ctx_for(store, provider), queue, personas)
    [batch] = first.submitted
    assert (batch.request_count, first.waiting, first.cached) == (12, 12, 0)
    assert user_turns(fake_server, provider) == []
    assert store.list_panels() == []
    assert store.conn.execute("SELECT status FROM batch_runs").fetchall() == [("waiting",)]

    # The same queue again: collects the ended batch instead of submitting another.
    second = await submit_queue(ctx_for(store, provider), queue, personas)
    assert second.submitted == [] and len(fake_server.batch.batches) == 1
    outcomes = {"succeeded": 9, "invalid": 1, "expired": 1, "errored": 1}
    assert second.collected.outcomes == outcomes
    assert (second.drafted.done, second.drafted.failed, second.waiting) == (3, 0, 0)
    panels = sorted(store.list_panels(), key=lambda p: p.slug)
    assert [p.slug for p in panels] == ["tool-1", "tool-2", "tool-3"]
    assert all(p.revision == 1 for p in panels)
    assert all([r.persona_id for r in p.reviews] == [q.id for q in personas] for p in panels)
    assert not any(r.failed for p in panels for r in p.reviews)
    assert store.conn.execute("SELECT status FROM batch_runs").fetchall() == [("finished",)]

    # No request answered by the batch was sent again: only the expired and errored ones
    # ran as first turns, and the invalid answer was re-asked (first turn plus the error).
    ctx = ctx_for(store, provider)
    by_id = {p.id: p for p in personas}
    launches = {p.slug: p.launch for p in panels}
    firsts: dict[str, tuple[str, str]] = {}
    for panel in panels:
        for review in panel.reviews:
            request = first_review_request(ctx, by_id[review.persona_id], launches[panel.slug])
            firsts[request.messages[0].content] = (panel.slug, review.persona_id)
    turns = user_turns(fake_server, provider)
    assert sorted(firsts[t[0]] for t in turns if len(t) == 1) == [
        ("tool-1", "dx"),
        ("tool-2", "skeptic"),
    ]
    assert ("tool-3", "business") in {firsts[t[0]] for t in turns if len(t) > 1}

    # The call log: every batch result at the batch price, then the drafts' cache hits.
    log = calls(store)
    batch_rows = log[:12]
    assert {(c["panel_slug"], c["persona_id"]) for c in batch_rows} == {
        (p.slug, r.persona_id) for p in panels for r in p.reviews
    }
    model = MODELS[provider]
    for row in batch_rows:
        usage = {k: row[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens")}
        usage["cache_write_tokens"] = row["cache_write_tokens"]
        full = ctx.prices.cost(model, **usage)
        assert row["cost_usd"] == pytest.approx(ctx.prices.cost(model, **usage, batch=True))
        assert row["cost_usd"] == pytest.approx(full / 2)
        if row["error"] is None:
            assert row["cost_usd"] > 0 and row["cache_key"]
    errors = [c["error"] for c in batch_rows if c["error"]]
    assert len(errors) == 2 and all(e.startswith(f"batch {batch.batch_id}: ") for e in errors)
    assert any("expired" in e for e in errors)
    assert sum(c["cached"] for c in log) == 10  # 9 good answers + 1 invalid one, then re-asked


def test_second_run_collects_status_and_cancel(
    fake_server: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure("anthropic", fake_server)
    monkeypatch.setenv("PANEL_BATCH_POLL", "0.01")
    fake_server.batch.delay = 60
    queue = str(write_queue(tmp_path / "q.jsonl"))
    args = ["batch", queue, "--batch-api", "-m", MODELS["anthropic"]]
    assert main(args) == 0
    out = capsys.readouterr().out
    [batch_id] = fake_server.batch.batches
    assert f"Submitted 1 batch(es), 12 requests:\n  {batch_id}" in out
    assert "Queue: 0 of 3 launches drafted" in out
    assert "collect with `panel batch collect` (or cancel with `panel batch cancel`)" in out

    # Still running: a second run of the queue collects nothing and submits nothing.
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Submitted" not in out and "Waiting: 12 requests" in out
    assert len(fake_server.batch.batches) == 1

    assert main(["batch", "status"]) == 0
    out = capsys.readouterr().out
    assert batch_id in out and "in_progress" in out and "processing 12" in out
    assert main(["batch", "collect"]) == 0
    assert "Still running: 1 batch(es), 12 requests" in capsys.readouterr().out

    assert main(["batch", "cancel", batch_id]) == 0
    assert f"canceling {batch_id}" in capsys.readouterr().out
    assert main(["batch", "collect"]) == 0
    out = capsys.readouterr().out
    assert "Collected 1 batch(es): 12 canceled" in out and "Drafted" not in out
    assert main(["batch", "status"]) == 0
    assert "No provider batches pending." in capsys.readouterr().out
    assert main(["batch", "status", "--all"]) == 0
    assert "collected" in capsys.readouterr().out
    assert main(["batch", "cancel", batch_id]) == 2
    assert "already collected" in capsys.readouterr().err

    # Canceled requests are submitted again; --wait collects them and drafts the panels.
    fake_server.batch.delay = 0.05
    assert main([*args, "--wait"]) == 0
    out = capsys.readouterr().out
    assert "Submitted 1 batch(es), 12 requests" in out
    assert "Collected 1 batch(es): 12 succeeded" in out
    assert "Drafted 3 panels (0 with failures)" in out
    assert [t for t in user_turns(fake_server, "anthropic") if len(t) == 1] == []
    store = open_store(default_db())
    assert [p.revision for p in store.list_panels()] == [1, 1, 1]

    # Everything drafted: the queue again is a no-op.
    assert main(args) == 0
    assert capsys.readouterr().out == "Queue: 3 of 3 launches drafted\n"
    assert len(fake_server.batch.batches) == 2


def test_collect_command_drafts_without_the_queue(
    fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("openai", fake_server)
    fake_server.batch.outcomes = {"tool-2--futurist": "expired"}
    queue = write_queue(tmp_path / "q.jsonl", 2)
    args = ["batch", str(queue), "--batch-api", "-m", MODELS["openai"]]
    assert main(args) == 0
    capsys.readouterr()
    queue.unlink()
    assert main(["batch", "collect"]) == 0
    out = capsys.readouterr().out
    assert "Collected 1 batch(es): 1 expired, 7 succeeded" in out
    assert "Drafted 2 panels (0 with failures)" in out
    assert len([t for t in user_turns(fake_server, "openai") if len(t) == 1]) == 1
    assert main(["batch", "collect"]) == 0
    assert "No provider batches pending." in capsys.readouterr().out


def test_provider_without_batch_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queue = write_queue(tmp_path / "q.jsonl")
    assert main(["batch", str(queue), "--batch-api", "-m", "fake:ship"]) == 2
    assert "model fake:ship has no batch API; drop --batch-api" in capsys.readouterr().err
    assert main(["batch", str(queue), "--wait", "-m", "fake:ship"]) == 2
    assert "--wait needs --batch-api" in capsys.readouterr().err


def test_custom_ids_stay_valid_and_unique() -> None:
    assert custom_id("tool-1", "dx") == "tool-1--dx"
    long = "a" * 80
    first, second = custom_id(long, "skeptic"), custom_id(long, "business")
    assert len(first) == CUSTOM_ID_MAX and first != second
    assert all(c.isalnum() or c in "-_" for c in custom_id("x", "odd.id"))


def test_ctrl_c_lists_the_batches(fake_server: FakeServer, tmp_path: Path) -> None:
    """A real SIGINT while waiting: the batch ids and the collect/cancel commands."""
    fake_server.batch.delay = 60
    config = tmp_path / "panel.toml"
    config.write_text(f'[providers.anthropic]\napi_key = "k"\nbase_url = "{fake_server.url}"\n')
    queue = write_queue(tmp_path / "q.jsonl", 1)
    env = {**os.environ, "PANEL_CONFIG": str(config), "PANEL_BATCH_POLL": "0.05"}
    command = [sys.executable, "-m", "panel", "batch", str(queue), "--batch-api", "--wait"]
    command += ["-m", MODELS["anthropic"]]
    # The child must take SIGINT as Ctrl-C even when this suite was started from a
    # background job (`nohup … &`), whose children inherit an ignored SIGINT.
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not fake_server.batch.batches and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let it reach the polling loop
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    [batch_id] = fake_server.batch.batches
    assert "interrupted: 1 provider batch(es) keep running at the provider:" in err
    assert f"  {batch_id}  {MODELS['anthropic']}  4 requests" in err
    assert "panel batch collect" in err and "panel batch cancel" in err
    with sqlite3.connect(default_db()) as conn:
        assert conn.execute("SELECT batch_id FROM provider_batches").fetchall() == [(batch_id,)]


def test_a_failed_submission_still_lists_the_submitted_batches(
    fake_server: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One batch per model: the second is refused, and the first is not forgotten."""
    config = tmp_path / "panel.toml"
    config.write_text(
        f'model = "{MODELS["anthropic"]}"\n[personas]\nskeptic = "anthropic:claude-sonnet-4-5"\n'
        f'[providers.anthropic]\napi_key = "k"\nbase_url = "{fake_server.url}"\n'
    )
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    fake_server.batch.delay = 60
    fake_server.script(["ok:path=/v1/messages/batches", "400:path=/v1/messages/batches"])
    queue = write_queue(tmp_path / "q.jsonl", 2)
    assert main(["batch", str(queue), "--batch-api"]) == 1
    err = capsys.readouterr().err
    [batch_id] = fake_server.batch.batches
    assert "note: 1 provider batch(es) keep running at the provider:" in err
    assert f"  {batch_id}  {MODELS['anthropic']}  6 requests" in err
    assert "rejected the request (status 400)" in err

    # Run again: the haiku batch is waiting, only the sonnet requests are submitted.
    assert main(["batch", str(queue), "--batch-api"]) == 0
    out = capsys.readouterr().out
    assert "Submitted 1 batch(es), 2 requests:" in out and "anthropic:claude-sonnet-4-5" in out
    assert "Waiting: 8 requests" in out


def test_stored_launch_is_the_queued_one(fake_server: FakeServer, tmp_path: Path) -> None:
    configure("anthropic", fake_server)
    fake_server.batch.delay = 60
    queue = write_queue(tmp_path / "q.jsonl", 1)
    assert main(["batch", str(queue), "--batch-api", "-m", MODELS["anthropic"]]) == 0
    store = open_store(default_db())
    [launch] = {r[0] for r in store.conn.execute("SELECT launch FROM provider_batch_requests")}
    assert Launch.model_validate_json(launch).name == "Tool 1"
