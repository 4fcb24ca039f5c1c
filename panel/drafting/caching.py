"""Prompt caching: whether the prefix the reviewers of a launch share can be cached, and
the order of their calls that lets three of them read what the first one wrote.

The four first requests of a panel open with the same system prompt, schema and launch
block (``Message.breaks`` marks where the shared part ends); a provider caches such a
prefix only from a minimum length per model (``cache_min_tokens`` in the price table),
and only once a first request has written it: requests sent at the same moment all pay
for the whole prompt. So when the shared prefix is long enough, the first reviewer's call
goes alone and the others follow once it has answered; when it is too short, all four go
at once, since waiting would cost a call's latency and save nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field

from panel.drafting.prices import PriceTable
from panel.providers import ModelRequest

MARGIN = 1.1
"""Staging waits only for a prefix estimated at least this far above the model's minimum,
so that a miscount near the line does not cost a call's latency for nothing."""


def estimate_tokens(text: str) -> int:
    """Tokens of ``text``, estimated without the provider's tokenizer: about four
    characters of English (ASCII) a token, about one a character for other scripts."""
    ascii_chars = len(text.encode("ascii", "ignore"))  # the ASCII characters, counted in C
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def shared_text(request: ModelRequest) -> str:
    """What the request shares with the other reviewers' first requests: the schema, the
    system prompt and the shared parts of the first message."""
    return json.dumps(request.schema) + request.shared_prefix()


def cacheable(prices: PriceTable, model_id: str, request: ModelRequest) -> bool:
    """Whether ``request``'s shared prefix is long enough for ``model_id`` to cache it."""
    price = prices.price(model_id)
    minimum = price.cache_min_tokens if price is not None else 0
    return minimum > 0 and estimate_tokens(shared_text(request)) >= minimum * MARGIN


@dataclass
class Gate:
    """When a review may send its first call: at once, or after another review's first
    call has returned (so the prefix that call wrote to the provider's cache is there)."""

    after: asyncio.Event | None = None
    """Set when the first call of the review this one waits for has returned."""
    opens: asyncio.Event | None = None
    """Set by this review when its own first call has returned."""

    async def wait(self) -> None:
        """Wait until this review may send its first call."""
        if self.after is not None:
            await self.after.wait()

    def done(self) -> None:
        """This review's first call has returned (answered or failed)."""
        if self.opens is not None:
            self.opens.set()


@dataclass
class Plan:
    """The gates of a panel's reviews, by persona id (a persona not named goes at once)."""

    gates: dict[str, Gate] = field(default_factory=dict)

    def gate(self, persona_id: str) -> Gate:
        """The gate of ``persona_id``'s review."""
        return self.gates.get(persona_id) or Gate()

    @property
    def staged(self) -> bool:
        """Whether any review waits for another."""
        return any(g.after is not None for g in self.gates.values())


def plan_calls(prices: PriceTable, requests: list[tuple[str, str, ModelRequest]]) -> Plan:
    """Gates for first requests given as (persona id, model id, request): per model, when
    two or more reviews share a cacheable prefix, the first goes alone and the rest wait."""
    by_model: dict[str, list[tuple[str, ModelRequest]]] = {}
    for persona_id, model_id, request in requests:
        by_model.setdefault(model_id, []).append((persona_id, request))
    plan = Plan()
    for model_id, group in by_model.items():
        if len(group) < 2 or not cacheable(prices, model_id, group[0][1]):
            continue
        first = asyncio.Event()
        plan.gates[group[0][0]] = Gate(opens=first)
        for persona_id, _ in group[1:]:
            plan.gates[persona_id] = Gate(after=first)
    return plan
