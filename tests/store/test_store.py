"""The SQLite store: migrations, revisions, optimistic concurrency, the call log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from panel.errors import ConflictError, UsageError
from panel.records import Launch, Review, ToolPanel, Verdict
from panel.store import CallRecord, open_store
from panel.store.migrations import MIGRATIONS


def sample_panel(slug_name: str = "Tracewell") -> ToolPanel:
    launch = Launch(name=slug_name, description="Tracing for agents.")
    reviews = [
        Review(persona_id="dx", persona_name="The Builder", verdict=Verdict.SHIP, quote="q1"),
        Review(persona_id="skeptic", persona_name="The Skeptic", failed=True, error="bad", raw="{"),
    ]
    return ToolPanel(slug=launch.slug, launch=launch, reviews=reviews)


def test_migrations_are_numbered_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = open_store(path)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()
    again = open_store(path)  # idempotent
    rows = again.conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    open_store(path).conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'now')")
    with pytest.raises(UsageError, match="newer than this panel"):
        open_store(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    path.write_text("hello, not sqlite " * 100)
    with pytest.raises(UsageError, match="not a Panel database"):
        open_store(path)


def test_save_roundtrip_and_revisions(tmp_path: Path) -> None:
    store = open_store(tmp_path / "p.db")
    first = store.save_panel(sample_panel(), expected_revision=None, editor="ann", action="draft")
    assert first.revision == 1
    loaded = store.get_panel("tracewell")
    assert loaded == first
    assert loaded.review("skeptic") == first.reviews[1]
    second = store.save_panel(loaded, expected_revision=1, editor="bob", action="edit")
    assert second.revision == 2 and second.created_at == first.created_at
    history = store.history("panel", "tracewell")
    assert [(h["revision"], h["editor"], h["action"]) for h in history] == [
        (1, "ann", "draft"),
        (2, "bob", "edit"),
    ]
    snapshot = store.revision_record("panel", "tracewell", 1)
    assert snapshot is not None and ToolPanel.model_validate_json(snapshot) == first


def test_stale_revision_is_refused_with_who_changed_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "p.db")
    store.save_panel(sample_panel(), expected_revision=None, editor="ann", action="draft")
    store.save_panel(sample_panel(), expected_revision=1, editor="bob", action="edit")
    with pytest.raises(ConflictError, match=r"changed since revision 1: revision 2 by bob"):
        store.save_panel(sample_panel(), expected_revision=1, editor="cy", action="edit")
    with pytest.raises(ConflictError, match="already exists"):
        store.save_panel(sample_panel(), expected_revision=None, editor="cy", action="draft")
    assert store.get_panel("tracewell").revision == 2


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "p.db")
    panel = sample_panel()
    panel.reviews.append(panel.reviews[0])  # duplicate persona breaks the primary key
    with pytest.raises(sqlite3.IntegrityError):
        store.save_panel(panel, expected_revision=None, editor="ann", action="draft")
    assert store.find_panel("tracewell") is None
    assert store.history("panel", "tracewell") == []


def test_call_log(tmp_path: Path) -> None:
    store = open_store(tmp_path / "p.db")
    store.log_call(
        CallRecord(
            model="fake:ship",
            attempt=1,
            request="{}",
            response="{}",
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.5,
        )
    )
    store.log_call(CallRecord(model="fake:ship", attempt=2, request="{}", error="HTTP 500"))
    rows = store.recent_calls(5)
    assert [r["attempt"] for r in rows] == [2, 1]
    assert rows[1]["cost_usd"] == 0.5 and rows[0]["error"] == "HTTP 500"
