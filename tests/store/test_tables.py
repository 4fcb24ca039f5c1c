"""The store's plain functions (batch runs, votes, costs), and that all SQL lives in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from panel.errors import UsageError
from panel.records import Votes
from panel.store import CallRecord, Store, batches, costs, open_store, votes

PACKAGE = Path(__file__).resolve().parents[2] / "panel"
REACHES_IN = re.compile(r"\.execute(many|script)?\(|\.conn\b|\.transaction\(")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "p.db")


def test_no_sql_outside_the_store() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if PACKAGE / "store" not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if REACHES_IN.search(line)
    ]
    assert offenders == []


def test_a_run_resumes_by_queue_content_unless_fresh(store: Store) -> None:
    run, done = batches.start_run(store, "q.jsonl", "abc")
    assert done == set()
    batches.record_item(store, run, "alpha", "done", 0.5)
    batches.record_item(store, run, "beta", "failed", 0.25)
    batches.finish_run(store, run, "incomplete", "1 with failed reviews")
    assert batches.start_run(store, "renamed.jsonl", "abc") == (run, {"alpha"})
    assert batches.item_status(store, run) == {"alpha": "done", "beta": "failed"}
    fresh, done = batches.start_run(store, "q.jsonl", "abc", fresh=True)
    assert fresh != run and done == set()
    other, _ = batches.start_run(store, "other.jsonl", "def")
    assert other not in (run, fresh)
    rows = store.conn.execute("SELECT id, queue, status FROM batch_runs ORDER BY id").fetchall()
    assert rows == [
        (run, "q.jsonl", "running"),
        (fresh, "q.jsonl", "running"),
        (other, "other.jsonl", "running"),
    ]


def test_votes_add_up_and_are_replaced(store: Store) -> None:
    assert votes.get_votes(store, "alpha") == Votes(slug="alpha")
    votes.add_votes(store, "alpha", ship=3, skip=0)
    added = votes.add_votes(store, "alpha", ship=0, skip=2)
    assert (added.ship, added.skip) == (3, 2) and added.updated_at is not None
    [replaced] = votes.set_votes(store, [Votes(slug="alpha", ship=1, skip=1)])
    assert votes.get_votes(store, "alpha") == replaced


def test_costs_group_the_call_log(store: Store) -> None:
    for model, slug, cost in (("a:x", "one", 0.5), ("a:x", None, 0.25), ("b:y", "one", 1.0)):
        store.log_call(
            CallRecord(model=model, attempt=1, request="{}", panel_slug=slug, cost_usd=cost)
        )
    by_model = {r.key: (r.calls, r.cost_usd) for r in costs.summarise(store, "model")}
    assert by_model == {"a:x": (2, 0.75), "b:y": (1, 1.0)}
    assert [r.key for r in costs.summarise(store, "panel")] == ["-", "one"]
    assert costs.summarise(store, "day", since="2999-01-01") == []
    with pytest.raises(UsageError, match="cannot group costs by 'week'"):
        costs.summarise(store, "week")
