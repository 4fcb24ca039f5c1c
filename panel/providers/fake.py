"""A deterministic offline provider for tests and demos, registered like any other.

``fake:ship`` always ships, ``fake:skip`` always skips, ``fake:mixed`` ships when the
reviewer's first question is a "What" question and skips otherwise (of the personas in
personas/, the builder and the futurist ship, the skeptic and the operator skip).

Everything comes from the request, never from a table of persona names: the reviewer's
name and questions from the persona's instructions that close the first message, the
launch from the shared block before them. The quote
answers each question in turn, with a stock answer when the question is on a familiar
topic (the primitive, competitors, pricing...) and by taking the question up otherwise,
so any persona file gets a valid answer and a renamed one the same answer. Quotes are
padded to the asked length (``QUOTE_WORDS``). When the request must fill the pricing read,
it is one sentence read from the launch's pricing entry (a free release is not priced per
seat). Tests may script answers with :meth:`FakeProvider.script`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable

from panel.lengths import QUOTE_WORDS, word_count
from panel.providers.base import ModelRequest, ModelResponse, Provider, ProviderError

Answer = str | ModelResponse | ProviderError | Callable[[ModelRequest], str]
# A stock answer per familiar question topic, tried in order (the first pattern found in
# the question wins); each covers its topic in words a beat cue would look for.
_TOPICS: tuple[tuple[str, str], ...] = (
    (
        r"moment of truth",
        "The moment of truth is the first real task: I point it at a repository, wire the "
        "SDK in ten minutes, and watch latency and error messages over a hundred requests.",
    ),
    (
        r"primitive",
        "The primitive in {name} is one typed endpoint: a single call that does one job, "
        "with errors that say what went wrong.",
    ),
    (
        r"experience bet",
        "The developer-experience bet is that a single call with clear errors beats a "
        "framework you have to learn.",
    ),
    (
        r"weekend",
        "Could a good engineer rebuild it in a weekend? The happy path, yes; the retries, "
        "rate limits and migrations, no.",
    ),
    (
        r"technical decision",
        "The one technical decision that earns or loses it is keeping the API surface stable "
        "across versions.",
    ),
    (
        r"competitor|rival",
        "I have seen {name} before under other names, and Ollama, LM Studio and OpenRouter "
        "already cover most of it, each one config change away.",
    ),
    (
        r"break",
        "It breaks the moment a regulated team asks where prompts are logged and who can "
        "read them, a scenario the docs never mention.",
    ),
    (
        r"kills?\b|12 months|twelve months",
        "What kills it within twelve months is a bundled feature from a bigger rival at "
        "half the price.",
    ),
    (
        r"despite",
        "Even so, the failure is not certain and switching costs are low, so I weighed the "
        "evidence rather than the hype.",
    ),
    (
        r"thesis",
        "The thesis behind {name} is that model calls become as cheap and routine as "
        "database queries, and it depends on inference prices falling another order of "
        "magnitude.",
    ),
    (
        r"second-order",
        "The second-order effect is that product teams stop rationing calls and put a model "
        "behind every form field, which changes who builds software.",
    ),
    (
        r"\bearly\b|\blate\b|on time",
        "On timing it is early but workable: the hardware curve is on its side, habits are "
        "not yet.",
    ),
    (
        r"infrastructure",
        "In the future where it wins, it is invisible infrastructure that nobody thinks "
        "about, like DNS.",
    ),
    (
        r"buyer|budget",
        "The buyer for {name} is a platform team, and the budget that pays is the cloud line "
        "it already owns, not a new tools line that needs procurement.",
    ),
    (
        r"price drop|10x",
        "If prices drop 10x, what survives is the workflow and the billing relationship.",
    ),
    (
        r"pricing",
        "The pricing architecture is metered usage with a free tier as the funnel and an "
        "enterprise contract at about $20 per seat as the upsell.",
    ),
    (r"moat", "The moat is thin: integrations and habit, not technology."),
    (
        r"business decision|viab",
        "The one business decision that makes it viable is selling through existing cloud "
        "accounts.",
    ),
)
_OTHER = (
    "{question} For {name}, I can answer that from a real run rather than the launch post: "
    "it held up on two of the three tasks I tried."
)
_PADDING = (
    "I read the documentation, the changelog and the first issues filed against it before "
    "writing a word.",
    "I also ran it next to what my team uses today, on the same task, for a full afternoon.",
    "Nothing here rests on the launch post alone; I only count what I could check myself.",
)
_NUMBERED = re.compile(r"^(\d+)\. (.+)$")
# The pricing read, one sentence, by the launch's pricing entry (the first pattern found wins).
_PRICING_READS: tuple[tuple[str, str], ...] = (
    (
        r"freemium",
        "I read the free tier of {name} as the funnel and the paid plan as the business, so "
        "it lives or dies on how many teams upgrade.",
    ),
    (
        r"free|open[ -]source|research",
        "I read {name} as a free research release with nothing to meter yet, so the price to "
        "judge is the hardware and the people it takes to run.",
    ),
    (
        r"enterprise|contract|sales",
        "I read {name} as a sales-led enterprise deal, so procurement rather than the "
        "developer decides, and the price is whatever the contract says.",
    ),
    (
        r"paid|usage|metered|subscription|per[ -]",
        "I read {name} as metered from the first call, so it has to cost less than what the "
        "platform team already pays for the same work.",
    ),
)
_NO_PRICE = (
    "I read the pricing of {name} as undecided, since the launch names no way to pay, and a "
    "buyer should wait until it does."
)


def _field(request: ModelRequest, label: str) -> str:
    match = re.search(rf"^{label}: (.+)$", request.messages[0].content, re.MULTILINE)
    return match.group(1).strip() if match else "this launch"


def _persona_part(request: ModelRequest) -> str:
    """The persona's instructions: the first message after its shared (launch) parts."""
    first = request.messages[0]
    return first.parts()[-1][0] if first.parts() else first.content


