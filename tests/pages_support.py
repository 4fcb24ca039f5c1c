"""Helpers for comparison and page tests: panels built by hand, a sample comparison."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser

from markupsafe import escape

from panel.launches import load_launch
from panel.records import Comparison, Launch, Review, ToolPanel, Verdict, Votes
from panel.store import Store
from panel.store.comparisons import save_comparison
from panel.votes import set_votes
from tests.conftest import EXAMPLES

PERSONAS = (
    ("dx", "The Builder"),
    ("skeptic", "The Skeptic"),
    ("futurist", "The Futurist"),
    ("business", "The Operator"),
)
PRICING_PERSONA = "business"
"""The shipped persona file that sets ``pricing_read: true``."""


def make_panel(
    name: str,
    verdicts: str,
    *,
    quotes: dict[str, str] | None = None,
    headlines: dict[str, str] | None = None,
    pricing_reads: Mapping[str, str] | None = None,
    launch: Mapping[str, str] | None = None,
    **fields: str,
) -> ToolPanel:
    """A panel of the four personas; ``verdicts`` is one letter each: y ship, n skip, x failed.

    ``pricing_reads`` gives reviewers (by persona id) a pricing read; by default none has one.
    """
    data = {"name": name, "description": f"{name} does one thing well."}
    data |= dict(launch or {}) | fields
    reviews = []
    for (persona_id, persona_name), letter in zip(PERSONAS, verdicts, strict=True):
        if letter == "x":
            reviews.append(
                Review(
                    persona_id=persona_id,
                    persona_name=persona_name,
                    failed=True,
                    error="bad",
                )
            )
            continue
        verdict = Verdict.SHIP if letter == "y" else Verdict.SKIP
        quote = (quotes or {}).get(persona_id, f"{persona_name} on {name}: {verdict.value}.")
        headline = (headlines or {}).get(persona_id, f"{persona_name} says {verdict.value}")
        reviews.append(
            Review(
                persona_id=persona_id,
                persona_name=persona_name,
                pricing_read=(pricing_reads or {}).get(persona_id),
                verdict=verdict,
                headline=headline,
                quote=quote,
            )
        )
    parsed = Launch.model_validate(data)
    return ToolPanel(slug=parsed.slug, launch=parsed, reviews=reviews)


def store_panel(store: Store, panel: ToolPanel) -> ToolPanel:
    """Store a new panel as revision 1."""
    return store.save_panel(panel, expected_revision=None, editor="tester", action="draft")


def store_comparison(store: Store, a: ToolPanel, b: ToolPanel) -> Comparison:
    """Store panels (when new) and their comparison."""
    for panel in (a, b):
        if store.find_panel(panel.slug) is None:
            store_panel(store, panel)
    return save_comparison(
        store, Comparison.of(a.slug, b.slug), expected_revision=None, editor="t", action="compare"
    )


def assert_in_order(text: str, needles: list[str], start: int = 0) -> int:
    """Each needle occurs after the previous one; returns the position after the last."""
    position = start
    for needle in needles:
        found = text.find(needle, position)
        assert found >= 0, (
            f"{needle!r} not found after position {position}: {text[position : position + 300]!r}"
        )
        position = found + len(needle)
    return position


def html_text(value: str) -> str:
    """How a value appears in a page: whitespace collapsed, HTML-escaped."""
    return str(escape(" ".join(value.split())))


def visible_text(html: str) -> str:
    """Tags stripped, whitespace collapsed (for loose checks)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_no_live_markup(html: str, allowed: set[str]) -> None:
    """Only ``allowed`` tags, no event handlers, no script, no javascript: or data: links."""
    for tag, attrs in tags(html):
        assert tag in allowed, f"unexpected <{tag}> {attrs}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}={value!r}>"
            if name in {"href", "src", "action", "formaction"}:
                assert re.match(r"^(https?://|\.\./|[a-z0-9-]+[./])", value.strip()), value


PAGE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "link",
    "body",
    "header",
    "nav",
    "a",
    "span",
    "main",
    "p",
    "h1",
    "h2",
    "h3",
    "section",
    "article",
    "dl",
    "div",
    "dt",
    "dd",
    "small",
    "strong",
    "blockquote",
    "figure",
    "figcaption",
    "footer",
    "ul",
    "li",
}
"""The tags the built-in templates use."""


# -- the sample comparison of the two example launches, with hand-written reviews -----------

