"""The comparison as one unit at the desk (HTTP): approve all, approve and publish, the
live pages that go stale when a published panel changes, and republishing them."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from panel.paths import outputs_dir
from panel.records import Status
from panel.store.comparisons import get_comparison
from panel.workflow import Edit, edit_review
from tests.web.support import OTHER, PAIR, SLUG, form_for, fresh_store, panel_now, post

COMPARISON = f"/comparisons/{PAIR}"
NEW_QUOTE = "A second look at Acme Agent: the agent loop is solid and the docs are honest."


def shown(client: TestClient) -> dict[str, str | list[str]]:
    """The comparison page's hidden fields: CSRF, its revision and its panels' revisions."""
    html = client.get(COMPARISON).text
    fields: dict[str, str | list[str]] = {**form_for(client, COMPARISON)}
    fields["panel_revision"] = sorted(
        set(re.findall(r'name="panel_revision" value="([^"]+)"', html))
    )
    return fields


def statuses() -> tuple[Status, Status, Status]:
    """The statuses of both panels and the comparison."""
    with fresh_store() as store:
        comparison = get_comparison(store, PAIR)
    return panel_now(SLUG).status, panel_now(OTHER).status, comparison.status


def site(relative: str) -> str:
    """A published file of the site."""
    return (outputs_dir() / "site" / relative).read_text(encoding="utf-8")


def test_approve_all_approves_the_comparison_with_both_panels(client: TestClient) -> None:
    page = client.get(COMPARISON).text
    assert ">Approve all</button>" in page and ">Approve and publish</button>" in page
    assert ">Publish</button>" not in page
    assert "Approves panel acme-agent, panel zed-cloud, comparison" in page
    cards = re.findall(r'data-claims="(\d+)".*?data-flags="(\d+)"', page, re.S)
    assert cards == [("0", "0"), ("0", "0")]

    response = post(client, f"{COMPARISON}/approve", **shown(client))
    assert response.status_code == 303
    assert statuses() == (Status.APPROVED, Status.APPROVED, Status.APPROVED)
    page = client.get(response.headers["location"]).text
    assert "Approved the comparison together with its draft panels." in page
    assert ">Publish</button>" in page and ">Approve all</button>" not in page


def test_approve_all_refuses_a_panel_that_changed_since_shown(client: TestClient) -> None:
    fields = shown(client)
    with fresh_store() as store:
        edit_review(store, OTHER, Edit("dx", quote="Moved on."), expected_revision=1, editor="dan")
    response = post(client, f"{COMPARISON}/approve", **fields)
    assert response.status_code == 409 and "zed-cloud" in response.text
    assert statuses() == (Status.DRAFT, Status.DRAFT, Status.DRAFT)


def test_approve_all_lists_every_blocker_of_the_unit(client: TestClient) -> None:
    with fresh_store() as store:  # an edit leaves dx flagged (missing beats) on both panels
        for slug in (SLUG, OTHER):
            edit_review(
                store, slug, Edit("dx", quote="Too short."), expected_revision=1, editor="e"
            )
    page = client.get(COMPARISON).text
    assert 'name="accept_flags" value="1" required' in page
    assert "I have read the flags: acme-agent dx: " in page
    response = post(client, f"{COMPARISON}/approve", **shown(client))
    assert response.status_code == 400
    listed = re.findall(r'<li class="blocker (\w+)">(.*?)</li>', response.text, re.S)
    assert [kind for kind, _ in listed] == ["flags", "flags"]
    assert "panel &#39;acme-agent&#39;" in listed[0][1] and "zed-cloud" in listed[1][1]
    assert statuses() == (Status.DRAFT, Status.DRAFT, Status.DRAFT)
    accepted = post(client, f"{COMPARISON}/approve", **shown(client), accept_flags="1")
    assert accepted.status_code == 303
    assert statuses() == (Status.APPROVED, Status.APPROVED, Status.APPROVED)


def test_approve_and_publish_writes_the_comparison_and_both_tool_pages(
    client: TestClient,
) -> None:
    response = post(client, f"{COMPARISON}/publish", **shown(client), approve="1")
    assert response.status_code == 303
    assert "done=approve-publish" in response.headers["location"]
    assert statuses() == (Status.PUBLISHED, Status.PUBLISHED, Status.PUBLISHED)
    comparison = site(f"compare/{PAIR}.html")
    assert "Acme Agent" in comparison and "Zed Cloud" in comparison
    assert "The Builder on Acme Agent: ship." in site(f"tools/{SLUG}.html")
    assert "Zed Cloud" in site(f"tools/{OTHER}.html")
    page = client.get(response.headers["location"]).text
    assert "Approved and published." in page
    assert ">Republish</button>" in page and "data-stale" not in page


def test_publishing_drafts_without_approval_lists_every_blocker(client: TestClient) -> None:
    response = post(client, f"{COMPARISON}/publish", **shown(client))
    assert response.status_code == 400
    listed = re.findall(r'<li class="blocker (\w+)">(.*?)</li>', response.text, re.S)
    assert [kind for kind, _ in listed] == ["status", "status", "status"]
    assert all("approve it first" in text for _, text in listed)
    assert "--force" not in response.text
    assert not (outputs_dir() / "site" / "compare" / f"{PAIR}.html").exists()


def test_an_edited_published_panel_makes_its_pages_stale_until_republished(
    client: TestClient,
) -> None:
    assert post(client, f"{COMPARISON}/publish", **shown(client), approve="1").status_code == 303
    post(client, f"/panels/{SLUG}/reviews/dx/edit", **form_for(client), quote=NEW_QUOTE)
    assert panel_now().status is Status.DRAFT

    page = client.get(COMPARISON).text
    banner = page[page.index("data-stale") : page.index("</div>", page.index("data-stale"))]
    assert "The live page is out of date." in banner and "panel acme-agent" in banner
    assert "Approve and republish" in banner
    assert re.search(r'data-slug="acme-agent".*?live tool page out of date', page, re.S)
    panel_page = client.get(f"/panels/{SLUG}").text
    assert "The live page is out of date." in panel_page
    assert re.search(rf'data-comparison="{PAIR}">.*?live page out of date', panel_page)
    queue = client.get("/").text
    stale = re.findall(r'<li data-stale="([^"]+)">', queue)
    assert stale == [f"panel:{SLUG}", f"comparison:{PAIR}"]
    only = re.findall(r'<tr data-slug="([^"]+)"', client.get("/?status=stale").text)
    assert sorted(only) == sorted([SLUG, PAIR])
    assert NEW_QUOTE not in site(f"compare/{PAIR}.html")  # live pages keep the published text

    again = client.get(COMPARISON).text
    assert ">Approve and republish</button>" in again
    response = post(client, f"{COMPARISON}/publish", **shown(client), approve="1", accept_flags="1")
    assert response.status_code == 303
    assert NEW_QUOTE in site(f"compare/{PAIR}.html") and NEW_QUOTE in site(f"tools/{SLUG}.html")
    assert statuses() == (Status.PUBLISHED, Status.PUBLISHED, Status.PUBLISHED)
    assert "data-stale" not in client.get(COMPARISON).text
    assert "<li data-stale" not in client.get("/").text


def test_republish_rebuilds_the_live_pages(client: TestClient) -> None:
    assert post(client, f"{COMPARISON}/publish", **shown(client), approve="1").status_code == 303
    page = outputs_dir() / "site" / "compare" / f"{PAIR}.html"
    page.write_text("tampered", encoding="utf-8")
    response = post(client, f"{COMPARISON}/publish", **shown(client))
    assert response.status_code == 303 and "done=republish" in response.headers["location"]
    assert "Acme Agent" in page.read_text(encoding="utf-8")
    assert "Republished" in client.get(response.headers["location"]).text


def test_publishing_a_panel_says_its_comparison_pages_were_rewritten(client: TestClient) -> None:
    assert post(client, f"{COMPARISON}/publish", **shown(client), approve="1").status_code == 303
    post(client, f"/panels/{SLUG}/reviews/dx/edit", **form_for(client), quote=NEW_QUOTE)
    approved = post(client, f"/panels/{SLUG}/approve", **form_for(client), accept_flags="1")
    assert approved.status_code == 303
    panel_page = client.get(f"/panels/{SLUG}").text
    assert ">Publish</button>" in panel_page
    response = post(client, f"/panels/{SLUG}/publish", **form_for(client))
    assert response.status_code == 303
    assert f"rewritten={PAIR}" in response.headers["location"]
    notice = client.get(response.headers["location"]).text
    assert f"showing it was rewritten too: {PAIR}." in notice
    assert NEW_QUOTE in site(f"compare/{PAIR}.html")
