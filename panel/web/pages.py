"""The desk's configuration and page rendering: autoescaped Jinja2 templates, the session's
CSRF token, the editor's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from panel.drafting.context import Settings
from panel.editors import current_editor
from panel.pages.render import human_date, verdict_class, verdict_label
from panel.records import now, percent
from panel.web.factcheck import claim_state, safe_url, segments, source_name
from panel.web.security import CSRF_COOKIE, CSRF_FIELD, session_csrf

EDITOR_COOKIE = "panel_editor"
MAX_EDITOR_CHARS = 80


@dataclass(frozen=True)
class Desk:
    """What the desk serves and how: the database, the site folder, the guards."""

    db: Path
    """The Panel database."""
    out: Path
    """The published site folder (served under /site/)."""
    secret: bytes
    """Signs CSRF tokens."""
    settings: Settings
    """panel.toml and the fallback model, read once when the desk starts."""
    token: str | None = None
    """Access token every request must carry, when set."""
    editor: str | None = None
    """Default editor name (--editor-name); else $PANEL_EDITOR or the OS user."""
    model: str | None = None
    """Model id for regenerations (--model), resolved like the CLI's."""
    templates: Path | None = None
    """Folder overriding the published-page templates, as `panel publish --templates`."""


def desk_of(request: Request) -> Desk:
    """The desk configuration of the app serving ``request``."""
    desk: Desk = request.app.state.desk
    return desk


def clean_editor(name: str) -> str:
    """An editor name fit for the audit trail: one line, printable, at most 80 characters."""
    text = " ".join("".join(ch for ch in name if ch.isprintable()).split())
    return text[:MAX_EDITOR_CHARS]


def editor_of(request: Request) -> str:
    """Who is acting: the name chosen in the desk (a cookie), --editor-name, or the default."""
    chosen = clean_editor(unquote(request.cookies.get(EDITOR_COOKIE, "")))
    return current_editor(chosen or desk_of(request).editor)


def editor_cookie_value(name: str) -> str:
    """The cookie form of an editor name (percent-encoded, so any name survives)."""
    return quote(clean_editor(name), safe="")


def age(value: datetime) -> str:
    """How long ago: 'just now', '5m', '3h', '2d 4h'."""
    seconds = max(0, int((now() - value).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60}m"
    hours = seconds // 3600
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


def stamp(value: datetime | str) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC'."""
    text = value.isoformat() if isinstance(value, datetime) else value
    return f"{text[:10]} {text[11:16]} UTC"


def diff_class(line: str) -> str:
    """The CSS class of one line of an audit detail (diff additions and removals)."""
    if line.startswith(("+++", "---")):
        return "diff-file"
    if line.startswith("+"):
        return "diff-add"
    if line.startswith("-"):
        return "diff-del"
    if line.startswith("@@"):
        return "diff-hunk"
    return ""


_env = Environment(
    loader=PackageLoader("panel.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    percent=percent,
    verdict_label=verdict_label,
    verdict_class=verdict_class,
    human_date=human_date,
    age=age,
    stamp=stamp,
    diff_class=diff_class,
    segments=segments,
    claim_state=claim_state,
    safe_url=safe_url,
    source_name=source_name,
)


def render_page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A desk page, with the session's CSRF token (its cookie set when new) and the editor."""
    desk = desk_of(request)
    csrf, fresh = session_csrf(request, desk.secret)
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        context.setdefault("back", request.url.path + query)
    context.setdefault("back", "/")
    html = _env.get_template(template).render(
        csrf=csrf, csrf_field=CSRF_FIELD, editor=editor_of(request), **context
    )
    response = HTMLResponse(html, status_code=status_code)
    if fresh:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
    return response
