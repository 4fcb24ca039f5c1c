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
    successes) keep a run near the provider's limit without a storm of retries.
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
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one call slot for the duration of the block."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
        try:
            yield
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def success(self) -> None:
        """A call went through: grow the cap a little."""
        self.limit = min(self.maximum, self.limit + self.increase / max(1.0, self.limit))

    def throttled(self) -> None:
        """The provider said slow down: cut the cap (once per cooldown)."""
        self.rate_limited += 1
        now = time.monotonic()
        if now - self._last_cut >= self.cooldown:
            self._last_cut = now
            self.limit = max(self.minimum, self.limit * self.decrease)