def reviewer_of(request: ModelRequest) -> str:
    """The reviewer's display name, from the instructions' 'You are NAME, ROLE' opening."""
    match = re.match(r"\s*You are (.+?),", _persona_part(request))
    return match.group(1).strip() if match else "The Reviewer"


def questions_of(request: ModelRequest) -> list[str]:
    """The reviewer's questions: the last list numbered 1, 2, 3... of the instructions."""
    runs: list[list[str]] = []
    for line in _persona_part(request).splitlines():
        match = _NUMBERED.match(line.strip())
        if match and int(match.group(1)) == 1:
            runs.append([match.group(2).strip()])
        elif match and runs and int(match.group(1)) == len(runs[-1]) + 1:
            runs[-1].append(match.group(2).strip())
    return runs[-1] if runs else []


def pricing_read_of(request: ModelRequest) -> str:
    """The fake reviewer's one-sentence pricing read, from the launch's pricing entry."""
    name = _field(request, "Name")
    entry = _field(request, "Pricing entry")  # "this launch" when there is none
    for pattern, read in _PRICING_READS:
        if re.search(pattern, entry, re.IGNORECASE):
            return read.format(name=name)
    return _NO_PRICE.format(name=name)


def _answer(question: str, name: str, used: set[str]) -> str:
    for pattern, answer in _TOPICS:
        if pattern not in used and re.search(pattern, question, re.IGNORECASE):
            used.add(pattern)
            return answer.format(name=name)
    return _OTHER.format(question=question, name=name)


def canned_answer(model: str, request: ModelRequest) -> str:
    """A valid review JSON for ``request`` under fake model ``model``."""
    name = _field(request, "Name")
    reviewer = reviewer_of(request)
    questions = questions_of(request)
    if model in ("ship", "skip"):
        verdict = model
    else:
        first = questions[0] if questions else ""
        verdict = "ship" if re.match(r"what\b", first, re.IGNORECASE) else "skip"
    used: set[str] = set()
    sentences = [_answer(question, name, used) for question in questions]
    seed = hashlib.sha256(f"{reviewer}|{name}".encode()).hexdigest()[:6]
    closing = f"Reference {seed}. On balance I call it a {verdict}."
    for padding in _PADDING:
        if word_count(" ".join([*sentences, closing])) >= QUOTE_WORDS.low:
            break
        sentences.append(padding)
    quote = " ".join([*sentences, closing])
    answer = {
        "headline": f"{reviewer} says {verdict} on {name}",
        "quote": quote,
        "verdict": verdict,
    }
    if "pricing_read" in request.must_fill:
        answer["pricing_read"] = pricing_read_of(request)
    return json.dumps(answer)


class FakeProvider(Provider):
    """Answers instantly (or after ``latency`` seconds) without any network."""

    name = "fake"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.in_flight = 0
        self.max_in_flight = 0
        """Most calls that were waiting on this provider at once."""
        self.calls: list[tuple[str, ModelRequest]] = []
        self._script: deque[Answer] = deque()

    def script(self, *answers: Answer) -> None:
        """Queue answers for the next calls (then canned answers resume)."""
        self._script.extend(answers)

    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """Return the next scripted answer, or a canned valid review."""
        self.calls.append((model, request))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        answer: Answer = self._script.popleft() if self._script else canned_answer(model, request)
        if isinstance(answer, ProviderError):
            raise answer
        if isinstance(answer, ModelResponse):
            return answer
        text = answer(request) if callable(answer) else answer
        prompt = len(request.system) + len(request.messages[0].content)
        return ModelResponse(text=text, input_tokens=prompt // 4, output_tokens=120)
