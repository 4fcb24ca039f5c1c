"""`panel draft`, `show`, `list`, `logs`, `costs`: drafting a panel and reading the store."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import click

from panel.cli import console as views
from panel.cli.app import Env, cli, exit_with, kind_option, pass_env, persona_option, run_context
from panel.cli.progress import DraftProgress
from panel.drafting import diversity
from panel.drafting.generate import draft_panel
from panel.drafting.personas import load_personas, select
from panel.drafting.prices import price_table
from panel.errors import outcome_code
from panel.launches import load_launch
from panel.pages.reads import split_read
from panel.records import Comparison, Status, ToolPanel
from panel.safe_text import inert
from panel.status import load_record, resolve_kind
from panel.store.comparisons import list_comparisons
from panel.store.costs import GROUPINGS, summarise
from panel.votes import get_votes

HISTORY_SHOWN = 5


@cli.command()
@click.argument("launch_file", type=click.Path(path_type=Path))
@click.option("--model", "-m", default=None, help="Model id, e.g. local:smollm2.")
@persona_option("Only these reviewers (repeat -p).", multiple=True)
@click.option("--fresh", is_flag=True, help="Ask the models again: bypass the response cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@click.option(
    "--redraft", is_flag=True, help="Draft it again even if the panel is approved or published."
)
@click.option(
    "--no-fetch", is_flag=True, help="Read no source now: use the sources' stored text only."
)
@click.option(
    "--no-diversity", is_flag=True, help="Skip the embedding-model diversity read of the quotes."
)
@pass_env
def draft(
    env: Env,
    launch_file: Path,
    model: str | None,
    persona_ids: tuple[str, ...],
    fresh: bool,
    as_json: bool,
    redraft: bool,
    no_fetch: bool,
    no_diversity: bool,
) -> None:
    """Draft the panel of a launch file (a new revision if it exists).

    An approved or published panel is refused (exit 2, nothing called or stored) unless
    --redraft; a redrafted published panel keeps its live page until the next publish.

    Exits 0 when every review is valid, 5 when some reviewers failed, 6 when all did.
    Progress goes to stderr: a row a reviewer on a terminal, else a line a review.
    """
    started = time.perf_counter()
    launch = load_launch(launch_file)
    personas = load_personas()
    chosen = select(personas, persona_ids)
    with env.store() as store, DraftProgress(views.make_console(stderr=True)) as watcher:
        ctx = run_context(env, store, model)
        ctx.use_cache = not fresh
        ctx.fetch_sources = not no_fetch
        ctx.measure_diversity = not no_diversity
        ctx.watcher = watcher
        panel = asyncio.run(
            draft_panel(ctx, launch, chosen, all_personas=personas, redraft=redraft)
        )
    if panel.diversity is None and not no_diversity and (note := diversity.unavailable()):
        click.echo(f"notice: {note}", err=True)
    if as_json:
        click.echo(panel.model_dump_json(indent=2))
    else:
        out = views.make_console()
        out.print(views.scorecard(panel))
        out.print(views.panel_summary(panel))
    chosen_ids = {p.id for p in chosen}
    drafted = [r for r in panel.reviews if r.persona_id in chosen_ids]
    failed = [r for r in drafted if r.failed]
    for source in panel.sources:
        if not source.ok or source.reason:
            click.echo(inert(f"panel: source {source.where}: {source.reason}"), err=True)
    for review in failed:
        click.echo(inert(f"panel: {review.persona_id} failed: {review.error}"), err=True)
    seconds = time.perf_counter() - started
    valid = len(drafted) - len(failed)
    click.echo(f"panel: {valid} of {len(drafted)} reviews valid in {seconds:.1f} s", err=True)
    exit_with(outcome_code(ok=valid, bad=len(failed)))


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@kind_option
@pass_env
def show(env: Env, slug: str, as_json: bool, kind: str | None) -> None:
    """Show one panel or comparison, with its recent history."""
    with env.store() as store:
        resolved = resolve_kind(store, slug, kind)  # type: ignore[arg-type]
        record = load_record(store, resolved, slug)
        entries = store.history(resolved, slug)
        panels = (
            [store.get_panel(record.a_slug), store.get_panel(record.b_slug)]
            if isinstance(record, Comparison)
            else []
        )
        votes = {p.slug: get_votes(store, p.slug) for p in panels}
    if as_json:
        click.echo(record.model_dump_json(indent=2))
        return
    out = views.make_console()
    if isinstance(record, ToolPanel):
        out.print(views.scorecard(record))
        out.print(views.panel_summary(record))
    else:
        out.print(views.comparison_table(panels[0], panels[1], votes))
        out.print(views.plain(split_read(panels[0], panels[1])))
        out.print(f"{record.slug} · rev {record.revision} · {record.status.value}")
    shown = entries[-HISTORY_SHOWN:]
    out.print(views.history(shown))
    if len(entries) > len(shown):
        out.print(f"({len(entries) - len(shown)} earlier entries: `panel history {slug}`)")


@cli.command(name="list")
@click.option(
    "--status", type=click.Choice([s.value for s in Status]), default=None, help="Only this status."
)
@click.option(
    "--kind",
    type=click.Choice(["panel", "comparison"]),
    default=None,
    help="Only panels or only comparisons (default: both).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, a row per record.")
@pass_env
def list_(env: Env, status: str | None, kind: str | None, as_json: bool) -> None:
    """List stored panels and comparisons, oldest first."""
    wanted = Status(status) if status else None
    with env.store() as store:
        panels = store.list_panels(wanted) if kind != "comparison" else []
        comparisons = list_comparisons(store, wanted) if kind != "panel" else []
        tools = {p.slug: p for p in store.list_panels()} if comparisons else {}
    if as_json:
        click.echo(json.dumps(views.list_rows(panels, comparisons, tools), indent=2))
        return
    if not panels and not comparisons:
        if status or kind:
            what = f"{kind}s" if kind else "panels or comparisons"
            click.echo(f"No {' '.join(filter(None, [status, what]))}.")
        else:
            click.echo("Nothing yet: run `panel draft LAUNCH_FILE`, then `panel compare A B`.")
        return
    out = views.make_console()
    if panels:
        out.print(views.panel_list(panels))
    if comparisons:
        out.print(views.comparison_list(comparisons, tools))


@cli.command()
@click.option("-n", "limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@pass_env
def logs(env: Env, limit: int) -> None:
    """Show the latest model calls from the call log."""
    with env.store() as store:
        rows = store.recent_calls(limit)
    if not rows:
        click.echo("The call log is empty.")
        return
    views.make_console().print(views.call_log(rows))


@cli.command()
@click.option(
    "--by",
    type=click.Choice(sorted(GROUPINGS)),
    default="day",
    show_default=True,
    help="Group the call log by day, model or panel.",
)
@click.option("--since", default=None, help="Only calls on or after this date (YYYY-MM-DD).")
@pass_env
def costs(env: Env, by: str, since: str | None) -> None:
    """Summarise spend from the call log."""
    with env.store() as store:
        rows = summarise(store, by, since, saving=price_table().cache_saving)
    if not rows:
        click.echo("The call log is empty.")
        return
    unpriced = [m for m in {r.key for r in rows} if by == "model" and not price_table().price(m)]
    views.make_console().print(views.cost_table(by, rows))
    if unpriced:
        click.echo(f"note: no price for {', '.join(sorted(unpriced))}; add it to PANEL_PRICES")
