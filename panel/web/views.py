"""The desk's pages (GET): the queue, a panel, a comparison, a history, previews."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from panel.errors import NotFoundError, UsageError
from panel.pages.publish import SiteView, comparison_page, site_index, tool_page
from panel.pages.render import COMPARISONS_DIR, TOOLS_DIR, Renderer
from panel.records import Comparison, Status, ToolPanel
from panel.status import Kind, Record, load_record, next_status, resolve_kind
from panel.store import Store, open_store
from panel.store.comparisons import comparisons_of, get_comparison
from panel.web.pages import desk_of, render_page
from panel.web.queue import SORTS, STATUSES, build_queue

STATUS_ACTIONS = ("approve", "reject", "publish")
DONE = {
    "edit": "Saved {persona}'s review.",
    "regenerate": "{persona} read it again; the new review is below.",
    "approve": "Approved.",
    "reject": "Rejected.",
    "publish": "Published.",
    "editor": "Editor name saved.",
}


def kind_of(segment: str) -> Kind:
    """The record kind a URL segment names ('panels' or 'comparisons')."""
    if segment == "panels":
        return "panel"
    if segment == "comparisons":
        return "comparison"
    raise NotFoundError(f"no such page: /{segment}/")


def record_href(kind: Kind, slug: str) -> str:
    """The desk page of a record."""
    return f"/{'panels' if kind == 'panel' else 'comparisons'}/{slug}"


def site_path(kind: Kind, slug: str) -> str:
    """Where a record's page lives within the site (and under /site/ and /preview/)."""
    folder = TOOLS_DIR if kind == "panel" else COMPARISONS_DIR
    return f"{folder}/{slug}.html"


def allowed_actions(kind: Kind, record: Record) -> list[str]:
    """The status changes the workflow allows from the record's status."""
    allowed = []
    for action in STATUS_ACTIONS:
        try:
            next_status(kind, record.slug, record.status, action)
        except UsageError:
            continue
        allowed.append(action)
    return allowed


def notice(request: Request) -> str | None:
    """The one-line message after a successful change (from the redirect's query)."""
    template = DONE.get(request.query_params.get("done", ""))
    if template is None:
        return None
    return template.format(persona=request.query_params.get("persona", "The reviewer"))


@dataclass
class Pending:
    """What an editor submitted for one review that was not saved (kept in the form)."""

    verdict: str | None
    quote: str
    revision: int
    error: str


@dataclass
class RecordView:
    """Everything a panel or comparison page shows besides the page chrome."""

    kind: Kind
    record: Record
    actions: list[str]
    published_url: str | None
    preview_url: str
    panels: list[ToolPanel] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def href(self) -> str:
        """The record's desk page."""
        return record_href(self.kind, self.record.slug)


def record_view(request: Request, store: Store, kind: Kind, slug: str) -> RecordView:
    """A panel's or comparison's page data, read through the workflow."""
    record = load_record(store, kind, slug)
    desk = desk_of(request)
    relative = site_path(kind, slug)
    published = store.published_snapshots(kind).get(slug) is not None
    view = RecordView(
        kind=kind,
        record=record,
        actions=allowed_actions(kind, record),
        published_url=f"/site/{relative}" if published and (desk.out / relative).exists() else None,
        preview_url=f"/preview/{relative}",
    )
    if isinstance(record, Comparison):
        view.panels = [store.get_panel(record.a_slug), store.get_panel(record.b_slug)]
    else:
        view.comparisons = comparisons_of(store, slug)
    return view


def record_page(
    request: Request,
    store: Store,
    kind: Kind,
    slug: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    pending: dict[str, Pending] | None = None,
) -> HTMLResponse:
    """The desk page of a panel or comparison, with an error and unsaved input if any."""
    view = record_view(request, store, kind, slug)
    return render_page(
        request,
        "panel.html" if kind == "panel" else "comparison.html",
        status_code=status_code,
        view=view,
        record=view.record,
        error=error,
        pending=pending or {},
        notice=None if error else notice(request),
        back=view.href,
    )


# -- routes ---------------------------------------------------------------------------------


async def queue_page(request: Request) -> Response:
    """The review queue: filter by status and category, sort by age or ship share."""
    params = request.query_params
    status = params.get("status", Status.DRAFT.value)
    status = status if status in STATUSES else Status.DRAFT.value
    sort = params.get("sort", "oldest")
    sort = sort if sort in SORTS else "oldest"
    category = params.get("category", "")
    with open_store(desk_of(request).db) as store:
        queue = build_queue(store, status, category, sort)
    return render_page(
        request,
        "queue.html",
        queue=queue,
        status=status,
        statuses=STATUSES,
        sort=sort,
        sorts=SORTS,
        category=category,
        notice=notice(request),
    )


async def record_route(request: Request) -> Response:
    """A panel's page (four editable reviews) or a comparison's (the page as published)."""
    kind = kind_of(request.path_params["kind"])
    with open_store(desk_of(request).db) as store:
        return record_page(request, store, kind, request.path_params["slug"])


async def history_page(request: Request) -> Response:
    """The audit trail of a record: who, when, what, with quote diffs."""
    kind = kind_of(request.path_params["kind"])
    slug = request.path_params["slug"]
    with open_store(desk_of(request).db) as store:
        resolve_kind(store, slug, kind)
        entries = store.history(kind, slug)
    entries.reverse()
    return render_page(
        request, "history.html", kind=kind, slug=slug, entries=entries, href=record_href(kind, slug)
    )


async def revision_page(request: Request) -> Response:
    """One stored revision of a record, as it was."""
    kind = kind_of(request.path_params["kind"])
    slug = request.path_params["slug"]
    number = int(request.path_params["revision"])
    with open_store(desk_of(request).db) as store:
        snapshot = store.revision_record(kind, slug, number)
    if snapshot is None:
        raise NotFoundError(f"{kind} {slug!r} has no revision {number}")
    data: dict[str, Any] = json.loads(snapshot)
    record: Record = (
        ToolPanel.model_validate(data) if kind == "panel" else Comparison.model_validate(data)
    )
    return render_page(
        request,
        "revision.html",
        kind=kind,
        slug=slug,
        record=record,
        href=record_href(kind, slug),
    )


async def preview_page(request: Request) -> Response:
    """A page exactly as publishing would write it now (the current revisions)."""
    folder = request.path_params["folder"]
    name = request.path_params["name"]
    desk = desk_of(request)
    renderer = Renderer(desk.templates)
    with open_store(desk.db) as store:
        view = SiteView(store, live=False)
        if folder == TOOLS_DIR and name.endswith(".html"):
            html = renderer.tool_html(tool_page(view, store.get_panel(name[:-5])))
        elif folder == COMPARISONS_DIR and name.endswith(".html"):
            comparison = get_comparison(store, name[:-5])
            html = renderer.comparison_html(comparison_page(view, comparison))
        else:
            raise NotFoundError(f"no preview of {folder}/{name}")
    return HTMLResponse(html)


async def preview_index(request: Request) -> Response:
    """The site's index as publishing would write it now."""
    desk = desk_of(request)
    with open_store(desk.db) as store:
        html = Renderer(desk.templates).index_html(site_index(SiteView(store, live=False)))
    return HTMLResponse(html)
