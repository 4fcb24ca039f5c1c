"""`panel batch`: draft a queue of launches with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from panel.batch import run as batches
from panel.cli.app import Env, cli, exit_with, pass_env, preload_diversity, run_context
from panel.cli.batch_api import (
    BATCH_API_COMMANDS,
    concurrency_option,
    redraft_option,
    report_kept,
    submit,
)
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.personas import load_personas, select
from panel.safe_text import inert


class DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, goes to ``run``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Route `panel batch QUEUE ...` to `panel batch run QUEUE ...`."""
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=DefaultGroup)
def batch() -> None:
    """Draft panels for a queue; `panel batch QUEUE` runs it (see `panel batch run -h`)."""


for _command in BATCH_API_COMMANDS:
    batch.add_command(_command)


@batch.command(name="run")
@click.argument("queue", type=click.Path(path_type=Path))
@click.option("--model", "-m", default=None, help="Model id for every persona.")
@click.option("--persona", "-p", "persona_ids", multiple=True, help="Only these personas.")
@concurrency_option
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop starting panels when projected spend would pass this (USD).",
)
@click.option("--skip-invalid", is_flag=True, help="Draft the valid entries, skip bad ones.")
@click.option(
    "--no-diversity",
    is_flag=True,
    help="Skip the embedding-model diversity read (it costs ~0.1 s of CPU per panel).",
)
@click.option("--fresh", is_flag=True, help="Start a new run and bypass the response cache.")
@click.option(
    "--batch-api",
    is_flag=True,
    help="Submit through the provider's batch API: half price, results within 24 h.",
)
@click.option("--wait", is_flag=True, help="With --batch-api: wait for the results and draft.")
@redraft_option
@pass_env
def run(
    env: Env,
    queue: Path,
    model: str | None,
    persona_ids: tuple[str, ...],
    concurrency: int,
    max_cost: float | None,
    skip_invalid: bool,
    no_diversity: bool,
    fresh: bool,
    batch_api: bool,
    wait: bool,
    redraft: bool,
) -> None:
    """Draft panels for a queue (JSONL, YAML list, or folder of launch files).

    Approved and published panels are kept as they are (named in the summary) unless
    --redraft.
    """
    if batch_api and fresh:
        raise click.UsageError("--fresh cannot be combined with --batch-api")
    if wait and not batch_api:
        raise click.UsageError("--wait needs --batch-api")
    personas = select(load_personas(), persona_ids)
    check = batches.check_queue(queue)
    for error in check.errors[1:] if not skip_invalid else check.errors:
        click.echo(f"invalid: {inert(error)}", err=True)
    if check.invalid > len(check.errors):
        click.echo(f"invalid: … {check.invalid - len(check.errors)} more", err=True)
    check = batches.checked_queue(queue, skip_invalid=skip_invalid, check=check)
    if batch_api:
        submit(
            env,
            queue,
            model,
            persona_ids,
            concurrency=concurrency,
            max_cost=max_cost,
            skip_invalid=skip_invalid,
            wait=wait,
            check=check,
            redraft=redraft,
        )
        return
    with env.store() as store:
        run = run_context(env, store, model)
        run.use_cache = not fresh
        run.measure_diversity = not no_diversity
        if run.measure_diversity:
            preload_diversity()
        # Calls in flight across all panels adapt to rate limits (4 personas per panel).
        run.limiter = AdaptiveLimiter(concurrency * len(personas))
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        task = bar.add_task("batch", total=None, stats="")

        def update(p: batches.Progress) -> None:
            stats = (
                f"done {p.done} · failed {p.failed} · skipped {p.skipped} · "
                + (f"kept {len(p.kept)} · " if p.kept else "")
                + f"in flight {p.in_flight} · {p.tokens:,} tok · ${p.cost_usd:.4f}"
            )
            bar.update(task, total=p.total, completed=p.finished, stats=stats)

        with bar:
            result = asyncio.run(
                batches.run_batch(
                    run,
                    queue,
                    personas,
                    concurrency=concurrency,
                    max_cost=max_cost,
                    skip_invalid=skip_invalid,
                    fresh=fresh,
                    redraft=redraft,
                    on_progress=update,
                )
            )
    elapsed = result.elapsed
    kept = f", {len(result.kept)} kept" if result.kept else ""
    click.echo(
        f"Batch: {result.done} drafted, {result.failed} with failures, {result.skipped} already "
        f"done{kept}, of {result.total}{result.not_drafted_note()} · {result.tokens:,} tokens · "
        f"${result.cost_usd:.4f} · {elapsed:.1f} s"
    )
    report_kept(result)
    for error in result.errors[:10]:
        click.echo(f"  error: {inert(error)}", err=True)
    if len(result.errors) > 10:
        click.echo(f"  … {len(result.errors) - 10} more: run the queue again to retry", err=True)
    if result.stopped_for_budget:
        click.echo(
            f"Budget: {result.stopped_for_budget}; run again with a higher --max-cost "
            "to finish the queue",
            err=True,
        )
    exit_with(result.exit_code)
