"""Rendering: the comparison and panel pages in HTML, Markdown and JSON, escaping, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.cli import main
from panel.errors import UsageError
from panel.pages.publish import SiteView, comparison_page, tool_page
from panel.pages.render import (
    ComparisonPage,
    Renderer,
    ToolPage,
    http_url,
    markdown_escape,
    md,
    paragraphs,
    public_json,
)
from panel.paths import default_db
from panel.records import Claim, ClaimKind, Launch, Votes, percent
from panel.store import Store, open_store
from panel.store.comparisons import get_comparison
from tests.conftest import EXAMPLES
from tests.pages_support import (
    PAGE_TAGS,
    assert_in_order,
    assert_no_live_markup,
    html_text,
    make_panel,
    store_comparison,
    tags,
    visible_text,
)

HAIKU_SLUG = "claude-haiku-open-weights"
MINI_SLUG = "gpt-5-mini-api"
SLUG = f"{HAIKU_SLUG}-vs-{MINI_SLUG}"
PRICING_READS = {
    HAIKU_SLUG: (
        "I read Claude Haiku Open Weights as a free research release with nothing to meter "
        "yet, so the price to judge is the hardware and the people it takes to run."
    ),
    MINI_SLUG: (
        "I read GPT-5 Mini API as metered from the first call, so it has to cost less than "
        "what the platform team already pays for the same work."
    ),
}
"""What the fake's operator reads in each example launch's pricing entry (Free, Paid)."""
HOSTILE = {
    "name": "<script>window.__pwned=1</script>Evil {{ 7*7 }}",
    "tagline": '<img src=x onerror="window.__pwned=2">{% if true %}yes{% endif %}',
    "category": "</title><script>alert(3)</script>",
    "vendor": '"><svg onload=alert(4)>',
    "entry": "<b onmouseover=alert(5)>Free</b>",
    "description": (
        '<a href="javascript:window.__pwned=6">click</a> ${7*7} {{ 7*7 }}\n\n'
        "# not a heading\n[md link](javascript:alert(7)) ![img](x) <javascript:alert(8)>"
    ),
    "url": 'https://evil.example/"><script>window.__pwned=9</script>?javascript:alert(10)',
}


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


@pytest.fixture
def page(fake: object, store: Store, capsys: pytest.CaptureFixture[str]) -> ComparisonPage:
    """The two example launches: Haiku by fake:mixed (2/4) with votes, Mini by fake:ship (4/4)."""
    assert (
        main(["draft", str(EXAMPLES / "claude-haiku-open-weights.yaml"), "-m", "fake:mixed"]) == 0
    )
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship"]) == 0
    assert main(["compare", HAIKU_SLUG, MINI_SLUG]) == 0
    assert main(["vote", HAIKU_SLUG, "ship", "--count", "3"]) == 0
    assert main(["vote", HAIKU_SLUG, "skip"]) == 0
    capsys.readouterr()
    return comparison_page(SiteView(store, live=False), get_comparison(store, SLUG))


def test_comparison_html_shows_every_field_in_order_per_tool(page: ComparisonPage) -> None:
    html = Renderer().comparison_html(page)
    assert_in_order(
        html,
        [
            "<h1>Claude Haiku Open Weights vs GPT-5 Mini API — which one should you ship with?",
            html_text(page.read),
            f'id="tool-{HAIKU_SLUG}"',
            f'id="tool-{MINI_SLUG}"',
            'class="scorecard"',
        ],
    )
    community = {HAIKU_SLUG: ["75%", "4 votes"], MINI_SLUG: ["—", "no votes yet"]}
    for tool in page.tools:
        panel, launch = tool.panel, tool.panel.launch
        assert launch.category and launch.tagline and launch.entry
        start = html.index(f'id="tool-{panel.slug}"')
        card = html[start : html.index("</article>", start)]
        assert_in_order(
            card,
            [
                html_text(launch.category),
                html_text(launch.name),
                html_text(launch.tagline),
                "Panel",
                percent(panel.ship_share),
                f"{panel.ship_count} of {panel.verdict_count} ship",
                "Community",
                *community[panel.slug],
                "Entry",
                html_text(launch.entry),
                "The Operator's pricing read:",
                f"“{html_text(PRICING_READS[panel.slug])}”",
                html_text(launch.description),
            ],
        )
        # then the scorecard, persona by persona, each with this tool's verdict and quote
        cursor = html.index('class="scorecard"')
        assert len(panel.reviews) == 4
        for review in panel.reviews:
            assert review.verdict is not None
            cursor = assert_in_order(
                html,
                [
                    f'data-persona="{review.persona_id}"',
                    html_text(review.persona_name),
                    f'data-tool="{panel.slug}"',
                    f">{review.verdict.value.capitalize()}<",
                    html_text(review.headline),
                    html_text(review.quote),
                ],
                cursor,
            )
    assert percent(page.a.panel.ship_share) == "50%"
    assert percent(page.b.panel.ship_share) == "100%"


def test_tool_page_shows_the_same_fields_for_one_tool(page: ComparisonPage, store: Store) -> None:
    panel = page.b.panel
    html = Renderer().tool_html(tool_page(SiteView(store, live=False), panel))
    launch = panel.launch
    assert launch.category and launch.tagline and launch.entry
    cursor = assert_in_order(
        html,
        [
            html_text(launch.category),
            html_text(launch.name),
            html_text(launch.tagline),
            "100%",
            "—",
            html_text(launch.entry),
            html_text(launch.description),
        ],
    )
    for review in panel.reviews:
        cursor = assert_in_order(
            html, [html_text(review.persona_name), ">Ship<", html_text(review.quote)], cursor
        )
    assert "Compared with" not in html  # the comparison is not published yet


def test_markdown_has_the_same_fields_in_order(page: ComparisonPage) -> None:
    text = Renderer().comparison_markdown(page)
    assert text.startswith(
        "# Claude Haiku Open Weights vs GPT-5 Mini API — which one should you ship with?\n"
    )
    cursor = 0
    for tool in page.tools:
        launch = tool.panel.launch
        cursor = assert_in_order(
            text,
            [
                f"## {markdown_escape(launch.name)}",
                f"- Category: {launch.category}",
                f"- Tagline: {md(launch.tagline)}",
                f"- Panel: {percent(tool.panel.ship_share)} ship ({tool.panel.split})",
                f"- Community: {percent(tool.votes.share)}",
                f"- Entry: {launch.entry}",
                f"- The Operator's pricing read: “{md(PRICING_READS[tool.panel.slug])}”",
                str(md(launch.description)),
            ],
            cursor,
        )
    assert_in_order(text, ["## The reviewers", "### The Builder", "**Claude Haiku", "— Ship.**"])
    assert "&#39;" not in text  # quotes stay readable in Markdown


def test_json_carries_the_records_without_editor_only_fields(page: ComparisonPage) -> None:
    page.a.panel.reviews[0].raw = "raw model output"
    page.a.panel.reviews[0].flags = ["quote too short"]
    page.a.panel.reviews[0].dismissed_flags = ["quote too short"]
    page.a.panel.reviews[0].claims = [
        Claim(id="dx-1a2b", text="$20 per seat", kind=ClaimKind.MONEY)
    ]
    page.a.panel.dismissed_flags = ["collapsed panel"]
    data = json.loads(public_json(page))
    assert data["comparison"]["slug"] == SLUG
    assert data["read"] == page.read
    assert data["a"]["panel"]["ship_share"] == 0.5
    assert data["a"]["votes"] == {
        "slug": HAIKU_SLUG,
        "ship": 3,
        "skip": 1,
        "updated_at": data["a"]["votes"]["updated_at"],
        "total": 4,
        "share": 0.75,
    }
    assert data["b"]["votes"]["share"] is None
    assert data["b"]["panel"]["launch"]["entry"] == "Paid"
    for side, slug in (("a", HAIKU_SLUG), ("b", MINI_SLUG)):
        assert data[side]["pricing_read"] == {
            "persona_id": "business",
            "reviewer": "The Operator",
            "text": PRICING_READS[slug],
        }
        assert "pricing_remarks" not in data[side]
    assert not {"flags", "dismissed_flags"} & set(data["a"]["panel"])
    for review in data["a"]["panel"]["reviews"] + data["b"]["panel"]["reviews"]:
        assert not {"raw", "error", "flags", "dismissed_flags", "claims"} & set(review)
        assert review["verdict"] in {"ship", "skip"} and review["quote"]
    assert "$20 per seat" not in json.dumps(data["a"]["panel"]["reviews"][0])


def test_untrusted_text_never_becomes_markup(store: Store) -> None:
    evil = make_panel(
        HOSTILE["name"],
        "yxny",
        launch={k: v for k, v in HOSTILE.items() if k != "name"},
        pricing_reads={"business": "<script>window.__pwned=11</script> I read it as *free*."},
    )
    evil.reviews[0].quote = "<script>alert('quote')</script> {{ 7*7 }}"
    evil.reviews[0].headline = "<b>bold</b>"
    good = make_panel("Good Tool", "yyyy", url="https://good.example/docs")
    comparison = store_comparison(store, evil, good)
    page = comparison_page(SiteView(store, live=False), comparison)
    renderer = Renderer()
    html = renderer.comparison_html(page)
    body = html[html.index("<body>") :]
    assert_no_live_markup(html, PAGE_TAGS)
    assert [t for t, _ in tags(html)].count("title") == 1
    assert 'href="javascript' not in html.lower()
    assert "{{ 7*7 }}" in html and "49" not in visible_text(body)
    assert "{% if true %}yes{% endif %}" in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;Evil" in html
    assert "“&lt;script&gt;window.__pwned=11&lt;/script&gt; I read it as *free*.”" in html
    # an http(s) URL with quotes in it stays inside its attribute
    assert 'href="https://evil.example/&#34;&gt;&lt;script&gt;' in html
    assert 'href="https://good.example/docs" rel="noopener noreferrer nofollow"' in html
    text = renderer.comparison_markdown(page)
    assert "<script" not in text and "<img" not in text
    assert "\\[md link\\](javascript:alert(7))" in text
    assert "\\# not a heading" in text
    assert "&lt;javascript:alert(8)&gt;" in text
    read = "&lt;script&gt;window.\\_\\_pwned=11&lt;/script&gt; I read it as \\*free\\*."
    assert f"The Operator's pricing read: “{read}”" in text


def test_a_non_http_url_is_never_a_link() -> None:
    # Launch refuses such URLs and the store cannot load them; the renderer checks anyway.
    panel = make_panel("Sneaky", "yyyy")
    for url in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "http://a b"):
        assert http_url(url) is None
        panel.launch = Launch.model_construct(**(panel.launch.model_dump() | {"url": url}))
        html = Renderer().tool_html(ToolPage(panel=panel, votes=Votes(slug=panel.slug)))
        assert "Website</a>" not in html
        assert all(
            not attrs.get("href", "").strip().lower().startswith(("javascript", "data"))
            for _, attrs in tags(html)
        )
        assert "](" not in Renderer().tool_markdown(
            ToolPage(panel=panel, votes=Votes(slug=panel.slug))
        )


def test_filters() -> None:
    assert paragraphs("one\n two\n\n\n three ") == ["one two", "three"]
    assert paragraphs(None) == []
    assert http_url(" https://x.example/a?b=c ") == "https://x.example/a?b=c"
    assert markdown_escape("1. a *b* _c_ [d](e)\n# f") == "1\\. a \\*b\\* \\_c\\_ \\[d\\](e)\n\\# f"
    assert str(md("a <b> & 'c'")) == "a &lt;b&gt; &amp; 'c'"


def test_user_templates_override_by_name_and_stay_autoescaped(
    page: ComparisonPage, tmp_path: Path
) -> None:
    (tmp_path / "base.html").write_text(
        "<!doctype html><title>Ours</title><main>{% block content %}{% endblock %}</main>",
        encoding="utf-8",
    )
    page.a.panel.launch.tagline = "<i>hi</i>"
    html = Renderer(tmp_path).comparison_html(page)
    assert html.startswith("<!doctype html><title>Ours</title>")
    assert "&lt;i&gt;hi&lt;/i&gt;" in html and "<i>hi</i>" not in html
    assert "Claude Haiku Open Weights vs GPT-5 Mini API" in html  # the rest is built-in


def test_template_problems_are_usage_errors(page: ComparisonPage, tmp_path: Path) -> None:
    (tmp_path / "comparison.html").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(UsageError, match=r"comparison\.html: line 1"):
        Renderer(tmp_path).comparison_html(page)
    (tmp_path / "comparison.html").write_text("{{ page.nope.deeper }}", encoding="utf-8")
    with pytest.raises(UsageError, match="has no attribute 'nope'"):
        Renderer(tmp_path).comparison_html(page)
    with pytest.raises(UsageError, match="must be a folder"):
        Renderer(tmp_path / "missing")
