"""OpenAI provider: Chat Completions (or the Responses API) with a strict JSON schema.

``base_url`` points it at any OpenAI-compatible server. Those differ: llama-cpp-python's
server answers ``response_format: json_schema`` with a 500 (it takes ``json_object`` with
a ``schema`` extension) and has no Responses API (404). In mode ``auto`` such refusals
are detected once per base URL, logged, and the compatible request is used from then on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable
from typing import ClassVar, Literal, Protocol, TypeVar

import httpx2
import openai
import pydantic
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from panel.providers.base import (
    LoopBound,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    body_text,
)
from panel.providers.openai.batch import OpenAIBatches
from panel.providers.openai.wire import (
    OPENAI,
    OPENAI_URL,
    chat_params,
    endpoint_missing,
    read_chat,
    read_responses,
    rejects_json_schema,
    responses_params,
    status_error,
)
from panel.providers.replies import http_client, received

Mode = Literal["auto", "json_schema", "json_object"]
Api = Literal["chat", "responses"]
NO_KEY = "OPENAI_API_KEY is not set; export it or pass --model local:smollm2"
log = logging.getLogger(__name__)
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class RawAnswer(Protocol[T_co]):
    """What ``with_raw_response`` gives: the HTTP response, and the SDK's parse of it."""

    @property
    def http_response(self) -> httpx2.Response:
        """The HTTP response, its body read."""

    def parse(self) -> T_co:
        """The body as the SDK's model (built without validation)."""


class OpenAIProvider(Provider):
    """OpenAI models, or any OpenAI-compatible server through ``base_url``."""

    name = "openai"
    _json_object_urls: ClassVar[set[str]] = set()
    """Base URLs that refused ``json_schema``; they get ``json_object`` + schema instead."""
    _chat_only_urls: ClassVar[set[str]] = set()
    """Base URLs without a Responses API; they get Chat Completions instead."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        mode: Mode = "auto",
        api: Api = "chat",
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        # Local OpenAI-compatible servers need no key, but the SDK insists on one.
        self._api_key = key or ("not-needed" if self._base_url else None)
        self._timeout = timeout
        self.mode: Mode = mode
        self.api: Api = api
        self._transport = transport
        """An httpx2 transport instead of the network (tests answer through one)."""
        self._sdk: LoopBound[AsyncOpenAI] = LoopBound(self._make_client)

    @classmethod
    def forget_fallbacks(cls) -> None:
        """Forget which servers needed a compatible request (tests use this)."""
        cls._json_object_urls.clear()
        cls._chat_only_urls.clear()

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return (self._base_url or OPENAI_URL).rstrip("/")

    @property
    def _source(self) -> str:
        """Who answered, for messages: the OpenAI API, or a compatible server's URL."""
        return OPENAI if self.base_url == OPENAI_URL else self.base_url

    @property
    def compatible(self) -> bool:
        """Whether this is a third-party server, where format fallbacks are allowed."""
        return self._base_url is not None and self.base_url != OPENAI_URL

    def _make_client(self) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._timeout,
            max_retries=0,
            # A plain client: the SDK's default one schedules aclose() from __del__ on
            # whatever loop runs then, which fails for a client of a finished loop.
            http_client=http_client(openai.DefaultAsyncHttpxClient, self._timeout, self._transport),
        )

    def client(self) -> AsyncOpenAI:
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
        if self.uses_responses():
            try:
                return await self._responses(client, model, request)
            except ProviderError as exc:
                if not (self.mode == "auto" and self.compatible and endpoint_missing(exc)):
                    raise
            self._chat_only_urls.add(self.base_url)
            log.warning(
                "%s has no Responses API (404); using Chat Completions for it from now on",
                self.base_url,
            )
        return await self._chat(client, model, request)

    async def _chat(self, client: AsyncOpenAI, model: str, request: ModelRequest) -> ModelResponse:
        json_object = self.uses_json_object()
        try:
            answer = await self._chat_call(client, model, request, json_object=json_object)
        except ProviderError as exc:
            # OpenAI itself knows json_schema: its 400s are about the schema, not the format.
            if json_object or not self.compatible or not rejects_json_schema(exc):
                raise
            if self.mode != "auto":
                message = (
                    f"{self.base_url} does not support response_format json_schema "
                    f"(status {exc.status}); use mode json_object"
                )
                raise ProviderError(
                    message, retryable=False, status=exc.status, raw=exc.raw
                ) from exc
            self._json_object_urls.add(self.base_url)
            log.warning(
                "%s refused response_format json_schema (status %s); using json_object "
                "with the schema for it from now on",
                self.base_url,
                exc.status,
            )
            answer = await self._chat_call(client, model, request, json_object=True)
        completion, body = answer
        return read_chat(completion, request, body, self._source)

    async def _chat_call(
        self, client: AsyncOpenAI, model: str, request: ModelRequest, *, json_object: bool
    ) -> tuple[ChatCompletion, str | None]:
        params = chat_params(model, request, json_object=json_object, compatible=self.compatible)
        call = client.chat.completions.with_raw_response.create(**params)
        return await self._parsed(call, model, "/chat/completions")

    async def _responses(
        self, client: AsyncOpenAI, model: str, request: ModelRequest
    ) -> ModelResponse:
        params = responses_params(model, request)
        call = client.responses.with_raw_response.create(**params)
        result, body = await self._parsed(call, model, "/responses")
        return read_responses(result, request, body, self._source)

    async def _parsed(
        self, call: Awaitable[RawAnswer[T]], model: str, path: str
    ) -> tuple[T, str | None]:
        """An SDK call's parsed answer and its body text (kept as raw when it is unusable)."""
        answer = await self.call(call, model, path)

        async def parse() -> T:
            return answer.parse()

        body = body_text(answer.http_response)
        try:
            return await self.call(parse(), model, path), body
        except ProviderError as exc:
            exc.raw = body  # the body as it came, not as the parser decoded it
            raise

    def uses_responses(self) -> bool:
        """Whether requests go to the Responses API (configured, and the server has one)."""
        return self.api == "responses" and self.base_url not in self._chat_only_urls

    def uses_json_object(self) -> bool:
        """Whether chat requests use ``json_object`` + schema (configured, or learned)."""
        fallback = self.mode == "auto" and self.base_url in self._json_object_urls
        return self.mode == "json_object" or fallback

    def batches(self) -> OpenAIBatches:
        """The Batch API (half price, results within 24 hours)."""
        return OpenAIBatches(self)

    async def call(self, call: Awaitable[T], model: str, path: str) -> T:
        """Await an SDK call, turning its exceptions into classified ProviderErrors."""
        try:
            return await call
        except openai.APIStatusError as exc:
            raise status_error(exc, model, self.base_url, path) from exc
        except openai.APITimeoutError as exc:
            message = f"{self.base_url} did not answer within {self._timeout:g}s"
            raise ProviderError(message, retryable=True) from exc
        except openai.APIConnectionError as exc:
            cause = f"{type(exc.__cause__).__name__}: {exc.__cause__}" if exc.__cause__ else exc
            message = f"connection to {self.base_url} failed ({cause})"
            raise ProviderError(message, retryable=True, raw=received(exc)) from exc
        except (
            openai.APIResponseValidationError,
            httpx2.HTTPError,
            json.JSONDecodeError,
            UnicodeDecodeError,
            pydantic.ValidationError,
            RecursionError,  # JSON nested too deep to parse
        ) as exc:
            message = f"unreadable response from {self.base_url} ({type(exc).__name__}: {exc})"
            raise ProviderError(message, retryable=True, raw=received(exc)) from exc
