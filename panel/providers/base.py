"""The provider contract: one async ``generate`` and a classified error."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    import httpx2

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Role
    content: str
    breaks: tuple[int, ...] = ()
    """Offsets in ``content`` where a part shared with other requests ends (the launch and
    its sources, read by every reviewer): providers with prompt caching mark each such
    part cacheable (Anthropic: a ``cache_control`` block; OpenAI caches prefixes itself)."""

    def parts(self) -> list[tuple[str, bool]]:
        """``content`` cut at ``breaks``: each part, and whether a shared part ends there."""
        pieces: list[tuple[str, bool]] = []
        start = 0
        for end in sorted({b for b in self.breaks if 0 < b <= len(self.content)}):
            pieces.append((self.content[start:end], True))
            start = end
        if start < len(self.content) or not pieces:
            pieces.append((self.content[start:], False))
        return pieces


@dataclass(frozen=True)
class ModelRequest:
    """Everything a provider needs for one structured call."""

    system: str
    messages: tuple[Message, ...]
    schema: dict[str, object]
    schema_name: str = "review"
    max_tokens: int = 1024
    temperature: float = 0.7
    prose_field: str | None = None
    """A string field that small models may write as free text before the rest."""
    must_fill: tuple[str, ...] = ()
    """Nullable schema fields this answer must fill anyway. The schema is the same for
    every reviewer (so their shared prompt prefix caches), the instructions say which
    fields a reviewer gives; a grammar-constrained local model is held to them."""

    def shared_prefix(self) -> str:
        """The text this request shares with its siblings (the other reviewers' first
        requests): the system prompt and the shared parts of the first message."""
        if not self.messages:
            return self.system
        first = self.messages[0]
        end = max((b for b in first.breaks if b <= len(first.content)), default=0)
        return self.system + first.content[:end]

    def cache_key(self) -> str | None:
        """A routing key for providers that take one (OpenAI's ``prompt_cache_key``): the
        same for requests with the same shared prefix; None when nothing is shared."""
        if not self.messages or not self.messages[0].breaks:
            return None
        return "panel-" + hashlib.sha256(self.shared_prefix().encode()).hexdigest()[:32]


@dataclass
class ModelResponse:
    """A provider's answer: the raw text (JSON expected) and its usage."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str | None = None
    raw: dict[str, object] = field(default_factory=dict)
    call_id: int | None = None
    """The call-log row of this answer (set by the core)."""


RETRYABLE_STATUS = frozenset({408, 409, 429, 529})
"""HTTP statuses worth another try, besides every 5xx."""
RATE_LIMIT_STATUS = frozenset({429, 529})
"""Statuses that mean "slow down" (429, Anthropic's 529 overloaded)."""
RATE_LIMIT_TYPES = frozenset(
    {"rate_limit_error", "overloaded_error", "rate_limit_exceeded", "requests", "tokens"}
)
"""Error-object types (Anthropic's, OpenAI's) that mean "slow down", whatever the status."""


def retryable_status(status: int) -> bool:
    """Whether an HTTP error status is worth retrying (the one place this is decided)."""
    return status in RETRYABLE_STATUS or status >= 500


def body_text(response: httpx2.Response) -> str | None:
    """An SDK response's body text, or None when it cannot be read (kept as raw)."""
    import httpx2  # the SDKs' HTTP client: imported only by the providers that use it

    try:
        return response.text
    except httpx2.HTTPError:
        return None


class ProviderError(Exception):
    """A failed call, classified by the provider; the core decides what to do."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        raw: str | None = None,
        rate_limited: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.raw = raw
        self.rate_limited = (
            retryable and status in RATE_LIMIT_STATUS if rate_limited is None else rate_limited
        )
        """The provider said "later" (a 429, 529, or such an error object in a 200)."""


class AnswerError(Exception):
    """The model answered, but not usably (refusal, truncation): worth a re-ask."""

    def __init__(self, message: str, response: ModelResponse) -> None:
        super().__init__(message)
        self.message = message
        self.response = response


class Provider(ABC):
    """A model provider. Implement ``generate``; raise ProviderError on failure."""

    name: str = ""
    uses_feedback: bool = True
    """Whether its models can act on a re-ask that quotes their answer back and names what
    to change (a quote missing beats); a tiny local model cannot."""

    @abstractmethod
    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """Run one call of ``model`` and return its raw answer."""

    def estimate_seconds(self, model: str, requests: Sequence[ModelRequest]) -> float | None:
        """Seconds ``requests`` will take, when the provider can tell (a local model)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients; the default holds nothing."""


class SdkClient(Protocol):
    """What LoopBound needs of an SDK client."""

    async def close(self) -> None:
        """Close its HTTP connections."""


ClientT = TypeVar("ClientT", bound=SdkClient)


class LoopBound(Generic[ClientT]):
    """One SDK client per running event loop (httpx2 pools are bound to one loop)."""

    def __init__(self, make: Callable[[], ClientT]) -> None:
        self._make = make
        self._client: ClientT | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> ClientT:
        """The client for the running loop, made anew when the loop changed."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._make(), loop
        return self._client

    async def aclose(self) -> None:
        """Close the client; one made on another (finished) loop is just dropped."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
