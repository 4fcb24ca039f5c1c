"""Rendering pages: HTML, Markdown, JSON and Atom from autoescaped Jinja2 templates.

Templates ship in ``panel/templates``; a folder the user names overrides any of them by
file name. Every value a launch or a model supplied is untrusted text: templates get it
HTML-escaped, Markdown gets it escaped for Markdown too, and a URL becomes a link only
when it is http(s).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from markupsafe import Markup, escape
from pydantic import BaseModel, Field, computed_field

from panel.errors import UsageError
from panel.pages.reads import PricingRead, pricing_read_of, reviewers_read
from panel.records import Comparison, Review, ToolPanel, Votes, percent

COMPARISONS_DIR = "compare"
"""Site folder of comparison pages."""
TOOLS_DIR = "tools"
"""Site folder of tool panel pages."""
FEED_FILE = "feed.xml"
"""The Atom feed, at the site root."""
INDEX_FILE = "index.html"
"""The index page, at the site root."""
# What only editors see: raw output, errors, quality flags and the claims being checked.
_PRIVATE_REVIEW_FIELDS = {"raw", "error", "flags", "dismissed_flags", "beats", "claims"}
_PRIVATE_PANEL_FIELDS = {"flags", "dismissed_flags", "diversity", "max_similarity", "sources"}
_FEED_NAMESPACE = uuid.UUID("6f1c1a52-5e0b-4a8e-9a59-4c2b0e4d7a10")


class ComparisonLink(BaseModel):
    """A published comparison as another page links to it."""

    slug: str
    """Comparison slug."""
    title: str
    """'A vs B'."""
    read: str
    """The one-line read of the split."""


class ToolPage(BaseModel):
    """Everything a tool panel page shows."""

    panel: ToolPanel
    """The tool and its reviews."""
    votes: Votes
    """Community votes on the tool."""
    comparisons: list[ComparisonLink] = Field(default_factory=list)
    """Published comparisons the tool appears in."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pricing_read(self) -> PricingRead | None:
        """The pricing read of the reviewer who gives one, to show attributed to them."""
        return pricing_read_of(self.panel)


@dataclass(frozen=True)
class ScoreRow:
    """One reviewer across both tools of a comparison."""

    persona_id: str
    persona_name: str
    a: Review | None
    b: Review | None


class ComparisonPage(BaseModel):
    """Everything a comparison page shows."""

    comparison: Comparison
    """The comparison record."""
    read: str
    """The one-line read of the split."""
    a: ToolPage
    """The first tool, as given."""
    b: ToolPage
    """The second tool, as given."""

    @property
    def title(self) -> str:
        """'A vs B'."""
        return f"{self.a.panel.launch.name} vs {self.b.panel.launch.name}"

    @property
    def tools(self) -> list[ToolPage]:
        """Both tools, in the order given."""
        return [self.a, self.b]

    @property
    def scorecard(self) -> list[ScoreRow]:
        """Reviewers in scorecard order (first tool's, then any only the second has)."""
        names: dict[str, str] = {}
        for review in self.a.panel.reviews + self.b.panel.reviews:
            names.setdefault(review.persona_id, review.persona_name)
        return [
            ScoreRow(pid, name, self.a.panel.review(pid), self.b.panel.review(pid))
            for pid, name in names.items()
        ]

    def link(self) -> ComparisonLink:
        """How other pages link to this comparison."""
        return ComparisonLink(slug=self.comparison.slug, title=self.title, read=self.read)


class SiteIndex(BaseModel):
    """The index page and the feed: published comparisons and tools, newest first."""

    comparisons: list[ComparisonPage]
    """Published comparisons, newest first."""
    tools: list[ToolPage]
    """Published tool panels, by name."""
    updated_at: datetime
    """Latest change among the published records."""
    base_url: str | None = None
    """Absolute URL of the site, when known (for the feed)."""

    @property
    def reviewers(self) -> str | None:
        """The published panels' reviewers in one phrase, e.g. 'the builder and the skeptic'."""
        return reviewers_read([tool.panel for tool in self.tools])


# -- filters ------------------------------------------------------------------------------

_HTTP_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$", re.IGNORECASE)
_MD_INLINE = re.compile(r"([\\`*_\[\]{}|~])")
_MD_LINE_START = re.compile(r"^(\s*)(?:([#>+\-=])|(\d+)([.)]))", re.MULTILINE)


