"""The one status machine: every status change of a panel or comparison goes through it.

draft -> approved -> published (or rejected); an edit or a regenerate makes a new draft.
Publishing also needs a complete record: no failed review on it or on a comparison's panels.
Also what waits for an editor (the review queue) and what needs their eye (attention).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from panel.claims import with_current_claims
from panel.errors import BlockedError, Blocker, NotFoundError, UsageError
from panel.records import Claim, Comparison, Status, ToolPanel
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


@dataclass(frozen=True)
class Gate:
    """What an approval (or a forced publish) must settle besides failed reviews."""

    require_verified_claims: bool = True
    """Claims to verify block (panel.toml ``require_verified_claims``)."""
    accept_flags: bool = False
    """The editor confirmed the flags that are not dismissed (they do not block)."""


FAILED_ONLY = Gate(require_verified_claims=False, accept_flags=True)
"""Only failed reviews block (what a published or approved panel must still pass)."""


def open_flags(panel: ToolPanel) -> list[str]:
    """Every flag of ``panel`` not dismissed: the reviews' ('dx: …'), then the panel's."""
    flags = [f"{r.persona_id}: {f}" for r in panel.reviews if not r.failed for f in r.open_flags]
    return flags + panel.open_flags


def open_claims(panel: ToolPanel) -> list[tuple[str, Claim]]:
    """(reviewer, claim) for every claim still to verify, read from the text now (so a
    panel stored before claims were read is gated too; checks are kept)."""
    current = with_current_claims(panel)
    return [(r.persona_id, c) for r in current.reviews if not r.failed for c in r.open_claims]


def panel_blockers(panel: ToolPanel, gate: Gate, *, prefix: str = "") -> list[Blocker]:
    """What keeps ``panel`` from approval: failed reviews, claims to verify, open flags."""
    found = []
    failed = failed_reviewers(panel)
    if failed:
        found.append(
            Blocker(
                "failed",
                f"{prefix}{', '.join(failed)} failed; regenerate or edit "
                f"{'that review' if len(failed) == 1 else 'those reviews'} first "
                f"(panel regenerate {panel.slug} -p {failed[0]})",
            )
        )
    claims = open_claims(panel) if gate.require_verified_claims else []  # ~5 ms: only if gated
    if claims:
        listed = "; ".join(f'{c.id} "{c.text}"' for _, c in claims)
        found.append(
            Blocker(
                "claims",
                f"{prefix}{len(claims)} claim{'s' if len(claims) != 1 else ''} to verify: "
                f"{listed} (panel verify {panel.slug} ID, or --waive)",
            )
        )
    flags = [] if gate.accept_flags else open_flags(panel)
    if flags:
        found.append(
            Blocker(
                "flags",
                f"{prefix}flags not dismissed: {'; '.join(flags)} "
                "(dismiss them, or confirm them: --accept-flags)",
            )
        )
    return found


def _prefix(kind: Kind, panel: ToolPanel) -> str:
    """How a blocker names its panel: not at all for the panel itself, else 'panel 'a': '."""
    return "" if kind == "panel" else f"panel {panel.slug!r}: "


def check_complete(kind: Kind, slug: str, action: str, panels: Sequence[ToolPanel]) -> None:
    """A record with failed reviews (its own, or its panels') is never approved or
    published: a BlockedError names every such panel, its failed reviewers and the fix."""
    found = [b for p in panels for b in panel_blockers(p, FAILED_ONLY, prefix=_prefix(kind, p))]
    if found:
        raise BlockedError(f"{action} {kind} {slug!r}", found)


def panels_of(store: Store, record: Record) -> list[ToolPanel]:
    """The panels whose reviews a record shows: itself, or a comparison's two tools."""
    if isinstance(record, ToolPanel):
        return [record]
    return [store.get_panel(record.a_slug), store.get_panel(record.b_slug)]


def _status_blocker(
    kind: Kind, record: Record, action: str, *, force: bool = False
) -> Blocker | None:
    """Why ``record`` cannot take part in ``action`` from its status, or None."""
    name = f"{kind} {record.slug}"
    if record.status is Status.REJECTED:
        return Blocker("status", f"{name} was rejected: edit or regenerate a review to reopen it")
    if action == "publish" and record.status is Status.DRAFT and not force:
        return Blocker(
            "status",
            f"{name} is a draft (revision {record.revision}): approve it first "
            f"(panel approve {record.slug})",
        )
    return None


def _involved(record: Record, panels: Sequence[ToolPanel]) -> list[tuple[Kind, Record]]:
    """The records an approval or publish of ``record`` moves: its panels, then itself."""
    involved: list[tuple[Kind, Record]] = [("panel", p) for p in panels]
    if isinstance(record, Comparison):
        involved.append(("comparison", record))
    return involved


def plan_approval(
    store: Store, kind: Kind, record: Record, gate: Gate
) -> list[tuple[Kind, Record]]:
    """What approving ``record`` approves: a panel, or a comparison with its draft panels.

    Every blocker of every record involved is listed at once (BlockedError); a record
    with nothing left to approve is a UsageError naming its status.
    """
    panels = panels_of(store, record)
    involved = _involved(record, panels)
    todo = [(k, r) for k, r in involved if r.status is Status.DRAFT]
    if not todo:
        next_status(kind, record.slug, record.status, "approve")  # names why (approved, ...)
        raise UsageError(
            f"nothing to approve in {kind} {record.slug!r}: it and its panels are approved"
        )
    found: list[Blocker] = []
    for what, item in involved:
        blocker = _status_blocker(what, item, "approve")
        if blocker:
            found.append(blocker)
    for panel in panels:
        # a comparison's approved panels were checked when approved: failed reviews only
        draft = panel.status is Status.DRAFT or isinstance(record, ToolPanel)
        found += panel_blockers(panel, gate if draft else FAILED_ONLY, prefix=_prefix(kind, panel))
    if found:
        raise BlockedError(f"approve {kind} {record.slug!r}", found)
    return todo


def plan_publish(
    store: Store, kind: Kind, record: Record, *, force: bool = False, gate: Gate | None = None
) -> list[tuple[Kind, Record]]:
    """What publishing ``record`` marks published: its panels first, then a comparison.

    Records must be approved (or already published: their pages are rebuilt). ``force``
    lets drafts skip approval, but never failed reviews nor (with the gate's
    ``require_verified_claims``) claims to verify. Every blocker is listed at once.
    """
    gate = gate or Gate(accept_flags=True)
    panels = panels_of(store, record)
    involved = _involved(record, panels)
    found: list[Blocker] = []
    for what, item in involved:
        blocker = _status_blocker(what, item, "publish", force=force)
        if blocker:
            found.append(blocker)
    for panel in panels:
        checks = gate if force and panel.status is Status.DRAFT else FAILED_ONLY
        found += panel_blockers(panel, checks, prefix=_prefix(kind, panel))
    if found:
        drafts = not force and any(r.status is Status.DRAFT for _, r in involved)
        hint = "(or pass --force to publish drafts without approval)" if drafts else ""
        raise BlockedError(f"publish {kind} {record.slug!r}", found, hint=hint)
    return [(k, r) for k, r in involved if r.status is not Status.PUBLISHED]


def check_publish(
    kind: Kind, record: Record, panels: Sequence[ToolPanel], *, force: bool = False
) -> bool:
    """May ``record`` alone be marked published? True when publishing marks it published,
    False when it already is (its pages are only rebuilt). Failed reviews always block."""
    check_complete(kind, record.slug, "publish", panels)
    blocker = _status_blocker(kind, record, "publish", force=force)
    if blocker:
        hint = " (or pass --force to publish a draft)" if record.status is Status.DRAFT else ""
        raise UsageError(f"cannot publish {kind} {record.slug!r}: {blocker}{hint}")
    return record.status is not Status.PUBLISHED


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
    gate: Gate | None = None,
) -> Record:
    """Approve, reject (with a reason) or mark published; a new revision either way.

    Approving a comparison approves its draft panels with it, in one transaction, after
    checking every blocker of all three (``gate``: claims to verify, flags confirmed).
    ``force`` lets ``publish`` take a draft past approval (never past failed reviews);
    ``note`` is added to the audit entry. Returns the record ``slug`` names.
    """
    gate = gate or Gate()
    record = load_record(store, kind, slug)
    expected = record.revision if expected_revision is None else expected_revision
    if action == "reject" and not (reason and reason.strip()):
        raise UsageError("a rejection needs a reason: pass --reason TEXT")
    todo: list[tuple[Kind, Record]]
    if action == "approve":
        todo = plan_approval(store, kind, record, gate)
    elif action == "publish":
        if not check_publish(kind, record, panels_of(store, record), force=force):
            return record  # already published: its pages are only rebuilt
        todo = [(kind, record)]
    else:
        next_status(kind, slug, record.status, action)
        todo = [(kind, record)]
    saved: Record = record
    with store.together():
        for what, item in todo:
            own = what == kind and item.slug == slug
            moved = _moved(item, action, reason, force=force)
            stored = save_record(
                store,
                moved,
                expected_revision=expected if own else item.revision,
                editor=editor,
                action=action,
                detail=_detail(item, moved, reason, note, with_=None if own else slug),
            )
            saved = stored if own else saved
    return saved


