"""The desk as a fact-check station (HTTP): the launch beside the reviews, claims marked
and checked, flags dismissed, approvals that list every blocker, the edit form's headline
and pricing read."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from panel.records import Claim, ClaimKind, ClaimStatus, Status, ToolPanel
from panel.workflow import set_claim
from tests.pages_support import make_panel, store_comparison
from tests.web.support import (
    SLUG,
    desk,
    form_for,
    fresh_store,
    panel_now,
    post,
    settings_with,
)

DX_QUOTE = "Acme Agent wires in fast. At $20 per seat it undercuts Ollama, so I would ship it."
URL = "https://acme.example/agent?ref=launch&x=1"
CLAIMS = [
    Claim(id="dx-price", text="$20 per seat", kind=ClaimKind.MONEY),
    Claim(id="dx-rival", text="Ollama", kind=ClaimKind.NAME),
    Claim(id="dx-name", text="Acme Agent", kind=ClaimKind.NAME, status=ClaimStatus.IN_LAUNCH),
]
REVIEW_FLAG = "missing beats: weekend rebuild"
PANEL_FLAG = "quotes too alike (similarity 0.93)"


def checked_panel(url: str = URL) -> ToolPanel:
    """Acme Agent with claims in dx's quote, a flag on dx and one on the panel."""
    panel = make_panel(
        "Acme Agent",
        "yynn",
        quotes={"dx": DX_QUOTE},
        launch={
            "vendor": "Acme Labs",
            "license": "Apache-2.0",
            "entry": "Freemium",
            "url": url,
            "category": "Developer Tools",
            "tagline": "Agents that ship",
        },
    )
    reviews = [
        r.model_copy(update={"claims": CLAIMS, "flags": [REVIEW_FLAG]})
        if r.persona_id == "dx"
        else r
        for r in panel.reviews
    ]
    return panel.model_copy(update={"reviews": reviews, "flags": [PANEL_FLAG]})


@pytest.fixture
def station() -> Iterator[TestClient]:
    """The checked panel and a plain one, compared; a desk client over them."""
    with fresh_store() as store:
        store_comparison(store, checked_panel(), make_panel("Zed Cloud", "ynnn"))
    with desk() as client:
        yield client


def claim_of(claim_id: str) -> Claim:
    """The stored claim."""
    review = panel_now().review("dx")
    assert review is not None
    found = review.claim(claim_id)
    assert found is not None
    return found


def history_of(slug: str = SLUG) -> list[dict[str, str]]:
    """The audit trail of a panel."""
    with fresh_store() as store:
        return [{k: str(v) for k, v in e.items()} for e in store.history("panel", slug)]


def card(html: str, persona: str) -> str:
    """One review card of a panel page."""
    start = html.index(f'id="review-{persona}"')
    end = html.find("<article", start + 1)
    return html[start : end if end > 0 else len(html)]


# -- the launch beside the reviews ----------------------------------------------------------


def test_the_panel_page_shows_the_launch_beside_the_reviews(station: TestClient) -> None:
    html = station.get(f"/panels/{SLUG}").text
    launch = html[html.index('aria-label="The launch"') : html.index('aria-label="The reviews"')]
    for text in ("Acme Labs", "Apache-2.0", "Freemium", "Developer Tools", "Agents that ship"):
        assert text in launch
    assert "Acme Agent does one thing well." in launch  # the description
    link = '<a href="https://acme.example/agent?ref=launch&amp;x=1" rel="noopener noreferrer"'
    assert link in launch


@pytest.mark.parametrize(
    "url",
    ['https://acme.example/"><script>alert(1)</script>', "https://acme.example/a b"],
    ids=["markup", "space"],
)
def test_an_untrusted_launch_url_is_never_a_link(url: str) -> None:
    with fresh_store() as store:
        store_comparison(store, checked_panel(url), make_panel("Zed Cloud", "ynnn"))
    with desk() as client:
        html = client.get(f"/panels/{SLUG}").text
    launch = html[html.index('aria-label="The launch"') : html.index('aria-label="The reviews"')]
    assert "<a href" not in launch and "<script>alert" not in launch
    assert "not a web address" in launch


# -- flags ----------------------------------------------------------------------------------


def test_flags_are_listed_with_a_dismiss_that_is_audited(station: TestClient) -> None:
    html = station.get(f"/panels/{SLUG}").text
    panel_flags = html[html.index('aria-label="Panel flags"') : html.index('aria-label="The rev')]
    assert PANEL_FLAG in panel_flags
    assert f'action="/panels/{SLUG}/flags/panel%3A1/dismiss"' in panel_flags
    assert f'action="/panels/{SLUG}/flags/dx%3A1/dismiss"' in card(html, "dx")
    assert REVIEW_FLAG in card(html, "dx")

    station.post("/editor", data={"csrf": form_for(station)["csrf"], "name": "Ida"})
    response = post(station, f"/panels/{SLUG}/flags/panel%3A1/dismiss", **form_for(station))
    assert response.status_code == 303
    assert response.headers["location"] == f"/panels/{SLUG}?done=dismiss"
    panel = panel_now()
    assert (panel.revision, panel.dismissed_flags, panel.open_flags) == (2, [PANEL_FLAG], [])
    assert panel.status is Status.DRAFT
    last = history_of()[-1]
    assert (last["action"], last["editor"]) == ("dismiss", "Ida")
    assert PANEL_FLAG in last["detail"]

    page = station.get(response.headers["location"]).text
    assert "Flag dismissed." in page
    dismissed = re.search(r'<li class="flag dismissed" data-flag="panel:1">(.*?)</li>', page, re.S)
    assert dismissed and PANEL_FLAG in dismissed.group(1) and "Dismiss" not in dismissed.group(1)
    again = post(station, f"/panels/{SLUG}/flags/panel%3A1/dismiss", **form_for(station))
    assert again.status_code == 400 and "already dismissed" in again.text


