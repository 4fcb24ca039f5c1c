"""The tables of batch runs: each run of a queue, its items, each submitted provider batch
and the plan of every request.

``provider_batch_requests`` holds one row per (run, launch, persona): the first request
of that review, its cache key, and where it stands. ``batch`` is the batch it went in
(NULL when the response cache already answered it); ``outcome`` is NULL while it
waits in a batch, else ``cached``, ``succeeded``, ``invalid``, ``unusable``,
``errored``, ``expired`` or ``canceled``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Protocol

from panel.records import now
from panel.store import Store

PENDING = "pending"
CANCELING = "canceling"
COLLECTED = "collected"
KEPT = "kept"
"""A batch item not drafted because its panel is approved or published (not a failure)."""


class ProviderState(Protocol):
    """Where a provider says a batch stands (providers.batching.BatchState)."""

    @property
    def status(self) -> str: ...
    @property
    def ended(self) -> bool: ...
    @property
    def counts(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class StoredBatch:
    """One submitted provider batch as the database keeps it."""

    id: int
    run_id: int
    provider: str
    model: str
    batch_id: str
    status: str
    """Ours: pending, canceling or collected."""
    provider_status: str
    counts: dict[str, int]
    submitted_at: str
    finished_at: str | None
    request_count: int

    @property
    def pending(self) -> bool:
        """Whether its results are still to be collected."""
        return self.status != COLLECTED


@dataclass(frozen=True)
class PlannedRequest:
    """One row of the plan: the first request of one persona's review of one launch."""

    slug: str
    persona_id: str
    custom_id: str
    model: str
    cache_key: str
    request: str
    """The request, encoded by ``batching.encode_request``."""
    launch: str
    """The launch as JSON, so collecting needs no queue file."""
    outcome: str | None = None


_BATCH_COLUMNS = (
    "id, run_id, provider, model, batch_id, status, provider_status, counts, "
    "submitted_at, finished_at, request_count"
)
_PLAN_COLUMNS = "slug, persona_id, custom_id, model, cache_key, request, launch, outcome"


def _batch(row: sqlite3.Row | tuple[object, ...]) -> StoredBatch:
    values = list(row)
    values[7] = json.loads(str(values[7]))
    return StoredBatch(*values)


def list_batches(
    store: Store, *, run_id: int | None = None, pending: bool = False
) -> list[StoredBatch]:
    """Stored batches, oldest first: of one run and/or only those not yet collected."""
    where, params = ["1"], []
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    if pending:
        where.append(f"status != '{COLLECTED}'")
    rows = store.conn.execute(
        f"SELECT {_BATCH_COLUMNS} FROM provider_batches WHERE {' AND '.join(where)} ORDER BY id",
        params,
    )
    return [_batch(row) for row in rows]


def find_batch(store: Store, ident: str) -> StoredBatch | None:
    """A stored batch by provider batch id (or by its row number)."""
    row = store.conn.execute(
        f"SELECT {_BATCH_COLUMNS} FROM provider_batches WHERE batch_id = ? OR CAST(id AS TEXT) = ?",
        (ident, ident),
    ).fetchone()
    return _batch(row) if row else None


def add_batch(
    store: Store, run_id: int, model: str, batch_id: str, requests: list[PlannedRequest]
) -> StoredBatch:
    """Record a submitted batch and point its requests at it, in one transaction."""
    stamp = now().isoformat()
    provider = model.partition(":")[0]
    with store.transaction() as tx:
        cursor = tx.execute(
            "INSERT INTO provider_batches (run_id, provider, model, batch_id, status, "
            "submitted_at, request_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, provider, model, batch_id, PENDING, stamp, len(requests)),
        )
        row_id = int(cursor.lastrowid or 0)
        for r in requests:
            _upsert(tx, run_id, r, row_id)
    found = find_batch(store, batch_id)
    assert found is not None
    return found


def add_cached(store: Store, run_id: int, request: PlannedRequest) -> None:
    """Record a request the response cache already answers."""
    with store.transaction() as tx:
        _upsert(tx, run_id, request, None)


def _upsert(tx: sqlite3.Connection, run_id: int, r: PlannedRequest, batch: int | None) -> None:
    tx.execute(
        f"INSERT OR REPLACE INTO provider_batch_requests (run_id, batch, {_PLAN_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, batch, r.slug, r.persona_id, r.custom_id, r.model, r.cache_key)
        + (r.request, r.launch, "cached" if batch is None else None),
    )


def planned(store: Store, run_id: int, slug: str, persona_id: str) -> PlannedRequest | None:
    """The stored plan row of one review, if any."""
    row = store.conn.execute(
        f"SELECT {_PLAN_COLUMNS} FROM provider_batch_requests "
        "WHERE run_id = ? AND slug = ? AND persona_id = ?",
        (run_id, slug, persona_id),
    ).fetchone()
    return PlannedRequest(*row) if row else None


