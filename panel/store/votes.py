"""The votes table: community ship/skip counts per tool slug."""

from __future__ import annotations

from datetime import datetime

from panel.records import Votes, now
from panel.store import Store


def get_votes(store: Store, slug: str) -> Votes:
    """The votes on ``slug``; zero counts when nobody voted."""
    row = store.conn.execute(
        "SELECT ship, skip, updated_at FROM votes WHERE slug = ?", (slug,)
    ).fetchone()
    if row is None:
        return Votes(slug=slug)
    return Votes(
        slug=slug, ship=int(row[0]), skip=int(row[1]), updated_at=datetime.fromisoformat(row[2])
    )


def add_votes(store: Store, slug: str, *, ship: int, skip: int) -> Votes:
    """Add to the counts of ``slug`` (one transaction); returns the new totals."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO votes (slug, ship, skip, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(slug) DO UPDATE SET ship = ship + excluded.ship, "
            "skip = skip + excluded.skip, updated_at = excluded.updated_at",
            (slug, ship, skip, now().isoformat()),
        )
    return get_votes(store, slug)


def set_votes(store: Store, rows: list[Votes]) -> list[Votes]:
    """Replace the counts of every slug in ``rows``, all in one transaction."""
    stamp = now()
    with store.transaction() as conn:
        for votes in rows:
            conn.execute(
                "INSERT INTO votes (slug, ship, skip, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(slug) DO UPDATE SET ship = excluded.ship, skip = excluded.skip, "
                "updated_at = excluded.updated_at",
                (votes.slug, votes.ship, votes.skip, stamp.isoformat()),
            )
    return [v.model_copy(update={"updated_at": stamp}) for v in rows]