def _moved(item: Record, action: str, reason: str | None, *, force: bool) -> Record:
    """``item`` with the status ``action`` leads to (a forced publish takes a draft)."""
    if action == "publish" and force and item.status is Status.DRAFT:
        target = Status.PUBLISHED
    else:
        target = next_status("panel", item.slug, item.status, action)
    update: dict[str, object] = {"status": target}
    if action in ("approve", "reject"):
        update["reason"] = reason.strip() if action == "reject" and reason else None
    return item.model_copy(update=update)


def _detail(
    item: Record, moved: Record, reason: str | None, note: str, *, with_: str | None
) -> str:
    """The audit line of a status change: 'draft → approved', the reason, accepted flags."""
    detail = f"{item.status.value} → {moved.status.value}"
    detail += f": {reason.strip()}" if reason else ""
    if with_:
        detail += f" with {with_}"
    approved = moved.status is Status.APPROVED
    if approved and isinstance(item, ToolPanel) and (flags := open_flags(item)):
        detail += f" (flags accepted: {'; '.join(flags)})"
    return detail + (f" {note}" if note else "")


def attention(panel: ToolPanel, *, detailed: bool) -> list[str]:
    """What needs an editor's eye: failed reviewers, flagged reviewers, panel flags.

    ``detailed`` spells out every flag (the terminal); otherwise flagged reviewers are
    named and the panel's flags follow in one note (the desk's queue).
    """
    notes = []
    # The claims as stored (reading them again costs ~5 ms a panel, too much for a queue
    # of hundreds); the panel page and approval read them again (open_claims).
    claims = [c for r in panel.reviews if not r.failed for c in r.open_claims]
    failed = [r.persona_id for r in panel.reviews if r.failed]
    if failed:
        notes.append(f"failed: {', '.join(failed)}")
    if detailed:
        notes += open_flags(panel)
    else:
        flagged = [r.persona_id for r in panel.reviews if r.open_flags and not r.failed]
        if flagged:
            notes.append(f"flagged: {', '.join(flagged)}")
        if panel.open_flags:
            notes.append(f"panel: {', '.join(panel.open_flags)}")
    if claims:
        notes.append(f"{len(claims)} claim{'s' if len(claims) != 1 else ''} to verify")
    return notes


