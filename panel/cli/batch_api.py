"""`panel batch QUEUE --batch-api`, `panel batch status`, `collect` and `cancel`.

Provider batch APIs answer within 24 hours at half the price. A submitted batch is
never abandoned silently: Ctrl-C lists the batches still running and how to collect
or cancel them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from panel.batch.collect import POLL_SECONDS, Collected, cancel, refresh
from panel.batch.run import Progress, QueueCheck
from panel.batch.submit import QueueRun, collect_all, submit_queue
from panel.cli.app import Env, exit_with, pass_env, run_context
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.personas import load_personas, select
from panel.errors import PanelError, UsageError
from panel.safe_text import inert
from panel.store import Store
from panel.store import batches as db

HINT = "collect with `panel batch collect` (or cancel with `panel batch cancel`)"


def poll_seconds() -> float:
    """Seconds between status checks while waiting: $PANEL_BATCH_POLL or 30."""
    value = os.environ.get("PANEL_BATCH_POLL")
    try:
        return float(value) if value else POLL_SECONDS
    except ValueError:
        raise UsageError(f"PANEL_BATCH_POLL={value!r} is not a number of seconds") from None


@contextmanager
def never_silent(store: Store) -> Iterator[None]:
    """On Ctrl-C or an error, list the batches left at the provider and the way on."""
    try:
        yield
    except (KeyboardInterrupt, PanelError) as exc:
        pending = db.list_batches(store, pending=True)
        if pending:
            head = "interrupted" if isinstance(exc, KeyboardInterrupt) else "note"
            click.echo(
                f"{head}: {len(pending)} provider batch(es) keep running at the provider:",
                err=True,
            )
            for b in pending:
                click.echo(
                    inert(f"  {b.batch_id}  {b.model}  {b.request_count} requests"), err=True
                )
            click.echo(f"{HINT[0].upper()}{HINT[1:]}.", err=True)
        raise


def submit(
    env: Env,
    queue: Path,
    model: str | None,
    persona_ids: tuple[str, ...],
    *,
    concurrency: int,
    max_cost: float | None,
    skip_invalid: bool,
    wait: bool,
    check: QueueCheck,
    redraft: bool = False,
) -> None:
    """`panel batch QUEUE --batch-api`: collect, submit what is left, draft what is ready."""
    all_personas = load_personas()
    personas = select(all_personas, persona_ids)
    with env.store() as store, never_silent(store):
        ctx = run_context(env, store, model)
        ctx.limiter = AdaptiveLimiter(concurrency * len(personas))
        result = asyncio.run(
            submit_queue(
                ctx,
                queue,
                personas,
                all_personas=all_personas,
                concurrency=concurrency,
                max_cost=max_cost,
                skip_invalid=skip_invalid,
                check=check,
                wait=wait,
                poll=poll_seconds(),
                notify=lambda text: click.echo(inert(text), err=True),
                redraft=redraft,
            )
        )
    _report_collected(result.collected)
    _report_submitted(result)
    _report_drafted(result.drafted)
    if result.stopped_for_budget:
        click.echo(f"Budget: {result.stopped_for_budget}", err=True)
    click.echo(f"Queue: {result.finished} of {check.valid} launches drafted")
    if result.waiting:
        click.echo(f"Waiting: {result.waiting} requests at the provider; {HINT}")
    exit_with(result.drafted.exit_code)


def _report_collected(collected: Collected) -> None:
    if collected.batches:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(collected.outcomes.items()))
        click.echo(
            f"Collected {collected.batches} batch(es): {counts} · "
            f"${collected.cost_usd:.4f} at batch prices"
        )
    for error in collected.errors:
        click.echo(f"  error: {inert(error)}", err=True)


def _report_submitted(result: QueueRun) -> None:
    if result.cached:
        click.echo(f"{result.cached} requests answered from the response cache")
    if result.submitted:
        total = sum(b.request_count for b in result.submitted)
        click.echo(f"Submitted {len(result.submitted)} batch(es), {total} requests:")
        for b in result.submitted:
            click.echo(inert(f"  {b.batch_id}  {b.model}  {b.request_count} requests"))


def _report_drafted(drafted: Progress) -> None:
    if drafted.total:
        click.echo(
            f"Drafted {drafted.done + drafted.failed} panels ({drafted.failed} with failures)"
            f"{drafted.not_drafted_note()} · "
            f"${drafted.cost_usd:.4f} in direct calls (re-asks and re-runs)"
        )
    for error in drafted.errors[:10]:
        click.echo(f"  error: {inert(error)}", err=True)
    report_kept(drafted)


def report_kept(progress: Progress) -> None:
    """Name the approved or published panels a run left as they are."""
    if note := progress.kept_note():
        click.echo(inert(note))


@click.command(name="status")
@click.option("--all", "show_all", is_flag=True, help="Also batches already collected.")
@pass_env
def status_command(env: Env, show_all: bool) -> None:
    """List stored provider batches with their status and request counts."""
    with env.store() as store:
        batches = db.list_batches(store, pending=not show_all)
        if not batches:
            click.echo("No provider batches pending." if not show_all else "No provider batches.")
            return
        with never_silent(store):
            ctx = run_context(env, store, batches[0].model)
            batches = asyncio.run(refresh(ctx, batches))
    for b in batches:
        counts = ", ".join(f"{k} {v}" for k, v in b.counts.items() if v) or "-"
        submitted = b.submitted_at[:16].replace("T", " ")
        ours = {db.PENDING: "to collect", db.CANCELING: "canceled, to collect"}
        click.echo(
            inert(
                f"{b.batch_id}  {b.model}  {b.request_count} requests  "
                f"{b.provider_status or '-'} ({counts})  submitted {submitted}  "
                f"{ours.get(b.status, b.status)}"
            )
        )


concurrency_option = click.option(
    "--concurrency",
    "-c",
    default=8,
    show_default=True,
    type=click.IntRange(1, 512),
    help="Panels drafted at once.",
)
"""The --concurrency option of `panel batch` and `panel batch collect`."""

redraft_option = click.option(
    "--redraft",
    is_flag=True,
    help="Draft again panels that are approved or published (kept as they are otherwise).",
)
"""The --redraft option of `panel batch` and `panel batch collect`."""


@click.command(name="collect")
@click.option("--wait", is_flag=True, help="Wait until every batch has ended.")
@concurrency_option
@redraft_option
@pass_env
def collect_command(env: Env, wait: bool, concurrency: int, redraft: bool) -> None:
    """Fetch ended batches, then draft their panels (failures re-asked as usual)."""
    with env.store() as store:
        batches = db.list_batches(store, pending=True)
        if not batches and not db.open_runs(store):
            click.echo("No provider batches pending.")
            return
        with never_silent(store):
            personas = load_personas()
            ctx = run_context(env, store, (batches or db.list_batches(store))[-1].model)
            ctx.limiter = AdaptiveLimiter(concurrency * len(personas))
            collected, drafted = asyncio.run(
                collect_all(
                    ctx,
                    personas,
                    wait=wait,
                    poll=poll_seconds(),
                    concurrency=concurrency,
                    notify=lambda text: click.echo(inert(text), err=True),
                    redraft=redraft,
                )
            )
    _report_collected(collected)
    _report_drafted(drafted)
    if collected.running:
        left = sum(b.request_count for b in collected.running)
        click.echo(
            f"Still running: {len(collected.running)} batch(es), {left} requests; "
            "run `panel batch collect` later (or with --wait)"
        )
    exit_with(drafted.exit_code)


@click.command(name="cancel")
@click.argument("batch_id", required=False)
@pass_env
def cancel_command(env: Env, batch_id: str | None) -> None:
    """Cancel a provider batch (or every pending one); answered requests are kept."""
    with env.store() as store:
        known = db.find_batch(store, batch_id) if batch_id else None
        if batch_id and known is None:
            raise UsageError(f"no stored batch {batch_id!r}; see `panel batch status --all`")
        first = known or next(iter(db.list_batches(store, pending=True)), None)
        if first is None:
            click.echo("No provider batches pending.")
            return
        ctx = run_context(env, store, first.model)
        canceled = asyncio.run(cancel(ctx, batch_id))
    for b in canceled:
        click.echo(inert(f"canceling {b.batch_id} ({b.model}, {b.request_count} requests)"))
    click.echo(
        "Collect what they answered with `panel batch collect`; requests they never ran "
        "are resubmitted by `panel batch QUEUE --batch-api` or drafted by `panel batch QUEUE`."
    )


BATCH_API_COMMANDS = (status_command, collect_command, cancel_command)
