"""The published pages show the pricing read as its reviewer's opinion, never claim marks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from panel.cli import main
from panel.paths import default_db, outputs_dir
from panel.records import Claim, ClaimKind, ClaimStatus
from panel.store import Store, open_store
from tests.pages_support import html_text, make_panel, store_comparison

FREE_READ = "I read the free research licence as a giveaway, with no budget line to win yet."
PAID_READ = "I read the metered price as easy for a platform team to expense."
SLUG = "free-model-vs-paid-api"


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


def page(path: str) -> str:
    return (outputs_dir() / "site" / path).read_text(encoding="utf-8")


def keys(data: Any) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in keys(v)}
    return set()


def publish_pair(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A Free and a Paid tool, each with its operator's pricing read, published together."""
    free = make_panel(
        "Free Model", "ynyn", pricing_reads={"business": FREE_READ}, launch={"entry": "Free"}
    )
    paid = make_panel(
        "Paid API", "yyny", pricing_reads={"business": PAID_READ}, launch={"entry": "Paid"}
    )
    operator = paid.reviews[3]
    operator.claims = [Claim(id="business-7e1d", text="metered", kind=ClaimKind.NAME)]
    operator.claims[0].status = ClaimStatus.WAIVED
    operator.dismissed_flags = ["a flag an editor dismissed"]
    store_comparison(store, free, paid)
    assert main(["publish", SLUG, "--force"]) == 0, capsys.readouterr().err


def test_the_comparison_page_shows_each_read_attributed_to_its_reviewer(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_pair(store, capsys)
    html = page(f"compare/{SLUG}.html")
    for slug, read in (("free-model", FREE_READ), ("paid-api", PAID_READ)):
        start = html.index(f'id="tool-{slug}"')
        card = html[start : html.index("</article>", start)]
        figure = card[card.index('<figure class="pricing" data-pricing-read="business">') :]
        assert figure.startswith(
            '<figure class="pricing" data-pricing-read="business">\n'
            "    <figcaption>The Operator's pricing read:</figcaption>\n"
            f"    <blockquote><p>“{html_text(read)}”</p></blockquote>\n"
            "  </figure>"
        )
        assert f"“{html_text(read)}”" in page(f"tools/{slug}.html")
    assert "Pricing read:</strong>" not in html  # never a bare fact line
    markdown = page(f"compare/{SLUG}.md")
    assert f"- The Operator's pricing read: “{FREE_READ}”" in markdown
    assert f"- The Operator's pricing read: “{PAID_READ}”" in markdown


def test_the_json_carries_the_attributed_read_and_no_claim_data(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_pair(store, capsys)
    data = json.loads(page(f"compare/{SLUG}.json"))
    assert data["a"]["pricing_read"] == {
        "persona_id": "business",
        "reviewer": "The Operator",
        "text": FREE_READ,
    }
    assert data["b"]["pricing_read"]["text"] == PAID_READ
    assert data["b"]["panel"]["reviews"][3]["pricing_read"] == PAID_READ
    for path in (f"compare/{SLUG}.json", "tools/paid-api.json"):
        text = page(path)
        private = {"claims", "dismissed_flags", "flags", "pricing_remarks"}
        assert not private & keys(json.loads(text))
        assert "business-7e1d" not in text and "waived" not in text
    for path in (f"compare/{SLUG}.html", f"compare/{SLUG}.md", "tools/paid-api.html"):
        assert "business-7e1d" not in page(path) and "dismissed" not in page(path)


def test_a_failed_or_silent_reviewer_leaves_no_pricing_read(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = make_panel("Quiet Tool", "yyyy", launch={"entry": "Paid"})
    failed = make_panel("Failed Tool", "yyyx", pricing_reads={"business": PAID_READ})
    store_comparison(store, quiet, failed)
    assert main(["publish", "quiet-tool-vs-failed-tool", "--force"]) == 2  # a failed review
    assert main(["publish", "quiet-tool", "--force"]) == 0
    html = page("tools/quiet-tool.html")
    assert "pricing read" not in html and 'class="pricing"' not in html
    assert "pricing read" not in page("tools/quiet-tool.md")
    assert json.loads(page("tools/quiet-tool.json"))["pricing_read"] is None
