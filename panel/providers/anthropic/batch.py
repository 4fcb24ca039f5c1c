"""Anthropic Message Batches: the same Messages requests, half price, within 24 hours.

Requests are built by :func:`~panel.providers.anthropic.wire.message_params` and answers
read by :func:`~panel.providers.anthropic.wire.read_message`, so a batch entry is exactly
the direct call it replaces. The provider hands over its client and its error mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol, TypeVar

from anthropic import AsyncAnthropic
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages.batch_create_params import Request

from panel.providers.anthropic.wire import RETRYABLE_TYPES, message_params, read_message
from panel.providers.base import AnswerError, ModelRequest, ProviderError
from panel.providers.batching import BatchItem, BatchState

T = TypeVar("T")


class MessagesClient(Protocol):
    """What the batch API needs of its provider (an :class:`AnthropicProvider`)."""

    @property
    def base_url(self) -> str:
        """Where requests go."""
        ...

    def client(self) -> AsyncAnthropic:
        """The authenticated SDK client for the running event loop."""
        ...

    def uses_tool(self, model: str) -> bool:
        """Whether ``model`` gets a forced tool call."""
        ...

    async def call(self, call: Awaitable[T], model: str = "") -> T:
        """Await an SDK call, turning its exceptions into classified ProviderErrors."""
        ...


class AnthropicBatches:
    """The Message Batches API of an Anthropic provider."""

    max_requests = 100_000
    max_bytes = 200_000_000
    """The API takes 256 MB; a margin for the envelope."""

    def __init__(self, provider: MessagesClient) -> None:
        self.provider = provider

    async def _call(self, call: Awaitable[T], batch_id: str = "", model: str = "") -> T:
        try:
            return await self.provider.call(call, model)
        except ProviderError as exc:
            if exc.status == 404 and batch_id:
                message = f"no message batch {batch_id} at {self.provider.base_url} (status 404)"
                raise ProviderError(message, retryable=False, status=404, raw=exc.raw) from exc
            raise

    async def submit_batch(self, model: str, requests: Sequence[tuple[str, ModelRequest]]) -> str:
        """Create one message batch; returns its id."""
        client = self.provider.client()
        tool = self.provider.uses_tool(model)
        entries: list[Request] = [
            {"custom_id": cid, "params": message_params(model, request, tool=tool)}
            for cid, request in requests
        ]
        batch = await self._call(client.messages.batches.create(requests=entries), model=model)
        return batch.id

    async def batch_status(self, batch_id: str) -> BatchState:
        """The batch's processing status and request counts."""
        client = self.provider.client()
        return _state(await self._call(client.messages.batches.retrieve(batch_id), batch_id))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        """Start canceling the batch (requests already answered keep their results)."""
        client = self.provider.client()
        return _state(await self._call(client.messages.batches.cancel(batch_id), batch_id))

    async def batch_results(
        self, batch_id: str, requests: Mapping[str, ModelRequest]
    ) -> list[BatchItem]:
        """Stream the results file and read each line like a direct answer."""
        client = self.provider.client()

        async def read() -> list[MessageBatchIndividualResponse]:
            return [line async for line in await client.messages.batches.results(batch_id)]

        lines = await self._call(read(), batch_id)
        return [result_item(line, requests.get(line.custom_id)) for line in lines]


def _state(batch: MessageBatch) -> BatchState:
    counts = batch.request_counts.model_dump()
    return BatchState(batch.processing_status, batch.processing_status == "ended", counts)


def result_item(line: MessageBatchIndividualResponse, request: ModelRequest | None) -> BatchItem:
    """One line of the results file as a batch item (``request`` is what it answers)."""
    result = line.result
    cid = line.custom_id
    if result.type == "succeeded":
        if request is None:
            error = ProviderError(f"unknown custom_id {cid!r} in the results", retryable=False)
            return BatchItem(cid, "errored", error=error)
        try:
            return BatchItem(cid, "succeeded", response=read_message(result.message, request))
        except AnswerError as exc:
            return BatchItem(cid, "succeeded", error=exc)
        except ProviderError as exc:  # an answer of the wrong shape
            return BatchItem(cid, "errored", error=exc)
    if result.type == "errored":
        detail = result.error.error
        message = f"the batch request failed ({detail.type}): {detail.message}"
        retryable = detail.type in RETRYABLE_TYPES
        raw = result.error.model_dump_json()
        return BatchItem(cid, "errored", error=ProviderError(message, retryable=retryable, raw=raw))
    why = "expired before the batch ran it" if result.type == "expired" else "was canceled"
    error = ProviderError(f"the request {why}", retryable=True)
    return BatchItem(cid, result.type, error=error)
