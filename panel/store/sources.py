"""Storing a launch's sources as read: one row per launch and URL (or path), replaced by
each new read, in one transaction (a failed read never replaces a good one)."""

from __future__ import annotations

from panel.records import SourceText
from panel.store import Store


def save_source(store: Store, slug: str, source: SourceText) -> SourceText:
    """Store ``source`` for launch ``slug``; a failed read keeps a text read before (the
    reviewers are given that, and the failure is noted). Returns what is stored now."""
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT record, ok FROM sources WHERE launch_slug = ? AND location = ?",
            (slug, source.where),
        ).fetchone()
        if row is not None and row[1] and not source.ok:
            old = SourceText.model_validate_json(row[0])
            when = f"{old.fetched_at:%Y-%m-%d %H:%M} UTC" if old.fetched_at else "before"
            return old.model_copy(
                update={"reason": f"{source.reason}; the text read {when} is used"}
            )
        conn.execute(
            "INSERT INTO sources (launch_slug, location, record, ok, fetched_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (launch_slug, location) DO UPDATE SET "
            "record = excluded.record, ok = excluded.ok, fetched_at = excluded.fetched_at",
            (
                slug,
                source.where,
                source.model_dump_json(),
                int(source.ok),
                (source.fetched_at.isoformat() if source.fetched_at else ""),
            ),
        )
    return source


def stored_sources(store: Store, slug: str) -> dict[str, SourceText]:
    """The sources of launch ``slug`` as last read, by URL or path."""
    rows = store.conn.execute(
        "SELECT location, record FROM sources WHERE launch_slug = ? ORDER BY location", (slug,)
    ).fetchall()
    return {location: SourceText.model_validate_json(record) for location, record in rows}
