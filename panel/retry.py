"""The retry policy: the one place that decides whether and when to call again."""

from __future__ import annotations

import random
from dataclasses import dataclass

from panel.providers.base import ProviderError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry retryable provider errors."""

    max_attempts: int = 6
    """Calls per request at most, the first included."""
    base_seconds: float = 0.5
    """First backoff; doubled per attempt, with full jitter."""
    max_backoff_seconds: float = 20.0
    """Ceiling of one exponential backoff."""
    retry_after_cap_seconds: float = 30.0
    """A server's retry-after above this is capped (and the cap is logged)."""
    max_rate_limited_attempts: int = 12
    """Calls per request at most while the provider answers 429 (rate limits are
    expected in batch runs and cost nothing; other errors keep ``max_attempts``)."""

    def delay(self, error: ProviderError, attempt: int) -> tuple[float, str]:
        """Seconds to wait after failed ``attempt`` (1-based), and a note for the log."""
        if error.retry_after is not None:
            if error.retry_after > self.retry_after_cap_seconds:
                return self.retry_after_cap_seconds, (
                    f"retry-after {error.retry_after:g} s capped at "
                    f"{self.retry_after_cap_seconds:g} s"
                )
            # A little jitter on top, so that callers told the same instant spread out.
            wait = max(0.0, error.retry_after) * random.uniform(1.0, 1.5)
            return wait, f"retry-after {error.retry_after:g} s honoured"
        ceiling = min(self.max_backoff_seconds, self.base_seconds * 2 ** (attempt - 1))
        wait = random.uniform(0, ceiling)
        return wait, f"backoff {wait:.2f} s"

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """True for a retryable provider error with attempts left."""
        return isinstance(error, ProviderError) and error.retryable and attempt < self.max_attempts


DEFAULT_POLICY = RetryPolicy()
