"""Published work is protected: a routine draft or batch never redrafts an approved or
published panel; only an editor's explicit ``--redraft`` does."""

from __future__ import annotations

from panel.errors import UsageError
from panel.records import Status, ToolPanel

PROTECTED = frozenset({Status.APPROVED, Status.PUBLISHED})
"""Statuses a routine draft or batch never redrafts (only when asked: --redraft)."""


def is_protected(panel: ToolPanel | None) -> bool:
    """True when ``panel`` is approved or published: drafting it again needs --redraft."""
    return panel is not None and panel.status in PROTECTED


def check_redraft(panel: ToolPanel | None, *, redraft: bool) -> None:
    """Refuse to redraft an approved or published panel unless the editor asked."""
    if panel is None or not is_protected(panel) or redraft:
        return
    live = (
        "; the live page would stay as it is until the next publish"
        if panel.status is Status.PUBLISHED
        else ""
    )
    raise UsageError(
        f"panel {panel.slug!r} is {panel.status.value} (revision {panel.revision}); "
        f"pass --redraft to draft it again{live}"
    )
