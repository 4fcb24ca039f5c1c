"""`panel sources fetch`, `panel sources list`: the sources a launch's reviewers read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from panel.cli.app import Env, cli, exit_with, pass_env, run_context
from panel.drafting.sources import launch_sources
from panel.errors import outcome_code
from panel.launches import LAUNCH_SUFFIXES, load_launch
from panel.records import Launch, SourceText
from panel.safe_text import inert
from panel.store import Store
from panel.store.sources import stored_sources


@cli.group()
def sources() -> None:
    """The sources attached to a launch (`sources:` in its file): fetch them, list them."""


def _launch(store: Store, target: str) -> Launch:
    """A launch file's launch, or the stored panel's launch for a slug."""
    path = Path(target)
    if path.suffix.lower() in LAUNCH_SUFFIXES or path.exists():
        return load_launch(path)
    return store.get_panel(target).launch


def line(source: SourceText) -> str:
    """One source as one line: read (words, hash) or failed (why)."""
    label = f" ({source.label})" if source.label else ""
    if not source.ok:
        return f"failed  {source.where}{label}: {source.reason}"
    digest = (source.sha256 or "")[:12]
    note = f"; {source.reason}" if source.reason else ""
    return f"read    {source.where}{label}: {source.words:,} words, sha256 {digest}…{note}"


@sources.command(name="fetch")
@click.argument("target", metavar="SLUG|LAUNCH")
@pass_env
def fetch_command(env: Env, target: str) -> None:
    """Read every source of a launch again (URLs fetched, files read) and store the text.

    Exits 0 when every source was read, 5 when some failed, 6 when all did.
    """
    with env.store() as store:
        launch = _launch(store, target)
        if not launch.sources:
            click.echo(f"{launch.slug}: the launch lists no sources")
            return
        ctx = run_context(env, store, None)
        read = asyncio.run(launch_sources(ctx, launch, refresh=True))
    for source in read:
        click.echo(inert(line(source)), err=not source.ok)
    failed = sum(1 for s in read if not s.ok)
    exit_with(outcome_code(ok=len(read) - failed, bad=failed))


@sources.command(name="list")
@click.argument("target", metavar="SLUG|LAUNCH")
@pass_env
def list_command(env: Env, target: str) -> None:
    """The sources of a launch as last read (nothing is fetched)."""
    with env.store() as store:
        launch = _launch(store, target)
        stored = stored_sources(store, launch.slug)
    if not launch.sources:
        click.echo(f"{launch.slug}: the launch lists no sources")
        return
    for ref in launch.sources:
        source = stored.get(ref.where)
        if source is None:
            click.echo(inert(f"unread  {ref.where}: not read yet (panel sources fetch)"))
        else:
            click.echo(inert(line(source)))
