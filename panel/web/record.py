"""A panel's or comparison's desk page: what it shows, which actions it offers, and the
one-line notices and blocker lists after a change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import HTMLResponse

from panel.claims import with_current_claims
from panel.drafting.personas import load_personas
from panel.errors import BlockedError, Blocker, NotFoundError, UsageError
from panel.pages.render import COMPARISONS_DIR, TOOLS_DIR
from panel.records import Comparison, Status, ToolPanel
from panel.status import Gate, Kind, Record, load_record, next_status, open_flags, stale_pages
from panel.store import Store
from panel.store.comparisons import comparisons_of
from panel.web.factcheck import FlagView, PanelCard, flags_of, panel_card, safe_url
from panel.web.pages import desk_of, render_page

STATUS_ACTIONS = ("approve", "reject", "publish")
DONE = {
    "edit": "Saved {persona}'s review.",
    "regenerate": "{persona} read it again; the new review is below.",
    "approve": "Approved.",
    "approve-all": "Approved the comparison together with its draft panels.",
    "reject": "Rejected.",
    "publish": "Published.",
    "approve-publish": "Approved and published.",
    "republish": "Republished: the live pages were rebuilt from the current revisions.",
    "verify": "Claim verified.",
    "waive": "Claim waived.",
    "reopen": "Claim reopened: it is to verify again.",
    "dismiss": "Flag dismissed.",
    "editor": "Editor name saved.",
}
_SLUGS = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:,[a-z0-9]+(?:-[a-z0-9]+)*)*$")


def kind_of(segment: str) -> Kind:
    """The record kind a URL segment names ('panels' or 'comparisons')."""
    if segment == "panels":
        return "panel"
    if segment == "comparisons":
        return "comparison"
    raise NotFoundError(f"no such page: /{segment}/")


def record_href(kind: Kind, slug: str) -> str:
    """The desk page of a record."""
    return f"/{'panels' if kind == 'panel' else 'comparisons'}/{slug}"


def site_path(kind: Kind, slug: str) -> str:
    """Where a record's page lives within the site (and under /site/ and /preview/)."""
    folder = TOOLS_DIR if kind == "panel" else COMPARISONS_DIR
    return f"{folder}/{slug}.html"


def allowed_actions(kind: Kind, record: Record) -> list[str]:
    """The status changes the workflow allows from the record's status."""
    allowed = []
    for action in STATUS_ACTIONS:
        try:
            next_status(kind, record.slug, record.status, action)
        except UsageError:
            continue
        allowed.append(action)
    return allowed


def desk_actions(kind: Kind, record: Record, panels: list[ToolPanel]) -> list[str]:
    """The buttons a record's page offers: approve, approve-publish, publish, republish,
    reject. A comparison is one unit: approving or publishing it takes its panels along."""
    if isinstance(record, ToolPanel):
        actions = allowed_actions(kind, record)
        return actions + (["republish"] if record.status is Status.PUBLISHED else [])
    involved: list[Record] = [*panels, record]
    actions = []
    if not any(r.status is Status.REJECTED for r in involved):
        if any(r.status is Status.DRAFT for r in involved):
            actions += ["approve", "approve-publish"]
        else:
            actions.append("republish" if record.status is Status.PUBLISHED else "publish")
    if record.status is Status.DRAFT:
        actions.append("reject")
    return actions


def gate_of(request: Request, *, accept_flags: bool) -> Gate:
    """The approval gate: panel.toml's require_verified_claims and the editor's confirmation."""
    config = desk_of(request).settings.config
    return Gate(require_verified_claims=config.require_verified_claims, accept_flags=accept_flags)


def notice(request: Request) -> str | None:
    """The one-line message after a successful change (from the redirect's query)."""
    template = DONE.get(request.query_params.get("done", ""))
    if template is None:
        return None
    text = template.format(persona=request.query_params.get("persona", "The reviewer"))
    rewritten = request.query_params.get("rewritten", "")
    if rewritten and _SLUGS.match(rewritten):
        slugs = rewritten.split(",")
        text += (
            f" The live page{'s' if len(slugs) > 1 else ''} of the published "
            f"comparison{'s' if len(slugs) > 1 else ''} showing it "
            f"{'were' if len(slugs) > 1 else 'was'} rewritten too: {', '.join(slugs)}."
        )
    return text


_CLI_HINT = re.compile(r"\s*\((?=[^()]*(?:--|panel [a-z]+ ))[^()]*\)\s*$")


def desk_blockers(error: BlockedError) -> list[Blocker]:
    """The blockers of a refusal as the desk lists them (without the command-line hints)."""
    return [Blocker(b.kind, _CLI_HINT.sub("", b.text)) for b in error.blockers]


