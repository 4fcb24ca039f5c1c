"""Collecting provider batches: results logged at the batch price, answers cached.

Also ``status`` (refresh) and ``cancel``. Every batch API call runs in the one retry
loop (rate limits under the time budget, a deadline per call); a submission is retried
only when the provider refused it outright (429/529), so that a timeout never creates a
second, paid batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from panel.drafting.calls import request_json
from panel.drafting.context import RunContext
from panel.drafting.generate import asks_pricing_read, parse_review
from panel.drafting.retry import Deadline, retry_call
from panel.errors import PanelError, UsageError
from panel.providers import ModelResponse, ProviderError
from panel.providers.batching import BatchCapable, BatchItem, BatchState, batch_api, decode_request
from panel.store import CallRecord
from panel.store import batches as db

POLL_SECONDS = 30.0
T = TypeVar("T")
Notify = Callable[[str], None]


@dataclass
class Collected:
    """What collecting found: results by outcome, their cost, batches still running."""

    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    running: list[db.StoredBatch] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def merge(self, more: Collected) -> None:
        """Add a later collection's findings (its running batches replace ours)."""
        self.batches += more.batches
        for outcome, count in more.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
        self.cost_usd += more.cost_usd
        self.running = more.running
        self.errors += more.errors


async def with_retry(
    ctx: RunContext, call: Callable[[], Awaitable[T]], *, idempotent: bool = True
) -> T:
    """A batch API call in the one retry loop; a submission is retried only on 429/529."""
    deadline = Deadline.after(ctx.policy.review_deadline_seconds, "batch API call")
    try:
        return await retry_call(
            ctx.policy,
            lambda _attempt: call(),
            deadline=deadline,
            may_retry=lambda exc: idempotent or exc.rate_limited,
        )
    except ProviderError as exc:
        raise PanelError(exc.message) from exc


async def collect(
    ctx: RunContext,
    *,
    run_id: int | None = None,
    wait: bool = False,
    poll: float = POLL_SECONDS,
    notify: Notify | None = None,
) -> Collected:
    """Fetch the results of every ended batch (of one run); with ``wait``, until all end."""
    result = Collected()
    broken: set[int] = set()
    while True:
        result.running = []
        for batch in db.list_batches(ctx.store, run_id=run_id, pending=True):
            if batch.id in broken:
                continue
            try:
                api = batch_api(batch.model)
                state = await with_retry(ctx, partial(api.batch_status, batch.batch_id))
                if state.ended:
                    await _collect_one(ctx, api, batch, state, result)
                else:
                    db.set_state(ctx.store, batch, state, None)
                    result.running.append(batch)
            except PanelError as exc:
                broken.add(batch.id)
                result.errors.append(f"{batch.batch_id}: {exc}")
        if not wait or not result.running:
            return result
        if notify:
            left = sum(b.request_count for b in result.running)
            notify(f"waiting for {len(result.running)} batches ({left} requests)")
        await asyncio.sleep(poll)


async def _collect_one(
    ctx: RunContext, api: BatchCapable, batch: db.StoredBatch, state: BatchState, out: Collected
) -> None:
    rows = {r.custom_id: r for r in db.batch_requests(ctx.store, batch)}
    requests = {cid: decode_request(r.request) for cid, r in rows.items()}
    items = await with_retry(ctx, partial(api.batch_results, batch.batch_id, requests))
    missing = dict(rows)
    for item in items:
        row = missing.pop(item.custom_id, None)
        if row is not None:
            _record(ctx, batch, row, item, out)
    for cid, row in missing.items():
        error = ProviderError("the batch returned no result for this request", retryable=True)
        _record(ctx, batch, row, BatchItem(cid, "errored", error=error), out)
    db.set_state(ctx.store, batch, state, db.COLLECTED)
    out.batches += 1


def _record(
    ctx: RunContext, batch: db.StoredBatch, row: db.PlannedRequest, item: BatchItem, out: Collected
) -> None:
    """Log one result at the batch price, cache an answer, and note the outcome."""
    billed = item.billed
    used = billed or ModelResponse("")
    cost = ctx.prices.cost(
        batch.model,
        input_tokens=used.input_tokens,
        output_tokens=used.output_tokens,
        cache_read_tokens=used.cache_read_tokens,
        cache_write_tokens=used.cache_write_tokens,
        batch=True,
    )
    request = decode_request(row.request)
    call = CallRecord(
        model=batch.model,
        attempt=1,
        request=request_json(batch.model, request),
        response=billed.text if billed else None,
        input_tokens=used.input_tokens,
        output_tokens=used.output_tokens,
        cache_read_tokens=used.cache_read_tokens,
        cache_write_tokens=used.cache_write_tokens,
        cost_usd=cost,
        panel_slug=row.slug,
        persona_id=row.persona_id,
    )
    outcome: str = item.outcome
    if item.response is not None:
        try:
            parse_review(item.response.text, pricing_read=asks_pricing_read(request))
        except ValueError:
            # Cached anyway, for one use: the draft validates it again (noting it invalid in
            # the call log), drops it from the cache and re-asks from it, so the paid answer
            # is not thrown away.
            outcome = "invalid"
        call = dataclasses.replace(call, cache_key=row.cache_key)
        ctx.store.log_call(call, cache=item.response)
    else:
        error = item.error
        status = error.status if isinstance(error, ProviderError) else None
        raw = error.raw if isinstance(error, ProviderError) else None
        outcome = "unusable" if item.outcome == "succeeded" else outcome
        message = f"batch {batch.batch_id}: {error.message if error else outcome}"
        ctx.store.log_call(
            dataclasses.replace(call, error=message, status=status, response=call.response or raw)
        )
    db.set_outcome(ctx.store, batch.run_id, row, outcome)
    out.outcomes[outcome] = out.outcomes.get(outcome, 0) + 1
    out.cost_usd += cost


async def refresh(ctx: RunContext, batches: list[db.StoredBatch]) -> list[db.StoredBatch]:
    """Ask the providers where each pending batch stands; returns the updated rows."""
    for batch in batches:
        if batch.pending:
            api = batch_api(batch.model)
            state = await with_retry(ctx, partial(api.batch_status, batch.batch_id))
            db.set_state(ctx.store, batch, state, None)
    return [db.find_batch(ctx.store, b.batch_id) or b for b in batches]


async def cancel(ctx: RunContext, ident: str | None) -> list[db.StoredBatch]:
    """Cancel one batch (by id) or every pending one; returns those canceled."""
    if ident is not None:
        found = db.find_batch(ctx.store, ident)
        if found is None:
            raise UsageError(f"no stored batch {ident!r}; see `panel batch status --all`")
        if not found.pending:
            raise UsageError(f"batch {found.batch_id} is already collected")
        targets = [found]
    else:
        targets = db.list_batches(ctx.store, pending=True)
    for batch in targets:
        api = batch_api(batch.model)
        state = await with_retry(ctx, partial(api.cancel_batch, batch.batch_id))
        db.set_state(ctx.store, batch, state, db.CANCELING)
    return targets
