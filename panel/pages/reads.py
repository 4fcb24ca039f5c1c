"""The reads a page shows beside the reviews: the split between two tools, the pricing read."""

from __future__ import annotations

from pydantic import BaseModel

from panel.records import Review, ToolPanel, Verdict, percent


class PricingRead(BaseModel):
    """A reviewer's one-sentence read of the pricing, always shown attributed to them."""

    persona_id: str
    """The reviewer's persona id."""
    reviewer: str
    """The reviewer's display name, e.g. The Operator."""
    text: str
    """The reviewer's sentence, as drafted (or edited)."""


def _rank(panel: ToolPanel) -> tuple[float, str, str]:
    share = panel.ship_share if panel.ship_share is not None else -1.0
    return (-share, panel.launch.name.casefold(), panel.slug)


def reviewer_label(review: Review) -> str:
    """How a sentence names a reviewer: 'The Skeptic' reads as 'the skeptic'."""
    name = review.persona_name.strip() or review.persona_id
    first, _, rest = name.partition(" ")
    if first == "The" and rest:
        return f"the {rest.lower()}"
    return name


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def reviewers_read(panels: list[ToolPanel]) -> str | None:
    """The reviewers of ``panels`` in one phrase, e.g. 'the builder, the skeptic and the operator'.

    Taken from the reviews themselves, so a fifth or renamed persona reads as it is.
    """
    labels: dict[str, str] = {}
    for panel in panels:
        for review in panel.reviews:
            labels.setdefault(review.persona_id, reviewer_label(review))
    return _join(list(labels.values())) if labels else None


def _tally(panel: ToolPanel) -> str:
    failed = sum(1 for r in panel.reviews if r.verdict is None)
    return f"{panel.ship_count}/{panel.verdict_count}" + (f" ({failed} failed)" if failed else "")


def split_read(a: ToolPanel, b: ToolPanel) -> str:
    """One line reading the reviewer split, the same whichever tool is given first.

    Tools are ordered by ship share, then name, then slug, never by argument position:
    e.g. "B: 4/4 ship; A: 2/4 — the skeptic and the operator skip A".
    """
    first, second = sorted((a, b), key=_rank)
    head = f"{first.launch.name}: {_tally(first)} ship; {second.launch.name}: {_tally(second)}"
    if first.ship_share is not None and first.ship_share == second.ship_share:
        head = f"Tied at {percent(first.ship_share)} — " + head
    clauses = []
    for panel in (first, second):
        if panel.verdict_count == 0:
            clauses.append(f"no reviewer has a verdict on {panel.launch.name} yet")
            continue
        skippers = [reviewer_label(r) for r in panel.reviews if r.verdict is Verdict.SKIP]
        if skippers:
            verb = "skips" if len(skippers) == 1 else "skip"
            clauses.append(f"{_join(skippers)} {verb} {panel.launch.name}")
    if not clauses:
        clauses.append("every reviewer ships both")
    return f"{head} — {'; '.join(clauses)}"


def pricing_read_of(panel: ToolPanel) -> PricingRead | None:
    """The pricing read of the panel's reviewer who gave one, or None.

    That reviewer is the one whose persona file sets ``pricing_read: true``, whatever its id
    or display name; records drafted before it was the reviewer's own answer have none.
    """
    review = next((r for r in panel.reviews if r.pricing_read and not r.failed), None)
    if review is None or review.pricing_read is None:
        return None
    name = review.persona_name.strip() or review.persona_id
    return PricingRead(persona_id=review.persona_id, reviewer=name, text=review.pricing_read)