def http_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) URL without spaces or control characters, else None."""
    if not url or not _HTTP_URL.match(url.strip()):
        return None
    return url.strip()


def paragraphs(text: str | None) -> list[str]:
    """Paragraphs of a text (split on blank lines), each on one line."""
    if not text:
        return []
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def markdown_escape(text: str) -> str:
    """``text`` with the characters Markdown would act on backslash-escaped."""
    text = _MD_INLINE.sub(r"\\\1", text)

    def line_start(m: re.Match[str]) -> str:
        if m.group(2):
            return f"{m.group(1)}\\{m.group(2)}"
        return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"

    return _MD_LINE_START.sub(line_start, text)


def md(value: object) -> Markup:
    """Untrusted text made inert for Markdown: Markdown syntax escaped, then & < > as entities."""
    text = " ".join(str(value).split()) if value is not None else ""
    text = markdown_escape(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Markup(text)


def md_url(url: str | None) -> Markup | None:
    """An http(s) URL safe inside a Markdown link, or None."""
    safe = http_url(url)
    if safe is None:
        return None
    return Markup(escape(quote(safe, safe=":/?#@!$&*+,;=%~.-_")))


def atom_date(value: datetime) -> str:
    """RFC 3339 in UTC, as Atom wants it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_date(value: datetime) -> str:
    """'22 Nov 2025'."""
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y}"


def feed_id(kind: str, slug: str) -> str:
    """A stable urn:uuid for a feed or entry id."""
    return uuid.uuid5(_FEED_NAMESPACE, f"{kind}:{slug}").urn


def verdict_label(review: Review | None) -> str:
    """SHIP, SKIP, or NO VERDICT for a failed or missing review."""
    if review is None or review.verdict is None:
        return "No verdict"
    return review.verdict.value.capitalize()


def verdict_class(review: Review | None) -> str:
    """The CSS class of a verdict chip."""
    if review is None or review.verdict is None:
        return "none"
    return review.verdict.value


def public_json(page: BaseModel) -> str:
    """A page's records as JSON, without what only editors see (raw output, flags, claims,
    the launch's sources)."""
    data: Any = page.model_dump(mode="json")
    _strip_private(data)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _strip_private(data: Any) -> None:
    if isinstance(data, dict):
        if "reviews" in data and isinstance(data["reviews"], list):
            for key in _PRIVATE_PANEL_FIELDS:
                data.pop(key, None)
            if isinstance(data.get("launch"), dict):
                data["launch"].pop("sources", None)  # the desk's research: paths, intranet URLs
            for review in data["reviews"]:
                for key in _PRIVATE_REVIEW_FIELDS:
                    review.pop(key, None)
        for value in data.values():
            _strip_private(value)
    elif isinstance(data, list):
        for item in data:
            _strip_private(item)


# -- the renderer ---------------------------------------------------------------------------


class Renderer:
    """Renders pages from the package templates, overridden by a user folder if named."""

    def __init__(self, templates: Path | None = None) -> None:
        loaders: list[BaseLoader] = [PackageLoader("panel.pages", "templates")]
        if templates is not None:
            if not templates.is_dir():
                raise UsageError(f"{templates}: --templates must be a folder of templates")
            loaders.insert(0, FileSystemLoader(templates))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(
            percent=percent,
            paragraphs=paragraphs,
            http_url=http_url,
            md=md,
            md_url=md_url,
            atom_date=atom_date,
            human_date=human_date,
            verdict_label=verdict_label,
            verdict_class=verdict_class,
        )
        self.env.globals.update(feed_id=feed_id, now=lambda: datetime.now(UTC))

    def render(self, name: str, **context: Any) -> str:
        """Render one template; a template problem is a UsageError naming it."""
        try:
            return self.env.get_template(name).render(**context)
        except TemplateNotFound as exc:
            raise UsageError(f"template {exc.name!r} not found") from None
        except TemplateSyntaxError as exc:
            raise UsageError(
                f"{exc.filename or exc.name}: line {exc.lineno}: {exc.message}"
            ) from None
        except TemplateError as exc:
            raise UsageError(f"template {name!r}: {exc.message}") from None

    def comparison_html(self, page: ComparisonPage) -> str:
        """The HTML comparison page."""
        return self.render("comparison.html", page=page, root="../")

    def comparison_markdown(self, page: ComparisonPage) -> str:
        """The comparison as Markdown."""
        return self.render("comparison.md", page=page)

    def tool_html(self, page: ToolPage) -> str:
        """The HTML panel page of one tool."""
        return self.render("tool.html", page=page, root="../")

    def tool_markdown(self, page: ToolPage) -> str:
        """One tool's panel as Markdown."""
        return self.render("tool.md", page=page)

    def index_html(self, index: SiteIndex) -> str:
        """The index of published comparisons and tools."""
        return self.render("index.html", index=index, root="")

    def feed(self, index: SiteIndex) -> str:
        """The Atom feed of published comparisons."""
        return self.render("feed.xml", index=index)
