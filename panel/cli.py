"""The ``panel`` command. Errors reach the user as one line; tracebacks only with --debug."""

from __future__ import annotations

import asyncio
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import click

from panel import console as views
from panel import diversity
from panel.compare import compare_tools, split_read
from panel.config import load_config
from panel.costs import GROUPINGS, price_table, summarise
from panel.editors import current_editor
from panel.errors import PanelError, outcome_code
from panel.generate import RunContext, draft_panel
from panel.launches import load_launch
from panel.models import ModelChoice, default_model
from panel.paths import default_db
from panel.personas import load_personas, select
from panel.prompts import load_prompts
from panel.providers import registry
from panel.publish import publish as publish_site
from panel.records import Comparison, ToolPanel, Verdict, percent
from panel.safe_text import inert
from panel.store import Store, open_store
from panel.votes import add_vote, get_votes, import_votes
from panel.workflow import load_record, resolve_kind

HISTORY_SHOWN = 5


@dataclass
class Env:
    """Global options shared by every command."""

    db: Path
    debug: bool
    editor_name: str | None

    def store(self) -> Store:
        """Open the database."""
        return open_store(self.db)

    @property
    def editor(self) -> str:
        """Who is acting."""
        return current_editor(self.editor_name)


pass_env = click.make_pass_decorator(Env)
kind_option = click.option(
    "--kind",
    type=click.Choice(["panel", "comparison"]),
    default=None,
    help="Needed only when a slug names both a panel and a comparison.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Database file (default: $PANEL_DB or outputs/panel.db).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--editor-name", default=None, help="Your name for the audit trail.")
@click.version_option(package_name="panel")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, debug: bool, editor_name: str | None) -> None:
    """Reviewer panels for newly launched AI and developer tools."""
    ctx.obj = Env(db or default_db(), debug, editor_name)


def run_context(env: Env, store: Store, model: str | None) -> RunContext:
    """The RunContext for a command, printing the default-model notice once."""
    config = load_config()
    for name, options in config.providers.items():
        registry.configure(name, options)
    fallback, notice = default_model()
    if notice and not model and not config.model:
        click.echo(f"notice: {notice}", err=True)
    return RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(
            explicit=model,
            per_persona=config.personas,
            configured_default=config.model,
            fallback=fallback,
        ),
        editor=env.editor,
        policy=config.policy,
    )


def exit_with(code: int) -> None:
    """End the command with exit ``code`` (0: just return)."""
    if code:
        click.get_current_context().exit(code)


