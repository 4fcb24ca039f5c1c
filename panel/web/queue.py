"""The review queue as the desk lists it: rows, filters by status and category, sorting,
and the live pages that are out of date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from panel.records import Comparison, Status, ToolPanel
from panel.status import Kind, Record, StalePage, attention, review_queue, stale_pages
from panel.store import Store
from panel.store.comparisons import get_comparison, list_comparisons

STATUSES = ("draft", "approved", "rejected", "published", "stale", "all")
"""'stale': published pages that no longer show their record as it is now."""
SORTS = {
    "oldest": "Oldest first",
    "newest": "Newest first",
    "ship": "Highest ship share",
    "ship-low": "Lowest ship share",
}


@dataclass(frozen=True)
class QueueRow:
    """One panel or comparison in the queue."""

    kind: Kind
    slug: str
    title: str
    category: str
    status: Status
    revision: int
    share: float | None
    """Ship share (a comparison: both tools' verdicts together)."""
    split: str
    """'3/4 ship', or both tools' splits for a comparison."""
    created_at: datetime
    updated_at: datetime
    attention: list[str] = field(default_factory=list)
    """Failed and flagged reviewers, for the editor's eye."""

    @property
    def href(self) -> str:
        """The desk page of the record."""
        return f"/{'panels' if self.kind == 'panel' else 'comparisons'}/{self.slug}"


def _panel_row(panel: ToolPanel) -> QueueRow:
    return QueueRow(
        kind="panel",
        slug=panel.slug,
        title=panel.launch.name,
        category=panel.launch.category or "",
        status=panel.status,
        revision=panel.revision,
        share=panel.ship_share,
        split=panel.split,
        created_at=panel.created_at,
        updated_at=panel.updated_at,
        attention=attention(panel, detailed=False),
    )


def _comparison_row(store: Store, comparison: Comparison) -> QueueRow:
    a, b = store.find_panel(comparison.a_slug), store.find_panel(comparison.b_slug)
    panels = [p for p in (a, b) if p is not None]
    verdicts = sum(p.verdict_count for p in panels)
    ships = sum(p.ship_count for p in panels)
    categories = sorted({p.launch.category for p in panels if p.launch.category})
    names = [
        p.launch.name if p else slug for p, slug in ((a, comparison.a_slug), (b, comparison.b_slug))
    ]
    return QueueRow(
        kind="comparison",
        slug=comparison.slug,
        title=f"{names[0]} vs {names[1]}",
        category=" / ".join(categories),
        status=comparison.status,
        revision=comparison.revision,
        share=ships / verdicts if verdicts else None,
        split=" · ".join(p.split for p in panels),
        created_at=comparison.created_at,
        updated_at=comparison.updated_at,
    )


def _records(store: Store, status: str, stale: list[StalePage]) -> list[Record]:
    if status == Status.DRAFT.value:
        return review_queue(store)
    if status == "stale":
        return [
            store.get_panel(p.slug) if p.kind == "panel" else get_comparison(store, p.slug)
            for p in stale
        ]
    chosen = None if status == "all" else Status(status)
    return [*store.list_panels(chosen), *list_comparisons(store, chosen)]


def _sort_key(sort: str) -> Callable[[QueueRow], tuple[Any, ...]]:
    if sort == "ship":
        return lambda r: (r.share is None, -(r.share or 0.0), r.created_at)
    if sort == "ship-low":
        return lambda r: (r.share is None, r.share or 0.0, r.created_at)
    return lambda r: (r.created_at, r.slug)


@dataclass(frozen=True)
class Queue:
    """The rows shown, and the choices the filters offer."""

    rows: list[QueueRow]
    categories: list[str]
    total: int
    """Rows of the chosen status before the category filter."""
    stale: list[StalePage] = field(default_factory=list)
    """Live pages out of date (whatever the filter), with why."""


def build_queue(store: Store, status: str, category: str, sort: str) -> Queue:
    """The queue for a status ('draft' is what waits for review), category and sort order."""
    status = status if status in STATUSES else Status.DRAFT.value
    stale = stale_pages(store)
    rows = [
        _comparison_row(store, r) if isinstance(r, Comparison) else _panel_row(r)
        for r in _records(store, status, stale)
    ]
    categories = sorted({c for r in rows for c in r.category.split(" / ") if c}, key=str.casefold)
    total = len(rows)
    if category:
        wanted = category.casefold()
        rows = [r for r in rows if wanted in (c.casefold() for c in r.category.split(" / "))]
    rows.sort(key=_sort_key(sort))
    if sort == "newest":
        rows.reverse()
    return Queue(rows=rows, categories=categories, total=total, stale=stale)
