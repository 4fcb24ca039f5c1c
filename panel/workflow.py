"""The editorial workflow: edits and regenerations (status changes: panel.status).

The CLI and the web desk both call these functions; every rule of the workflow lives
here. Every change names the revision it was made against, becomes a new revision with
an audit entry, and is refused (ConflictError) when that revision is stale.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from panel import claims
from panel.drafting import diversity, quality
from panel.drafting.context import RunContext
from panel.drafting.generate import review_persona
from panel.drafting.personas import load_personas, reviewer_id, select
from panel.drafting.sources import evidence, launch_sources, stored_evidence
from panel.errors import ModelFailure, UsageError
from panel.lengths import word_count
from panel.records import ClaimStatus, Review, Status, ToolPanel, Verdict, now
from panel.status import MAX_EDITED_QUOTE_WORDS, next_status
from panel.store import Store


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
    headline: str | None = None
    pricing_read: str | None = None


MAX_HEADLINE_CHARS = 160
MAX_PRICING_READ_WORDS = 80


def _cleaned(raw: str, empty: str, too_long: Callable[[str], str | None]) -> str:
    """``raw`` with its whitespace normalised; a UsageError when empty or too long."""
    text = " ".join(raw.split())
    if not text:
        raise UsageError(empty)
    if problem := too_long(text):
        raise UsageError(problem)
    return text


def _words_over(limit: int, what: str, fix: str) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        words = word_count(text)
        return f"the {what} has {words} words; {fix}" if words > limit else None

    return check


def _headline_over(text: str) -> str | None:
    if len(text) > MAX_HEADLINE_CHARS:
        return f"the headline has {len(text)} characters; keep it under {MAX_HEADLINE_CHARS}"
    return None


def _edited_text(
    review: Review,
    edit: Edit,
    update: dict[str, object],
    details: list[str],
    *,
    gives_pricing_read: bool,
) -> None:
    """The text fields of ``edit`` that change ``review``, checked, into ``update``."""
    who = edit.persona_id
    if edit.pricing_read is not None and review.pricing_read is None and not gives_pricing_read:
        raise UsageError(f"{who} gives no pricing read (its persona file does not say so)")
    fields = [
        (
            "quote",
            edit.quote,
            "the quote is empty; write the reviewer's paragraph",
            _words_over(MAX_EDITED_QUOTE_WORDS, "quote", "keep it under 400"),
        ),
        (
            "headline",
            edit.headline,
            "the headline is empty; write one line summing up the call",
            _headline_over,
        ),
        (
            "pricing_read",
            edit.pricing_read,
            "the pricing read is empty; write the reviewer's one sentence",
            _words_over(MAX_PRICING_READ_WORDS, "pricing read", "keep it to one sentence"),
        ),
    ]
    for name, raw, empty, too_long in fields:
        if raw is None:
            continue
        text = _cleaned(raw, empty, too_long)
        old = str(getattr(review, name) or "")
        if text != old:
            update[name] = text
            details.append(f"{who} {name.replace('_', ' ')}\n{quote_diff(old, text)}")


def edit_review(
    store: Store, slug: str, edit: Edit, *, expected_revision: int | None, editor: str
) -> ToolPanel:
    """Change one review's verdict and/or quote by hand; the panel returns to draft."""
    panel = store.get_panel(slug)
    expected = panel.revision if expected_revision is None else expected_revision
    edit = replace(edit, persona_id=reviewer_id(panel, edit.persona_id))  # an id or a name
    review = next(r for r in panel.reviews if r.persona_id == edit.persona_id)
    texts = (edit.verdict, edit.quote, edit.headline, edit.pricing_read)
    if all(t is None for t in texts):
        raise UsageError(
            "nothing to change: pass --verdict, --quote, --headline and/or --pricing-read"
        )
    update: dict[str, object] = {"human_edited": True, "failed": False, "error": None}
    details: list[str] = []
    persona = next((p for p in load_personas() if p.id == edit.persona_id), None)
    gives = persona is not None and persona.pricing_read
    _edited_text(review, edit, update, details, gives_pricing_read=gives)
    if edit.verdict is not None and edit.verdict != review.verdict:
        update["verdict"] = edit.verdict
        old = review.verdict.value if review.verdict else "none"
        details.append(f"{edit.persona_id} verdict {old} → {edit.verdict.value}")
    if not details:
        raise UsageError("nothing changed: the new text and verdict match the current ones")
    if review.verdict is None and "verdict" not in update:
        raise UsageError(f"{edit.persona_id} failed and has no verdict: pass --verdict ship|skip")
    next_status("panel", slug, panel.status, "edit")
    edited = quality.recheck(
        review.model_copy(update=update),
        persona,
        panel.launch,
        stored_evidence(store, panel.launch),
    )
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
    persona = select(load_personas(), [persona_id])[0]  # an id or a name; unknown: choices
    persona_id = persona.id
    if ctx.measure_diversity:
        diversity.preload()  # loads while the reviewer is asked again
    # The editor asked for a new answer: never serve this one from the response cache.
    sources = await launch_sources(ctx, panel.launch)  # as stored (read when never read)
    fresh = await review_persona(
        replace(ctx, use_cache=False), persona, panel.launch, sources=sources
    )
    if fresh.failed:
        # An outage or a broken answer must not replace a good review: keep it, say why.
        raise ModelFailure(
            f"regenerating {persona_id} failed, the review was kept as it was: {fresh.error}"
        )
    if (old := panel.review(persona_id)) is not None:
        # A claim checked before keeps its check when the new answer makes it again.
        carried = claims.review_claims(
            fresh.model_copy(update={"claims": old.claims}), panel.launch, evidence(sources)
        )
        fresh = fresh.model_copy(update={"claims": carried})
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


