"""The desk's pages (GET): the queue, a panel, a comparison, a history, previews."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from panel.errors import NotFoundError
from panel.pages.publish import SiteView, comparison_page, site_index, tool_page
from panel.pages.render import COMPARISONS_DIR, TOOLS_DIR, Renderer
from panel.records import Comparison, Status, ToolPanel
from panel.status import Record, resolve_kind
from panel.store import open_store
from panel.store.comparisons import get_comparison
from panel.web.pages import desk_of, render_page
from panel.web.queue import SORTS, STATUSES, build_queue
from panel.web.record import kind_of, notice, record_href, record_page

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
