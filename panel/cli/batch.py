"""`panel batch`: draft a queue of launches with a progress bar."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import click
from click.core import ParameterSource
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from panel.batch import run as batches
from panel.cli.app import (
    Env,
    cli,
    exit_with,
    pass_env,
    persona_option,
    preload_diversity,
    run_context,
)
from panel.cli.batch_api import (
    BATCH_API_COMMANDS,
    concurrency_option,
    redraft_option,
    report_kept,
    submit,
)
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.personas import load_personas, select
from panel.drafting.spend import SpendMeter
from panel.safe_text import inert

ALREADY_DONE = "already done"
"""The one name for launches an earlier run of the queue drafted (resumed runs skip them)."""


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
@persona_option("Only these reviewers (repeat -p).", multiple=True)
@concurrency_option
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="A budget (USD) the run's calls never pass: a panel starts only when it fits.",
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
    --redraft. Ctrl-C prints what was done and the command that resumes the run.
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
    meter = SpendMeter(max_cost)
    counters = batches.Progress()
    with env.store() as store:
        run = run_context(env, store, model)
        run.use_cache = not fresh
        run.measure_diversity = not no_diversity
        run.spend = meter
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
            stats = f"{counts(p)} · in flight {p.in_flight} · {spent(meter)}"
            bar.update(task, total=p.total, completed=p.finished, stats=stats)

        try:
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
                        progress=counters,
                    )
                )
        except KeyboardInterrupt:
            report_interrupted(counters, meter, resume_command(queue, max_cost, meter))
            raise
    click.echo(
        f"Batch: {counts(result)} · {result.tokens:,} tokens · {spent(meter)} · "
        f"{result.elapsed:.1f} s"
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


def counts(p: batches.Progress) -> str:
    """What a run has done, in the words of the summary (the bar and Ctrl-C use them too):
    '3 drafted, 1 with failures, 5 already done, 1 kept, of 12 · 2 flagged'."""
    kept = f", {len(p.kept)} kept" if p.kept else ""
    return (
        f"{p.done} drafted, {p.failed} with failures, {p.skipped} {ALREADY_DONE}{kept}, "
        f"of {p.total}{p.not_drafted_note()} · {p.flagged} flagged"
    )


def spent(meter: SpendMeter) -> str:
    """What the run's calls cost (the call log's figure), and of what budget."""
    budget = f" of ${meter.cap:.2f}" if meter.cap is not None else ""
    return f"${meter.spent:.4f}{budget} spent"


def report_interrupted(p: batches.Progress, meter: SpendMeter, resume: str) -> None:
    """After Ctrl-C: what was done, what was in flight, and the command that resumes."""
    click.echo(f"Interrupted: {counts(p)} · {spent(meter)}")
    if p.interrupted:
        click.echo(
            inert(
                f"Not finished ({len(p.interrupted)} in flight; their answered calls are "
                f"cached): {', '.join(p.interrupted)}"
            )
        )
    click.echo(inert(f"Resume with: {resume}"))


def resume_command(queue: Path, max_cost: float | None, meter: SpendMeter) -> str:
    """The command that runs the rest of this queue: this one's options (not --fresh, since
    the run must resume), with --max-cost lowered to what is left of the budget."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    words = ["panel"]
    for name, flag in (("db", "--db"), ("editor_name", "--editor-name")):
        if root.params.get(name) is not None:
            words += [flag, str(root.params[name])]
    words += ["batch", str(queue)]
    for param in ctx.command.params:
        given = ctx.get_parameter_source(param.name or "") not in (None, ParameterSource.DEFAULT)
        if not isinstance(param, click.Option) or param.name == "fresh" or not given:
            continue
        flag = max(param.opts, key=len)
        value = ctx.params[param.name or ""]
        if param.name == "max_cost" and max_cost is not None:
            value = f"{max(max_cost - meter.spent, 0.0):.4f}"
        if param.is_flag:
            words += [flag] if value else []
        elif param.multiple:
            words += [w for v in value for w in (flag, str(v))]
        else:
            words += [flag, str(value)]
    return shlex.join(words)
