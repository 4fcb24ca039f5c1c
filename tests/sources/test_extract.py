"""Main-text extraction on saved pages: the article kept, the chrome around it dropped."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from panel.sources import extract as extract_module
from panel.sources.extract import (
    MAX_SOURCE_WORDS,
    NO_TEXT,
    Extracted,
    ExtractError,
    extract,
    extract_file,
)

PAGES = Path(__file__).resolve().parent / "pages"


@dataclass(frozen=True)
class Page:
    """A saved page, the title it should get, what of it must reach the reviewers (keep)
    and what must not (drop)."""

    name: str
    title: str
    keep: tuple[str, ...]
    drop: tuple[str, ...]


LAUNCH_POST = Page(
    "launch_post.html",
    "Introducing Quillstream 2.0",
    keep=(
        "Today we are releasing Quillstream 2.0, the documentation assistant that reads your "
        "repository and drafts reference pages for every public function, endpoint and "
        "configuration flag.",
        "the median team cut the time between a merged pull request and updated docs from "
        "nine days to under two hours.",
        "If a claim cannot be traced to the repository, the draft marks it as unverified "
        "rather than guessing.",
        "quill init --repo github.com/acme/payments",
        "$24 per seat per month",
        "Annual billing on the Team plan brings the price down to $20 per seat per month.",
        "Over the next two quarters we will add support for Rust and Kotlin codebases",
    ),
    drop=(
        "Skip to content",  # nav
        "Integrations Marketplace",
        "Partner Program",
        "Careers at Larkspur",
        "System Status",
        "Start free trial",
        "Larkspur Live in Lisbon",  # promo strip
        "We use cookies to personalise content",  # cookie banner
        "Reject non-essential",
        "All rights reserved",  # footer legal
        "Do Not Sell or Share My Personal Information",
        "Data Processing Addendum",
        "500 Harbor Way",
        "Nimbus CI",  # ads
        "LogHarbor",
        "Related posts",  # sidebar and after-article teasers
        "How we measured our own documentation debt",
        "Keep reading",
        "Inside the citation engine",
        "The Larkspur Letter",  # newsletter boxes
        "No spam, unsubscribe anytime",
        "Get the next product update straight to your inbox",
        "Share this post",
        "Mira Okafor leads product",  # author card
        "dataLayer",  # inline script and style
        "consent=all",
        "--brand",
    ),
)

PRICING = Page(
    "pricing.html",
    "Quillstream pricing: plans for every team",
    keep=(
        "$24 per seat / month",  # the Team plan card
        "Billed annually, the Team plan costs $20 per seat per month.",
        "Single sign-on with Google and Okta",
        "Generated pages per month | 50 | 2,000 | Unlimited",  # the comparison table
        "Do you train models on my code?",  # an FAQ question and answers
        "A seat is any person who can approve or edit Quillstream suggestions.",
        "Registered non-profits and accredited universities get the Team plan at 50% off.",
    ),
    drop=(
        "Integrations Marketplace",  # nav
        "Partner Program",
        "Careers at Larkspur",
        "All rights reserved",  # footer
        "Terms of Service",
        "Community forum",
        "Press kit",
        "We and our partners use cookies",  # cookie banner
        "Accept Cookies",
        "__PRICING__",  # inline script and style
        "border-radius",
    ),
)

DOCS = Page(
    "docs.html",
    "Configuring sync rules | Quillstream Docs",
    keep=(
        "Sync rules decide which changes in your repository produce documentation suggestions.",
        'exclude = ["src/internal/**", "**/*_test.go"]',
        "setting ignores diffs smaller than the given number of changed lines",
        "assigned to the code owners of the files it documents",
        "to remove pages whose source no longer exists",
        "A single merge can produce at most 40 suggestions.",
    ),
    drop=(
        "Skip to main content",
        "Quillstream 2.0 is out!",  # announcement bar
        "API Reference",  # top nav
        "Version 1.x (legacy)",
        "Search docs",
        "Installing the CLI",  # left nav tree
        "Style guides and glossaries",
        "Self-hosted runners",
        "Docs home",  # breadcrumb
        "On this page",  # table of contents
        "Edit this page on GitHub",
        "Last updated on",
        "Was this page helpful?",
        "Your first sync",  # previous / next
        "Discord server",  # footer
        "Built with Docusaurus",
        "localStorage",  # inline script
    ),
)

NEWS = Page(
    "news.html",
    "Larkspur's Quillstream 2.0 wants to end stale documentation",
    keep=(
        "Oakland start-up Larkspur Labs has released the second version of Quillstream",
        "We were not able to verify the company's claim",
        "Every generated sentence links to the line of code or the test that supports it",
        "The Team plan costs $24 per seat per month, or $20 when billed annually",
        '"It is a very good diff reader," she said.',
        "Support for Rust and Kotlin is promised for later this year.",
    ),
    drop=(
        "confidently document the bug as a feature",  # comments
        "our writers caught three wrong defaults",
        "Per-seat pricing for a docs bot is a strange choice",
        "grumpy_sysadmin",
        "14 thoughts on",
        "Leave a Reply",
        "Your email address will not be published",
        "SitWell",  # ads
        "FinOpsly",
        "KubeAcademy",
        "Promoted stories",
        "Doctors are stunned",
        "Security desk",  # nav
        "The Ledger Podcast",
        "Hardware reviews",
        "Get the Daily Ledger",  # newsletter
        "Sign up for our free newsletter",
        "New chip export rules",  # most read
        "Read more:",  # in-article teaser
        "The AI documentation tools worth your time",
        "Send tips to",  # author box
        "Ledger Media Group Ltd",  # footer
        "Editorial standards",
        "Advertise with us",
        "We value your privacy",  # consent banner
        "212 partners",
        "googletag",
    ),
)

HTML_PAGES = (LAUNCH_POST, PRICING, DOCS, NEWS)


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def words(count: int, start: int = 0) -> str:
    return " ".join(f"w{number}" for number in range(start, start + count))


# --- the saved pages ---------------------------------------------------------------------


@pytest.mark.parametrize("saved", HTML_PAGES, ids=lambda saved: saved.name)
def test_html_page_keeps_the_article_and_drops_the_chrome(saved: Page) -> None:
    result = extract(page(saved.name), "text/html; charset=utf-8", url="https://example.com/p")
    assert [text for text in saved.keep if text not in result.text] == []
    assert [text for text in saved.drop if text in result.text] == []
    assert result.title == saved.title
    assert result.words == len(result.text.split())
    assert "\n\n\n" not in result.text and result.text == result.text.strip()
    assert all(line == line.rstrip() for line in result.text.split("\n"))


@pytest.mark.parametrize("saved", HTML_PAGES, ids=lambda saved: saved.name)
def test_html_page_extracts_the_same_twice(saved: Page) -> None:
    assert extract(page(saved.name), "text/html") == extract(page(saved.name), "text/html")


def test_launch_post_keeps_headings_code_and_the_pricing_table_as_markdown() -> None:
    text = extract_file(PAGES / "launch_post.html").text
    assert "\n\n## Getting started\n\n" in text
    assert "```\npip install quillstream\nquill init" in text
    assert "| Team | $24 per seat per month | Up to 25 repositories | Every merge |" in text


def test_markdown_changelog_is_kept_as_written() -> None:
    result = extract_file(PAGES / "changelog.md")
    assert result.title == "Quillstream changelog"
    assert result.text == (PAGES / "changelog.md").read_text(encoding="utf-8").strip()
    assert "\n## 2.0.0 — 2025-03-11\n\n### Added\n\n- Sync on every merge:" in result.text


def test_plain_text_keeps_its_paragraphs_and_has_no_title() -> None:
    result = extract_file(PAGES / "press_release.txt")
    assert result.title is None
    assert result.text.startswith("FOR IMMEDIATE RELEASE\n\nLarkspur Labs launches Quillstream")
    assert "The Team plan costs $24 per seat per month;" in result.text
    assert result.words == len(result.text.split())


def test_no_network_access_while_extracting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("extraction tried to reach the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = extract(page("news.html"), "text/html", url="https://circuitledger.example/a/1")
    assert "Support for Rust and Kotlin" in result.text


def test_a_read_more_expander_holding_the_article_is_kept() -> None:
    rest = " ".join(f"Paragraph {n} of the collapsed half says something." for n in range(30))
    body = f"""<html><body><article><h1>Expander</h1>
    <p>The first half of the article is visible and long enough to be read as the article body
    by any extractor, with several sentences about the subject at hand and nothing else.</p>
    <div class="read-more-content"><p>{rest}</p><a href="#top">Back to top</a></div>
    </article></body></html>"""
    assert "Paragraph 29 of the collapsed half" in extract(body.encode(), "text/html").text


# --- charsets ------------------------------------------------------------------------------

LATIN1_PAGE = """<!DOCTYPE html>
<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">
<title>Caf\u00e9 cr\u00e8me</title></head>
<body><nav><a href="/">Accueil</a> <a href="/menu">La carte</a></nav>
<article><h1>Caf\u00e9 cr\u00e8me</h1>
<p>Le caf\u00e9 cr\u00e8me de la maison est servi avec une cr\u00e8me fra\u00eeche \u00e9paisse,
un sucre roux de Cuba et une madeleine au beurre sal\u00e9 fa\u00e7onn\u00e9e le matin
m\u00eame.</p>
<p>Nous ouvrons \u00e0 sept heures, du lundi au samedi, et la terrasse reste ouverte jusqu'\u00e0
minuit pendant tout l'\u00e9t\u00e9, m\u00eame quand il pleut un peu sur la place du
march\u00e9.</p>
</article></body></html>"""


def test_latin1_page_is_decoded_by_its_meta_charset() -> None:
    result = extract(LATIN1_PAGE.encode("latin-1"), "text/html")
    assert result.title == "Caf\u00e9 cr\u00e8me"
    assert "une cr\u00e8me fra\u00eeche \u00e9paisse" in result.text
    assert "jusqu'\u00e0 minuit pendant tout l'\u00e9t\u00e9" in result.text
    assert "\ufffd" not in result.text and "Accueil" not in result.text


def test_latin1_label_means_windows_1252_as_in_browsers() -> None:
    body = LATIN1_PAGE.replace("Nous ouvrons", "\u201cNous ouvrons\u201d").encode("cp1252")
    assert "\u201cNous ouvrons\u201d" in extract(body, "text/html").text


def test_given_charset_wins_over_the_meta_charset() -> None:
    body = LATIN1_PAGE.encode("utf-8")  # bytes in UTF-8, the meta still says latin-1
    assert "fra\u00eeche" in extract(body, "text/html", charset="utf-8").text
    assert "fra\u00eeche" in extract(body, "text/html; charset=UTF-8").text
    assert "fra\u00c3\u00aeche" in extract(body, "text/html").text  # the meta believed


def test_undeclared_charset_is_utf8_with_replacement() -> None:
    body = LATIN1_PAGE.replace('<meta http-equiv="Content-Type" content="text/html; ', "")
    result = extract(body.replace('charset=iso-8859-1">', "").encode("latin-1"), "text/html")
    assert "cr\ufffdme fra\ufffdche" in result.text


def test_unknown_charset_falls_back_to_the_meta_charset() -> None:
    result = extract(LATIN1_PAGE.encode("latin-1"), "text/html", charset="x-no-such-thing")
    assert "fra\u00eeche" in result.text


def test_xhtml_with_an_xml_declaration() -> None:
    page_source = LATIN1_PAGE.replace(
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">', ""
    ).replace("<!DOCTYPE html>\n<html>", '<html xmlns="http://www.w3.org/1999/xhtml">')
    body = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + page_source).encode("latin-1")
    assert "fra\u00eeche" in extract(body, "application/xhtml+xml").text


def test_utf8_bom_is_honoured_and_dropped() -> None:
    body = b"\xef\xbb\xbf" + LATIN1_PAGE.encode("utf-8")  # the BOM wins over the meta
    result = extract(body, "text/html")
    assert "fra\u00eeche" in result.text and "\ufeff" not in result.text


# --- nothing to read ---------------------------------------------------------------------

SCRIPT_ONLY = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Dashboard</title>
<script>window.__APP__ = {"route": "/home"};</script>
<style>#root { min-height: 100vh; }</style></head>
<body><div id="root"></div><noscript>You need to enable JavaScript to run this app.</noscript>
<script src="/static/js/main.5f2c.js"></script>
<script>document.getElementById('root').innerHTML = '<h1>Welcome to the dashboard</h1>';</script>
</body></html>"""


