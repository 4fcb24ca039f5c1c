"""What the fact-check station shows: quotes with their claims marked, flags with their
ids, the launch's link, and each comparison panel's state at a glance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import urlsplit

from panel.claims import claim_spans
from panel.records import Claim, Status, ToolPanel
from panel.status import open_claims, open_flags
from panel.workflow import flag_ids


@dataclass(frozen=True)
class Segment:
    """A run of a review's text: plain, or one claim (shown as a <mark>)."""

    text: str
    claim: Claim | None = None


def segments(text: str, claims: list[Claim]) -> list[Segment]:
    """``text`` cut into plain runs and marked claims, for the template to escape and show."""
    found: list[Segment] = []
    position = 0
    for start, end, claim in claim_spans(text, claims):
        if start < position or start == end:
            continue  # overlapping or empty spans: the first one wins
        if start > position:
            found.append(Segment(text[position:start]))
        found.append(Segment(text[start:end], claim))
        position = end
    if position < len(text):
        found.append(Segment(text[position:]))
    return found


CLAIM_STATES = {
    "in_launch": "in the launch",
    "to_verify": "to verify",
    "verified": "verified",
    "waived": "waived",
    "supported": "in a source",
}


def claim_state(status: str) -> str:
    """A claim status as the desk says it: 'in the launch', 'to verify', ..."""
    return CLAIM_STATES.get(status, status)


_CONTROL = re.compile(r"[\x00-\x20\x7f\"'<>\\`]")


def source_name(where: str | None) -> str:
    """A source as the desk names it when it is no link: a local file's name only."""
    return PurePath(where or "").name or (where or "")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a link (the launch's URL is untrusted), else None."""
    if not url or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


@dataclass(frozen=True)
class FlagView:
    """One flag of a panel as the desk lists it, with the id its Dismiss button sends."""

    id: str
    owner: str
    """The reviewer's id, or 'panel' for a panel-level flag."""
    text: str
    dismissed: bool


def flags_of(panel: ToolPanel) -> list[FlagView]:
    """Every flag of ``panel``, dismissed ones included."""
    return [
        FlagView(id=fid, owner=fid.partition(":")[0], text=flag, dismissed=dismissed)
        for fid, flag, dismissed in flag_ids(panel)
    ]


@dataclass(frozen=True)
class PanelCard:
    """A tool panel as a comparison page summarises it."""

    panel: ToolPanel
    claims_to_verify: int
    open_flags: list[str]
    stale: str | None
    """Why its live tool page is out of date, when it is."""

    @property
    def draft(self) -> bool:
        """True while the panel waits for approval."""
        return self.panel.status is Status.DRAFT


def panel_card(panel: ToolPanel, stale: str | None) -> PanelCard:
    """The summary of one panel: status, claims to verify, open flags, staleness."""
    return PanelCard(
        panel=panel,
        claims_to_verify=len(open_claims(panel)),
        open_flags=open_flags(panel),
        stale=stale,
    )
