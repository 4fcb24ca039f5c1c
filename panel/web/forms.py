"""Reading the desk's forms: CSRF-checked, with typed fields and one-line errors."""

from __future__ import annotations

import re

from starlette.datastructures import FormData
from starlette.requests import Request

from panel.errors import UsageError
from panel.records import Verdict
from panel.web.pages import desk_of
from panel.web.security import check_csrf

MAX_TEXT_CHARS = 20_000
_SLUG_REVISION = re.compile(r"^([a-z0-9]+(?:-[a-z0-9]+)*):(\d{1,9})$")


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token checks out (else Forbidden)."""
    form = await request.form(max_files=0, max_fields=50, max_part_size=256 * 1024)
    check_csrf(request, form, desk_of(request).secret)
    return form


def text(form: FormData, name: str, *, limit: int = MAX_TEXT_CHARS) -> str | None:
    """A text field, or None when absent; over ``limit`` characters is a UsageError."""
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"the {name} field must be text")
    if len(value) > limit:
        raise UsageError(f"the {name} field has {len(value):,} characters; keep it under {limit:,}")
    return value


def checked(form: FormData, name: str) -> bool:
    """True when a checkbox (or a button's value) ``name`` was sent as 1, on or true."""
    return (text(form, name, limit=10) or "").strip().lower() in ("1", "on", "true")


def revision(form: FormData, name: str = "revision") -> int:
    """The revision the change was made against (every desk form carries it)."""
    value = text(form, name, limit=12)
    if value is None or not value.strip().isdigit() or int(value) < 1:
        raise UsageError("the form does not say which revision it edits: reload the page")
    return int(value)


def verdict(form: FormData) -> Verdict | None:
    """The verdict chosen, or None when the field is absent or empty."""
    value = (text(form, "verdict", limit=10) or "").strip()
    if not value:
        return None
    try:
        return Verdict(value)
    except ValueError:
        raise UsageError(f"verdict {value!r}: choose ship or skip") from None


def panel_revisions(form: FormData) -> dict[str, int]:
    """The tool panels' revisions a comparison page showed ('slug:revision' fields)."""
    found: dict[str, int] = {}
    for value in form.getlist("panel_revision"):
        match = _SLUG_REVISION.match(value) if isinstance(value, str) else None
        if match is None:
            raise UsageError("a panel revision field is malformed: reload the page")
        found[match.group(1)] = int(match.group(2))
    return found


def safe_next(value: str | None) -> str:
    """A local path to return to (never another site): '/...' but not '//...'."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ch in value for ch in "\r\n\t"):
        return "/"
    return value
