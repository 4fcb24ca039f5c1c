"""Publishing: status rules, the files written, the index and the Atom feed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from panel.cli import main
from panel.pages.publish import write_atomic
from panel.paths import default_db, outputs_dir
from panel.records import Status
from panel.store import Store, open_store
from panel.store.comparisons import get_comparison, save_comparison
from tests.pages_support import make_panel, store_comparison, store_panel, store_sample

# Pages, not the claims gate (tests/store/test_approval.py): fake drafts name rivals.
pytestmark = pytest.mark.usefixtures("claims_not_required")

ATOM = "{http://www.w3.org/2005/Atom}"
SAMPLE = "claude-haiku-open-weights-vs-gpt-5-mini-api"


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


def site() -> Path:
    return outputs_dir() / "site"


def site_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_draft_needs_force(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store_sample(store)
    assert main(["publish", SAMPLE]) == 2
    err = capsys.readouterr().err
    # every blocker at once: the comparison and both of its panels are drafts
    assert f"panel: error: cannot publish comparison {SAMPLE!r}: 3 things to settle first:" in err
    for record in (
        "panel claude-haiku-open-weights",
        "panel gpt-5-mini-api",
        f"comparison {SAMPLE}",
    ):
        assert f"  - {record} is a draft (revision 1): approve it first" in err
    assert err.splitlines()[-1] == "(or pass --force to publish drafts without approval)"
    assert not site().exists()
    assert get_comparison(store, SAMPLE).status is Status.DRAFT


def test_force_publishes_the_comparison_and_both_panels(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store_sample(store)
    assert main(["publish", SAMPLE, "--force"]) == 0
    out = capsys.readouterr().out
    assert f"published comparison {SAMPLE} to {site()}" in out
    assert site_files(site()) == {
        f"compare/{SAMPLE}.html",
        f"compare/{SAMPLE}.md",
        f"compare/{SAMPLE}.json",
        "tools/claude-haiku-open-weights.html",
        "tools/claude-haiku-open-weights.md",
        "tools/claude-haiku-open-weights.json",
        "tools/gpt-5-mini-api.html",
        "tools/gpt-5-mini-api.md",
        "tools/gpt-5-mini-api.json",
        "index.html",
        "feed.xml",
    }
    assert get_comparison(store, SAMPLE).status is Status.PUBLISHED
    for slug in ("claude-haiku-open-weights", "gpt-5-mini-api"):
        assert store.get_panel(slug).status is Status.PUBLISHED
        assert store.history("panel", slug)[-1]["action"] == "publish"
    assert [h["action"] for h in store.history("comparison", SAMPLE)] == ["compare", "publish"]
    data = json.loads((site() / f"compare/{SAMPLE}.json").read_text(encoding="utf-8"))
    assert data["comparison"]["status"] == "published"
    index = (site() / "index.html").read_text(encoding="utf-8")
    assert f'href="compare/{SAMPLE}.html"' in index
    assert 'href="tools/gpt-5-mini-api.html"' in index
    tool = (site() / "tools/gpt-5-mini-api.html").read_text(encoding="utf-8")
    assert "Compared with" in tool and f'href="../compare/{SAMPLE}.html"' in tool
    # republishing changes no record and leaves no temporary files behind
    assert main(["publish", SAMPLE]) == 0
    assert len(store.history("comparison", SAMPLE)) == 2
    assert not [p for p in site().rglob("*") if p.name.startswith(".")]


def test_approved_records_publish_without_force_and_rejected_never(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    comparison = store_sample(store)
    for slug in (comparison.a_slug, comparison.b_slug):
        panel = store.get_panel(slug)
        store.save_panel(
            panel.model_copy(update={"status": Status.APPROVED}),
            expected_revision=panel.revision,
            editor="ed",
            action="approve",
        )
    approved = save_comparison(
        store,
        comparison.model_copy(update={"status": Status.APPROVED}),
        expected_revision=1,
        editor="ed",
        action="approve",
    )
    out = tmp_path / "public"
    assert main(["publish", SAMPLE, "--out", str(out)]) == 0
    assert (out / f"compare/{SAMPLE}.html").is_file()
    published = get_comparison(store, SAMPLE)
    save_comparison(
        store,
        published.model_copy(update={"status": Status.REJECTED, "reason": "stale"}),
        expected_revision=approved.revision + 1,
        editor="ed",
        action="reject",
    )
    capsys.readouterr()
    assert main(["publish", SAMPLE, "--force", "--out", str(out)]) == 2
    assert "was rejected" in capsys.readouterr().err


def test_a_panel_publishes_on_its_own(store: Store) -> None:
    store_panel(store, make_panel("Solo", "ynyy", category="Databases", entry="Freemium"))
    assert main(["publish", "solo", "--force"]) == 0
    assert site_files(site()) == {
        "tools/solo.html",
        "tools/solo.md",
        "tools/solo.json",
        "index.html",
        "feed.xml",
    }
    index = (site() / "index.html").read_text(encoding="utf-8")
    assert "Solo" in index and "Databases" in index and "75%" in index
    feed = ET.parse(site() / "feed.xml").getroot()
    assert feed.findall(f"{ATOM}entry") == []


def test_feed_has_one_entry_per_published_comparison(store: Store) -> None:
    hub = store_panel(store, make_panel("Hub", "ynyn"))
    for rival in ("One", "Two", "Three"):
        store_comparison(store, hub, make_panel(f"Rival {rival}", "yyyy"))
    assert main(["publish", "hub-vs-rival-one", "--force"]) == 0
    assert main(["publish", "hub-vs-rival-two", "--force", "--base-url", "https://x.example"]) == 0
    root = ET.parse(site() / "feed.xml").getroot()  # well-formed XML or this raises
    assert root.tag == f"{ATOM}feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}base") == "https://x.example/"
    for name in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{name}") is not None, name
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 2  # rival three is still a draft
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert titles == [
        "Hub vs Rival Two — which one should you ship with?",
        "Hub vs Rival One — which one should you ship with?",
    ]
    ids: set[str] = set()
    for entry in entries:
        for name in ("id", "title", "updated", "summary"):
            assert entry.findtext(f"{ATOM}{name}"), name
        ids.add(entry.findtext(f"{ATOM}id") or "")
        link = entry.find(f"{ATOM}link")
        assert link is not None and (site() / link.get("href", "")).is_file()
        assert (entry.findtext(f"{ATOM}updated") or "").endswith("Z")
    assert len(ids) == 2 and all(i.startswith("urn:uuid:") for i in ids)
    summary = entries[1].findtext(f"{ATOM}summary")
    assert summary == "Rival One: 4/4 ship; Hub: 2/4 — the skeptic and the operator skip Hub"
    index = (site() / "index.html").read_text(encoding="utf-8")
    assert "Hub vs Rival One" in index and "Hub vs Rival Two" in index
    assert "Hub vs Rival Three" not in index


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["publish", "ghost"], 4, "no comparison or panel 'ghost'"),
        (["publish", "a-vs-b", "--force", "--base-url", "javascript:x"], 2, "--base-url"),
        (["publish", "a-vs-b", "--force", "--kind", "panel"], 4, "no panel 'a-vs-b'"),
    ],
)
def test_publish_errors_are_one_line(
    store: Store, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    store_comparison(store, make_panel("A", "yyyy"), make_panel("B", "nnnn"))
    assert main(args) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_slug_naming_a_panel_and_a_comparison_needs_kind(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store_comparison(store, make_panel("A", "yyyy"), make_panel("B", "nnnn"))
    store_panel(store, make_panel("A vs B", "yyyy"))
    assert main(["publish", "a-vs-b", "--force"]) == 2
    assert "pass --kind panel|comparison" in capsys.readouterr().err
    assert main(["publish", "a-vs-b", "--force", "--kind", "panel"]) == 0
    assert (site() / "tools/a-vs-b.html").is_file()
    assert not (site() / "compare").exists()


def test_a_broken_template_changes_nothing(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store_sample(store)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "feed.xml").write_text("{{ index.missing }}", encoding="utf-8")
    assert main(["publish", SAMPLE, "--force", "--templates", str(templates)]) == 2
    assert "template 'feed.xml'" in capsys.readouterr().err
    assert get_comparison(store, SAMPLE).status is Status.DRAFT
    assert not site().exists()


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "page.html"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text(encoding="utf-8") == "two"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]


def test_published_pages_are_snapshots_until_the_next_publish(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    from panel.status import Gate, change_status
    from panel.workflow import Edit, edit_review

    store_sample(store)
    gate = Gate(require_verified_claims=False, accept_flags=True)
    change_status(
        store, "comparison", SAMPLE, "approve", expected_revision=None, editor="ed", gate=gate
    )
    assert main(["publish", SAMPLE]) == 0
    live_quote = store.get_panel("gpt-5-mini-api").reviews[0].quote
    edit_review(
        store,
        "gpt-5-mini-api",
        Edit("dx", quote="A brand new draft quote."),
        expected_revision=None,
        editor="ed",
    )
    assert store.get_panel("gpt-5-mini-api").status is Status.DRAFT
    # publishing something else rebuilds the index and the feed from published snapshots
    other = make_panel("Other Tool", "yyny")
    store_panel(store, other)
    assert main(["publish", other.slug, "--force"]) == 0
    capsys.readouterr()
    page = (site() / "tools/gpt-5-mini-api.json").read_text(encoding="utf-8")
    assert (
        "A brand new draft quote." not in page
        and json.loads(page)["panel"]["reviews"][0]["quote"] == live_quote
    )
    index = (site() / "index.html").read_text(encoding="utf-8")
    assert f'href="compare/{SAMPLE}.html"' in index, "an edited record stays live"
    # the draft cannot go live without approval; once approved, the new text is published
    assert main(["publish", "gpt-5-mini-api"]) == 2
    change_status(
        store,
        "panel",
        "gpt-5-mini-api",
        "approve",
        expected_revision=None,
        editor="ed",
        gate=gate,  # the short quote misses the builder's beats: flags accepted
    )
    assert main(["publish", "gpt-5-mini-api"]) == 0
    page = (site() / "tools/gpt-5-mini-api.json").read_text(encoding="utf-8")
    assert "A brand new draft quote." in page


def test_publish_refuses_a_record_changed_since_it_was_seen(store: Store) -> None:
    from panel.errors import ConflictError
    from panel.pages.publish import publish

    store_sample(store)
    seen = get_comparison(store, SAMPLE).revision
    panel_seen = store.get_panel("gpt-5-mini-api").revision
    store_panel_edit = store.get_panel("gpt-5-mini-api")
    store.save_panel(store_panel_edit, expected_revision=panel_seen, editor="other", action="edit")
    with pytest.raises(ConflictError, match="panel 'gpt-5-mini-api' changed since revision"):
        publish(
            store,
            SAMPLE,
            editor="ed",
            force=True,
            expected={SAMPLE: seen, "gpt-5-mini-api": panel_seen},
        )
    assert get_comparison(store, SAMPLE).status is Status.DRAFT
    assert not site().exists()


def test_force_never_publishes_failed_reviews(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    from panel.records import Verdict
    from panel.workflow import Edit, edit_review

    store_panel(store, make_panel("Solo", "yxyy"))
    assert main(["publish", "solo", "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot publish panel 'solo': skeptic failed; regenerate or edit" in err
    assert "panel regenerate solo -p skeptic" in err
    assert not site().exists()
    assert store.get_panel("solo").status is Status.DRAFT
    assert [h["action"] for h in store.history("panel", "solo")] == ["draft"]
    # the fix it names works, and a normal publish (approved, no --force) goes through
    edit_review(
        store,
        "solo",
        Edit("skeptic", verdict=Verdict.SKIP, quote="I would wait a year."),
        expected_revision=None,
        editor="ed",
    )
    assert main(["approve", "solo"]) == 2  # the short quote misses beats: flagged
    assert "flags not dismissed: skeptic: missing beats" in capsys.readouterr().err
    assert main(["approve", "solo", "--accept-flags"]) == 0
    assert main(["publish", "solo"]) == 0
    assert store.get_panel("solo").status is Status.PUBLISHED
    assert "I would wait a year." in (site() / "tools/solo.html").read_text(encoding="utf-8")
    assert store.history("panel", "solo")[-1]["detail"] == "approved → published"


def test_force_never_publishes_a_comparison_whose_panel_failed(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store_comparison(store, make_panel("A", "yyyy"), make_panel("B", "ynxy"))
    assert main(["publish", "a-vs-b", "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot publish comparison 'a-vs-b': panel 'b': futurist failed" in err
    assert "panel regenerate b -p futurist" in err
    assert not site().exists()
    # nothing was marked published, not even the complete panel
    assert get_comparison(store, "a-vs-b").status is Status.DRAFT
    assert store.get_panel("a").status is Status.DRAFT
    assert main(["publish", "b", "--force"]) == 2
    assert "cannot publish panel 'b': futurist failed" in capsys.readouterr().err
    assert not site().exists()
