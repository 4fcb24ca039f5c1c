"""Editorial commands: review, edit, regenerate, approve, reject, history."""

from __future__ import annotations

import asyncio

import click

from panel.cli import console as views
from panel.cli.app import Env, cli, kind_option, pass_env, run_context
from panel.errors import UsageError
from panel.records import Verdict
from panel.status import Kind, change_status, resolve_kind, review_queue
from panel.workflow import Edit, edit_review, regenerate_review

revision_option = click.option(
    "--revision",
    "expected_revision",
    type=int,
    default=None,
    help="The revision your change is made against (default: the current one).",
)


@cli.command()
@pass_env
def review(env: Env) -> None:
    """List what waits for an editor: drafts, oldest first."""
    with env.store() as store:
        waiting = review_queue(store)
    if not waiting:
        click.echo("Nothing waits for review.")
        return
    views.make_console().print(views.review_queue(waiting))


@cli.command()
@click.argument("slug")
@click.option("--persona", "-p", "persona_id", required=True, help="Reviewer to edit.")
@click.option("--verdict", type=click.Choice([v.value for v in Verdict]), default=None)
@click.option("--quote", default=None, help="The new quote.")
@click.option("--editor", "use_editor", is_flag=True, help="Edit the quote in $EDITOR.")
@revision_option
@pass_env
def edit(
    env: Env,
    slug: str,
    persona_id: str,
    verdict: str | None,
    quote: str | None,
    use_editor: bool,
    expected_revision: int | None,
) -> None:
    """Change one reviewer's verdict or quote by hand (the panel returns to draft)."""
    if quote is not None and use_editor:
        raise UsageError("pass --quote or --editor, not both")
    with env.store() as store:
        panel = store.get_panel(slug)
        if expected_revision is None:
            expected_revision = panel.revision
        if use_editor:
            current = panel.review(persona_id)
            edited = click.edit(current.quote if current else "", extension=".txt")
            if edited is None:
                raise UsageError("the editor closed without saving; nothing changed")
            quote = edited
        saved = edit_review(
            store,
            slug,
            Edit(persona_id, Verdict(verdict) if verdict else None, quote),
            expected_revision=expected_revision,
            editor=env.editor,
        )
    click.echo(f"{slug}: revision {saved.revision}, {saved.status.value} ({persona_id} edited)")


@cli.command()
@click.argument("slug")
@click.option("--persona", "-p", "persona_id", required=True, help="Reviewer to ask again.")
@click.option("--model", "-m", default=None, help="Model id for this reviewer.")
@revision_option
@pass_env
def regenerate(
    env: Env, slug: str, persona_id: str, model: str | None, expected_revision: int | None
) -> None:
    """Ask one reviewer again, keeping the others."""
    with env.store() as store:
        ctx = run_context(env, store, model)
        panel = asyncio.run(
            regenerate_review(ctx, slug, persona_id, expected_revision=expected_revision)
        )
    out = views.make_console()
    out.print(views.scorecard(panel))
    out.print(views.panel_summary(panel))


def _status_command(
    env: Env,
    slug: str,
    action: str,
    kind: str | None,
    expected_revision: int | None,
    reason: str | None = None,
) -> None:
    with env.store() as store:
        resolved: Kind = resolve_kind(store, slug, kind)  # type: ignore[arg-type]
        saved = change_status(
            store,
            resolved,
            slug,
            action,  # type: ignore[arg-type]
            expected_revision=expected_revision,
            editor=env.editor,
            reason=reason,
        )
    click.echo(f"{resolved} {slug}: {saved.status.value} (revision {saved.revision})")


@cli.command()
@click.argument("slug")
@kind_option
@revision_option
@pass_env
def approve(env: Env, slug: str, kind: str | None, expected_revision: int | None) -> None:
    """Approve a draft panel or comparison."""
    _status_command(env, slug, "approve", kind, expected_revision)


@cli.command()
@click.argument("slug")
@click.option("--reason", required=True, help="Why it is rejected.")
@kind_option
@revision_option
@pass_env
def reject(
    env: Env, slug: str, reason: str, kind: str | None, expected_revision: int | None
) -> None:
    """Reject a draft panel or comparison, with a reason."""
    _status_command(env, slug, "reject", kind, expected_revision, reason)


@cli.command()
@click.argument("slug")
@kind_option
@pass_env
def history(env: Env, slug: str, kind: str | None) -> None:
    """The audit trail of a panel or comparison, with quote diffs."""
    with env.store() as store:
        resolved = resolve_kind(store, slug, kind)  # type: ignore[arg-type]
        entries = store.history(resolved, slug)
    views.make_console().print(views.history(entries))
