"""The retry policy: the one place that decides whether and when to call again.

Two kinds of retryable error, two limits. A rate limit (429, or Anthropic's 529
"overloaded") is the provider saying "later": it is retried under a time budget per
review, so a busy batch run does not fail reviews by counting them out. Any other
retryable error (5xx, timeouts, resets) keeps a count, ``max_attempts``. Over both, a
deadline per review and per panel: no retry is scheduled past it, and a call in flight
gets only the time left.

``retry_call`` is the one retry loop: model calls and batch API calls both run in it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, TypeVar

from panel.providers.base import ProviderError

T = TypeVar("T")


def rate_limited(error: BaseException) -> bool:
    """Whether ``error`` is the provider asking us to slow down: retried under the time
    budget, and it cuts the limiter (the provider classifies it: ProviderError.rate_limited)."""
    return isinstance(error, ProviderError) and error.rate_limited


@dataclass(frozen=True)
class Deadline:
    """When the calls of a review (or of its panel) must have ended."""

    at: float
    """A ``time.monotonic()`` instant."""
    seconds: float
    scope: str
    """``review`` or ``panel``: which deadline this is, for the log."""

    @classmethod
    def after(cls, seconds: float, scope: str, *, start: float | None = None) -> Deadline:
        """The deadline ``seconds`` after ``start`` (default: now)."""
        return cls((time.monotonic() if start is None else start) + seconds, seconds, scope)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    @property
    def note(self) -> str:
        """What the call log and the review's error say when it is reached."""
        return f"deadline of {self.seconds:g} s for this {self.scope} reached"


_PANEL_DEADLINE: ContextVar[Deadline | None] = ContextVar("panel_deadline", default=None)


@contextmanager
def panel_deadline(seconds: float) -> Iterator[Deadline]:
    """Set the panel deadline for the reviews started inside the block (their tasks
    inherit it); an enclosing, earlier deadline still applies."""
    own = Deadline.after(seconds, "panel")
    outer = _PANEL_DEADLINE.get()
    token = _PANEL_DEADLINE.set(outer if outer is not None and outer.at <= own.at else own)
    try:
        yield own
    finally:
        _PANEL_DEADLINE.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry retryable provider errors (panel.toml ``[retry]``)."""

    max_attempts: int = 6
    """Calls per request at most for retryable errors other than rate limits."""
    base_seconds: float = 0.5
    """First backoff; doubled per attempt, with full jitter."""
    max_backoff_seconds: float = 20.0
    """Ceiling of one exponential backoff."""
    retry_after_cap_seconds: float = 30.0
    """A server's retry-after above this is capped (and the cap is logged)."""
    rate_limit_budget_seconds: float = 120.0
    """Seconds one review may spend waiting out rate limits (429/529) before it fails:
    long enough to ride out a minute of throttling, which costs nothing."""
    review_deadline_seconds: float = 300.0
    """Overall time of one review, every call, wait and re-ask included (and of one batch
    API call, its retries included)."""
    panel_deadline_seconds: float = 600.0
    """Overall time of the reviews of one panel."""

    def delay(self, error: ProviderError, attempt: int) -> tuple[float, str]:
        """Seconds to wait after failed ``attempt`` (1-based), and a note for the log."""
        if error.retry_after is not None:
            told = max(0.0, error.retry_after)
            capped = min(told, self.retry_after_cap_seconds)
            # Up to half again on top, so that callers told the same instant spread out.
            wait = capped * random.uniform(1.0, 1.5)
            if told > capped:
                return wait, (
                    f"retry-after {told:g} s capped at {capped:g} s (waiting {wait:.2f} s)"
                )
            return wait, f"retry-after {told:g} s honoured (waiting {wait:.3f} s)"
        ceiling = min(self.max_backoff_seconds, self.base_seconds * 2 ** (attempt - 1))
        wait = random.uniform(0, ceiling)
        return wait, f"backoff {wait:.2f} s"

    def decide(
        self,
        error: BaseException,
        *,
        attempt: int,
        failures: int,
        throttled: float,
        deadline: Deadline | None = None,
    ) -> tuple[float | None, str]:
        """The wait before the next attempt (None: stop) and a note for the log.

        ``attempt`` is the failed attempt (1-based), ``failures`` the failed attempts of
        this request that were not rate limits (this one included), ``throttled`` the
        seconds this review has already waited out rate limits.
        """
        if not isinstance(error, ProviderError) or not error.retryable:
            return None, ""
        wait, why = self.delay(error, attempt)
        if rate_limited(error):
            if throttled + wait > self.rate_limit_budget_seconds:
                return None, (
                    f"rate limited for {throttled:.2f} s; waiting again would pass this "
                    f"review's {self.rate_limit_budget_seconds:g} s budget for rate limits"
                )
        elif failures >= self.max_attempts:
            return None, ""
        if deadline is not None and wait >= deadline.remaining():
            return None, deadline.note
        return wait, why

    def review_deadline(self, started: float) -> Deadline:
        """The deadline of a review started at ``started``: its own, or its panel's if sooner."""
        own = Deadline.after(self.review_deadline_seconds, "review", start=started)
        panel = _PANEL_DEADLINE.get()
        return panel if panel is not None and panel.at < own.at else own


