"""The desk's changes (POST): edit, regenerate, approve, reject, publish, the editor's name.

Each handler checks the CSRF token, reads the revision the form was made against and
calls the workflow (or publish) with it; the rules live there. A stale revision renders
the conflict view (409) with the editor's input and the newer stored text side by side.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from panel.drafting.context import build_context
from panel.errors import ConflictError, ModelFailure, UsageError
from panel.pages.publish import publish
from panel.records import Comparison
from panel.status import Kind, change_status, load_record
from panel.store import Store, open_store
from panel.web import forms
from panel.web.pages import EDITOR_COOKIE, clean_editor, desk_of, editor_cookie_value, editor_of
from panel.web.pages import render_page as render
from panel.web.views import STATUS_ACTIONS, Pending, kind_of, record_href, record_page
from panel.workflow import Edit, edit_review, regenerate_review

StatusAction = Literal["approve", "reject", "publish"]


def done(kind: Kind, slug: str, action: str, persona: str | None = None) -> RedirectResponse:
    """Back to the record's page after a change (Post/Redirect/Get), saying what was done."""
    query = {"done": action} | ({"persona": persona} if persona else {})
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


async def edit_route(request: Request) -> Response:
    """Save an editor's quote and verdict for one reviewer."""
    slug = request.path_params["slug"]
    persona = request.path_params["persona"]
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    quote = forms.text(form, "quote")
    raw_verdict = forms.text(form, "verdict", limit=10)
    mine = Pending(verdict=raw_verdict, quote=quote or "", revision=expected, error="")
    with open_store(desk_of(request).db) as store:
        try:
            edit_review(
                store,
                slug,
                Edit(persona, forms.verdict(form), quote),
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


def _publish(
    request: Request, store: Store, kind: Kind, slug: str, expected: int, shown: dict[str, int]
) -> None:
    """Publish a record, refused when it (or a comparison's panels) changed since shown."""
    desk = desk_of(request)
    publish(
        store,
        slug,
        editor=editor_of(request),
        out=desk.out,
        templates=desk.templates,
        kind=kind,
        expected={**shown, slug: expected},
    )


async def status_route(request: Request) -> Response:
    """Approve, reject (with a reason) or publish a panel or comparison."""
    kind = kind_of(request.path_params["kind"])
    slug = request.path_params["slug"]
    action = request.path_params["action"]
    if action not in STATUS_ACTIONS:
        raise UsageError(f"unknown action {action!r}")
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    reason = forms.text(form, "reason", limit=2_000)
    shown = forms.panel_revisions(form)
    chosen: StatusAction = action
    with open_store(desk_of(request).db) as store:
        try:
            if chosen == "publish":
                _publish(request, store, kind, slug, expected, shown)
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
        except ConflictError as exc:
            return conflict(
                request, store, kind, slug, exc, expected=expected, action=chosen, reason=reason
            )
        except UsageError as exc:
            return record_page(request, store, kind, slug, status_code=400, error=str(exc))
    return done(kind, slug, chosen)


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
