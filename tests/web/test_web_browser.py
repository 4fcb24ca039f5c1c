"""The web review desk in a real browser: headless Chromium (Debian's package) via Playwright,
against `panel serve`'s app run by uvicorn on 127.0.0.1.

Skipped when /usr/bin/chromium is absent, except under CI=true, where they fail instead.
Set PANEL_UPDATE_DOCS=1 to refresh the desk screenshots in docs/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from panel.paths import default_db
from panel.providers.fake import FakeProvider, canned_answer
from panel.records import Status, ToolPanel
from panel.store import open_store
from tests.conftest import EXAMPLES, ROOT
from tests.pages.test_publish_browser import DESKTOP, cli, image_stats
from tests.web.browser_desk import Watched

SLUG = "gpt-5-mini-api"
EDITED = "Edited at the desk: the <b>router</b> is the product & the price is the moat."
REGENERATED = "Regenerated take 7731"


def panel_now() -> ToolPanel:
    """The stored panel."""
    with open_store(default_db()) as store:
        return store.get_panel(SLUG)


# Claims are not this test's subject (see test_desk_browser.py): panel.toml lets them pass.
@pytest.mark.parametrize("served", [{"require_verified_claims": False}], indirect=True)
def test_draft_edit_regenerate_approve_publish_in_the_browser(
    browser: Browser, served: str, fake: FakeProvider, tmp_path: Path
) -> None:
    assert cli("draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed") == 0
    launch = EXAMPLES / "claude-haiku-open-weights.yaml"
    assert cli("compare", str(launch), SLUG, "-m", "fake:mixed") == 0
    queue = (EXAMPLES / "queue.jsonl").read_text(encoding="utf-8").splitlines()
    for line, model in zip(queue[2:], ("fake:ship", "fake:skip", "fake:mixed"), strict=True):
        other = tmp_path / "launch.json"  # JSON is YAML
        other.write_text(line, encoding="utf-8")
        assert cli("draft", str(other), "-m", model) == 0
    desk = Watched(browser, served)
    page = desk.page
    page.goto(served + "/")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.first).to_contain_text("GPT-5 Mini API")
    page.screenshot(path=str(tmp_path / "desk-queue.png"))

    page.click(f"a[href='/panels/{SLUG}']")
    page.wait_for_url(f"**/panels/{SLUG}")
    expect(page.locator("article.review")).to_have_count(4)

    dx = page.locator("#review-dx")
    dx.locator("textarea").fill(EDITED)
    expect(dx).to_have_class("card review dirty")
    dx.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved dx's review.")
    expect(page.locator("#review-dx textarea")).to_have_value(EDITED)
    expect(page.locator("#review-dx .tag")).to_have_text("edited by hand")
    assert page.url.endswith(f"/panels/{SLUG}?done=edit&persona=dx")

    # the skeptic's second answer differs from its first (a canned answer, re-referenced)
    fake.script(
        lambda request: re.sub(r"Reference \w+", REGENERATED, canned_answer("mixed", request))
    )
    page.locator("#review-skeptic").get_by_role("button", name="Regenerate").click()
    expect(page.locator(".notice")).to_contain_text("skeptic read it again")
    expect(page.locator("#review-skeptic textarea")).to_contain_text(REGENERATED)
    expect(page.locator("#review-dx textarea")).to_have_value(EDITED)
    skeptic = panel_now().review("skeptic")
    assert skeptic is not None and REGENERATED in skeptic.quote
    assert panel_now().revision == 3
    page.screenshot(path=str(tmp_path / "desk-panel.png"), full_page=True)

    desk.confirm_flags()  # the edit left dx flagged (missing beats): approving confirms it
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".actions .status")).to_have_text("approved")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".notice")).to_have_text("Published.")
    assert panel_now().status is Status.PUBLISHED

    page.get_by_role("link", name="Published page").click()
    page.wait_for_url(f"**/site/tools/{SLUG}.html")
    body = page.inner_text("body")
    assert EDITED in body and skeptic.quote in body
    assert page.locator("script").count() == 0
    desk.close()

    for name in ("desk-queue.png", "desk-panel.png"):
        stats = image_stats(browser, tmp_path / name)
        assert stats["width"] == DESKTOP["width"]
        assert stats["colours"] > 20, f"{name} looks blank: {stats}"  # (a dark header: no 'inked')
        if os.environ.get("PANEL_UPDATE_DOCS") == "1":
            shutil.copy(tmp_path / name, ROOT / "docs" / name)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_two_editors_on_one_quote_the_second_sees_the_conflict(
    browser: Browser, served: str, javascript: bool
) -> None:
    assert cli("draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed") == 0
    alice = Watched(browser, served)
    bob = Watched(browser, served, javascript=javascript)
    for desk, name in ((alice, "alice"), (bob, "bob")):
        desk.page.goto(f"{served}/panels/{SLUG}")
        desk.sign_as(name)
    alices = "Alice's take: the latency numbers hold up under a real workload."
    bobs = "Bob's take: the pricing page hides the egress cost, which changes the call."

    futurist = "Alice's unsaved futurist draft, typed before she saved the other review."
    alice.page.fill("#review-futurist textarea", futurist)
    alice.page.fill("#review-dx textarea", alices)
    alice.page.locator("#review-dx").get_by_role("button", name="Save").click()
    expect(alice.page.locator(".notice")).to_have_text("Saved dx's review.")
    # the page refreshed in place around the review she is still typing, and it still saves
    expect(alice.page.locator("#review-futurist textarea")).to_have_value(futurist)
    expect(alice.page.locator("#review-futurist")).to_have_class("card review dirty")
    alice.page.locator("#review-futurist").get_by_role("button", name="Save").click()
    expect(alice.page.locator(".notice")).to_have_text("Saved futurist's review.")
    saved = panel_now().review("futurist")
    assert saved is not None and saved.quote == futurist

    bob.page.fill("#review-dx textarea", bobs)
    bob.page.locator("#review-dx").get_by_role("button", name="Save").click()
    conflict = bob.page.locator("[data-conflict]")
    expect(conflict).to_be_visible()
    expect(conflict.locator("#mine-quote")).to_have_value(bobs)
    expect(conflict.locator(".their-quote")).to_have_text(alices)
    expect(conflict.locator(".changed-by")).to_have_text("alice")
    review = panel_now().review("dx")
    assert review is not None and review.quote == alices  # nothing was overwritten

    conflict.get_by_role("button", name="Save my version as revision 4").click()
    expect(bob.page.locator("#review-dx textarea")).to_have_value(bobs)
    review = panel_now().review("dx")
    assert review is not None and review.quote == bobs

    bob.page.goto(f"{served}/panels/{SLUG}/history")
    history = bob.page.inner_text("main")
    assert alices in history and bobs in history  # both versions are in the audit trail
    assert [e.inner_text() for e in bob.page.locator(".entry .who").all()][:3] == [
        "bob",
        "alice",
        "alice",
    ]
    alice.close()
    bob.close()


def test_a_form_on_another_site_changes_nothing(browser: Browser, served: str) -> None:
    assert cli("draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed") == 0
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{served}/panels/{SLUG}")  # the editor's session: cookies are set
    forged = f"""<!doctype html><body>
    <form id="f" method="post" action="{served}/panels/{SLUG}/approve">
      <input name="revision" value="1"><input name="csrf" value="guess.deadbeef">
    </form>
    <script>document.getElementById('f').submit()</script></body>"""
    pages = {"http://evil.test/form": forged, "http://evil.test/blank": "<!doctype html><p>hi"}
    page.route(
        "http://evil.test/**",
        lambda route: route.fulfill(body=pages[route.request.url], content_type="text/html"),
    )
    with page.expect_response(f"{served}/panels/{SLUG}/approve") as answer:
        page.goto("http://evil.test/form")
    assert answer.value.status == 403
    page.goto("http://evil.test/blank")
    result = page.evaluate(
        """async (url) => {
            try {
                const r = await fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include',
                    body: new URLSearchParams({revision: '1'})});
                return r.type;
            } catch (e) { return 'blocked'; }
        }""",
        f"{served}/panels/{SLUG}/reject",
    )
    assert result in ("opaque", "blocked")
    context.close()
    panel = panel_now()
    assert (panel.revision, panel.status) == (1, Status.DRAFT)
