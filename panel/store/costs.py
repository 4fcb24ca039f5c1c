"""Spend from the call log: calls, tokens and cost grouped by day, model or panel."""

from __future__ import annotations

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


def summarise(store: Store, by: str, since: str | None = None) -> list[CostRow]:
    """Calls, tokens and cost from the call log, grouped by day, model or panel."""
    if by not in GROUPINGS:
        raise UsageError(f"cannot group costs by {by!r}; use one of {', '.join(GROUPINGS)}")
    key = GROUPINGS[by]
    where, params = ("WHERE at >= ?", (since,)) if since else ("", ())
    rows = store.conn.execute(
        f"SELECT {key} AS k, COUNT(*), SUM(cached), SUM(error IS NOT NULL), SUM(input_tokens), "
        f"SUM(output_tokens), SUM(cache_read_tokens), SUM(cost_usd) FROM calls {where} "
        f"GROUP BY k ORDER BY k",
        params,
    )
    return [CostRow(*row) for row in rows]
