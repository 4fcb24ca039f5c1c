"""The optional batch contract: submit many requests at once, collect the results later.

Provider batch APIs (Anthropic Message Batches, the OpenAI Batch API) cost half the
price of direct calls and answer within 24 hours. A provider offers one through a
``batches()`` method returning a :class:`BatchCapable`; the batch runner owns the rest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from panel.errors import UsageError
from panel.providers.base import AnswerError, Message, ModelRequest, ModelResponse, ProviderError
from panel.providers.registry import get_provider, parse_model_id

Outcome = Literal["succeeded", "errored", "expired", "canceled"]
CUSTOM_ID_MAX = 64
"""Anthropic allows 1-64 characters of ``[a-zA-Z0-9_-]``; OpenAI accepts the same."""
_CUSTOM_ID_BAD = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class BatchState:
    """Where a submitted batch stands, in the provider's words and counts."""

    status: str
    """The provider's status, e.g. ``in_progress``, ``ended``, ``completed``, ``expired``."""
    ended: bool
    """True once results can be fetched (every request finished, expired or canceled)."""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchItem:
    """The result of one request of a batch."""

    custom_id: str
    outcome: Outcome
    response: ModelResponse | None = None
    """The answer, also for a usable-looking one that failed (see ``error``)."""
    error: ProviderError | AnswerError | None = None

    @property
    def billed(self) -> ModelResponse | None:
        """The answer the provider charged for (successes and refused/cut-off answers)."""
        if self.response is not None:
            return self.response
        return self.error.response if isinstance(self.error, AnswerError) else None


@runtime_checkable
class BatchCapable(Protocol):
    """A provider's batch API."""

    max_requests: int
    """Most requests one batch may hold."""
    max_bytes: int
    """Most bytes of request JSON one batch may hold."""

    async def submit_batch(self, model: str, requests: Sequence[tuple[str, ModelRequest]]) -> str:
        """Submit ``(custom_id, request)`` pairs for ``model``; returns the batch id."""
        ...

    async def batch_status(self, batch_id: str) -> BatchState:
        """The batch's status and request counts."""
        ...

    async def batch_results(
        self, batch_id: str, requests: Mapping[str, ModelRequest]
    ) -> list[BatchItem]:
        """The results of an ended batch (``requests`` by custom_id, to read answers)."""
        ...

    async def cancel_batch(self, batch_id: str) -> BatchState:
        """Ask the provider to stop the batch; results of finished requests stay."""
        ...


@runtime_checkable
class SupportsBatches(Protocol):
    """A provider with a batch API."""

    def batches(self) -> BatchCapable:
        """The provider's batch API."""
        ...


def batch_api(model_id: str) -> BatchCapable:
    """The batch API of ``model_id``'s provider; a UsageError when it has none."""
    name, _ = parse_model_id(model_id)
    provider = get_provider(name)
    if not isinstance(provider, SupportsBatches):
        raise UsageError(f"model {model_id} has no batch API; drop --batch-api")
    return provider.batches()


def custom_id(slug: str, persona_id: str) -> str:
    """A batch request id for one persona of one launch: ``slug--persona``, kept valid."""
    plain = f"{slug}--{persona_id}"
    if len(plain) <= CUSTOM_ID_MAX and not _CUSTOM_ID_BAD.search(plain):
        return plain
    # Too long or odd characters: a readable prefix plus a hash keeps it unique.
    digest = hashlib.sha256(plain.encode()).hexdigest()[:16]
    prefix = _CUSTOM_ID_BAD.sub("-", plain)[: CUSTOM_ID_MAX - len(digest) - 1]
    return f"{prefix}-{digest}"


def encode_request(request: ModelRequest) -> str:
    """A request as JSON, to store it until its batch is collected."""
    return json.dumps(asdict(request), sort_keys=True)


def decode_request(text: str) -> ModelRequest:
    """A request stored by :func:`encode_request`."""
    data: dict[str, Any] = json.loads(text)
    messages = tuple(
        Message(m["role"], m["content"], tuple(m.get("breaks", ()))) for m in data.pop("messages")
    )
    data["must_fill"] = tuple(data.get("must_fill", ()))
    return ModelRequest(messages=messages, **data)


def chunks(
    requests: Sequence[tuple[str, ModelRequest]], *, max_requests: int, max_bytes: int
) -> list[list[tuple[str, ModelRequest]]]:
    """Split requests into batches that stay under both limits."""
    out: list[list[tuple[str, ModelRequest]]] = []
    size = 0
    for item in requests:
        weight = len(encode_request(item[1])) + 200
        if not out or len(out[-1]) >= max_requests or size + weight > max_bytes:
            out.append([])
            size = 0
        out[-1].append(item)
        size += weight
    return out
