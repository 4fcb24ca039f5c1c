"""The desk's changes (POST): edit, regenerate, approve, reject, publish, the editor's name
(claims and flags: panel.web.checks).

Each handler checks the CSRF token, reads the revision the form was made against and
calls the workflow (or publish) with it; the rules live there. A stale revision renders
the conflict view (409) with the editor's input and the newer stored text side by side.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from panel.drafting.context import build_context
from panel.errors import BlockedError, ConflictError, ModelFailure, UsageError
from panel.pages.publish import publish
from panel.pages.render import COMPARISONS_DIR
from panel.records import Comparison, Status
from panel.status import Gate, Kind, change_status, load_record, panels_of
from panel.store import Store, open_store
from panel.web import forms
from panel.web.pages import EDITOR_COOKIE, clean_editor, desk_of, editor_cookie_value, editor_of
from panel.web.pages import render_page as render
from panel.web.record import (
    STATUS_ACTIONS,
    Pending,
    gate_of,
    kind_of,
    record_href,
    record_page,
)
from panel.workflow import Edit, edit_review, regenerate_review

StatusAction = Literal["approve", "reject", "publish"]


def done(
    kind: Kind,
    slug: str,
    action: str,
    persona: str | None = None,
    *,
    extra: dict[str, str] | None = None,
) -> RedirectResponse:
    """Back to the record's page after a change (Post/Redirect/Get), saying what was done."""
    query = {"done": action} | ({"persona": persona} if persona else {}) | (extra or {})
    anchor = f"#review-{persona}" if persona else ""
    return RedirectResponse(f"{record_href(kind, slug)}?{urlencode(query)}{anchor}", 303)


def conflict(
    request: Request,
    store: Store,
    kind: Kind,
    slug: str,
    error: ConflictError,
    *,
    expected: int,
    action: str,
    mine: Pending | None = None,
    persona: str | None = None,
    reason: str | None = None,
) -> Response:
    """The conflict view: what the editor sent, what is stored now, and who changed it."""
    current = load_record(store, kind, slug)
    changes = [e for e in store.history(kind, slug) if int(e["revision"]) > expected]
    theirs = current.review(persona) if persona and not isinstance(current, Comparison) else None
    return render(
        request,
        "conflict.html",
        status_code=409,
        kind=kind,
        slug=slug,
        href=record_href(kind, slug),
        message=str(error),
        action=action,
        expected=expected,
        record=current,
        changes=changes,
        mine=mine,
        theirs=theirs,
        persona=persona,
        reason=reason,
        back=record_href(kind, slug),
    )


def _edit(store: Store, slug: str, persona: str, form: FormData) -> Edit:
    """The edit a review form asks for; a field left blank that the review never had
    (a headline, a pricing read) is no change."""
    stored = store.get_panel(slug).review(persona)
    headline = forms.text(form, "headline", limit=1_000)
    pricing_read = forms.text(form, "pricing_read", limit=2_000)
    if headline is not None and not headline.strip() and not (stored and stored.headline):
        headline = None
    if pricing_read is not None and not pricing_read.strip():
        pricing_read = pricing_read if stored and stored.pricing_read else None
    return Edit(
        persona,
        verdict=forms.verdict(form),
        quote=forms.text(form, "quote"),
        headline=headline,
        pricing_read=pricing_read,
    )


async def edit_route(request: Request) -> Response:
    """Save an editor's verdict, headline, quote and pricing read for one reviewer."""
    slug = request.path_params["slug"]
    persona = request.path_params["persona"]
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    mine = Pending(
        verdict=forms.text(form, "verdict", limit=10),
        quote=forms.text(form, "quote") or "",
        revision=expected,
        error="",
        headline=forms.text(form, "headline", limit=1_000),
        pricing_read=forms.text(form, "pricing_read", limit=2_000),
    )
    with open_store(desk_of(request).db) as store:
        try:
            edit_review(
                store,
                slug,
                _edit(store, slug, persona, form),
                expected_revision=expected,
                editor=editor_of(request),
            )
        except ConflictError as exc:
            return conflict(
                request,
                store,
                "panel",
                slug,
                exc,
                expected=expected,
                action="edit",
                mine=mine,
                persona=persona,
            )
        except UsageError as exc:
            mine.error = str(exc)
            return record_page(
                request, store, "panel", slug, status_code=400, pending={persona: mine}
            )
    return done("panel", slug, "edit", persona)


async def regenerate_route(request: Request) -> Response:
    """Ask one reviewer again with the desk's model choice, keeping the other reviews."""
    slug = request.path_params["slug"]
    persona = request.path_params["persona"]
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    desk = desk_of(request)
    with open_store(desk.db) as store:
        try:
            ctx = build_context(store, desk.settings, model=desk.model, editor=editor_of(request))
            await regenerate_review(ctx, slug, persona, expected_revision=expected)
        except ModelFailure as exc:
            # The model failed (an outage, a broken answer): the old review stays.
            return record_page(request, store, "panel", slug, status_code=502, error=str(exc))
        except ConflictError as exc:
            return conflict(
                request,
                store,
                "panel",
                slug,
                exc,
                expected=expected,
                action="regenerate",
                persona=persona,
            )
        except UsageError as exc:
            return record_page(request, store, "panel", slug, status_code=400, error=str(exc))
    return done("panel", slug, "regenerate", persona)


