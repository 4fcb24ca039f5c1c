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
    quote = (
        f"I read {name} as {reviewer} would, and the case comes down to mechanisms rather "
        f"than adjectives. The primitive is clear enough, the competitors are named in "
        f"every buyer's shortlist, and the first real workload decides it within a week. "
        f"I priced the risk at roughly three in ten, looked at what a careful team would "
        f"rebuild, and weighed who pays and from which budget. The timing matters, the "
        f"pricing entry matters, and the moat is thinner than the launch suggests. "
        f"Reference {seed}. On balance I call it a {verdict}."
    )
    return json.dumps(
        {"headline": f"{reviewer} says {verdict} on {name}", "quote": quote, "verdict": verdict}
    )


class FakeProvider(Provider):
    """Answers instantly (or after ``latency`` seconds) without any network."""

    name = "fake"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls: list[tuple[str, ModelRequest]] = []
        self._script: deque[Answer] = deque()

    def script(self, *answers: Answer) -> None:
        """Queue answers for the next calls (then canned answers resume)."""
        self._script.extend(answers)

    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """Return the next scripted answer, or a canned valid review."""
        self.calls.append((model, request))
        if self.latency:
            await asyncio.sleep(self.latency)
        answer: Answer = self._script.popleft() if self._script else canned_answer(model, request)
        if isinstance(answer, ProviderError):
            raise answer
        if isinstance(answer, ModelResponse):
            return answer
        text = answer(request) if callable(answer) else answer
        return ModelResponse(text=text, input_tokens=len(request.system) // 4, output_tokens=120)