def test_a_dismiss_against_a_stale_revision_is_a_conflict(station: TestClient) -> None:
    fields = form_for(station)
    with fresh_store() as store:
        set_claim(store, SLUG, "dx-price", "verify", expected_revision=1, editor="carol")
    response = post(station, f"/panels/{SLUG}/flags/dx%3A1/dismiss", **fields)
    assert response.status_code == 409
    assert "carol" in response.text and "changed since revision 1" in response.text
    assert panel_now().review("dx").open_flags == [REVIEW_FLAG]  # type: ignore[union-attr]
    unknown = post(station, f"/panels/{SLUG}/flags/dx%3A9/dismiss", **form_for(station))
    assert unknown.status_code == 400 and "has no flag" in unknown.text


# -- claims ---------------------------------------------------------------------------------


def test_claims_are_marked_in_the_quote_and_listed_beside_it(station: TestClient) -> None:
    dx = card(station.get(f"/panels/{SLUG}").text, "dx")
    assert '<mark class="claim to_verify" data-claim="dx-price"' in dx
    assert re.search(r'data-claim="dx-rival"[^>]*>Ollama</mark>', dx)
    assert '<mark class="claim in_launch" data-claim="dx-name"' in dx
    for claim in ("dx-price", "dx-rival"):
        assert f'action="/panels/{SLUG}/claims/{claim}/verify"' in dx
        assert f'formaction="/panels/{SLUG}/claims/{claim}/waive"' in dx
    assert "/claims/dx-name/" not in dx  # stated in the launch: nothing to check
    assert "2 to verify" in dx
    assert "<mark" not in station.get(f"/preview/tools/{SLUG}.html").text


@pytest.mark.parametrize(
    ("action", "status"), [("verify", ClaimStatus.VERIFIED), ("waive", ClaimStatus.WAIVED)]
)
def test_verify_or_waive_a_claim_then_reopen_it(
    station: TestClient, action: str, status: ClaimStatus
) -> None:
    station.post("/editor", data={"csrf": form_for(station)["csrf"], "name": "Vera"})
    response = post(station, f"/panels/{SLUG}/claims/dx-price/{action}", **form_for(station))
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"done={action}&persona=dx#review-dx")
    claim = claim_of("dx-price")
    assert (claim.status, claim.changed_by) == (status, "Vera")
    assert panel_now().status is Status.DRAFT and panel_now().revision == 2
    last = history_of()[-1]
    assert (last["action"], last["editor"]) == (action, "Vera")
    assert "dx-price" in last["detail"] and f"to_verify → {status.value}" in last["detail"]

    dx = card(station.get(f"/panels/{SLUG}").text, "dx")
    assert f'<mark class="claim {status.value}" data-claim="dx-price"' in dx
    assert re.search(
        r'data-claim="dx-price">.*?by <strong class="checked-by">Vera</strong>', dx, re.S
    )
    assert f'action="/panels/{SLUG}/claims/dx-price/reopen"' in dx
    assert "1 to verify" in dx

    reopened = post(station, f"/panels/{SLUG}/claims/dx-price/reopen", **form_for(station))
    assert reopened.status_code == 303
    assert claim_of("dx-price").status is ClaimStatus.TO_VERIFY


def test_claim_changes_are_checked(station: TestClient) -> None:
    fields = form_for(station)
    in_launch = post(station, f"/panels/{SLUG}/claims/dx-name/verify", **fields)
    assert in_launch.status_code == 400 and "stated in the launch" in in_launch.text
    unknown = post(station, f"/panels/{SLUG}/claims/dx-nope/verify", **fields)
    assert unknown.status_code == 400 and "has no claim" in unknown.text
    bad = post(station, f"/panels/{SLUG}/claims/dx-price/approve", **fields)
    assert bad.status_code == 400 and panel_now().revision == 1
    with fresh_store() as store:
        set_claim(store, SLUG, "dx-rival", "waive", expected_revision=1, editor="carol")
    stale = post(station, f"/panels/{SLUG}/claims/dx-price/verify", **fields)
    assert stale.status_code == 409 and "carol" in stale.text
    assert claim_of("dx-price").status is ClaimStatus.TO_VERIFY


# -- approval -------------------------------------------------------------------------------


