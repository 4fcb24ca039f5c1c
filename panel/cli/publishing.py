"""`panel compare`, `vote`, `votes import`, `publish`: comparisons, community votes, pages."""

from __future__ import annotations

from pathlib import Path

import click

from panel.cli import console as views
from panel.cli.app import (
    Env,
    accept_flags_option,
    approval_gate,
    cli,
    kind_option,
    pass_env,
    run_context,
)
from panel.compare import compare_tools
from panel.drafting.config import load_config
from panel.errors import PanelError
from panel.pages.publish import publish as publish_site
from panel.pages.reads import split_read
from panel.records import Verdict, percent
from panel.safe_text import inert
from panel.votes import add_vote, get_votes, import_votes


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
    """Set vote counts from a CSV or JSON file of slug, ship, skip (replacing old counts).

    Rows whose slug names no panel are skipped and listed (exit 1); the others are set.
    """
    with env.store() as store:
        result = import_votes(store, file)
    count = len(result.rows)
    click.echo(f"imported votes for {count} tool{'s' if count != 1 else ''} from {file}")
    if result.skipped:
        rows = "row" if len(result.skipped) == 1 else "rows"
        raise PanelError(
            f"skipped {len(result.skipped)} {rows} whose slug names no panel: "
            f"{', '.join(result.skipped)} (draft the panel first, or fix the slug)"
        )


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
@click.option(
    "--base-url",
    default=None,
    help="The site's absolute URL, for the feed (default: panel.toml [site] base_url).",
)
@click.option(
    "--approve",
    "approve_first",
    is_flag=True,
    help="Approve what is still a draft first (a comparison with its panels), then publish.",
)
@accept_flags_option
@kind_option
@pass_env
def publish(
    env: Env,
    slug: str,
    out: Path | None,
    force: bool,
    templates: Path | None,
    base_url: str | None,
    approve_first: bool,
    accept_flags: bool,
    kind: str | None,
) -> None:
    """Publish a comparison (with its two panels) or a panel, rebuilding index and feed.

    Every blocker is listed at once. Publishing a panel rewrites the pages of the
    published comparisons that show it, so the live site never disagrees with itself.
    """
    base_url = base_url or load_config().site_url
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
            approve=approve_first,
            gate=approval_gate(accept_flags),
        )
    marked = f" (now published: {', '.join(result.marked)})" if result.marked else ""
    click.echo(f"published {result.kind} {result.slug} to {result.out}{marked}")
    for path in result.files:
        click.echo(f"  {path}")
    if not base_url:
        click.echo(
            "note: feed.xml links are relative (no base URL): pass --base-url URL or set "
            "[site] base_url in panel.toml",
            err=True,
        )