@pytest.mark.parametrize(
    "body",
    [SCRIPT_ONLY, b"", b"   \n", b"<!-- nothing -->", b"<html><head><title>T</title></html>"],
    ids=["script-only", "empty", "whitespace", "comment", "title-only"],
)
def test_page_without_readable_text_is_an_extract_error(body: bytes) -> None:
    with pytest.raises(ExtractError, match=r"^no readable text \(a script-only page\?\)$"):
        extract(body, "text/html")
    assert NO_TEXT == "no readable text (a script-only page?)"


def test_fallback_reads_main_without_scripts_and_chrome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "_trafilatura_markdown", lambda tree, url: None)
    body = b"""<html><head><title>Status</title><script>var x = 1;</script></head><body>
    <header>Site header</header><nav><a href="/">Home</a></nav>
    <main><h2>All systems  operational</h2><p>Last incident:<br>none this   month.</p>
    <script>track()</script><footer>Footer text</footer></main><footer>Page footer</footer>
    </body></html>"""
    result = extract(body, "text/html")
    assert result.text == "Status\n\nAll systems operational\n\nLast incident:\n\nnone this month."
    assert result.title == "Status"


def test_unsupported_content_type_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match=r"^unsupported content type: image/png$"):
        extract(b"\x89PNG\r\n", "image/png")


