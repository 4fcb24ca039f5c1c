"""The one status machine: every status change of a panel or comparison goes through it.

draft -> approved -> published (or rejected); an edit or a regenerate makes a new draft.
Publishing also needs a complete record: no failed review on it or on a comparison's panels.
Also what waits for an editor (the review queue) and what needs their eye (attention).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from panel.errors import NotFoundError, UsageError
from panel.records import Comparison, Status, ToolPanel
from panel.store import Store
from panel.store.comparisons import (
    find_comparison,
    get_comparison,
    list_comparisons,
    save_comparison,
)

Kind = Literal["panel", "comparison"]
Action = Literal["approve", "reject", "publish", "edit", "regenerate"]
Record = ToolPanel | Comparison

MAX_EDITED_QUOTE_WORDS = 400

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "approve": (frozenset({Status.DRAFT}), Status.APPROVED),
    "reject": (frozenset({Status.DRAFT}), Status.REJECTED),
    "publish": (frozenset({Status.APPROVED}), Status.PUBLISHED),
    "edit": (frozenset(Status), Status.DRAFT),
    "regenerate": (frozenset(Status), Status.DRAFT),
}

_HINTS = {
    ("approve", Status.APPROVED): "it is already approved",
    ("approve", Status.PUBLISHED): "it is published; edit it to start a new draft",
    ("approve", Status.REJECTED): "it was rejected; edit or regenerate it to reopen it",
    ("reject", Status.APPROVED): "it is approved; edit it to reopen it as a draft first",
    ("reject", Status.PUBLISHED): "it is published; edit it to start a new draft",
    ("reject", Status.REJECTED): "it is already rejected",
    ("publish", Status.DRAFT): "approve it first",
    ("publish", Status.PUBLISHED): "this revision is already published",
    ("publish", Status.REJECTED): "it was rejected",
}


def next_status(kind: Kind, slug: str, current: Status, action: str) -> Status:
    """The status ``action`` leads to from ``current``; an illegal move is a UsageError."""
    if action not in TRANSITIONS:
        raise UsageError(f"unknown action {action!r}")
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        hint = _HINTS.get((action, current), "")
        raise UsageError(
            f"cannot {action} {kind} {slug!r}: it is {current.value}"
            + (f"; {hint}" if hint else "")
        )
    return target


def resolve_kind(store: Store, slug: str, kind: Kind | None = None) -> Kind:
    """Whether ``slug`` names a panel or a comparison (ask when it names both)."""
    is_panel = store.find_panel(slug) is not None
    is_comparison = find_comparison(store, slug) is not None
    if kind == "panel" or (kind is None and is_panel and not is_comparison):
        if not is_panel:
            raise NotFoundError(f"no panel {slug!r}; run `panel list`")
        return "panel"
    if kind == "comparison" or (kind is None and is_comparison and not is_panel):
        if not is_comparison:
            raise NotFoundError(f"no comparison {slug!r}; run `panel review`")
        return "comparison"
    if is_panel and is_comparison:
        raise UsageError(f"{slug!r} names a panel and a comparison; pass --kind panel|comparison")
    raise NotFoundError(f"no panel or comparison {slug!r}; run `panel review` or `panel list`")


def load_record(store: Store, kind: Kind, slug: str) -> Record:
    """The current revision of a panel or comparison."""
    if kind == "panel":
        return store.get_panel(slug)
    return get_comparison(store, slug)


def save_record(
    store: Store, record: Record, *, expected_revision: int, editor: str, action: str, detail: str
) -> Record:
    """Store a changed panel or comparison as a new revision."""
    if isinstance(record, ToolPanel):
        return store.save_panel(
            record, expected_revision=expected_revision, editor=editor, action=action, detail=detail
        )
    return save_comparison(
        store,
        record,
        expected_revision=expected_revision,
        editor=editor,
        action=action,
        detail=detail,
    )


def failed_reviewers(panel: ToolPanel) -> list[str]:
    """The reviewers of ``panel`` whose review failed (no valid answer)."""
    return [r.persona_id for r in panel.reviews if r.failed]


def check_complete(kind: Kind, slug: str, action: str, panels: Sequence[ToolPanel]) -> None:
    """A record with failed reviews (its own, or its panels') is never approved or
    published: a UsageError names the first such panel, its failed reviewers and the fix."""
    for panel in panels:
        failed = failed_reviewers(panel)
        if failed:
            whose = "" if kind == "panel" else f"panel {panel.slug!r}: "
            raise UsageError(
                f"cannot {action} {kind} {slug!r}: {whose}{', '.join(failed)} failed; "
                "regenerate or edit those reviews first "
                f"(panel regenerate {panel.slug} -p {failed[0]})"
            )


def panels_of(store: Store, record: Record) -> list[ToolPanel]:
    """The panels whose reviews a record shows: itself, or a comparison's two tools."""
    if isinstance(record, ToolPanel):
        return [record]
    return [store.get_panel(record.a_slug), store.get_panel(record.b_slug)]


def check_publish(
    kind: Kind, record: Record, panels: Sequence[ToolPanel], *, force: bool = False
) -> bool:
    """May ``record`` (showing ``panels``) be published? True when publishing marks it
    published, False when it already is (its pages are only rebuilt).

    Failed reviews are refused whatever ``force`` says; ``force`` only lets a draft skip
    approval. A rejected record is refused.
    """
    check_complete(kind, record.slug, "publish", panels)
    if record.status is Status.PUBLISHED:
        return False
    if force and record.status is Status.DRAFT:
        return True
    try:
        next_status(kind, record.slug, record.status, "publish")
    except UsageError as exc:
        hint = " (or pass --force to publish a draft)" if record.status is Status.DRAFT else ""
        raise UsageError(f"{exc}{hint}") from None
    return True


def change_status(
    store: Store,
    kind: Kind,
    slug: str,
    action: Literal["approve", "reject", "publish"],
    *,
    expected_revision: int | None,
    editor: str,
    reason: str | None = None,
    force: bool = False,
    note: str = "",
) -> Record:
    """Approve, reject (with a reason) or mark published; a new revision either way.

    ``force`` lets ``publish`` take a draft past approval (never past failed reviews);
    ``note`` is added to the audit entry.
    """
    record = load_record(store, kind, slug)
    expected = record.revision if expected_revision is None else expected_revision
    if action == "publish" and check_publish(kind, record, panels_of(store, record), force=force):
        target = Status.PUBLISHED
    else:
        target = next_status(kind, slug, record.status, action)  # "publish": already published
    if action == "reject" and not (reason and reason.strip()):
        raise UsageError("a rejection needs a reason: pass --reason TEXT")
    update: dict[str, object] = {"status": target}
    if action == "reject":
        update["reason"] = reason.strip() if reason else None
    elif action == "approve":
        update["reason"] = None
        if isinstance(record, ToolPanel):
            check_complete(kind, slug, action, [record])
    changed = record.model_copy(update=update)
    detail = f"{record.status.value} → {target.value}" + (f": {reason.strip()}" if reason else "")
    detail += f" {note}" if note else ""
    return save_record(
        store, changed, expected_revision=expected, editor=editor, action=action, detail=detail
    )


def attention(panel: ToolPanel, *, detailed: bool) -> list[str]:
    """What needs an editor's eye: failed reviewers, flagged reviewers, panel flags.

    ``detailed`` spells out every flag (the terminal); otherwise flagged reviewers are
    named and the panel's flags follow in one note (the desk's queue).
    """
    notes = []
    failed = [r.persona_id for r in panel.reviews if r.failed]
    if failed:
        notes.append(f"failed: {', '.join(failed)}")
    if detailed:
        notes += [f"{r.persona_id}: {flag}" for r in panel.reviews for flag in r.flags]
        return notes + panel.flags
    flagged = [r.persona_id for r in panel.reviews if r.flags and not r.failed]
    if flagged:
        notes.append(f"flagged: {', '.join(flagged)}")
    if panel.flags:
        notes.append(f"panel: {', '.join(panel.flags)}")
    return notes


def review_queue(store: Store) -> list[Record]:
    """What waits for an editor: drafts, oldest first (panels and comparisons)."""
    waiting: list[Record] = [
        *store.list_panels(Status.DRAFT),
        *list_comparisons(store, Status.DRAFT),
    ]
    return sorted(waiting, key=lambda r: r.created_at)
