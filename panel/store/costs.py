"""Spend from the call log: calls, tokens and cost grouped by day, model or panel."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from panel.errors import UsageError
from panel.store import Store

GROUPINGS = {
    "day": "substr(at, 1, 10)",
    "model": "model",
    "panel": "coalesce(panel_slug, '-')",
}
"""What `panel costs --by` accepts, and the SQL expression each groups by."""


@dataclass(frozen=True)
class CostRow:
    """One group of the cost summary."""

    key: str
    calls: int
    cached: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float
    cache_write_tokens: int = 0
    saved_usd: float = 0.0
    """What the provider's prompt cache saved: the same calls with every input token
    uncached, less what they cost (negative while cache writes are not read back)."""


@dataclass(frozen=True)
class CachedCall:
    """The token counts and cost of one call that read or wrote the prompt cache."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float


Saving = Callable[[CachedCall], float]
"""USD a call saved through the prompt cache (from the price table)."""


def summarise(
    store: Store, by: str, since: str | None = None, saving: Saving | None = None
) -> list[CostRow]:
    """Calls, tokens and cost from the call log, grouped by day, model or panel; with
    ``saving``, each group's saving from the prompt cache too."""
    if by not in GROUPINGS:
        raise UsageError(f"cannot group costs by {by!r}; use one of {', '.join(GROUPINGS)}")
    key = GROUPINGS[by]
    where, params = ("WHERE at >= ?", (since,)) if since else ("", ())
    rows = store.conn.execute(
        f"SELECT {key} AS k, COUNT(*), SUM(cached), SUM(error IS NOT NULL), SUM(input_tokens), "
        f"SUM(output_tokens), SUM(cache_read_tokens), SUM(cost_usd), SUM(cache_write_tokens) "
        f"FROM calls {where} GROUP BY k ORDER BY k",
        params,
    )
    summary = [CostRow(*row) for row in rows]
    if saving is None:
        return summary
    saved: dict[str, float] = {}
    touched = "(cache_read_tokens > 0 OR cache_write_tokens > 0)"
    calls = store.conn.execute(
        f"SELECT {key} AS k, model, input_tokens, output_tokens, cache_read_tokens, "
        f"cache_write_tokens, cost_usd FROM calls "
        f"{where + ' AND ' if where else 'WHERE '}{touched}",
        params,
    )
    for group, *fields in calls:
        saved[group] = saved.get(group, 0.0) + saving(CachedCall(*fields))
    return [dataclasses.replace(row, saved_usd=saved.get(row.key, 0.0)) for row in summary]