def check_shown(store: Store, shown: dict[str, int]) -> None:
    """Refuse (ConflictError) when a panel a comparison page showed has changed since."""
    for name, wanted in shown.items():
        check_revision("panel", name, wanted, store.get_panel(name).revision)


def check_revision(kind: Kind, slug: str, wanted: int, revision: int) -> None:
    """Refuse (ConflictError) when the record is no longer at the revision shown."""
    if revision != wanted:
        raise ConflictError(
            f"{kind} {slug!r} changed since revision {wanted}: it is now revision "
            f"{revision}; review it again"
        )


def _publish(
    request: Request,
    store: Store,
    kind: Kind,
    slug: str,
    expected: int,
    shown: dict[str, int],
    *,
    approve: bool,
    gate: Gate,
) -> tuple[str, dict[str, str]]:
    """Publish a record (approving its drafts first when asked), refused when it or a
    comparison's panels changed since shown; the notice to show, and its details."""
    desk = desk_of(request)
    result = publish(
        store,
        slug,
        editor=editor_of(request),
        out=desk.out,
        templates=desk.templates,
        base_url=desk.settings.config.site_url,
        kind=kind,
        expected={**shown, slug: expected},
        approve=approve,
        gate=gate if approve else None,
    )
    extra: dict[str, str] = {}
    if result.kind == "panel":
        folder = desk.out / COMPARISONS_DIR
        rewritten = [f.stem for f in result.files if f.parent == folder and f.suffix == ".html"]
        if rewritten:
            extra["rewritten"] = ",".join(rewritten)
    if approve:
        return "approve-publish", extra
    return ("publish" if result.marked else "republish"), extra


def _approve(
    request: Request,
    store: Store,
    kind: Kind,
    slug: str,
    expected: int,
    shown: dict[str, int],
    gate: Gate,
) -> str:
    """Approve a panel, or a comparison with its draft panels (as shown) in one transaction."""
    with store.together():
        record = load_record(store, kind, slug)
        # A stale page is a conflict before anything else: its blockers may be gone.
        check_shown(store, shown)
        check_revision(kind, slug, expected, record.revision)
        drafts = [p for p in panels_of(store, record) if p.status is Status.DRAFT]
        change_status(
            store,
            kind,
            slug,
            "approve",
            expected_revision=expected,
            editor=editor_of(request),
            gate=gate,
        )
    return "approve-all" if kind == "comparison" and drafts else "approve"


async def status_route(request: Request) -> Response:
    """Approve (a comparison with its panels), reject (with a reason) or publish a panel or
    comparison; publish with ``approve=1`` approves what is still a draft first."""
    kind = kind_of(request.path_params["kind"])
    slug = request.path_params["slug"]
    action = request.path_params["action"]
    if action not in STATUS_ACTIONS:
        raise UsageError(f"unknown action {action!r}")
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    reason = forms.text(form, "reason", limit=2_000)
    shown = forms.panel_revisions(form)
    gate = gate_of(request, accept_flags=forms.checked(form, "accept_flags"))
    chosen: StatusAction = action
    extra: dict[str, str] = {}
    with open_store(desk_of(request).db) as store:
        try:
            if chosen == "publish":
                approve = forms.checked(form, "approve")
                outcome, extra = _publish(
                    request, store, kind, slug, expected, shown, approve=approve, gate=gate
                )
            elif chosen == "approve":
                outcome = _approve(request, store, kind, slug, expected, shown, gate)
            else:
                change_status(
                    store,
                    kind,
                    slug,
                    chosen,
                    expected_revision=expected,
                    editor=editor_of(request),
                    reason=reason,
                )
                outcome = chosen
        except ConflictError as exc:
            return conflict(
                request, store, kind, slug, exc, expected=expected, action=chosen, reason=reason
            )
        except BlockedError as exc:
            return record_page(request, store, kind, slug, status_code=400, blocked=exc)
        except UsageError as exc:
            return record_page(request, store, kind, slug, status_code=400, error=str(exc))
    return done(kind, slug, outcome, extra=extra)


async def editor_route(request: Request) -> Response:
    """Remember the editor's name for the audit trail (a cookie), then go back."""
    form = await forms.checked_form(request)
    name = clean_editor(forms.text(form, "name", limit=200) or "")
    response = RedirectResponse(forms.safe_next(forms.text(form, "next", limit=2_000)), 303)
    if name:
        value = editor_cookie_value(name)
        response.set_cookie(EDITOR_COOKIE, value, max_age=365 * 86400, samesite="strict")
    else:
        response.delete_cookie(EDITOR_COOKIE)
    return response
