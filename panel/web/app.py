"""The web review desk: a small Starlette app over the store and the workflow functions."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from panel.drafting.context import Settings, load_settings
from panel.errors import ConflictError, NotFoundError, PanelError
from panel.pages.publish import default_site_dir
from panel.web import actions, checks, views
from panel.web.pages import Desk, render_page
from panel.web.security import DeskGuard, Forbidden

STATIC = Path(__file__).resolve().parent / "static"


def routes(out: Path) -> list[BaseRoute]:
    """The desk's routes: pages (GET), changes (POST), previews, the published site."""
    post = ["POST"]
    review = "/panels/{slug}/reviews/{persona}"
    return [
        Route("/", views.queue_page, name="queue"),
        Route("/editor", actions.editor_route, methods=post),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Mount("/site", StaticFiles(directory=out, html=True, check_dir=False), name="site"),
        Route("/preview/index.html", views.preview_index),
        Route("/preview/{folder}/{name}", views.preview_page),
        Route(f"{review}/edit", actions.edit_route, methods=post),
        Route(f"{review}/regenerate", actions.regenerate_route, methods=post),
        Route("/panels/{slug}/claims/{claim_id}/{action}", checks.claim_route, methods=post),
        Route("/panels/{slug}/flags/{flag_id}/dismiss", checks.dismiss_route, methods=post),
        Route("/{kind}/{slug}", views.record_route),
        Route("/{kind}/{slug}/history", views.history_page),
        Route("/{kind}/{slug}/history/{revision:int}", views.revision_page),
        Route("/{kind}/{slug}/{action}", actions.status_route, methods=post),
    ]


async def _error(request: Request, exc: Exception) -> Response:
    """An error as a desk page: 403 refused, 404 not found, 409 conflict, 400 otherwise."""
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    elif isinstance(exc, Forbidden):
        status, message = 403, f"Refused: {exc}. Nothing was changed."
    elif isinstance(exc, NotFoundError):
        status, message = 404, str(exc)
    elif isinstance(exc, ConflictError):
        status, message = 409, str(exc)
    else:
        status, message = 400, str(exc)
    return render_page(request, "error.html", status_code=status, message=message, code=status)


def create_app(
    db: Path,
    *,
    token: str | None = None,
    editor: str | None = None,
    model: str | None = None,
    out: Path | None = None,
    templates: Path | None = None,
    secret: str | bytes | None = None,
    settings: Settings | None = None,
) -> Starlette:
    """The desk over database ``db``.

    ``token``: every request must carry it (needed when serving beyond loopback);
    ``editor``: default editor name; ``model``: model id for regenerations; ``out``: the
    site folder publish writes to and /site/ serves; ``templates``: overrides of the page
    templates; ``secret``: signs CSRF tokens ($PANEL_SECRET, else random per start);
    ``settings``: panel.toml and the fallback model (read now when not given).
    """
    out = out or default_site_dir()
    out.mkdir(parents=True, exist_ok=True)
    key = secret if secret is not None else os.environ.get("PANEL_SECRET")
    desk = Desk(
        db=db,
        out=out,
        secret=key.encode() if isinstance(key, str) else key or secrets.token_bytes(32),
        settings=settings or load_settings(),
        token=token or None,
        editor=editor,
        model=model,
        templates=templates,
    )
    app = Starlette(
        routes=routes(out),
        middleware=[Middleware(DeskGuard, token=desk.token)],
        exception_handlers={
            HTTPException: _error,
            Forbidden: _error,
            PanelError: _error,
        },
    )
    app.state.desk = desk
    return app