def blockers(html: str) -> list[tuple[str, str]]:
    """The listed blockers of a refused approval or publish: (kind, text)."""
    found = re.findall(r'<li class="blocker (\w+)">(.*?)</li>', html, re.S)
    return [(kind, " ".join(text.split())) for kind, text in found]


def test_approve_is_refused_with_every_claim_and_flag_listed(station: TestClient) -> None:
    refused = post(station, f"/panels/{SLUG}/approve", **form_for(station))
    assert refused.status_code == 400
    listed = blockers(refused.text)
    assert [kind for kind, _ in listed] == ["claims", "flags"]
    claims, flags = listed[0][1], listed[1][1]
    assert "dx-price" in claims and "$20 per seat" in claims and "dx-rival" in claims
    assert "dx-name" not in claims  # in the launch
    assert REVIEW_FLAG in flags and PANEL_FLAG in flags
    assert "--" not in claims + flags  # no command-line hints in the desk
    assert panel_now().status is Status.DRAFT

    for claim, action in (("dx-price", "verify"), ("dx-rival", "waive")):
        checked = post(station, f"/panels/{SLUG}/claims/{claim}/{action}", **form_for(station))
        assert checked.status_code == 303
    flagged = post(station, f"/panels/{SLUG}/approve", **form_for(station))
    assert flagged.status_code == 400 and [k for k, _ in blockers(flagged.text)] == ["flags"]
    # the Approve form asks for the confirmation, naming the flags (required: works without JS)
    confirm = re.search(r'<label class="confirm">(.*?)</label>', flagged.text, re.S)
    assert confirm and 'name="accept_flags" value="1" required' in confirm.group(1)
    assert f"I have read the flags: dx: {REVIEW_FLAG}; {PANEL_FLAG}" in confirm.group(1)

    approved = post(station, f"/panels/{SLUG}/approve", **form_for(station), accept_flags="1")
    assert approved.status_code == 303
    assert panel_now().status is Status.APPROVED
    assert "flags accepted" in history_of()[-1]["detail"]
    who = {e["action"]: e["editor"] for e in history_of()}
    assert who["verify"] == who["waive"] == "tester"


def test_claims_do_not_block_when_panel_toml_says_so() -> None:
    with fresh_store() as store:
        store_comparison(store, checked_panel(), make_panel("Zed Cloud", "ynnn"))
    assert panel_now().review("dx").open_claims  # type: ignore[union-attr]
    with desk(settings=settings_with(require_verified_claims=False)) as client:
        response = post(client, f"/panels/{SLUG}/approve", **form_for(client), accept_flags="1")
    assert response.status_code == 303 and panel_now().status is Status.APPROVED


# -- the edit form --------------------------------------------------------------------------


def test_the_headline_and_the_pricing_read_are_editable(station: TestClient) -> None:
    html = station.get(f"/panels/{SLUG}").text
    assert 'name="headline"' in card(html, "dx") and 'name="pricing_read"' not in card(html, "dx")
    assert 'name="pricing_read"' in card(html, "business")  # its persona file gives the read
    read = "Free to try, then metered usage: cheap until a platform team scales it."
    response = post(
        station,
        f"/panels/{SLUG}/reviews/business/edit",
        **form_for(station),
        verdict="skip",
        headline="The Operator says skip: no budget line pays for it",
        quote="The Operator on Acme Agent: skip.",
        pricing_read=read,
    )
    assert response.status_code == 303
    business = panel_now().review("business")
    assert business is not None
    assert (business.headline, business.pricing_read) == (
        "The Operator says skip: no budget line pays for it",
        read,
    )
    detail = history_of()[-1]["detail"]
    assert "business headline" in detail and "business pricing read" in detail
    page = card(station.get(f"/panels/{SLUG}").text, "business")
    assert f"{read}</textarea>" in page and "Pricing read:" in page
    refused = post(
        station, f"/panels/{SLUG}/reviews/dx/edit", **form_for(station), pricing_read="Cheap."
    )
    assert refused.status_code == 400 and "gives no pricing read" in refused.text


def test_a_verdict_that_contradicts_the_headline_shows_the_flag(station: TestClient) -> None:
    response = post(
        station,
        f"/panels/{SLUG}/reviews/futurist/edit",
        **form_for(station),
        verdict="skip",
        headline="The Futurist says ship",
        quote="The Futurist on Acme Agent: the thesis is thin.",
    )
    assert response.status_code == 303
    futurist = card(station.get(f"/panels/{SLUG}").text, "futurist")
    flag = re.search(
        r'data-flag="futurist:\d+"><span class="flag-text">([^<]*headline[^<]*)<', futurist
    )
    assert flag and "but verdict is skip" in flag.group(1)
    unsaved = post(
        station,
        f"/panels/{SLUG}/reviews/futurist/edit",
        **form_for(station),
        headline="   ",
        quote="Kept text.",
    )
    assert unsaved.status_code == 400 and "the headline is empty" in unsaved.text
    assert "Kept text.</textarea>" in card(unsaved.text, "futurist")