def review_queue(store: Store) -> list[Record]:
    """What waits for an editor: drafts, oldest first (panels and comparisons)."""
    waiting: list[Record] = [
        *store.list_panels(Status.DRAFT),
        *list_comparisons(store, Status.DRAFT),
    ]
    return sorted(waiting, key=lambda r: r.created_at)


# -- live pages out of date -------------------------------------------------------------


@dataclass(frozen=True)
class StalePage:
    """A published page that no longer shows its record as it is now."""

    kind: Kind
    slug: str
    why: str
    """What changed since it was published, e.g. 'panel a: revision 5 is a draft'."""


def _live_revisions(store: Store, kind: Kind) -> dict[str, int]:
    return {
        slug: int(json.loads(snapshot)["revision"])
        for slug, snapshot in store.published_snapshots(kind).items()
    }


def stale_pages(store: Store) -> list[StalePage]:
    """Every published page whose record (or, for a comparison, a panel it shows) has
    changed since it was published: a new draft or approved revision waits."""
    live_panels = _live_revisions(store, "panel")
    waiting: dict[str, str] = {}
    for slug, live in live_panels.items():
        panel = store.find_panel(slug)
        if panel is not None and panel.status is not Status.PUBLISHED:
            waiting[slug] = (
                f"revision {panel.revision} is {panel.status.value}; "
                f"the live page shows revision {live}"
            )
    pages = [StalePage("panel", slug, why) for slug, why in waiting.items()]
    for slug in _live_revisions(store, "comparison"):
        comparison = find_comparison(store, slug)
        if comparison is None:
            continue
        whys = [
            f"panel {s}: {waiting[s]}"
            for s in (comparison.a_slug, comparison.b_slug)
            if s in waiting
        ]
        if comparison.status is not Status.PUBLISHED:
            whys.insert(0, f"revision {comparison.revision} is {comparison.status.value}")
        if whys:
            pages.append(StalePage("comparison", slug, "; ".join(whys)))
    return pages


def stale_reason(store: Store, kind: Kind, slug: str) -> str | None:
    """Why the published page of a record is out of date, or None when it is current."""
    return next((p.why for p in stale_pages(store) if p.kind == kind and p.slug == slug), None)