# --- text and Markdown ---------------------------------------------------------------------


def test_markdown_title_is_the_first_h1_outside_code() -> None:
    body = b"```\n# not a title\n```\n\n## Section\n\n# Real title #\n\nBody."
    assert extract(body, "text/markdown").title == "Real title"
    assert extract(b"## Only a section\n\nBody.", "text/markdown").title is None


def test_text_must_be_utf8() -> None:
    with pytest.raises(ExtractError, match=r"^not UTF-8 text$"):
        extract(b"caf\xe9 au lait", "text/markdown")
    assert extract(b"caf\xe9", "text/plain", charset="latin-1").text == "caf\u00e9"


def test_text_bom_is_stripped() -> None:
    result = extract(b"\xef\xbb\xbf# Notes\r\n\r\nFirst line.", "text/markdown")
    assert result.text == "# Notes\n\nFirst line." and result.title == "Notes"


def test_empty_text_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match=r"^no readable text \(empty"):
        extract(b" \n\t\n\x00", "text/plain")


def test_control_characters_are_removed_but_newlines_and_tabs_kept() -> None:
    body = "a\x00b\x07c\u202ed\u200b\ufeff e\x1b[31m  \r\nnext\tline\x0cpage\u00a0two\n\n\n\nend"
    result = extract(body.encode("utf-8"), "text/plain")
    assert result.text == "abcd e[31m\nnext\tline\npage two\n\nend"