# -- claims and flags ---------------------------------------------------------------------

CLAIM_ACTIONS = {
    "verify": ClaimStatus.VERIFIED,
    "waive": ClaimStatus.WAIVED,
    "reopen": ClaimStatus.TO_VERIFY,
}


def set_claim(
    store: Store,
    slug: str,
    claim_id: str,
    action: str,
    *,
    expected_revision: int | None,
    editor: str,
) -> ToolPanel:
    """Verify, waive or reopen one claim (audited: who and when). The panel keeps its
    status: checking a fact changes no text. A claim the launch states needs no check."""
    if action not in CLAIM_ACTIONS:
        raise UsageError(f"unknown claim action {action!r}: verify, waive or reopen")
    stored = store.get_panel(slug)
    expected = stored.revision if expected_revision is None else expected_revision
    panel = claims.with_current_claims(stored)
    found = [(r, c) for r in panel.reviews for c in r.claims if c.id == claim_id]
    if not found:
        ids = ", ".join(c.id for r in panel.reviews for c in r.claims) or "none"
        raise UsageError(
            f"panel {slug!r} has no claim {claim_id!r} (claims: {ids}); see `panel claims {slug}`"
        )
    review, claim = found[0]
    if claim.status is ClaimStatus.IN_LAUNCH:
        raise UsageError(
            f'claim {claim_id} "{claim.text}" is stated in the launch; nothing to check'
        )
    target = CLAIM_ACTIONS[action]
    if claim.status is target:
        raise UsageError(f"claim {claim_id} is already {target.value}")
    changed = claim.model_copy(update={"status": target, "changed_by": editor, "changed_at": now()})
    kept = [changed if c is claim else c for c in review.claims]
    reviews = [r.model_copy(update={"claims": kept}) if r is review else r for r in panel.reviews]
    return store.save_panel(
        panel.model_copy(update={"reviews": reviews}),
        expected_revision=expected,
        editor=editor,
        action=action,
        detail=f'{claim_id} "{claim.text}" ({review.persona_id}): '
        f"{claim.status.value} → {target.value}",
    )


def flag_ids(panel: ToolPanel) -> list[tuple[str, str, bool]]:
    """(id, flag, dismissed) for every flag of a panel: 'dx:1' for a review's, 'panel:1'."""
    found = [
        (f"{r.persona_id}:{i}", flag, flag in r.dismissed_flags)
        for r in panel.reviews
        for i, flag in enumerate(r.flags, start=1)
    ]
    found += [(f"panel:{i}", f, f in panel.dismissed_flags) for i, f in enumerate(panel.flags, 1)]
    return found


def dismiss_flag(
    store: Store, slug: str, flag_id: str, *, expected_revision: int | None, editor: str
) -> ToolPanel:
    """Dismiss one flag (a review's or the panel's), audited; the panel keeps its status."""
    panel = store.get_panel(slug)
    expected = panel.revision if expected_revision is None else expected_revision
    known = {fid: (flag, dismissed) for fid, flag, dismissed in flag_ids(panel)}
    if flag_id not in known:
        ids = ", ".join(known) or "none"
        raise UsageError(f"panel {slug!r} has no flag {flag_id!r} (flags: {ids})")
    flag, dismissed = known[flag_id]
    if dismissed:
        raise UsageError(f"flag {flag_id} is already dismissed")
    owner, _, _ = flag_id.partition(":")
    if owner == "panel":
        changed = panel.model_copy(update={"dismissed_flags": [*panel.dismissed_flags, flag]})
    else:
        reviews = [
            r.model_copy(update={"dismissed_flags": [*r.dismissed_flags, flag]})
            if r.persona_id == owner
            else r
            for r in panel.reviews
        ]
        changed = panel.model_copy(update={"reviews": reviews})
    return store.save_panel(
        changed,
        expected_revision=expected,
        editor=editor,
        action="dismiss",
        detail=f"{flag_id}: {flag}",
    )