DEFAULT_POLICY = RetryPolicy()


class Tally(Protocol):
    """What the loop counts across the requests of one review (a review's Usage)."""

    attempts: int
    throttled_seconds: float
    """Seconds waited out rate limits, against the policy's budget."""


@dataclass
class Counted:
    """A Tally of its own, for a call that is not part of a review."""

    attempts: int = 0
    throttled_seconds: float = 0.0


@dataclass(frozen=True)
class Failure:
    """One failed attempt, and what the loop does next."""

    error: ProviderError
    attempt: int
    """1-based, within this request."""
    seconds: float
    """How long the attempt took."""
    wait: float | None
    """Seconds until the next attempt; None: the loop stops and raises ``error``."""
    why: str
    """The policy's reason (the wait, or why it stops); may be empty."""

    @property
    def note(self) -> str:
        """What the call log adds to the error: `` — retrying: …`` or `` — not retrying: …``."""
        if not self.why:
            return ""
        return f" — {'retrying' if self.wait is not None else 'not retrying'}: {self.why}"

    def exhausted(self) -> ProviderError:
        """The error that ends the request: the last one, the attempts made and why."""
        after = f"after {self.attempt} attempt{'s' if self.attempt > 1 else ''}"
        return ProviderError(
            f"{self.error.message} ({after}{'; ' + self.why if self.why else ''})",
            retryable=False,
            status=self.error.status,
            raw=self.error.raw,
        )


def _always(error: ProviderError) -> bool:
    return True


async def retry_call(
    policy: RetryPolicy,
    call: Callable[[int], Awaitable[T]],
    *,
    deadline: Deadline | None = None,
    tally: Tally | None = None,
    may_retry: Callable[[ProviderError], bool] = _always,
    on_failure: Callable[[Failure], None] | None = None,
) -> T:
    """``call(attempt)`` until it answers or ``policy`` stops; the one retry loop.

    Each failed attempt (a ProviderError) goes to ``on_failure`` before the wait, or before
    the loop raises it; ``may_retry`` can refuse a retry the policy would allow. Other
    exceptions pass through untouched. A call in flight gets only the deadline's time left.
    """
    tally = Counted() if tally is None else tally
    failures = 0  # failed attempts that were not rate limits
    attempt = 0
    while True:
        attempt += 1
        tally.attempts += 1
        started = time.monotonic()
        try:
            return await _within(deadline, call, attempt)
        except ProviderError as exc:
            failures += not rate_limited(exc)
            wait: float | None = None
            why = ""
            if may_retry(exc):
                wait, why = policy.decide(
                    exc,
                    attempt=attempt,
                    failures=failures,
                    throttled=tally.throttled_seconds,
                    deadline=deadline,
                )
            if wait is not None and rate_limited(exc):
                tally.throttled_seconds += wait
            if on_failure is not None:
                on_failure(Failure(exc, attempt, time.monotonic() - started, wait, why))
            if wait is None:
                raise
        await asyncio.sleep(wait)


async def _within(
    deadline: Deadline | None, call: Callable[[int], Awaitable[T]], attempt: int
) -> T:
    """One attempt, cut when the deadline passes (a ProviderError that is not retried)."""
    if deadline is None:
        return await call(attempt)
    left = deadline.remaining()
    if left <= 0:
        raise ProviderError(deadline.note, retryable=False)
    try:
        async with asyncio.timeout(left) as scope:
            return await call(attempt)
    except TimeoutError:
        if not scope.expired():
            raise
        raise ProviderError(deadline.note, retryable=False) from None
