"""A fifth persona file is a fifth reviewer on the published page; a renamed one breaks nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from panel.cli import main
from panel.pages.reads import pricing_remarks
from panel.paths import default_db, outputs_dir, personas_dir
from panel.providers.fake import FakeProvider
from panel.records import Review, ToolPanel, Verdict
from panel.store import open_store
from tests.conftest import EXAMPLES
from tests.drafting.test_personas import AUDITOR
from tests.pages_support import html_text, make_panel

HAIKU_SLUG = "claude-haiku-open-weights"
MINI_SLUG = "gpt-5-mini-api"
SLUG = f"{HAIKU_SLUG}-vs-{MINI_SLUG}"


@pytest.fixture
def personas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped persona folder, used through PANEL_PERSONAS."""
    folder = tmp_path / "personas"
    shutil.copytree(personas_dir(), folder)
    monkeypatch.setenv("PANEL_PERSONAS", str(folder))
    return folder


def draft_compare_approve_publish(capsys: pytest.CaptureFixture[str]) -> str:
    """`panel compare` (fake:mixed), approve all three records, `panel publish`; the output."""
    compare = ["compare", str(EXAMPLES / "claude-haiku-open-weights.yaml")]
    assert main([*compare, str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed"]) == 0
    for slug in (HAIKU_SLUG, MINI_SLUG, SLUG):
        assert main(["approve", slug]) == 0
    assert main(["publish", SLUG]) == 0, capsys.readouterr().err
    return " ".join(capsys.readouterr().out.split())


def page(path: str) -> str:
    return (outputs_dir() / "site" / path).read_text(encoding="utf-8")


def panels() -> list[ToolPanel]:
    store = open_store(default_db())
    return [store.get_panel(HAIKU_SLUG), store.get_panel(MINI_SLUG)]


def test_a_fifth_persona_file_is_a_fifth_reviewer_on_the_published_page(
    personas: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    (personas / "auditor.md").write_text(AUDITOR, encoding="utf-8")
    out = draft_compare_approve_publish(capsys)
    assert "Claude Haiku Open Weights: 3/5 ship; GPT-5 Mini API: 3/5" in out
    assert f"published comparison {SLUG}" in out
    html = page(f"compare/{SLUG}.html")
    assert "The Auditor" in html
    for panel in panels():
        ids = [r.persona_id for r in panel.reviews]
        assert ids == ["dx", "skeptic", "futurist", "business", "auditor"]
        auditor = panel.review("auditor")
        assert auditor is not None and auditor.verdict is Verdict.SHIP
        assert auditor.flags == [] and [b.covered for b in auditor.beats] == [True, True]
        for review in panel.reviews:
            assert html_text(review.quote) in html
            assert html_text(review.quote) in page(f"tools/{panel.slug}.html")
    assert html.count('data-persona="auditor"') == html.count('data-persona="dx"') > 0
    assert "the auditor" in page("index.html")
    assert "3 of 5 ship" in html
    # the auditor's calls went out like everyone else's: its questions in its system prompt
    systems = [request.system for _, request in fake.calls]
    assert sum("You are The Auditor, Security reviewer" in s for s in systems) == 2
    assert all("Three other" not in s for s in systems)


@pytest.mark.parametrize("new_id", [None, "operator"], ids=["name", "name-and-id"])
def test_a_renamed_persona_keeps_its_page_and_the_pricing_read(
    personas: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str], new_id: str | None
) -> None:
    business = personas / "business.md"
    text = business.read_text(encoding="utf-8").replace("The Operator", "The Money Desk")
    if new_id:
        text = text.replace("id: business\n", f"id: {new_id}\n")
    business.write_text(text, encoding="utf-8")
    out = draft_compare_approve_publish(capsys)
    assert "the skeptic and the money desk skip Claude Haiku Open Weights" in out
    html = page(f"compare/{SLUG}.html")
    assert "The Money Desk" in html and "The Operator" not in html
    for panel in panels():
        money = panel.review(new_id or "business")
        assert money is not None and money.persona_name == "The Money Desk"
        assert money.pricing_read and money.flags == []
        remarks = pricing_remarks(panel)
        assert remarks is not None and "metered usage with a free tier" in remarks
        tool = page(f"tools/{panel.slug}.html")
        assert "Pricing read:</strong> " + html_text(remarks) in tool
        assert html_text(money.quote) in tool
    assert html.count("Pricing read:") == 2
    assert "the money desk" in page("index.html")


def test_the_pricing_read_follows_the_flag_not_an_id() -> None:
    quote = "The buyer is a platform team. The pricing is metered per token. The moat is thin."
    panel = make_panel("A", "yyyy", quotes={"business": quote})
    assert pricing_remarks(panel) == "The pricing is metered per token."
    money = Review(persona_id="money", persona_name="Money", verdict=Verdict.SKIP, quote=quote)
    plain = panel.model_copy(update={"reviews": [*panel.reviews[:3], money]})
    assert pricing_remarks(plain) is None  # no reviewer carries the pricing read
    flagged = money.model_copy(update={"pricing_read": True})
    moved = panel.model_copy(update={"reviews": [*panel.reviews[:3], flagged]})
    assert pricing_remarks(moved) == "The pricing is metered per token."


def test_panels_stored_before_pricing_read_keep_their_pricing_read() -> None:
    panel = make_panel("Old Tool", "yyyy")
    data = panel.model_dump(mode="json")
    for review in data["reviews"]:
        review.pop("pricing_read")  # as written by an older Panel
    old = ToolPanel.model_validate(data)
    assert [r.pricing_read for r in old.reviews] == [
        r.persona_id == "business" for r in old.reviews
    ]
    assert pricing_remarks(old) == pricing_remarks(panel)
