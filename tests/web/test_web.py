"""The web review desk over HTTP (Starlette's TestClient): pages, edits through the
workflow, conflicts, escaping, and the guards (CSRF, origin, host, token)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from panel.cli import main
from panel.paths import default_db, outputs_dir
from panel.providers.fake import FakeProvider
from panel.records import Status
from panel.status import Gate, change_status
from panel.web import create_app
from panel.web.security import is_loopback
from panel.workflow import Edit, edit_review
from tests.web.support import (
    BASE,
    HOSTILE_QUOTE,
    SLUG,
    csrf_of,
    desk,
    form_for,
    fresh_store,
    panel_now,
    post,
)

# -- pages ----------------------------------------------------------------------------------


def test_queue_filters_by_status_and_category_and_sorts_by_ship_share(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-slug="([^"]+)" data-kind="(\w+)"', page.text)
    assert rows == [(SLUG, "panel"), ("zed-cloud", "panel"), (f"{SLUG}-vs-zed-cloud", "comparison")]
    assert "Developer Tools" in page.text and "Infrastructure" in page.text

    by_share = client.get("/?sort=ship-low").text
    assert re.findall(r'<tr data-slug="([^"]+)"', by_share)[:2] == [
        "zed-cloud",
        f"{SLUG}-vs-zed-cloud",
    ]
    assert re.findall(r'<tr data-slug="([^"]+)"', client.get("/?sort=ship").text)[0] == SLUG

    tools = client.get("/?category=Infrastructure").text
    assert re.findall(r'<tr data-slug="([^"]+)"', tools) == ["zed-cloud", f"{SLUG}-vs-zed-cloud"]

    with fresh_store() as store:
        change_status(store, "panel", SLUG, "approve", expected_revision=1, editor="e")
    assert re.findall(r'<tr data-slug="([^"]+)"', client.get("/").text) == [
        "zed-cloud",
        f"{SLUG}-vs-zed-cloud",
    ]
    approved = client.get("/?status=approved").text
    assert re.findall(r'<tr data-slug="([^"]+)"', approved) == [SLUG]
    assert len(re.findall(r"<tr data-slug", client.get("/?status=all").text)) == 3


def test_panel_page_has_an_editable_form_per_review(client: TestClient) -> None:
    page = client.get(f"/panels/{SLUG}")
    assert page.status_code == 200
    for persona in ("dx", "skeptic", "futurist", "business"):
        assert f'action="/panels/{SLUG}/reviews/{persona}/edit"' in page.text
        assert f'action="/panels/{SLUG}/reviews/{persona}/regenerate"' in page.text
    assert page.text.count('name="revision" value="1"') >= 8
    assert f'action="/panels/{SLUG}/approve"' in page.text
    assert f'action="/panels/{SLUG}/reject"' in page.text
    assert f'action="/panels/{SLUG}/publish"' not in page.text  # a draft cannot be published
    assert "content-security-policy" in page.headers
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "panel_csrf" in page.cookies


def test_comparison_page_shows_the_page_as_it_will_be_published(client: TestClient) -> None:
    slug = f"{SLUG}-vs-zed-cloud"
    page = client.get(f"/comparisons/{slug}")
    assert page.status_code == 200
    assert f'<iframe class="preview" src="/preview/compare/{slug}.html"' in page.text
    for tool in (SLUG, "zed-cloud"):
        with fresh_store() as store:
            change_status(store, "panel", tool, "approve", expected_revision=1, editor="e")
    with fresh_store() as store:
        change_status(store, "comparison", slug, "approve", expected_revision=1, editor="e")
    preview = client.get(f"/preview/compare/{slug}.html")
    assert preview.status_code == 200
    assert "script-src" not in preview.headers["content-security-policy"]
    fields = form_for(client, f"/comparisons/{slug}")
    assert 'name="panel_revision" value="acme-agent:2"' in client.get(f"/comparisons/{slug}").text
    response = client.post(
        f"/comparisons/{slug}/publish",
        data={**fields, "panel_revision": ["acme-agent:2", "zed-cloud:2"]},
    )
    assert response.status_code == 200 and "Published." in response.text
    written = (outputs_dir() / "site" / "compare" / f"{slug}.html").read_text(encoding="utf-8")

    def body(html: str) -> str:
        return html[html.index("<main>") : html.index("</main>")]

    assert body(preview.text) == body(written)  # same page; only the footer's revision moved on
    assert client.get(f"/site/compare/{slug}.html").text == written


def test_history_shows_who_changed_what_with_the_quote_diff(client: TestClient) -> None:
    client.post("/editor", data={"csrf": form_for(client)["csrf"], "name": "Ada <Lovelace>"})
    fields = form_for(client)
    client.post(
        f"/panels/{SLUG}/reviews/business/edit",
        data={**fields, "verdict": "ship", "quote": "The Operator on Acme Agent: ship after all."},
    )
    page = client.get(f"/panels/{SLUG}/history")
    assert page.status_code == 200
    assert "Ada &lt;Lovelace&gt;" in page.text and "Ada <Lovelace>" not in page.text
    assert '<span class="diff-del">-The Operator on Acme Agent: skip.</span>' in page.text
    assert '<span class="diff-add">+The Operator on Acme Agent: ship after all.</span>' in page.text
    assert "business verdict skip → ship" in page.text
    old = client.get(f"/panels/{SLUG}/history/1")
    assert old.status_code == 200 and "The Operator on Acme Agent: skip." in old.text
    assert client.get(f"/panels/{SLUG}/history/9").status_code == 404


# -- changes through the workflow -----------------------------------------------------------


def test_edit_saves_a_new_revision_and_redirects(client: TestClient) -> None:
    response = post(
        client,
        f"/panels/{SLUG}/reviews/dx/edit",
        **form_for(client),
        verdict="skip",
        quote="  A fresh\n take.  ",
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/panels/{SLUG}?done=edit&persona=dx#review-dx"
    panel = panel_now()
    review = panel.review("dx")
    assert review is not None
    assert (panel.revision, review.quote, review.verdict) == (2, "A fresh take.", "skip")
    assert review.human_edited
    with fresh_store() as store:
        assert store.history("panel", SLUG)[-1]["editor"] == "tester"
    page = client.get(response.headers["location"])
    assert "Saved dx&#39;s review." in page.text


def test_a_refused_edit_keeps_the_text_and_its_revision(client: TestClient) -> None:
    fields = form_for(client)
    with fresh_store() as store:  # someone else edits another reviewer meanwhile
        edit_review(
            store, SLUG, Edit("business", quote="Moved on."), expected_revision=1, editor="x"
        )
    response = post(client, f"/panels/{SLUG}/reviews/dx/edit", **fields, verdict="", quote="   ")
    assert response.status_code == 400
    assert "Not saved: the quote is empty" in response.text
    # the dx form still names revision 1: saving it again must not skip the conflict check
    dx_form = response.text[response.text.index('id="review-dx"') :]
    assert re.search(r'name="revision" value="(\d+)"', dx_form).group(1) == "1"  # type: ignore[union-attr]
    assert panel_now().revision == 2


def test_regenerate_one_persona_keeps_the_others(client: TestClient, fake: FakeProvider) -> None:
    before = panel_now()
    response = post(client, f"/panels/{SLUG}/reviews/skeptic/regenerate", **form_for(client))
    assert response.status_code == 303
    after = panel_now()
    assert after.revision == 2
    skeptic = after.review("skeptic")
    assert skeptic is not None and skeptic.provenance is not None
    assert skeptic.provenance.model == "fake:mixed"
    assert skeptic.quote != before.review("skeptic").quote  # type: ignore[union-attr]
    assert [r.quote for r in after.reviews if r.persona_id != "skeptic"] == [
        r.quote for r in before.reviews if r.persona_id != "skeptic"
    ]
    assert len(fake.calls) == 1


def test_reject_needs_a_reason_then_approve_and_publish(client: TestClient) -> None:
    refused = post(client, f"/panels/{SLUG}/reject", **form_for(client), reason=" ")
    assert refused.status_code == 400 and "needs a reason" in refused.text
    assert panel_now().status is Status.DRAFT
    rejected = post(client, f"/panels/{SLUG}/reject", **form_for(client), reason="Too <thin>")
    assert rejected.status_code == 303
    assert (panel_now().status, panel_now().reason) == (Status.REJECTED, "Too <thin>")
    assert "Too &lt;thin&gt;" in client.get(f"/panels/{SLUG}").text
    illegal = post(client, f"/panels/{SLUG}/approve", **form_for(client))
    assert illegal.status_code == 400 and "it was rejected" in illegal.text

    post(client, f"/panels/{SLUG}/reviews/dx/edit", **form_for(client), quote="Reopened.")
    # the edit left a flag (missing beats): approving it is confirming it
    approve = post(client, f"/panels/{SLUG}/approve", **form_for(client), accept_flags="1")
    assert approve.status_code == 303
    published = post(client, f"/panels/{SLUG}/publish", **form_for(client))
    assert published.status_code == 303
    assert panel_now().status is Status.PUBLISHED
    page = client.get(f"/site/tools/{SLUG}.html")
    assert page.status_code == 200 and "Reopened." in page.text
    assert f'href="/site/tools/{SLUG}.html"' in client.get(f"/panels/{SLUG}").text


# -- conflicts ------------------------------------------------------------------------------


def test_stale_edit_shows_the_conflict_with_both_texts(client: TestClient) -> None:
    fields = form_for(client)
    with fresh_store() as store:
        edit_review(
            store,
            SLUG,
            Edit("dx", quote="Alice's newer take."),
            expected_revision=1,
            editor="alice",
        )
    mine = "Bob's <em>own</em> take."
    response = post(client, f"/panels/{SLUG}/reviews/dx/edit", **fields, verdict="ship", quote=mine)
    assert response.status_code == 409
    assert "Bob&#39;s &lt;em&gt;own&lt;/em&gt; take." in response.text  # mine, escaped
    assert "Alice&#39;s newer take." in response.text  # theirs
    assert '<strong class="changed-by">alice</strong>' in response.text
    assert "Save my version as revision 3" in response.text
    assert panel_now().review("dx").quote == "Alice's newer take."  # type: ignore[union-attr]
    # the conflict form re-submits against the current revision: nothing is lost
    again = post(
        client,
        f"/panels/{SLUG}/reviews/dx/edit",
        csrf=csrf_of(response.text),
        revision="2",
        verdict="ship",
        quote=mine,
    )
    assert again.status_code == 303
    assert panel_now().review("dx").quote == mine  # type: ignore[union-attr]
    with fresh_store() as store:
        details = "\n".join(e["detail"] for e in store.history("panel", SLUG))
    assert "Alice's newer take." in details and mine in details


@pytest.mark.parametrize("action", ["approve", "publish", "regenerate"])
def test_stale_status_changes_are_refused(client: TestClient, action: str) -> None:
    fields = form_for(client)
    with fresh_store() as store:
        edit_review(store, SLUG, Edit("dx", quote="Changed."), expected_revision=1, editor="carol")
        if action == "publish":
            change_status(
                store,
                "panel",
                SLUG,
                "approve",
                expected_revision=2,
                editor="carol",
                gate=Gate(accept_flags=True),
            )
    path = (
        f"/panels/{SLUG}/reviews/dx/regenerate"
        if action == "regenerate"
        else f"/panels/{SLUG}/{action}"
    )
    before = panel_now()
    response = post(client, path, **fields)
    assert response.status_code == 409
    assert "carol" in response.text and "changed since revision 1" in response.text
    assert panel_now() == before


# -- guards ---------------------------------------------------------------------------------


def test_posts_without_a_valid_csrf_token_change_nothing(client: TestClient) -> None:
    fields = form_for(client)
    edit = f"/panels/{SLUG}/reviews/dx/edit"
    forged = "x" * 32 + "." + "0" * 64
    for data in (
        {"revision": "1", "quote": "Forged."},
        {"revision": "1", "quote": "Forged.", "csrf": ""},
        {"revision": "1", "quote": "Forged.", "csrf": forged},
    ):
        response = post(client, edit, **data)
        assert response.status_code == 403
        assert "Nothing was changed" in response.text
    assert post(client, f"/panels/{SLUG}/approve", revision="1").status_code == 403
    # a genuine token of another session is no good with this session's cookie
    with desk() as other:
        theirs = form_for(other)["csrf"]
    assert theirs != fields["csrf"]
    assert post(client, edit, revision="1", quote="Forged.", csrf=theirs).status_code == 403
    # and a valid form field without the cookie is refused too
    client.cookies.clear()
    assert post(client, edit, revision="1", quote="Forged.", csrf=fields["csrf"]).status_code == 403
    assert panel_now().revision == 1 and panel_now().status is Status.DRAFT


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_posts_from_another_origin_change_nothing(
    client: TestClient, headers: dict[str, str]
) -> None:
    fields = form_for(client)
    for path, extra in (
        (f"/panels/{SLUG}/reviews/dx/edit", {"quote": "From elsewhere."}),
        (f"/panels/{SLUG}/approve", {}),
        ("/editor", {"name": "mallory"}),
    ):
        response = client.post(
            path, data={**fields, **extra}, headers=headers, follow_redirects=False
        )
        assert response.status_code == 403, path
    assert panel_now().revision == 1
    assert "mallory" not in client.get("/").text
    same = client.post(
        f"/panels/{SLUG}/approve", data=fields, headers={"Origin": BASE}, follow_redirects=False
    )
    assert same.status_code == 303 and panel_now().status is Status.APPROVED


def test_without_a_token_only_loopback_host_names_are_answered(seeded: None) -> None:
    app = create_app(default_db(), secret="s")
    with TestClient(app, base_url="http://desk.evil.example:8000") as rebound:
        assert rebound.get("/").status_code == 403
    for base in ("http://localhost:8000", "http://[::1]:8000", BASE):
        with TestClient(app, base_url=base) as local:
            assert local.get("/").status_code == 200, base
    assert is_loopback("127.0.0.2") and not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.4") and not is_loopback("localhost.evil.example")


def test_a_token_is_required_on_every_request_when_set(seeded: None) -> None:
    with desk("http://desk.example:8000", token="s3cret-token") as client:  # any host, with it
        for path in ("/", f"/panels/{SLUG}", "/static/desk.js", f"/preview/tools/{SLUG}.html"):
            assert client.get(path).status_code == 401, path
        assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/?token=wrong").status_code == 401
        assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        signin = client.get(f"/panels/{SLUG}?token=s3cret-token", follow_redirects=False)
        assert signin.status_code == 303 and signin.headers["location"] == f"/panels/{SLUG}"
        assert "httponly" in signin.headers["set-cookie"].lower()
        assert client.get("/").status_code == 200  # the cookie now carries it
        fields = form_for(client)
        assert post(client, f"/panels/{SLUG}/approve", revision="1").status_code == 403
        assert post(client, f"/panels/{SLUG}/approve", **fields).status_code == 303
        client.cookies.delete("panel_token")
        assert post(client, f"/panels/{SLUG}/reject", **fields, reason="x").status_code == 401
    assert panel_now().status is Status.APPROVED


def test_user_text_is_escaped_everywhere(client: TestClient) -> None:
    post(client, f"/panels/{SLUG}/reviews/dx/edit", **form_for(client), quote=HOSTILE_QUOTE)
    client.post("/editor", data={"csrf": form_for(client)["csrf"], "name": "<script>x</script>"})
    stale = {"csrf": form_for(client)["csrf"], "revision": "1"}
    conflict = post(client, f"/panels/{SLUG}/reviews/dx/edit", **stale, quote=HOSTILE_QUOTE + "!")
    assert conflict.status_code == 409
    pages = [
        client.get("/").text,
        client.get(f"/panels/{SLUG}").text,
        client.get(f"/panels/{SLUG}/history").text,
        client.get(f"/panels/{SLUG}/history/2").text,
        client.get(f"/preview/tools/{SLUG}.html").text,
        client.get(f"/comparisons/{SLUG}-vs-zed-cloud").text,
        client.get("/?category=<script>alert(1)</script>").text,
        client.get("/nothing/here").text,
        conflict.text,
    ]
    for html in pages:
        assert "<script>window.__pwned" not in html
        assert "<img src=x" not in html
        assert "<script>x</script>" not in html and "<script>alert(1)" not in html
        assert "</textarea><script>" not in html
    panel_page = pages[1]
    assert "&lt;/textarea&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in panel_page
    assert "&lt;img src=x onerror=alert(1)&gt;Agents that ship" in panel_page
    assert "&lt;script&gt;x&lt;/script&gt;" in panel_page  # the editor's name


def test_editor_name_is_remembered_and_used_in_the_audit_trail(client: TestClient) -> None:
    response = client.post(
        "/editor",
        data={
            "csrf": form_for(client)["csrf"],
            "name": "  Grace\x07 Hopper ",
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert 'value="Grace Hopper"' in client.get("/").text
    post(client, f"/panels/{SLUG}/approve", **form_for(client))
    with fresh_store() as store:
        assert store.history("panel", SLUG)[-1]["editor"] == "Grace Hopper"


def test_missing_records_are_404(client: TestClient) -> None:
    assert client.get("/panels/no-such-tool").status_code == 404
    assert client.get("/comparisons/no-such-pair").status_code == 404
    assert client.get("/preview/tools/no-such-tool.html").status_code == 404
    assert client.get("/elsewhere/x").status_code == 404
    fields = form_for(client)
    assert post(client, "/panels/no-such-tool/approve", **fields).status_code == 404


# -- the command ----------------------------------------------------------------------------


def test_serve_refuses_a_public_host_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PANEL_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pass --token" in err
    assert main(["serve", "--host", "0.0.0.0", "--token", "short"]) == 2
    assert "too short" in capsys.readouterr().err


def test_serve_starts_uvicorn_with_the_desk(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("PANEL_TOKEN", "from-env-0123456789")
    assert main(["--editor-name", "Ed", "serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 8123)
    desk_config = seen["app"].state.desk
    assert (desk_config.token, desk_config.editor, desk_config.db) == (
        "from-env-0123456789",
        "Ed",
        default_db(),
    )
    assert "from-env-0123456789" not in capsys.readouterr().err  # the token is never printed


def test_the_guards_refusals_carry_the_security_headers(seeded: None) -> None:
    app = create_app(default_db(), secret="s")
    with TestClient(app, base_url="http://desk.evil.example:8000") as rebound:
        forbidden = rebound.get("/")
    with desk("http://desk.example:8000", token="s3cret-token") as client:
        unauthorized = client.get("/")
        wrong = client.get("/?token=wrong")
        cross_site = client.post(
            f"/panels/{SLUG}/approve",
            headers={"Authorization": "Bearer s3cret-token", "Origin": "https://evil.example"},
        )
    for response, status in (
        (forbidden, 403),
        (unauthorized, 401),
        (wrong, 401),
        (cross_site, 403),
    ):
        assert response.status_code == status
        assert "default-src" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["cache-control"] == "no-store"


def test_a_failed_regenerate_keeps_the_review_and_says_why(
    client: TestClient, fake: FakeProvider
) -> None:
    from panel.providers import ProviderError

    before = panel_now().review("skeptic")
    fatal = ProviderError("OPENAI_API_KEY is not set or invalid (status 401)", retryable=False)
    fake.script(fatal)
    response = post(client, f"/panels/{SLUG}/reviews/skeptic/regenerate", **form_for(client))
    assert response.status_code == 502
    assert "regenerating skeptic failed, the review was kept as it was" in response.text
    assert "OPENAI_API_KEY is not set or invalid" in response.text
    after = panel_now()
    assert after.revision == 1 and after.review("skeptic") == before
