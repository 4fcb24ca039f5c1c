"""The desk's publishing loop in Chromium: a comparison approved and published in one
action, a published panel edited and its stale comparison republished, claims verified
before an approval. The desk is `panel serve`'s app (the ``served`` fixture)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from panel.paths import default_db, outputs_dir
from panel.records import Status
from panel.store import open_store
from panel.store.comparisons import get_comparison
from tests.conftest import EXAMPLES
from tests.pages.test_publish_browser import cli
from tests.web.browser_desk import Watched

TOOL = "gpt-5-mini-api"
OTHER = "claude-haiku-open-weights"
PAIR = f"{OTHER}-vs-{TOOL}"
NEW_QUOTE = "Edited after publishing: the router earns its keep, and the docs finally say how."
NO_CLAIMS_GATE = {"require_verified_claims": False}


def compared() -> None:
    """Draft both example launches with the fake model and compare them."""
    assert cli("draft", str(EXAMPLES / f"{TOOL}.yaml"), "-m", "fake:mixed") == 0
    assert cli("compare", str(EXAMPLES / f"{OTHER}.yaml"), TOOL, "-m", "fake:mixed") == 0


def statuses() -> list[Status]:
    """Both panels' statuses and the comparison's."""
    with open_store(default_db()) as store:
        panels = [store.get_panel(slug).status for slug in (OTHER, TOOL)]
        return [*panels, get_comparison(store, PAIR).status]


def live(relative: str) -> str:
    """A file of the published site."""
    return (outputs_dir() / "site" / relative).read_text(encoding="utf-8")


def approve_and_publish(desk: Watched, served: str) -> None:
    """On the comparison page, approve and publish the unit in one action."""
    page = desk.page
    page.goto(f"{served}/comparisons/{PAIR}")
    desk.confirm_flags()
    page.get_by_role("button", name="Approve and publish", exact=True).click()
    expect(page.locator(".notice")).to_have_text("Approved and published.")


@pytest.mark.parametrize("served", [NO_CLAIMS_GATE], indirect=True, ids=["claims-pass"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_comparison_is_approved_and_published_in_one_action(
    browser: Browser, served: str, javascript: bool
) -> None:
    compared()
    desk = Watched(browser, served, javascript=javascript)
    desk.page.goto(f"{served}/comparisons/{PAIR}")
    expect(desk.page.locator(".tool .status")).to_have_text(["draft", "draft"])
    approve_and_publish(desk, served)
    assert statuses() == [Status.PUBLISHED] * 3
    expect(desk.page.locator(".tool .status")).to_have_text(["published", "published"])
    expect(desk.page.get_by_role("button", name="Republish", exact=True)).to_be_visible()
    for relative in (f"compare/{PAIR}.html", f"tools/{TOOL}.html", f"tools/{OTHER}.html"):
        assert (outputs_dir() / "site" / relative).is_file(), relative
    desk.page.goto(f"{served}/site/compare/{PAIR}.html")
    body = desk.page.inner_text("body")
    assert "GPT-5 Mini API" in body and "Claude Haiku Open Weights" in body
    desk.close()


@pytest.mark.parametrize("served", [NO_CLAIMS_GATE], indirect=True, ids=["claims-pass"])
def test_an_edited_published_panel_marks_its_comparison_stale_until_republished(
    browser: Browser, served: str
) -> None:
    compared()
    desk = Watched(browser, served)
    page = desk.page
    approve_and_publish(desk, served)
    assert NEW_QUOTE not in live(f"compare/{PAIR}.html")

    page.goto(f"{served}/panels/{TOOL}")
    page.fill("#review-dx textarea[name=quote]", NEW_QUOTE)
    page.locator("#review-dx").get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved dx's review.")
    expect(page.locator("[data-stale]")).to_contain_text("The live page is out of date.")

    page.goto(f"{served}/")
    expect(page.locator(".stale-pages li")).to_have_count(2)
    page.locator(f".stale-pages a[href='/comparisons/{PAIR}']").click()
    page.wait_for_url(f"**/comparisons/{PAIR}")
    banner = page.locator("[data-stale]")
    expect(banner).to_contain_text(f"panel {TOOL}")
    expect(page.locator(f".tool[data-slug='{TOOL}'] .stale-tag")).to_be_visible()
    assert NEW_QUOTE not in live(f"compare/{PAIR}.html")  # live until republished

    republish = page.get_by_role("button", name="Approve and republish", exact=True)
    republish.click()  # the edit left dx flagged: the browser asks for the confirmation first
    expect(page.locator("input[name=accept_flags]:invalid")).to_have_count(1)
    assert statuses() == [Status.PUBLISHED, Status.DRAFT, Status.PUBLISHED]
    desk.confirm_flags()
    republish.click()
    expect(page.locator(".notice")).to_have_text("Approved and published.")
    expect(page.locator("[data-stale]")).to_have_count(0)
    assert NEW_QUOTE in live(f"compare/{PAIR}.html") and NEW_QUOTE in live(f"tools/{TOOL}.html")
    page.goto(f"{served}/site/compare/{PAIR}.html")
    assert NEW_QUOTE in page.inner_text("body")
    desk.close()


def test_claims_are_verified_before_an_approval(browser: Browser, served: str) -> None:
    assert cli("draft", str(EXAMPLES / f"{TOOL}.yaml"), "-m", "fake:mixed") == 0
    desk = Watched(browser, served)
    page = desk.page
    page.goto(f"{served}/panels/{TOOL}")
    desk.sign_as("vera")
    waiting = page.locator(".claims li.to_verify")
    total = waiting.count()
    assert total > 0, "the fake reviews name prices and rivals: claims to verify"
    expect(page.locator("mark.claim.to_verify").first).to_be_visible()

    desk.confirm_flags()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".blockers .blocker.claims")).to_contain_text("to verify")
    assert page.locator(".actions .status").inner_text() == "draft"

    for left in range(total, 0, -1):
        waiting.first.get_by_role("button", name="Verify", exact=True).click()
        expect(waiting).to_have_count(left - 1)
    expect(page.locator(".claims li.verified .checked-by").first).to_have_text("vera")
    assert page.locator("mark.claim.to_verify").count() == 0

    desk.confirm_flags()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".actions .status")).to_have_text("approved")
    page.goto(f"{served}/panels/{TOOL}/history")
    verified = page.locator(".entry", has_text="verify")
    expect(verified).to_have_count(total)
    expect(verified.locator(".who")).to_have_text(["vera"] * total)
    desk.close()
