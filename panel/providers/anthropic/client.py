"""Anthropic provider: Claude over the Messages API, with native structured outputs.

The answer's shape is enforced with ``output_config.format`` (JSON-schema constrained
decoding, GA in anthropic 2.x); models or gateways that reject it fall back, once per
model, to a forced tool call with ``strict: true``. The system prompt is sent as one
cached block so each persona's prompt is written to the prompt cache once and then read.
``request.temperature`` is not sent: the anthropic 2.x Messages API has no sampling knobs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable
from typing import ClassVar, Literal, TypeVar

import anthropic
import httpx2
import pydantic
from anthropic import AsyncAnthropic

from panel.providers.anthropic.batch import AnthropicBatches
from panel.providers.anthropic.wire import (
    format_rejected,
    message_params,
    read_message,
    status_error,
)
from panel.providers.base import (
    LoopBound,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    body_text,
)
from panel.providers.replies import http_client, received

Structured = Literal["auto", "output_format", "tool"]
NO_KEY = "ANTHROPIC_API_KEY is not set; export it or pass --model local:smollm2"
log = logging.getLogger(__name__)
T = TypeVar("T")


class AnthropicProvider(Provider):
    """Claude models over the Anthropic Messages API."""

    name = "anthropic"
    _tool_models: ClassVar[set[tuple[str, str]]] = set()
    """(base URL, model) pairs that rejected output_config and use a forced tool instead."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        structured: Structured = "auto",
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        self._base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self._timeout = timeout
        self._transport = transport
        """An httpx2 transport instead of the network (tests answer through one)."""
        self.structured: Structured = structured
        self._sdk: LoopBound[AsyncAnthropic] = LoopBound(self._make_client)

    @classmethod
    def forget_fallbacks(cls) -> None:
        """Forget which models needed the tool fallback (tests use this)."""
        cls._tool_models.clear()

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return (self._base_url or "https://api.anthropic.com").rstrip("/")

    def _make_client(self) -> AsyncAnthropic:
        return AsyncAnthropic(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._timeout,
            max_retries=0,
            # A plain client: the SDK's default one schedules aclose() from __del__ on
            # whatever loop runs then, which fails for a client of a finished loop.
            http_client=http_client(
                anthropic.DefaultAsyncHttpxClient, self._timeout, self._transport
            ),
        )

    def client(self) -> AsyncAnthropic:
        """The authenticated SDK client for the running event loop."""
        if not self._api_key:
            raise ProviderError(NO_KEY, retryable=False)
        return self._sdk.get()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._sdk.aclose()

    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """One structured call; raises ProviderError or AnswerError on failure."""
        client = self.client()
        key = (self.base_url, model)
        tool = self.uses_tool(model)
        try:
            return await self._send(client, model, request, tool=tool)
        except ProviderError as exc:
            if tool or self.structured != "auto" or not format_rejected(exc):
                raise
            self._tool_models.add(key)
            log.warning(
                "%s rejected output_config.format for %s (status %s); "
                "using a forced strict tool call for this model from now on",
                self.base_url,
                model,
                exc.status,
            )
            return await self._send(client, model, request, tool=True)

    async def _send(
        self, client: AsyncAnthropic, model: str, request: ModelRequest, *, tool: bool
    ) -> ModelResponse:
        params = message_params(model, request, tool=tool)
        answer = await self.call(client.messages.with_raw_response.create(**params), model)
        body = body_text(answer.http_response)
        try:
            message = await self.call(answer.parse(), model)
        except ProviderError as exc:
            exc.raw = body  # the body as it came, not as the parser decoded it
            raise
        return read_message(message, request, body)

    def uses_tool(self, model: str) -> bool:
        """Whether ``model`` gets a forced tool call (configured, or learned by fallback)."""
        return self.structured == "tool" or (self.base_url, model) in self._tool_models

    def batches(self) -> AnthropicBatches:
        """The Message Batches API (half price, results within 24 hours)."""
        return AnthropicBatches(self)

    async def call(self, call: Awaitable[T], model: str = "") -> T:
        """Await an SDK call, turning its exceptions into classified ProviderErrors."""
        try:
            return await call
        except anthropic.APIStatusError as exc:
            raise status_error(exc, model, self.base_url) from exc
        except anthropic.APITimeoutError as exc:
            message = f"the Anthropic API did not answer within {self._timeout:g}s"
            raise ProviderError(message, retryable=True) from exc
        except anthropic.APIConnectionError as exc:
            cause = f"{type(exc.__cause__).__name__}: {exc.__cause__}" if exc.__cause__ else exc
            message = f"connection to the Anthropic API at {self.base_url} failed ({cause})"
            raise ProviderError(message, retryable=True, raw=received(exc)) from exc
        except (
            anthropic.APIResponseValidationError,
            httpx2.HTTPError,
            json.JSONDecodeError,
            UnicodeDecodeError,
            pydantic.ValidationError,
            RecursionError,  # JSON nested too deep to parse
        ) as exc:
            message = f"unreadable response from the Anthropic API ({type(exc).__name__}: {exc})"
            raise ProviderError(message, retryable=True, raw=received(exc)) from exc
