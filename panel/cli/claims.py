"""`panel claims`, `verify`, `flags`, `dismiss`: the fact-check of a panel before approval."""

from __future__ import annotations

import json

import click

from panel.claims import with_current_claims
from panel.cli import console as views
from panel.cli.app import Env, cli, pass_env
from panel.safe_text import inert
from panel.workflow import dismiss_flag, flag_ids, set_claim


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the claims as JSON.")
@click.option("--open", "only_open", is_flag=True, help="Only the claims still to verify.")
@pass_env
def claims(env: Env, slug: str, as_json: bool, only_open: bool) -> None:
    """List the checkable claims of a panel's reviews: numbers, money and names."""
    with env.store() as store:
        panel = with_current_claims(store.get_panel(slug))
    rows = [
        (review.persona_id, claim)
        for review in panel.reviews
        for claim in review.claims
        if claim.open or not only_open
    ]
    if as_json:
        data = [{"persona": who, **c.model_dump(mode="json")} for who, c in rows]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"{slug}: no claims{' to verify' if only_open else ''}.")
        return
    views.make_console().print(views.claims_table(rows))
    waiting = sum(1 for _, c in rows if c.open)
    if waiting:
        click.echo(f"{waiting} to verify: panel verify {slug} ID (or --waive ID)")


@cli.command()
@click.argument("slug")
@click.argument("claim_ids", nargs=-1, required=True)
@click.option("--waive", "action", flag_value="waive", help="Let the claims stand unchecked.")
@click.option("--reopen", "action", flag_value="reopen", help="Mark the claims to verify again.")
@pass_env
def verify(env: Env, slug: str, claim_ids: tuple[str, ...], action: str | None) -> None:
    """Mark claims of a panel verified (or waived, or to verify again); audited.

    All or nothing: one unknown id (or one already so) and no claim is changed.
    """
    action = action or "verify"
    with env.store() as store, store.together():
        for claim_id in dict.fromkeys(claim_ids):
            saved = set_claim(
                store, slug, claim_id, action, expected_revision=None, editor=env.editor
            )
            claim = next(c for r in saved.reviews for c in r.claims if c.id == claim_id)
            click.echo(inert(f'{slug}: {claim_id} "{claim.text}" {claim.status.value}'))
    waiting = sum(len(r.open_claims) for r in saved.reviews)
    click.echo(f"{slug}: revision {saved.revision}; {waiting} claim(s) still to verify")


@cli.command()
@click.argument("slug")
@pass_env
def flags(env: Env, slug: str) -> None:
    """List a panel's flags (its reviews' and its own), with ids for `panel dismiss`."""
    with env.store() as store:
        panel = store.get_panel(slug)
    found = flag_ids(panel)
    if not found:
        click.echo(f"{slug}: no flags.")
        return
    for flag_id, flag, dismissed in found:
        click.echo(inert(f"{flag_id:<14} {'dismissed' if dismissed else 'open':<10} {flag}"))


@cli.command()
@click.argument("slug")
@click.argument("flag_ids_", metavar="FLAG_ID...", nargs=-1, required=True)
@pass_env
def dismiss(env: Env, slug: str, flag_ids_: tuple[str, ...]) -> None:
    """Dismiss flags of a panel (ids from `panel flags`); audited. All or nothing."""
    with env.store() as store, store.together():
        for flag_id in dict.fromkeys(flag_ids_):
            saved = dismiss_flag(store, slug, flag_id, expected_revision=None, editor=env.editor)
            click.echo(inert(f"{slug}: dismissed {flag_id} (revision {saved.revision})"))
