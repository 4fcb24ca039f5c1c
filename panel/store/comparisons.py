"""Storing comparisons: revisions with an optimistic check, and their audit trail."""

from __future__ import annotations

from panel.errors import NotFoundError, UsageError
from panel.records import Comparison, Status
from panel.store import Store

KIND = "comparison"
"""The ``kind`` of comparison rows in the revisions table."""


def save_comparison(
    store: Store,
    comparison: Comparison,
    *,
    expected_revision: int | None,
    editor: str,
    action: str,
    detail: str = "",
) -> Comparison:
    """Store ``comparison`` as a new revision; refuse if the stored one moved on.

    ``expected_revision`` is the revision the change was made against (None for a
    comparison that must not exist yet). Returns the stored record with its new revision.
    """
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT revision, a_slug, b_slug FROM comparisons WHERE slug = ?", (comparison.slug,)
        ).fetchone()
        if row and (row[1], row[2]) != (comparison.a_slug, comparison.b_slug):
            raise UsageError(
                f"comparison {comparison.slug!r} already pairs {row[1]!r} with {row[2]!r}; "
                "the two tools of a comparison cannot change"
            )
        saved = store.next_revision(KIND, comparison, row[0] if row else None, expected_revision)
        for tool in (comparison.a_slug, comparison.b_slug):
            if conn.execute("SELECT 1 FROM panels WHERE slug = ?", (tool,)).fetchone() is None:
                raise NotFoundError(f"no panel {tool!r}; draft it before comparing it")
        conn.execute(
            "INSERT INTO comparisons (slug, a_slug, b_slug, revision, status, record, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(slug) DO UPDATE "
            "SET revision=excluded.revision, status=excluded.status, record=excluded.record, "
            "updated_at=excluded.updated_at",
            (
                saved.slug,
                saved.a_slug,
                saved.b_slug,
                saved.revision,
                saved.status.value,
                saved.model_dump_json(),
                saved.created_at.isoformat(),
                saved.updated_at.isoformat(),
            ),
        )
        store.audit(conn, KIND, saved, editor=editor, action=action, detail=detail)
    return saved


def find_comparison(store: Store, slug: str) -> Comparison | None:
    """The current revision of a comparison, or None."""
    row = store.conn.execute("SELECT record FROM comparisons WHERE slug = ?", (slug,)).fetchone()
    return Comparison.model_validate_json(row[0]) if row else None


def get_comparison(store: Store, slug: str) -> Comparison:
    """The current revision of a comparison; NotFoundError names the fix."""
    comparison = find_comparison(store, slug)
    if comparison is None:
        raise NotFoundError(f"no comparison {slug!r}; run `panel compare A B` first")
    return comparison


def list_comparisons(store: Store, status: Status | None = None) -> list[Comparison]:
    """All comparisons, oldest first, optionally of one status."""
    query = "SELECT record FROM comparisons"
    params: tuple[str, ...] = ()
    if status is not None:
        query += " WHERE status = ?"
        params = (status.value,)
    rows = store.conn.execute(query + " ORDER BY created_at, slug", params)
    return [Comparison.model_validate_json(row[0]) for row in rows]


def comparisons_of(store: Store, tool_slug: str, status: Status | None = None) -> list[Comparison]:
    """Comparisons a tool appears in (on either side), oldest first."""
    return [c for c in list_comparisons(store, status) if tool_slug in (c.a_slug, c.b_slug)]
