"""The OpenAI Batch API: a JSONL file of requests, half price, results within 24 hours.

Each line's body is built by :func:`~panel.providers.openai.wire.chat_params` (or
``responses_params``) and each answer read by ``read_chat`` (``read_responses``), so a
batch line is exactly the direct call it replaces. The provider hands over its client,
its error mapping and the request format it has settled on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar

import pydantic
from openai import AsyncOpenAI
from openai.types import Batch
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from panel.providers.base import AnswerError, ModelRequest, ProviderError, retryable_status
from panel.providers.batching import BatchItem, BatchState, Outcome
from panel.providers.openai.wire import chat_params, read_chat, read_responses, responses_params

T = TypeVar("T")
Endpoint = Literal["/v1/responses", "/v1/chat/completions"]
ENDED = frozenset({"completed", "expired", "cancelled", "failed"})
NOT_RUN: dict[str, Outcome] = {"batch_expired": "expired", "batch_cancelled": "canceled"}


class OpenAIClient(Protocol):
    """What the batch API needs of its provider (an :class:`OpenAIProvider`)."""

    @property
    def base_url(self) -> str:
        """Where requests go."""
        ...

    @property
    def compatible(self) -> bool:
        """Whether this is a third-party server."""
        ...

    def client(self) -> AsyncOpenAI:
        """The authenticated SDK client for the running event loop."""
        ...

    def uses_responses(self) -> bool:
        """Whether requests go to the Responses API."""
        ...

    def uses_json_object(self) -> bool:
        """Whether chat requests use ``json_object`` + schema."""
        ...

    async def call(self, call: Awaitable[T], model: str, path: str) -> T:
        """Await an SDK call, turning its exceptions into classified ProviderErrors."""
        ...


class OpenAIBatches:
    """The Batch API of an OpenAI provider (or a compatible server that has one)."""

    max_requests = 50_000
    max_bytes = 180_000_000
    """The API takes 200 MB files; a margin for the envelope."""

    def __init__(self, provider: OpenAIClient) -> None:
        self.provider = provider

    async def _call(self, call: Awaitable[T], path: str, batch_id: str = "", model: str = "") -> T:
        try:
            return await self.provider.call(call, model, path)
        except ProviderError as exc:
            if exc.status == 404 and batch_id:
                message = f"no batch {batch_id} at {self.provider.base_url} (status 404)"
                raise ProviderError(message, retryable=False, status=404, raw=exc.raw) from exc
            raise

    async def submit_batch(self, model: str, requests: Sequence[tuple[str, ModelRequest]]) -> str:
        """Upload the requests as a JSONL file and create a batch over it; returns its id."""
        client = self.provider.client()
        endpoint: Endpoint = (
            "/v1/responses" if self.provider.uses_responses() else "/v1/chat/completions"
        )
        lines = [
            {"custom_id": cid, "method": "POST", "url": endpoint, "body": self._body(model, r)}
            for cid, r in requests
        ]
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        upload = await self._call(
            client.files.create(file=("panel-batch.jsonl", data), purpose="batch"), "/files"
        )
        batch = await self._call(
            client.batches.create(
                input_file_id=upload.id,
                endpoint=endpoint,
                completion_window="24h",
                metadata={"source": "panel"},
            ),
            "/batches",
            model=model,
        )
        return batch.id

    def _body(self, model: str, request: ModelRequest) -> Any:
        if self.provider.uses_responses():
            return responses_params(model, request)
        json_object = self.provider.uses_json_object()
        compatible = self.provider.compatible
        return chat_params(model, request, json_object=json_object, compatible=compatible)

    async def _retrieve(self, batch_id: str) -> Batch:
        client = self.provider.client()
        return await self._call(client.batches.retrieve(batch_id), "/batches", batch_id)

    async def batch_status(self, batch_id: str) -> BatchState:
        """The batch's status and request counts."""
        return _state(await self._retrieve(batch_id))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        """Start cancelling the batch (requests already answered keep their results)."""
        client = self.provider.client()
        return _state(await self._call(client.batches.cancel(batch_id), "/batches", batch_id))

    async def batch_results(
        self, batch_id: str, requests: Mapping[str, ModelRequest]
    ) -> list[BatchItem]:
        """Read the output and error files and each line like a direct answer."""
        batch = await self._retrieve(batch_id)
        if batch.status == "failed":
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            why = "; ".join(f"{e.code}: {e.message}" for e in errors) or "no reason given"
            error = ProviderError(f"the batch failed validation ({why})", retryable=False)
            return [BatchItem(cid, "errored", error=error) for cid in requests]
        items: list[BatchItem] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                for line in (await self._file(file_id)).splitlines():
                    if line.strip():
                        items.append(result_item(json.loads(line), requests))
        return items

    async def _file(self, file_id: str) -> str:
        client = self.provider.client()
        content = await self._call(client.files.content(file_id), "/files")
        return content.text


def _state(batch: Batch) -> BatchState:
    counts = batch.request_counts.model_dump() if batch.request_counts else {}
    return BatchState(batch.status, batch.status in ENDED, counts)


def result_item(line: dict[str, Any], requests: Mapping[str, ModelRequest]) -> BatchItem:
    """One line of an output or error file as a batch item (``requests`` by custom_id)."""
    cid = str(line.get("custom_id"))
    response = line.get("response") or {}
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    if not response:
        error = line.get("error") or {}
        code = str(error.get("code") or "error")
        outcome = NOT_RUN.get(code, "errored")
        message = f"the request was not run ({code}): {error.get('message') or ''}".rstrip(": ")
        return BatchItem(cid, outcome, error=ProviderError(message, retryable=True))
    if status != 200:
        detail = body.get("error") if isinstance(body, dict) else None
        text = detail.get("message") if isinstance(detail, dict) else None
        message = f"the batch request failed (status {status}): {text or body}"
        retryable = retryable_status(status)
        error = ProviderError(message, retryable=retryable, status=status, raw=json.dumps(body))
        return BatchItem(cid, "errored", error=error)
    request = requests.get(cid)
    if request is None or not isinstance(body, dict):
        error = ProviderError(f"unreadable result for custom_id {cid!r}", retryable=False)
        return BatchItem(cid, "errored", error=error)
    try:
        if body.get("object") == "response":
            answer = read_responses(Response.model_validate(body), request, json.dumps(body))
        else:
            answer = read_chat(ChatCompletion.model_validate(body), request, json.dumps(body))
    except AnswerError as exc:
        return BatchItem(cid, "succeeded", error=exc)
    except pydantic.ValidationError as exc:
        raw = json.dumps(body)[:300]
        error = ProviderError(f"unreadable answer in the batch results ({exc})", retryable=True)
        error.raw = raw
        return BatchItem(cid, "errored", error=error)
    except ProviderError as exc:
        return BatchItem(cid, "errored", error=exc)
    return BatchItem(cid, "succeeded", response=answer)
