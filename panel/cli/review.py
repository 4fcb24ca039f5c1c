"""Editorial commands: review, edit, regenerate, approve, reject, history."""

from __future__ import annotations

import asyncio
import sys

import click

from panel.cli import console as views
from panel.cli.app import (
    Env,
    accept_flags_option,
    approval_gate,
    cli,
    kind_option,
    pass_env,
    persona_option,
    run_context,
)
from panel.drafting.personas import reviewer_id
from panel.errors import BlockedError, UsageError
from panel.records import Verdict
from panel.safe_text import inert
from panel.status import Kind, change_status, resolve_kind, review_queue, stale_pages
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
    """List what waits for an editor: drafts, oldest first, then live pages out of date."""
    with env.store() as store:
        waiting = review_queue(store)
        stale = stale_pages(store)
    if not waiting:
        click.echo("Nothing waits for review.")
    else:
        views.make_console().print(views.review_queue(waiting))
    if stale:
        click.echo(f"Live pages out of date ({len(stale)}): republish them once approved")
        for page in stale:
            click.echo(inert(f"  stale {page.kind} {page.slug}: {page.why}"))


@cli.command()
@click.argument("slug")
@persona_option("Reviewer to edit.")
@click.option("--verdict", type=click.Choice([v.value for v in Verdict]), default=None)
@click.option("--quote", default=None, help="The new quote.")
@click.option("--headline", default=None, help="The new headline (one line).")
@click.option("--pricing-read", default=None, help="The new pricing read (one sentence).")
@click.option("--editor", "use_editor", is_flag=True, help="Edit the quote in $EDITOR.")
@revision_option
@pass_env
def edit(
    env: Env,
    slug: str,
    persona_id: str,
    verdict: str | None,
    quote: str | None,
    headline: str | None,
    pricing_read: str | None,
    use_editor: bool,
    expected_revision: int | None,
) -> None:
    """Change one reviewer's verdict, quote, headline or pricing read by hand (the panel
    returns to draft). A verdict the headline contradicts flags the review."""
    if quote is not None and use_editor:
        raise UsageError("pass --quote or --editor, not both")
    with env.store() as store:
        panel = store.get_panel(slug)
        persona_id = reviewer_id(panel, persona_id)  # an id or a name: the id from here on
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
            Edit(persona_id, Verdict(verdict) if verdict else None, quote, headline, pricing_read),
            expected_revision=expected_revision,
            editor=env.editor,
        )
    click.echo(f"{slug}: revision {saved.revision}, {saved.status.value} ({persona_id} edited)")
    review = saved.review(persona_id)
    for flag in review.open_flags if review else []:
        click.echo(inert(f"flag: {persona_id}: {flag}"), err=True)


@cli.command()
@click.argument("slug")
@persona_option("Reviewer to ask again.")
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
    accept_flags: bool = False,
) -> None:
    with env.store() as store:
        resolved: Kind = resolve_kind(store, slug, kind)  # type: ignore[arg-type]
        gate = approval_gate(accept_flags)

        def apply() -> object:
            return change_status(
                store,
                resolved,
                slug,
                action,  # type: ignore[arg-type]
                expected_revision=expected_revision,
                editor=env.editor,
                reason=reason,
                gate=gate,
            )

        try:
            saved = apply()
        except BlockedError as exc:
            # Flags alone ask the editor in a terminal; anything else is refused as listed.
            if not (exc.only_flags and sys.stdin.isatty()):
                raise
            click.echo(inert(str(exc)), err=True)
            click.confirm("Approve with these flags?", abort=True, err=True)
            gate = approval_gate(True)
            saved = apply()
    click.echo(f"{resolved} {slug}: {saved.status.value} (revision {saved.revision})")  # type: ignore[attr-defined]
    if resolved == "comparison" and action == "approve":
        click.echo("  its draft panels were approved with it")


@cli.command()
@click.argument("slug")
@kind_option
@revision_option
@accept_flags_option
@pass_env
def approve(
    env: Env, slug: str, kind: str | None, expected_revision: int | None, accept_flags: bool
) -> None:
    """Approve a draft panel, or a comparison together with its draft panels.

    Refused, with every blocker listed, while a review failed, has claims to verify
    (unless panel.toml says require_verified_claims = false) or flags not dismissed
    (a terminal asks; elsewhere pass --accept-flags).
    """
    _status_command(env, slug, "approve", kind, expected_revision, accept_flags=accept_flags)


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