def batch_requests(store: Store, batch: StoredBatch) -> list[PlannedRequest]:
    """The requests that went in a batch."""
    rows = store.conn.execute(
        f"SELECT {_PLAN_COLUMNS} FROM provider_batch_requests WHERE batch = ? ORDER BY custom_id",
        (batch.id,),
    )
    return [PlannedRequest(*row) for row in rows]


def set_outcome(store: Store, run_id: int, request: PlannedRequest, outcome: str) -> None:
    """Record what became of one request of a collected batch."""
    with store.transaction() as tx:
        tx.execute(
            "UPDATE provider_batch_requests SET outcome = ? "
            "WHERE run_id = ? AND slug = ? AND persona_id = ?",
            (outcome, run_id, request.slug, request.persona_id),
        )


def set_state(store: Store, batch: StoredBatch, state: ProviderState, status: str | None) -> None:
    """Record the provider's view of a batch (and our status, when it changes)."""
    finished = now().isoformat() if status == COLLECTED else batch.finished_at
    with store.transaction() as tx:
        tx.execute(
            "UPDATE provider_batches SET status = ?, provider_status = ?, counts = ?, "
            "finished_at = ? WHERE id = ?",
            (status or batch.status, state.status, json.dumps(state.counts), finished, batch.id),
        )


def run_plan(store: Store, run_id: int) -> dict[str, list[PlannedRequest]]:
    """Every planned request of a run, by launch slug."""
    rows = store.conn.execute(
        f"SELECT {_PLAN_COLUMNS} FROM provider_batch_requests WHERE run_id = ? "
        "ORDER BY slug, persona_id",
        (run_id,),
    )
    plan: dict[str, list[PlannedRequest]] = {}
    for row in rows:
        request = PlannedRequest(*row)
        plan.setdefault(request.slug, []).append(request)
    return plan


def start_run(
    store: Store, queue: str, digest: str, *, fresh: bool = False
) -> tuple[int, set[str]]:
    """Resume the latest run of this queue content (or start one, always when ``fresh``);
    returns the run id and the slugs it has already drafted."""
    row = store.conn.execute(
        "SELECT id FROM batch_runs WHERE queue_hash = ? ORDER BY id DESC LIMIT 1", (digest,)
    ).fetchone()
    with store.transaction() as tx:
        if row is None or fresh:
            cursor = tx.execute(
                "INSERT INTO batch_runs (queue, queue_hash, started_at, status) "
                "VALUES (?, ?, ?, 'running')",
                (queue, digest, now().isoformat()),
            )
            run_id = int(cursor.lastrowid or 0)
        else:
            run_id = int(row[0])
            tx.execute("UPDATE batch_runs SET status = 'running' WHERE id = ?", (run_id,))
    done = {
        str(r[0])
        for r in store.conn.execute(
            "SELECT slug FROM batch_items WHERE run_id = ? AND status = 'done'", (run_id,)
        )
    }
    return run_id, done


def finish_run(store: Store, run_id: int, status: str, note: str) -> None:
    """Mark a run finished, stopped, incomplete, waiting or interrupted, with a note."""
    with store.transaction() as tx:
        tx.execute(
            "UPDATE batch_runs SET status = ?, finished_at = ?, note = ? WHERE id = ?",
            (status, now().isoformat(), note, run_id),
        )


def item_status(store: Store, run_id: int) -> dict[str, str]:
    """The batch_items status of each drafted launch of a run."""
    rows = store.conn.execute(
        "SELECT slug, status FROM batch_items WHERE run_id = ?", (run_id,)
    ).fetchall()
    return {str(slug): str(status) for slug, status in rows}


def record_item(
    store: Store, run_id: int, slug: str, status: str, cost: float, error: str | None = None
) -> None:
    """Record the outcome of one launch of a run: done, failed (reviews), error or kept."""
    with store.transaction() as tx:
        tx.execute(
            "INSERT OR REPLACE INTO batch_items "
            "(run_id, slug, status, cost_usd, updated_at, error) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, slug, status, cost, now().isoformat(), error),
        )


def open_runs(store: Store) -> list[int]:
    """Runs with provider batches that are not finished (batches pending, or undrafted)."""
    rows = store.conn.execute(
        "SELECT DISTINCT b.run_id FROM provider_batches b JOIN batch_runs r ON r.id = b.run_id "
        f"WHERE b.status != '{COLLECTED}' OR r.status != 'finished' ORDER BY 1"
    )
    return [int(r[0]) for r in rows]
