"""Batch runs: validation first, resume after a crash, budget, adaptive concurrency."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from panel.batch.run import check_queue, run_batch
from panel.cli import main
from panel.drafting import diversity
from panel.drafting.context import RunContext
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.personas import load_personas
from panel.errors import UsageError
from panel.paths import default_db
from panel.providers.fake import FakeProvider
from panel.records import Review
from panel.store import Store, open_store
from tests.conftest import EXAMPLES, context_for


def write_queue(path: Path, count: int, bad_lines: tuple[int, ...] = ()) -> Path:
    lines = []
    for i in range(1, count + 1):
        if i in bad_lines:
            lines.append(json.dumps({"name": f"Broken {i}"}))
        else:
            lines.append(json.dumps({"name": f"Tool {i}", "description": f"Tool number {i}."}))
    path.write_text("\n".join(lines) + "\n")
    return path


def ctx_for(store: Store, model: str = "fake:ship") -> RunContext:
    return context_for(store, model, editor="batch")


def test_bad_lines_are_reported_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = write_queue(tmp_path / "q.jsonl", 6, bad_lines=(2, 5))
    assert main(["batch", str(queue), "-m", "fake:ship"]) == 2
    err = capsys.readouterr().err
    assert "q.jsonl line 5: description: required field is missing" in err
    assert err.strip().endswith("(and 1 more invalid); fix the queue or pass --skip-invalid")
    assert "q.jsonl line 2" in err
    assert not default_db().exists() or open_store(default_db()).list_panels() == []
    assert main(["batch", str(queue), "-m", "fake:ship", "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "Batch: 4 drafted, 0 with failures, 0 already done, of 4" in out


def test_duplicate_slugs_are_invalid(tmp_path: Path) -> None:
    queue = tmp_path / "q.jsonl"
    queue.write_text('{"name": "A", "description": "x"}\n{"name": "a", "description": "y"}\n')
    check = check_queue(queue)
    assert (check.valid, check.invalid) == (1, 1)
    assert "slug 'a' appears twice" in check.errors[0]


async def test_rerun_skips_finished_panels(tmp_path: Path, fake: FakeProvider) -> None:
    queue = write_queue(tmp_path / "q.jsonl", 10)
    store = open_store(default_db())
    first = await run_batch(ctx_for(store), queue, load_personas(), concurrency=3)
    assert (first.done, first.failed, first.skipped) == (10, 0, 0)
    assert len(fake.calls) == 40
    again = await run_batch(ctx_for(store), queue, load_personas(), concurrency=3)
    assert (again.done, again.skipped) == (0, 10)
    assert len(fake.calls) == 40
    assert len(store.list_panels()) == 10
    assert all(p.revision == 1 for p in store.list_panels())


async def test_interrupted_run_resumes_without_repeating_calls(
    tmp_path: Path, fake: FakeProvider
) -> None:
    queue = write_queue(tmp_path / "q.jsonl", 12)
    store = open_store(default_db())
    fake.latency = 0.05
    task = asyncio.create_task(run_batch(ctx_for(store), queue, load_personas(), concurrency=2))
    while len(store.list_panels()) < 4:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    answered = {json.dumps([m.content for m in r.messages]) for _, r in fake.calls}
    calls_before = len(fake.calls)
    result = await run_batch(ctx_for(store), queue, load_personas(), concurrency=2)
    assert result.skipped >= 4 and result.done + result.skipped == 12
    repeated = [
        r
        for _, r in fake.calls[calls_before:]
        if json.dumps([m.content for m in r.messages]) in answered
    ]
    # only calls that were in flight at the interruption may be asked again
    assert len(repeated) <= 2 * 4
    assert len(store.list_panels()) == 12
    assert store.conn.execute("SELECT status FROM batch_runs").fetchall() == [("finished",)]


async def test_budget_stops_new_work(
    tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."fake:*"]\ninput = 0.0\noutput = 1000.0\n')  # $0.12 a call
    monkeypatch.setenv("PANEL_PRICES", str(prices))
    queue = write_queue(tmp_path / "q.jsonl", 10)
    store = open_store(default_db())
    result = await run_batch(ctx_for(store), queue, load_personas(), concurrency=1, max_cost=2.5)
    # each panel costs 4 x 120 output tokens x $1000/M = $0.48, and starts only with room
    # beside it for one call at its worst case (1,024 output tokens: $1.024): three fit
    assert result.done == 3
    assert result.cost_usd == pytest.approx(1.44)
    assert result.stopped_for_budget == (
        "stopped before tool-4: it could cost up to $1.5040, and $1.0600 of the $2.50 "
        "budget is left"
    )
    assert store.conn.execute("SELECT status FROM batch_runs").fetchone()[0] == "stopped"


async def test_limiter_backs_off_and_recovers() -> None:
    limiter = AdaptiveLimiter(10, cooldown=0.0)
    limiter.throttled()
    assert limiter.limit == pytest.approx(7.0)
    limiter.throttled()
    assert limiter.limit == pytest.approx(4.9)
    for _ in range(200):
        limiter.success()
    assert limiter.limit == 10
    held = 0
    peak = 0

    async def call() -> None:
        nonlocal held, peak
        async with limiter.slot():
            held += 1
            peak = max(peak, held)
            await asyncio.sleep(0.01)
            held -= 1

    limiter.limit = 3
    await asyncio.gather(*(call() for _ in range(12)))
    assert peak == 3


def test_batch_folder_queue(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "launches"
    folder.mkdir()
    for path in EXAMPLES.glob("*.yaml"):
        (folder / path.name).write_text(path.read_text())
    assert main(["batch", str(folder), "-m", "fake:mixed", "-c", "2"]) == 0
    assert "Batch: 2 drafted" in capsys.readouterr().out


def test_missing_queue(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["batch", str(tmp_path / "none.jsonl")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(UsageError):
        check_queue(tmp_path / "none.jsonl")


async def test_the_next_panel_starts_while_one_waits_for_its_diversity_read(
    tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = write_queue(tmp_path / "q.jsonl", 3)
    release = asyncio.Event()
    calls_at_read: list[int] = []

    async def slow_read(reviews: list[Review]) -> None:
        calls_at_read.append(len(fake.calls))
        await release.wait()

    monkeypatch.setattr(diversity, "assess_async", slow_read)
    ctx = ctx_for(open_store(default_db()))
    batch = asyncio.create_task(run_batch(ctx, queue, load_personas(), concurrency=1))

    async def all_waiting() -> None:
        while len(calls_at_read) < 3:
            await asyncio.sleep(0.01)

    # One panel drafts at a time, but none waits for the read of the one before.
    await asyncio.wait_for(all_waiting(), timeout=10)
    assert calls_at_read == [4, 8, 12]
    release.set()
    result = await batch
    assert result.done == 3 and result.in_flight == 0
