"""A deterministic offline provider for tests and demos, registered like any other.

``fake:ship`` always ships, ``fake:skip`` always skips, ``fake:mixed`` ships for the
developer-experience and futurist lenses and skips otherwise. The quote is built from
the launch and persona in the request, so answers differ per persona and launch.
Tests may script answers with :meth:`FakeProvider.script`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable

from panel.providers.base import ModelRequest, ModelResponse, Provider, ProviderError

Answer = str | ModelResponse | ProviderError | Callable[[ModelRequest], str]
_SHIPPERS = ("Builder", "Futurist")
# One body per shipped persona, each covering that persona's beats in its own words.
_BODIES = {
    "The Builder": (
        "The primitive in {name} is one typed endpoint, and the developer-experience bet is "
        "that a single call with clear errors beats a framework you have to learn. The moment "
        "of truth is the first real task: I point it at a repository, wire the SDK in ten "
        "minutes, and watch latency and error messages over a hundred requests. Could a good "
        "engineer rebuild it in a weekend? The happy path, yes; the retries, rate limits and "
        "migrations, no. The one technical decision that earns or loses it is keeping the API "
        "surface stable across versions."
    ),
    "The Skeptic": (
        "I have seen {name} before under other names, and Ollama, LM Studio and OpenRouter "
        "already cover most of it, each one config change away. It breaks the moment a "
        "regulated team asks where prompts are logged and who can read them, a scenario the "
        "docs never mention. What kills it within twelve months is a bundled feature from a "
        "bigger rival at half the price. Even so, the failure is not certain and switching "
        "costs are low, so I weighed the evidence rather than the hype."
    ),
    "The Futurist": (
        "The thesis behind {name} is that model calls become as cheap and routine as database "
        "queries, and it depends on inference prices falling another order of magnitude. The "
        "second-order effect is that product teams stop rationing calls and put a model behind "
        "every form field, which changes who builds software. On timing it is early but "
        "workable: the hardware curve is on its side, habits are not yet. In the future where "
        "it wins, it is invisible infrastructure that nobody thinks about, like DNS."
    ),
    "The Operator": (
        "The buyer for {name} is a platform team, and the budget that pays is the cloud line "
        "it already owns, not a new tools line that needs procurement. The pricing "
        "architecture is metered usage with a free tier as the funnel and an enterprise "
        "contract at about $20 per seat as the upsell. The moat is thin: integrations and "
        "habit, not technology. If prices drop 10x, what survives is the workflow and the "
        "billing relationship. The one business decision that makes it viable is selling "
        "through existing cloud accounts."
    ),
}


def _field(request: ModelRequest, label: str) -> str:
    match = re.search(rf"^{label}: (.+)$", request.messages[0].content, re.MULTILINE)
    return match.group(1).strip() if match else "this launch"


def canned_answer(model: str, request: ModelRequest) -> str:
    """A valid review JSON for ``request`` under fake model ``model``."""
    name = _field(request, "Name")
    persona = re.search(r"^You are (The \w+)", request.system, re.MULTILINE)
    reviewer = persona.group(1) if persona else "The Reviewer"
    if model == "ship":
        verdict = "ship"
    elif model == "skip":
        verdict = "skip"
    else:
        verdict = "ship" if any(s in reviewer for s in _SHIPPERS) else "skip"
    seed = hashlib.sha256(f"{reviewer}|{name}".encode()).hexdigest()[:6]
    body = _BODIES.get(reviewer, _BODIES["The Builder"]).format(name=name)
    quote = f"{body} Reference {seed}. On balance I call it a {verdict}."
    return json.dumps(
        {"headline": f"{reviewer} says {verdict} on {name}", "quote": quote, "verdict": verdict}
    )


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
        return ModelResponse(text=text, input_tokens=len(request.system) // 4, output_tokens=120)
