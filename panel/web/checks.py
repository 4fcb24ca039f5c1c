"""The desk's fact-check changes (POST): verify, waive or reopen a claim; dismiss a flag.

Like every desk change they carry the CSRF token and the revision shown, and go through
the workflow (panel.workflow.set_claim, dismiss_flag), which audits who did it and when.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from panel.errors import ConflictError, UsageError
from panel.records import ToolPanel
from panel.store import Store, open_store
from panel.web import forms
from panel.web.actions import conflict, done
from panel.web.pages import desk_of, editor_of
from panel.web.record import record_page
from panel.workflow import CLAIM_ACTIONS, dismiss_flag, set_claim

MAX_ID_CHARS = 120


def _change(
    request: Request, slug: str, action: str, expected: int, change: Callable[[Store], ToolPanel]
) -> Response | ToolPanel:
    """Run one fact-check change: the saved panel, or the page saying why it was not."""
    with open_store(desk_of(request).db) as store:
        try:
            return change(store)
        except ConflictError as exc:
            return conflict(request, store, "panel", slug, exc, expected=expected, action=action)
        except UsageError as exc:
            return record_page(request, store, "panel", slug, status_code=400, error=str(exc))


async def claim_route(request: Request) -> Response:
    """Verify, waive or reopen one claim of a panel's reviews."""
    slug = request.path_params["slug"]
    claim_id = request.path_params["claim_id"]
    action = request.path_params["action"]
    if action not in CLAIM_ACTIONS:
        raise UsageError(f"unknown claim action {action!r}: verify, waive or reopen")
    if len(claim_id) > MAX_ID_CHARS:
        raise UsageError("that claim id is too long: reload the page")
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    editor = editor_of(request)
    saved = _change(
        request,
        slug,
        action,
        expected,
        lambda store: set_claim(
            store, slug, claim_id, action, expected_revision=expected, editor=editor
        ),
    )
    if isinstance(saved, Response):
        return saved
    owner = next((r.persona_id for r in saved.reviews if r.claim(claim_id)), None)
    return done("panel", slug, action, owner)


async def dismiss_route(request: Request) -> Response:
    """Dismiss one flag (a review's 'dx:1' or the panel's 'panel:1'), audited."""
    slug = request.path_params["slug"]
    flag_id = request.path_params["flag_id"]
    if len(flag_id) > MAX_ID_CHARS:
        raise UsageError("that flag id is too long: reload the page")
    form = await forms.checked_form(request)
    expected = forms.revision(form)
    editor = editor_of(request)
    saved = _change(
        request,
        slug,
        "dismiss",
        expected,
        lambda store: dismiss_flag(store, slug, flag_id, expected_revision=expected, editor=editor),
    )
    if isinstance(saved, Response):
        return saved
    owner, _, _ = flag_id.partition(":")
    return done("panel", slug, "dismiss", None if owner == "panel" else owner)
