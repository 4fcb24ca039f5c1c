"""A fifth persona file is a fifth reviewer on the published page; a renamed one breaks nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from panel.cli import main
from panel.drafting.generate import asks_pricing_read
from panel.pages.reads import pricing_read_of
from panel.pages.render import Renderer, ToolPage
from panel.paths import default_db, outputs_dir, personas_dir
from panel.providers.fake import FakeProvider, reviewer_of
from panel.records import Review, ToolPanel, Verdict, Votes
from panel.store import open_store
from tests.conftest import EXAMPLES
from tests.drafting.test_personas import AUDITOR
from tests.pages_support import html_text, make_panel

HAIKU_SLUG = "claude-haiku-open-weights"
MINI_SLUG = "gpt-5-mini-api"
SLUG = f"{HAIKU_SLUG}-vs-{MINI_SLUG}"
pytestmark = pytest.mark.usefixtures("claims_not_required")


@pytest.fixture
def personas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped persona folder, used through PANEL_PERSONAS."""
    folder = tmp_path / "personas"
    shutil.copytree(personas_dir(), folder)
    monkeypatch.setenv("PANEL_PERSONAS", str(folder))
    return folder


def draft_compare_approve_publish(capsys: pytest.CaptureFixture[str]) -> str:
    """`panel compare` (fake:mixed), approve the comparison (its panels with it), `panel
    publish`; the output."""
    compare = ["compare", str(EXAMPLES / "claude-haiku-open-weights.yaml")]
    assert main([*compare, str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed"]) == 0
    assert main(["approve", SLUG, "--accept-flags"]) == 0, capsys.readouterr().err
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
    # the auditor's calls went out like everyone else's: its questions in its instructions
    prompts = [request.system + request.messages[0].content for _, request in fake.calls]
    assert sum("You are The Auditor, Security reviewer" in s for s in prompts) == 2
    assert all("Three other" not in s for s in prompts)


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
        read = pricing_read_of(panel)
        assert read is not None and read.reviewer == "The Money Desk"
        assert read.text == money.pricing_read
        caption = "The Money Desk's pricing read:</figcaption>\n    <blockquote><p>"
        attributed = f"{caption}“{html_text(read.text)}”"
        assert attributed in page(f"tools/{panel.slug}.html") and attributed in html
        assert html_text(money.quote) in page(f"tools/{panel.slug}.html")
    assert html.count("pricing read:") == 2
    assert "the money desk" in page("index.html")


def test_the_pricing_read_moves_with_the_persona_file_flag(
    personas: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    business = personas / "business.md"
    business.write_text(
        business.read_text(encoding="utf-8").replace("pricing_read: true\n", ""), "utf-8"
    )
    auditor = AUDITOR.replace("order: 5\n", "order: 5\npricing_read: true\n")
    (personas / "auditor.md").write_text(auditor, encoding="utf-8")
    draft_compare_approve_publish(capsys)
    # only the auditor's requests asked for a pricing read, and only its reviews carry one
    for _, request in fake.calls:
        asked = asks_pricing_read(request)
        assert asked == (reviewer_of(request) == "The Auditor"), reviewer_of(request)
        instructions = request.messages[0].parts()[-1][0]
        assert ("Give your pricing read too" in instructions) == asked
    html = page(f"compare/{SLUG}.html")
    for panel in panels():
        assert [r.persona_id for r in panel.reviews if r.pricing_read] == ["auditor"]
        read = pricing_read_of(panel)
        assert read is not None and read.reviewer == "The Auditor"
        assert "The Auditor's pricing read:</figcaption>" in page(f"tools/{panel.slug}.html")
        assert html_text(read.text) in html
    assert "The Operator's pricing read" not in html


def test_the_pricing_read_follows_the_review_not_an_id() -> None:
    read = "I read it as metered per token, which a platform team can expense."
    money = Review(
        persona_id="money",
        persona_name="Money",
        verdict=Verdict.SKIP,
        quote="The pricing is metered per token.",
        pricing_read=read,
    )
    panel = make_panel("A", "yyyy")
    assert pricing_read_of(panel) is None  # nobody gave a pricing read
    moved = panel.model_copy(update={"reviews": [*panel.reviews[:3], money]})
    found = pricing_read_of(moved)
    assert found is not None and (found.persona_id, found.reviewer, found.text) == (
        "money",
        "Money",
        read,
    )


def test_panels_stored_before_the_pricing_read_was_an_answer_show_none() -> None:
    quote = "The buyer is a platform team. The pricing is metered per token. The moat is thin."
    panel = make_panel("Old Tool", "yyyy", quotes={"business": quote})
    data = panel.model_dump(mode="json")
    for review in data["reviews"]:
        review["pricing_read"] = review["persona_id"] == "business"  # as an older Panel wrote it
    old = ToolPanel.model_validate(data)
    assert [r.pricing_read for r in old.reviews] == [None] * 4
    assert pricing_read_of(old) is None
    html = Renderer().tool_html(ToolPage(panel=old, votes=Votes(slug=old.slug)))
    assert "pricing read" not in html and html_text(quote) in html