@cli.command()
@click.argument("launch_file", type=click.Path(path_type=Path))
@click.option("--model", "-m", default=None, help="Model id, e.g. local:smollm2.")
@click.option("--persona", "-p", "persona_ids", multiple=True, help="Only these personas.")
@click.option("--fresh", is_flag=True, help="Ask the models again: bypass the response cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@pass_env
def draft(
    env: Env,
    launch_file: Path,
    model: str | None,
    persona_ids: tuple[str, ...],
    fresh: bool,
    as_json: bool,
) -> None:
    """Draft the panel of a launch file (a new revision if it exists).

    Exits 0 when every review is valid, 5 when some reviewers failed, 6 when all did.
    """
    launch = load_launch(launch_file)
    personas = load_personas()
    chosen = select(personas, persona_ids)
    with env.store() as store:
        ctx = run_context(env, store, model)
        ctx.use_cache = not fresh
        panel = asyncio.run(draft_panel(ctx, launch, chosen, all_personas=personas))
    if panel.diversity is None and (note := diversity.unavailable()):
        click.echo(f"notice: {note}", err=True)
    if as_json:
        click.echo(panel.model_dump_json(indent=2))
    else:
        out = views.make_console()
        out.print(views.scorecard(panel))
        out.print(views.panel_summary(panel))
    drafted = [r for r in panel.reviews if r.persona_id in {p.id for p in chosen}]
    failed = [r for r in drafted if r.failed]
    for review in failed:
        click.echo(inert(f"panel: {review.persona_id} failed: {review.error}"), err=True)
    exit_with(outcome_code(ok=len(drafted) - len(failed), bad=len(failed)))


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
@pass_env
def list_(env: Env) -> None:
    """List stored panels."""
    with env.store() as store:
        panels = store.list_panels()
    if not panels:
        click.echo("No panels yet: run `panel draft LAUNCH_FILE`.")
        return
    views.make_console().print(views.panel_list(panels))


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
        rows = summarise(store.conn, by, since)
    if not rows:
        click.echo("The call log is empty.")
        return
    unpriced = [m for m in {r.key for r in rows} if by == "model" and not price_table().price(m)]
    views.make_console().print(views.cost_table(by, rows))
    if unpriced:
        click.echo(f"note: no price for {', '.join(sorted(unpriced))}; add it to PANEL_PRICES")


@cli.command()
@click.argument("a")
@click.argument("b")
@click.option("--model", "-m", default=None, help="Model id for panels that must be drafted.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison record as JSON.")
@pass_env
def compare(env: Env, a: str, b: str, model: str | None, as_json: bool) -> None:
    """Compare two tools, each a panel slug or a launch file (missing panels are drafted)."""
    with env.store() as store:
        result = compare_tools(store, a, b, lambda: run_context(env, store, model), env.editor)
        votes = {p.slug: get_votes(store, p.slug) for p in (result.a, result.b)}
    if as_json:
        click.echo(result.comparison.model_dump_json(indent=2))
        return
    out = views.make_console()
    out.print(views.comparison_table(result.a, result.b, votes))
    click.echo(inert(split_read(result.a, result.b)))
    state = "stored" if result.created else "already stored"
    drafted = f"; drafted {', '.join(result.drafted)}" if result.drafted else ""
    comparison = result.comparison
    click.echo(
        f"{state}: {comparison.slug} (rev {comparison.revision}, {comparison.status.value})"
        f"{drafted}"
    )


@cli.command()
@click.argument("slug")
@click.argument("verdict", type=click.Choice([v.value for v in Verdict]))
@click.option(
    "--count",
    "-n",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="How many votes to add.",
)
@pass_env
def vote(env: Env, slug: str, verdict: str, count: int) -> None:
    """Add community votes (ship or skip) to a tool's panel."""
    with env.store() as store:
        store.get_panel(slug)
        votes = add_vote(store, slug, Verdict(verdict), count)
    click.echo(
        f"{slug}: community {percent(votes.share)} ship ({votes.ship} ship, {votes.skip} skip)"
    )


@cli.group()
def votes() -> None:
    """Community votes."""


@votes.command(name="import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_env
def votes_import(env: Env, file: Path) -> None:
    """Set vote counts from a CSV or JSON file of slug, ship, skip (replacing old counts)."""
    with env.store() as store:
        rows = import_votes(store, file)
        unknown = [v.slug for v in rows if store.find_panel(v.slug) is None]
    click.echo(f"imported votes for {len(rows)} tool{'s' if len(rows) != 1 else ''} from {file}")
    if unknown:
        click.echo(inert(f"note: no panel yet for {', '.join(unknown)}"), err=True)


@cli.command()
@click.argument("slug")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Site folder (default: outputs/site/).",
)
@click.option("--force", is_flag=True, help="Publish even if not approved (drafts).")
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of templates overriding the built-in ones by name.",
)
@click.option("--base-url", default=None, help="The site's absolute URL, for the feed.")
@kind_option
@pass_env
def publish(
    env: Env,
    slug: str,
    out: Path | None,
    force: bool,
    templates: Path | None,
    base_url: str | None,
    kind: str | None,
) -> None:
    """Publish a comparison (with its two panels) or a panel, rebuilding index and feed."""
    with env.store() as store:
        result = publish_site(
            store,
            slug,
            editor=env.editor,
            out=out,
            force=force,
            templates=templates,
            base_url=base_url,
            kind=kind,
        )
    marked = f" (now published: {', '.join(result.marked)})" if result.marked else ""
    click.echo(f"published {result.kind} {result.slug} to {result.out}{marked}")
    for path in result.files:
        click.echo(f"  {path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning PanelErrors into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="panel", standalone_mode=False)
    except PanelError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"panel: error: {inert(exc)}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("panel: aborted", err=True)
        return 130
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "panel"
        click.echo(
            inert(f"panel: error: {exc.format_message()} (see '{command} --help')"), err=True
        )
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"panel: error: {inert(exc.format_message())}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("panel: interrupted", err=True)
        return 130
    # A command ended with exit_with(code) (click returns the code without standalone mode).
    return code if isinstance(code, int) else 0


# Command groups that live in their own modules register themselves on `cli`.
from panel import cli_batch, cli_eval, cli_review, cli_web  # noqa: E402, F401
