"""Provider batch APIs for a queue: half the price, for work that can wait up to 24 hours.

``submit_queue`` plans the first request of every review not yet drafted, exactly as the
normal path would send it, skips those the response cache answers, and submits the rest
as one batch per model. ``collect`` fetches ended batches, logs every result at the
batch price and caches each answer; then the panels are drafted through the normal path
(``draft_panel``), so cached answers cost no call and failed, invalid or expired
requests are re-asked and retried as usual. Everything is in the database: a later run
of the same queue, ``panel batch status``, ``collect`` or ``cancel`` pick it up.

An approved or published panel is neither submitted nor drafted unless the run asks to
redraft it; one that becomes approved or published while its requests wait in a batch
is kept as the editor left it when the answers are collected (and reported as kept).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from panel.batch.collect import POLL_SECONDS, Collected, Notify, collect, with_retry
from panel.batch.run import (
    Progress,
    QueueCheck,
    checked_queue,
    draft_item,
    estimate_panel_cost,
    keep_protected,
    valid_launches,
)
from panel.drafting.calls import cache_key, request_json
from panel.drafting.context import RunContext
from panel.drafting.generate import first_review_request
from panel.drafting.models import ModelChoice
from panel.drafting.protect import is_protected
from panel.drafting.sources import launch_sources
from panel.providers.batching import (
    BatchCapable,
    batch_api,
    chunks,
    custom_id,
    decode_request,
    encode_request,
)
from panel.records import Launch, Persona, SourceText
from panel.store import batches as db


@dataclass
class QueueRun:
    """The result of ``submit_queue``."""

    run_id: int
    collected: Collected
    submitted: list[db.StoredBatch] = field(default_factory=list)
    cached: int = 0
    waiting: int = 0
    """Requests still in provider batches after this run."""
    drafted: Progress = field(default_factory=Progress)
    stopped_for_budget: str | None = None
    finished: int = 0
    """Launches of the queue drafted (in this run or before)."""


async def submit_queue(
    ctx: RunContext,
    path: Path,
    personas: list[Persona],
    *,
    all_personas: list[Persona] | None = None,
    concurrency: int = 8,
    max_cost: float | None = None,
    skip_invalid: bool = False,
    check: QueueCheck | None = None,
    wait: bool = False,
    poll: float = POLL_SECONDS,
    notify: Notify | None = None,
    redraft: bool = False,
) -> QueueRun:
    """Collect this queue's ended batches, submit what is left, draft what is ready.

    Approved and published panels are kept unless ``redraft``; even then, only those that
    were so when this run planned them are redrafted, not one approved meanwhile.
    """
    check = check or checked_queue(path, skip_invalid=skip_invalid)
    apis = {m: batch_api(m) for m in {ctx.models.for_persona(p) for p in personas}}
    run_id, done = db.start_run(ctx.store, str(path), check.digest)
    result = QueueRun(run_id, await collect(ctx, run_id=run_id))
    groups: dict[str, list[db.PlannedRequest]] = {}
    spent = 0.0
    kept = Progress()
    asked: set[str] = set()
    """Protected panels this run was asked to redraft."""
    for launch in valid_launches(path):
        if launch.slug in done:
            continue
        if keep_protected(ctx, run_id, launch.slug, kept, redraft=redraft):
            continue  # before planning and the budget: nothing is submitted for it
        if redraft and is_protected(ctx.store.find_panel(launch.slug)):
            asked.add(launch.slug)
        sources = await launch_sources(ctx, launch)  # read once, as the draft will use them
        needed = _plan_launch(ctx, run_id, launch, personas, result, sources)
        if needed and max_cost is not None:
            estimate = estimate_panel_cost(ctx, personas, launch) * ctx.prices.batch_discount
            if spent + estimate > max_cost:
                result.stopped_for_budget = (
                    f"stopped before {launch.slug}: the estimated batch spend would pass "
                    f"${max_cost:.2f} (submitted about ${spent:.4f})"
                )
                break
            spent += estimate
        for request in needed:
            groups.setdefault(request.model, []).append(request)
    for model_id, requests in groups.items():
        api = apis[model_id]
        pairs = [(r.custom_id, decode_request(r.request)) for r in requests]
        by_id = {r.custom_id: r for r in requests}
        for chunk in chunks(pairs, max_requests=api.max_requests, max_bytes=api.max_bytes):
            rows = [by_id[cid] for cid, _ in chunk]
            result.submitted.append(await _submit(ctx, run_id, api, model_id, rows))
    result.drafted = await draft_ready(
        ctx,
        run_id,
        all_personas or personas,
        concurrency=concurrency,
        redraft_failed=True,
        redraft=asked,
        progress=kept,
    )
    if wait and db.list_batches(ctx.store, run_id=run_id, pending=True):
        more = await collect(ctx, run_id=run_id, wait=True, poll=poll, notify=notify)
        result.collected.merge(more)
        drafted = await draft_ready(
            ctx, run_id, all_personas or personas, concurrency=concurrency, redraft=asked
        )
        _add_progress(result.drafted, drafted)
    pending = _settle(ctx, run_id, result.stopped_for_budget)
    result.waiting = sum(b.request_count for b in pending)
    result.finished = sum(s == "done" for s in db.item_status(ctx.store, run_id).values())
    return result


def _plan_launch(
    ctx: RunContext,
    run_id: int,
    launch: Launch,
    personas: list[Persona],
    result: QueueRun,
    sources: list[SourceText],
) -> list[db.PlannedRequest]:
    """Plan the first request of each persona; returns those that need a batch."""
    needed = []
    for persona in personas:
        model_id = ctx.models.for_persona(persona)
        request = first_review_request(ctx, persona, launch, sources)
        key = cache_key(request_json(model_id, request))
        old = db.planned(ctx.store, run_id, launch.slug, persona.id)
        if old is not None and old.cache_key == key and old.outcome != "canceled":
            continue  # waiting in a batch, or already answered
        row = db.PlannedRequest(
            launch.slug,
            persona.id,
            custom_id(launch.slug, persona.id),
            model_id,
            key,
            encode_request(request),
            launch.model_dump_json(),
        )
        if ctx.store.cached_response(key) is not None:
            db.add_cached(ctx.store, run_id, row)
            result.cached += 1
        else:
            needed.append(row)
    return needed


async def _submit(
    ctx: RunContext,
    run_id: int,
    api: BatchCapable,
    model_id: str,
    rows: list[db.PlannedRequest],
) -> db.StoredBatch:
    """Submit one batch and store it; an interruption waits for the id, so it is kept."""
    model = model_id.partition(":")[2]
    pairs = [(r.custom_id, decode_request(r.request)) for r in rows]
    task = asyncio.ensure_future(
        with_retry(ctx, lambda: api.submit_batch(model, pairs), idempotent=False)
    )
    try:
        batch_id = await asyncio.shield(task)
    except asyncio.CancelledError:
        # Ctrl-C during the upload: the provider may have the batch already, so finish
        # and store it (the interrupt message then lists it), and stop after that.
        db.add_batch(ctx.store, run_id, model_id, await task, rows)
        raise
    return db.add_batch(ctx.store, run_id, model_id, batch_id, rows)


def _settle(ctx: RunContext, run_id: int, stopped: str | None = None) -> list[db.StoredBatch]:
    """Mark the run waiting (batches pending) or finished; returns the pending batches."""
    pending = db.list_batches(ctx.store, run_id=run_id, pending=True)
    plan = db.run_plan(ctx.store, run_id)
    items = db.item_status(ctx.store, run_id)
    if pending:
        db.finish_run(ctx.store, run_id, "waiting", f"{len(pending)} provider batches pending")
    elif stopped:
        db.finish_run(ctx.store, run_id, "stopped", stopped)
    elif all(slug in items for slug in plan):
        db.finish_run(ctx.store, run_id, "finished", "")
    else:
        db.finish_run(ctx.store, run_id, "stopped", "requests were canceled; run the queue again")
    return pending


async def draft_ready(
    ctx: RunContext,
    run_id: int,
    personas: list[Persona],
    *,
    concurrency: int = 8,
    redraft_failed: bool = False,
    redraft: bool | Collection[str] = False,
    progress: Progress | None = None,
) -> Progress:
    """Draft, through the normal path, each launch whose batch requests all finished.

    An approved or published panel is kept unless ``redraft`` (True, or the slugs that
    may be redrafted); ``progress`` (counting launches already kept) is added to.
    """
    progress = progress or Progress()
    items = db.item_status(ctx.store, run_id)
    slots = asyncio.Semaphore(max(1, concurrency))

    def may_redraft(slug: str) -> bool:
        return redraft if isinstance(redraft, bool) else slug in redraft

    async def one(rows: list[db.PlannedRequest]) -> None:
        launch = Launch.model_validate_json(rows[0].launch)
        chosen = [p for p in personas if p.id in {r.persona_id for r in rows}]
        models = ModelChoice(
            per_persona={r.persona_id: r.model for r in rows}, fallback=ctx.models.fallback
        )
        async with slots:
            await draft_item(
                dataclasses.replace(ctx, models=models),
                run_id,
                launch,
                chosen,
                progress,
                redraft=may_redraft(launch.slug),
            )

    ready = []
    for slug, rows in db.run_plan(ctx.store, run_id).items():
        status = items.get(slug)
        again = redraft_failed or (status == db.KEPT and may_redraft(slug))
        if status == "done" or (status is not None and not again) or slug in progress.kept:
            continue
        if all(r.outcome is not None and r.outcome != "canceled" for r in rows):
            ready.append(rows)
        else:
            progress.skipped += 1  # still waiting in a batch, or canceled
    progress.total += len(ready)
    await asyncio.gather(*(one(rows) for rows in ready))
    return progress


def _add_progress(total: Progress, more: Progress) -> None:
    total.total += more.total
    total.done += more.done
    total.failed += more.failed
    total.crashed += more.crashed
    total.skipped = more.skipped
    total.kept += [slug for slug in more.kept if slug not in total.kept]
    total.cost_usd += more.cost_usd
    total.tokens += more.tokens
    total.errors += more.errors


async def collect_all(
    ctx: RunContext,
    personas: list[Persona],
    *,
    wait: bool = False,
    poll: float = POLL_SECONDS,
    concurrency: int = 8,
    notify: Notify | None = None,
    redraft: bool = False,
) -> tuple[Collected, Progress]:
    """``panel batch collect``: every pending batch, then the launches now ready (an
    approved or published panel is kept unless ``redraft``)."""
    runs = db.open_runs(ctx.store)
    collected = await collect(ctx, wait=wait, poll=poll, notify=notify)
    drafted = Progress()
    for run_id in runs:
        more = await draft_ready(ctx, run_id, personas, concurrency=concurrency, redraft=redraft)
        _add_progress(drafted, more)
        _settle(ctx, run_id)
    return collected, drafted
