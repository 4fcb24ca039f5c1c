"""Adaptive concurrency: back off on rate limits, recover on success (AIMD)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AdaptiveLimiter:
    """Caps calls in flight; a 429 cuts the cap, successes grow it back.

    Multiplicative decrease (at most once per ``cooldown`` seconds, so one burst of
    429s counts once) and a slow additive increase (one slot per ``limit / increase``
    successes) keep a run near the provider's limit without a storm of retries. A 429's
    retry-after also pauses every caller waiting for a slot until then, so the others
    wait it out together instead of each discovering the limit with a 429 of its own.
    """

    def __init__(
        self,
        limit: int,
        *,
        minimum: int = 1,
        decrease: float = 0.7,
        increase: float = 0.25,
        cooldown: float = 1.0,
    ) -> None:
        self.maximum = max(1, limit)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = float(self.maximum)
        self.decrease = decrease
        self.increase = increase
        self.cooldown = cooldown
        self.in_flight = 0
        self.rate_limited = 0
        self._last_cut = 0.0
        self.not_before = 0.0
        """No slot is handed out before this ``time.monotonic()`` instant (a retry-after)."""
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one call slot for the duration of the block."""
        while True:
            pause = self.not_before - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            async with self._changed:
                await self._changed.wait_for(lambda: self.in_flight < int(self.limit))
                if self.not_before > time.monotonic():
                    continue  # a retry-after arrived while this caller waited for a slot
                self.in_flight += 1
                break
        try:
            yield
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def success(self) -> None:
        """A call went through: grow the cap a little."""
        self.limit = min(self.maximum, self.limit + self.increase / max(1.0, self.limit))

    def throttled(self, retry_after: float | None = None) -> None:
        """The provider said slow down: cut the cap (once per cooldown), and hold new
        calls back for ``retry_after`` seconds when it said for how long."""
        self.rate_limited += 1
        now = time.monotonic()
        if retry_after:
            self.not_before = max(self.not_before, now + retry_after)
        if now - self._last_cut >= self.cooldown:
            self._last_cut = now
            # Cut from what is in flight, not from the cap (as TCP cuts from its flight
            # size): a cap far above the calls that fit would take many cuts to come down.
            flight = min(self.limit, self.in_flight) if self.in_flight else self.limit
            self.limit = max(self.minimum, flight * self.decrease)