def test_control_characters_are_removed_from_html() -> None:
    body = LATIN1_PAGE.replace("sucre roux", "sucre\x00 \x08roux\u202e").encode("utf-8")
    result = extract(body, "text/html", charset="utf-8")
    assert "sucre roux de Cuba" in result.text
    assert not any(ord(char) < 32 and char not in "\n\t" for char in result.text)


def test_whitespace_is_normalised_and_markdown_kept() -> None:
    body = b"\n\n# Title  \n\n\n- one\n- two\n    indented code\n\n\n\nLast \t \n\n"
    expected = "# Title\n\n- one\n- two\n    indented code\n\nLast"
    assert extract(body, "text/markdown").text == expected


# --- the cut at MAX_SOURCE_WORDS -------------------------------------------------------------


def test_long_text_is_cut_at_a_paragraph_with_the_marker() -> None:
    paragraphs = [words(70, start=70 * number) for number in range(100)]  # 7,000 words
    result = extract("\n\n".join(paragraphs).encode(), "text/markdown")
    kept = MAX_SOURCE_WORDS // 70  # 85 whole paragraphs, 5,950 words
    assert result.words == kept * 70
    marker = f"[\u2026 cut: {7000 - kept * 70} more words]"
    assert result.text == "\n\n".join([*paragraphs[:kept], marker])
    assert result.text.split("\n")[-1] == "[\u2026 cut: 1050 more words]"


def test_text_at_the_limit_is_not_cut() -> None:
    result = extract(words(MAX_SOURCE_WORDS).encode(), "text/plain")
    assert result.words == MAX_SOURCE_WORDS and "cut:" not in result.text


def test_one_paragraph_longer_than_the_limit_is_cut_inside() -> None:
    result = extract(words(MAX_SOURCE_WORDS + 10).encode(), "text/plain")
    assert result.words == MAX_SOURCE_WORDS
    assert result.text == words(MAX_SOURCE_WORDS) + "\n\n[\u2026 cut: 10 more words]"


def test_long_html_is_cut_too() -> None:
    paragraphs = "".join(f"<p>{words(100, start=100 * number)}.</p>" for number in range(80))
    body = f"<html><body><article><h1>Long</h1>{paragraphs}</article></body></html>"
    result = extract(body.encode(), "text/html")
    assert result.words <= MAX_SOURCE_WORDS
    assert result.text.endswith("more words]") and "\n\n[\u2026 cut: " in result.text
    assert result.text.split("\n\n")[-2].endswith(".")  # a whole paragraph before the marker


# --- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".md", ".markdown", ".txt", ".html", ".htm", ".HTML"])
def test_extract_file_reads_by_suffix(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"source{suffix}"
    path.write_bytes(page("launch_post.html" if "htm" in suffix.lower() else "changelog.md"))
    result = extract_file(path)
    assert isinstance(result, Extracted)
    if "htm" in suffix.lower():
        assert "Cookie" not in result.text and "Quillstream 2.0" in result.text
    else:
        assert result.text.startswith("# Quillstream changelog\n\n")


@pytest.mark.parametrize("name", ["launch.pdf", "setup.exe", "README"])
def test_extract_file_refuses_other_suffixes(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.7")
    suffix = path.suffix or "(no suffix)"
    with pytest.raises(ValueError, match=re.escape(f"unsupported source file type '{suffix}'")):
        extract_file(path)