@dataclass
class Pending:
    """What an editor submitted for one review that was not saved (kept in the form)."""

    verdict: str | None
    quote: str
    revision: int
    error: str
    headline: str | None = None
    pricing_read: str | None = None


@dataclass
class RecordView:
    """Everything a panel or comparison page shows besides the page chrome."""

    kind: Kind
    record: Record
    actions: list[str]
    published_url: str | None
    preview_url: str
    panels: list[ToolPanel] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    stale: str | None = None
    """Why the live page is out of date, when it is."""
    stale_comparisons: dict[str, str] = field(default_factory=dict)
    """A panel's published comparisons whose live pages are out of date, and why."""
    flags: list[FlagView] = field(default_factory=list)
    """A panel's flags (every review's and its own), dismissed ones included."""
    confirm_flags: list[str] = field(default_factory=list)
    """Open flags an approval must confirm ('I have read the flags')."""
    cards: list[PanelCard] = field(default_factory=list)
    """A comparison's two panels at a glance."""
    launch_url: str | None = None
    source_links: dict[str, str | None] = field(default_factory=dict)
    """Each source the draft read, by URL or path: a link when it is a safe web address."""
    pricing_personas: frozenset[str] = frozenset()
    """Reviewers whose persona file gives a pricing read."""

    @property
    def href(self) -> str:
        """The record's desk page."""
        return record_href(self.kind, self.record.slug)

    @property
    def drafts(self) -> list[str]:
        """What an 'approve' on this page approves: the record and a comparison's panels."""
        found = [f"panel {p.slug}" for p in self.panels if p.status is Status.DRAFT]
        if self.record.status is Status.DRAFT:
            found.append(f"{self.kind} {self.record.slug}")
        return found

    def review_flags(self, persona_id: str) -> list[FlagView]:
        """The flags of one review."""
        return [f for f in self.flags if f.owner == persona_id]

    @property
    def panel_flags(self) -> list[FlagView]:
        """The panel-level flags (e.g. a collapsed panel)."""
        return [f for f in self.flags if f.owner == "panel"]


def _pricing_personas() -> frozenset[str]:
    try:
        return frozenset(p.id for p in load_personas() if p.pricing_read)
    except UsageError:  # no persona folder: only stored pricing reads are editable
        return frozenset()


def record_view(request: Request, store: Store, kind: Kind, slug: str) -> RecordView:
    """A panel's or comparison's page data, read through the workflow."""
    record = load_record(store, kind, slug)
    if isinstance(record, ToolPanel):
        record = with_current_claims(record)  # as approval reads them
    desk = desk_of(request)
    relative = site_path(kind, slug)
    published = store.published_snapshots(kind).get(slug) is not None
    stale = {(p.kind, p.slug): p.why for p in stale_pages(store)}
    panels = (
        [store.get_panel(record.a_slug), store.get_panel(record.b_slug)]
        if isinstance(record, Comparison)
        else []
    )
    view = RecordView(
        kind=kind,
        record=record,
        actions=desk_actions(kind, record, panels),
        published_url=f"/site/{relative}" if published and (desk.out / relative).exists() else None,
        preview_url=f"/preview/{relative}",
        panels=panels,
        stale=stale.get((kind, slug)),
    )
    if isinstance(record, ToolPanel):
        view.comparisons = comparisons_of(store, slug)
        view.stale_comparisons = {
            c.slug: stale[("comparison", c.slug)]
            for c in view.comparisons
            if ("comparison", c.slug) in stale
        }
        view.flags = flags_of(record)
        view.confirm_flags = open_flags(record) if record.status is Status.DRAFT else []
        view.launch_url = safe_url(record.launch.url)
        view.source_links = {s.where: safe_url(s.where) for s in record.sources}
        view.pricing_personas = _pricing_personas()
    else:
        view.cards = [panel_card(p, stale.get(("panel", p.slug))) for p in panels]
        view.confirm_flags = [
            f"{p.slug} {flag}" for p in panels if p.status is Status.DRAFT for flag in open_flags(p)
        ]
    return view


def record_page(
    request: Request,
    store: Store,
    kind: Kind,
    slug: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    blocked: BlockedError | None = None,
    pending: dict[str, Pending] | None = None,
) -> HTMLResponse:
    """The desk page of a panel or comparison, with an error (or the blockers of a refused
    approval or publish, listed) and unsaved input if any."""
    view = record_view(request, store, kind, slug)
    failed = error is not None or blocked is not None
    return render_page(
        request,
        "panel.html" if kind == "panel" else "comparison.html",
        status_code=status_code,
        view=view,
        record=view.record,
        error=error,
        blocked=blocked,
        blockers=desk_blockers(blocked) if blocked else [],
        pending=pending or {},
        notice=None if failed else notice(request),
        back=view.href,
    )
