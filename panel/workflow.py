"""The editorial workflow: edits and regenerations (status changes: panel.status).

The CLI and the web desk both call these functions; every rule of the workflow lives
here. Every change names the revision it was made against, becomes a new revision with
an audit entry, and is refused (ConflictError) when that revision is stale.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from panel.drafting import diversity, quality
from panel.drafting.context import RunContext
from panel.drafting.generate import review_persona
from panel.drafting.personas import load_personas, select
from panel.errors import ModelFailure, UsageError
from panel.lengths import word_count
from panel.records import Status, ToolPanel, Verdict
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
