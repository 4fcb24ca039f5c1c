"""The editorial workflow: the status machine, edits, regenerations, approvals.

The CLI and the web desk both call these functions; every rule of the workflow lives
here. Every change names the revision it was made against, becomes a new revision with
an audit entry, and is refused (ConflictError) when that revision is stale.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Literal

from panel import diversity, quality
from panel.comparisons import find_comparison, get_comparison, list_comparisons, save_comparison
from panel.errors import ModelFailure, NotFoundError, UsageError
from panel.generate import RunContext, review_persona
from panel.personas import load_personas, select
from panel.records import Comparison, Status, ToolPanel, Verdict, word_count
from panel.store import Store

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


def change_status(
    store: Store,
    kind: Kind,
    slug: str,
    action: Literal["approve", "reject", "publish"],
    *,
    expected_revision: int | None,
    editor: str,
    reason: str | None = None,
) -> Record:
    """Approve, reject (with a reason) or mark published; a new revision either way."""
    record = load_record(store, kind, slug)
    expected = record.revision if expected_revision is None else expected_revision
    target = next_status(kind, slug, record.status, action)
    if action == "reject" and not (reason and reason.strip()):
        raise UsageError("a rejection needs a reason: pass --reason TEXT")
    update: dict[str, object] = {"status": target}
    if action == "reject":
        update["reason"] = reason.strip() if reason else None
    elif action == "approve":
        update["reason"] = None
    if action == "approve" and isinstance(record, ToolPanel):
        failed = [r.persona_id for r in record.reviews if r.failed]
        if failed:
            raise UsageError(
                f"cannot approve panel {slug!r}: {', '.join(failed)} failed; "
                "regenerate or edit those reviews first"
            )
    changed = record.model_copy(update=update)
    detail = f"{record.status.value} → {target.value}" + (f": {reason.strip()}" if reason else "")
    return save_record(
        store, changed, expected_revision=expected, editor=editor, action=action, detail=detail
    )


def quote_diff(old: str, new: str) -> str:
    """A unified diff of two quotes, one sentence per line."""

    def sentences(text: str) -> list[str]:
        return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]

    lines = difflib.unified_diff(
        sentences(old), sentences(new), "before", "after", lineterm="", n=1
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class Edit:
    """An editor's change to one review."""

    persona_id: str
    verdict: Verdict | None = None
    quote: str | None = None


def edit_review(
    store: Store, slug: str, edit: Edit, *, expected_revision: int | None, editor: str
) -> ToolPanel:
    """Change one review's verdict and/or quote by hand; the panel returns to draft."""
    panel = store.get_panel(slug)
    expected = panel.revision if expected_revision is None else expected_revision
    review = panel.review(edit.persona_id)
    if review is None:
        choices = ", ".join(r.persona_id for r in panel.reviews)
        raise UsageError(
            f"panel {slug!r} has no reviewer {edit.persona_id!r}; choose from {choices}"
        )
    if edit.verdict is None and edit.quote is None:
        raise UsageError("nothing to change: pass --verdict and/or --quote (or --editor)")
    update: dict[str, object] = {"human_edited": True, "failed": False, "error": None}
    details: list[str] = []
    if edit.quote is not None:
        quote = " ".join(edit.quote.split())
        if not quote:
            raise UsageError("the quote is empty; write the reviewer's paragraph")
        if word_count(quote) > MAX_EDITED_QUOTE_WORDS:
            raise UsageError(f"the quote has {word_count(quote)} words; keep it under 400")
        if quote != review.quote:
            update["quote"] = quote
            details.append(f"{edit.persona_id} quote\n{quote_diff(review.quote, quote)}")
    if edit.verdict is not None and edit.verdict != review.verdict:
        update["verdict"] = edit.verdict
        old = review.verdict.value if review.verdict else "none"
        details.append(f"{edit.persona_id} verdict {old} → {edit.verdict.value}")
    if not details:
        raise UsageError("nothing changed: the new text and verdict match the current ones")
    if review.verdict is None and "verdict" not in update:
        raise UsageError(f"{edit.persona_id} failed and has no verdict: pass --verdict ship|skip")
    next_status("panel", slug, panel.status, "edit")
    persona = next((p for p in load_personas() if p.id == edit.persona_id), None)
    edited = quality.recheck(review.model_copy(update=update), persona, panel.launch)
    reviews = [edited if r is review else r for r in panel.reviews]
    measured = diversity.panel_fields(diversity.assess(reviews))
    changed = panel.model_copy(
        update={"reviews": reviews, "status": Status.DRAFT, "reason": None, **measured}
    )
    return store.save_panel(
        changed,
        expected_revision=expected,
        editor=editor,
        action="edit",
        detail="\n".join(details),
    )


async def regenerate_review(
    ctx: RunContext, slug: str, persona_id: str, *, expected_revision: int | None
) -> ToolPanel:
    """Ask one reviewer again (optionally on another model), keeping the others."""
    panel = ctx.store.get_panel(slug)
    expected = panel.revision if expected_revision is None else expected_revision
    persona = select(load_personas(), [persona_id])[0]  # an unknown id names the choices
    # The editor asked for a new answer: never serve this one from the response cache.
    fresh = await review_persona(replace(ctx, use_cache=False), persona, panel.launch)
    if fresh.failed:
        # An outage or a broken answer must not replace a good review: keep it, say why.
        raise ModelFailure(
            f"regenerating {persona_id} failed, the review was kept as it was: {fresh.error}"
        )
    reviews = [fresh if r.persona_id == persona_id else r for r in panel.reviews]
    if panel.review(persona_id) is None:
        reviews.append(fresh)
    read = await diversity.assess_async(reviews) if ctx.measure_diversity else None
    changed = panel.model_copy(
        update={
            "reviews": reviews,
            "status": Status.DRAFT,
            "reason": None,
            **diversity.panel_fields(read),
        }
    )
    verdict = fresh.verdict.value if fresh.verdict else "failed"
    model = fresh.provenance.model if fresh.provenance else "?"
    return ctx.store.save_panel(
        changed,
        expected_revision=expected,
        editor=ctx.editor,
        action="regenerate",
        detail=f"{persona_id} on {model}: {verdict}",
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
