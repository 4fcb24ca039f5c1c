"""What a run's model calls cost as they happen, and the hard cap of a budget.

A batch run gives its RunContext a ``SpendMeter``. Every priced call then holds its worst
case (its prompt, estimated with a margin, and ``max_tokens`` of output, at the dearest
input price) while it is in flight, and adds what it cost, the same figure the call log
records, once it answers. With a cap, a call whose worst case does not fit beside what is
spent and held waits for the calls in flight to end (their holds shrink to what they
cost); when none is left and it still does not fit, it is not made and its review fails
saying so. So the run never spends past its budget, and ``spent`` is the call log's sum
for the run's calls.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field

from panel.drafting.caching import estimate_tokens
from panel.drafting.prices import PriceTable
from panel.providers import ModelRequest, ProviderError

INPUT_MARGIN = 1.5
"""How far a prompt's real token count may exceed ``estimate_tokens`` (no tokenizer ships
for these models; JSON and code run to about three characters a token)."""
BUDGET_REACHED = "budget reached"
"""How the error of a call the cap refused begins."""


def worst_case(prices: PriceTable, model_id: str, request: ModelRequest) -> float:
    """The most ``request`` can cost: its prompt with the margin, all of ``max_tokens``."""
    text = request.system + "".join(m.content for m in request.messages)
    tokens = math.ceil(estimate_tokens(text + json.dumps(request.schema)) * INPUT_MARGIN)
    return prices.most(model_id, input_tokens=tokens, output_tokens=request.max_tokens)


@dataclass
class SpendMeter:
    """The spend of one run's calls, live; ``cap`` (USD) is never passed when set."""

    cap: float | None = None
    spent: float = 0.0
    """USD of the calls answered so far, as the call log records them."""
    held: float = 0.0
    """The worst case of the calls in flight."""
    calls: int = 0
    """Calls in flight."""
    by_panel: dict[str, float] = field(default_factory=dict)
    """``spent`` by panel slug."""
    _ended: asyncio.Event | None = None
    """Set when a call ends, for calls waiting to fit."""

    def fits(self, worst: float) -> bool:
        """Whether a call of worst case ``worst`` fits beside what is spent and held."""
        return self.cap is None or self.spent + self.held + worst <= self.cap

    async def hold(self, worst: float) -> None:
        """Hold ``worst`` for a call about to start, once it fits (see the module); a
        ProviderError, never retried, when it cannot."""
        while not self.fits(worst) and self.calls:
            self._ended = self._ended or asyncio.Event()
            await self._ended.wait()
        if not self.fits(worst):
            cap = self.cap or 0.0
            raise ProviderError(
                f"{BUDGET_REACHED}: this call could cost up to ${worst:.4f}, more than the "
                f"${cap - self.spent:.4f} left of the ${cap:.2f} budget",
                retryable=False,
            )
        self.held += worst
        self.calls += 1

    def settle(self, worst: float, cost: float, slug: str | None) -> None:
        """A call that held ``worst`` has ended, costing ``cost``."""
        self.held -= worst
        self.calls -= 1
        self.spent += cost
        if slug is not None:
            self.by_panel[slug] = self.by_panel.get(slug, 0.0) + cost
        if self._ended is not None:
            self._ended.set()  # the calls waiting look again
            self._ended = None