HAIKU_QUOTES = {
    "dx": (
        "The primitive is a set of weights I can download and load myself, and that alone "
        "changes my week: no rate limits, no keys, no network in my test suite. The bet is that "
        "researchers will wire up their own serving stack to get a Claude-family model they can "
        "inspect. The moment of truth is the first evening: does it load in a standard runtime "
        "and quantise cleanly onto a 24 GB card? Nobody rebuilds a trained model over a weekend, "
        "so the ship rests on one decision: publishing the weights at all."
    ),
    "skeptic": (
        "The direct competitors are Llama, Mistral, Qwen and Gemma, and every one of them lets "
        "a company ship a product; this one does not. It breaks in a simple scenario: a "
        "researcher builds a prototype, the prototype works, and legal says it cannot leave the "
        "lab. Within twelve months a permissive release from a rival with a comparable score "
        "makes it a footnote. A generous gesture and a useful research object, but as a tool to "
        "build on, I skip it."
    ),
    "futurist": (
        "The thesis is that even the most closed labs will publish smaller models to stay in "
        "the research conversation, and it depends on the flagship staying far enough ahead "
        "that nothing is lost. The second-order effect is interpretability work on a "
        "Claude-family model done outside the company and argued over in the open. It is late "
        "to open weights and on time for safety research. If small open models become the "
        "default layer for on-device work, this is the first brick, and I ship it."
    ),
    "business": (
        "Who pays? Nobody: the license rules out commercial use, so there is no buyer and no "
        "budget line beyond grant-funded labs. The pricing architecture is Free as marketing; "
        "the product is the paid API for Sonnet and Opus, and this release is a funnel toward "
        "it. The moat is the brand, not the weights. A tenfold price drop on rival APIs changes "
        "nothing here because nothing is sold. Viable as goodwill, not as a business, so for a "
        "team choosing what to ship with, I skip."
    ),
}
HAIKU_HEADLINES = {
    "dx": "A real model file on my own disk changes what I can test",
    "skeptic": "Llama and Mistral already own this shelf, with better licenses",
    "futurist": "The first crack in a closed lab's wall",
    "business": "No buyer and no budget line, by design",
}
MINI_QUOTES = {
    "dx": (
        "The primitive is a cheaper model behind the endpoints I already call, Chat "
        "Completions and Responses, so switching is one string in a config file. The bet is "
        "that most production traffic does not need the flagship, and I agree. The moment of "
        "truth is my evaluation suite: run it against Mini, compare pass rates and latency, and "
        "move the routes that hold up. No one rebuilds this in a weekend. The decision that "
        "earns the ship is keeping the API surface identical."
    ),
    "skeptic": (
        "The competitors are Claude Haiku, Gemini Flash and a dozen hosted open models at lower "
        "prices still. It breaks where a team swaps it in for the flagship on a long-tail task, "
        "say contract extraction, and quality drops quietly with no error to catch it. What "
        "kills it within a year is the next price cut from a rival, not a flaw of its own. "
        "Despite that, the benchmarks are credible and the switching cost is near zero, so I "
        "ship it."
    ),
    "futurist": (
        "The thesis is that intelligence per dollar keeps falling and volume workloads move to "
        "the cheapest capable tier; it depends on OpenAI staying the default endpoint. The "
        "second-order effect is more agents making more calls, which favours whoever prices "
        "lowest, and that may not be OpenAI. It is late: the small-model tier was crowded a "
        "year ago. It becomes infrastructure only as the default model inside the tools "
        "developers already use. Necessary, not new, so I skip."
    ),
    "business": (
        "The buyer is a platform team with an existing OpenAI contract, paying from the cloud "
        "budget it already has. The pricing is metered per token and Paid from the first call, "
        "at a rate that makes high-volume features pencil out. The moat is distribution: the "
        "contract, the SDKs and the billing are already in place. If prices drop tenfold again, "
        "the habit and the integration survive. The decision that makes it viable is pricing "
        "it to keep volume from leaving, and I ship."
    ),
}
MINI_HEADLINES = {
    "dx": "Same API surface, lower bill: the easiest migration this year",
    "skeptic": "Credible on paper; the risk is silent quality drift",
    "futurist": "A price cut dressed as a launch",
    "business": "Metered, familiar, and easy for procurement to approve",
}


def sample_panels() -> tuple[ToolPanel, ToolPanel]:
    """The two example launches with hand-written reviews (2/4 and 3/4 ship)."""
    haiku = load_launch(EXAMPLES / "claude-haiku-open-weights.yaml")
    mini = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
    a = make_panel(
        haiku.name,
        "ynyn",
        quotes=HAIKU_QUOTES,
        headlines=HAIKU_HEADLINES,
        launch=haiku.model_dump(exclude={"name"}, exclude_none=True),
    )
    b = make_panel(
        mini.name,
        "yyny",
        quotes=MINI_QUOTES,
        headlines=MINI_HEADLINES,
        launch=mini.model_dump(exclude={"name"}, exclude_none=True),
    )
    return a, b


def store_sample(store: Store) -> Comparison:
    """Store the sample comparison with community votes on both tools."""
    a, b = sample_panels()
    comparison = store_comparison(store, a, b)
    set_votes(store, [Votes(slug=a.slug, ship=41, skip=23), Votes(slug=b.slug, ship=88, skip=19)])
    return comparison
