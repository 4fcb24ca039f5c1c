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
import re
from collections.abc import Awaitable
from types import NoneType
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

import anthropic
import httpx2
import pydantic
from anthropic import AsyncAnthropic
from anthropic.types import (
    Message,
    MessageParam,
    RefusalStopDetails,
    TextBlock,
    ToolUseBlock,
    Usage,
)
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from panel.providers.base import (
    AnswerError,
    LoopBound,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    body_text,
    parse_retry_after,
    retryable_status,
)
from panel.providers.replies import (
    Fields,
    http_client,
    not_an_object,
    received,
    unexpected,
    wrong_fields,
)

if TYPE_CHECKING:
    from panel.providers.anthropic_batch import AnthropicBatches

Structured = Literal["auto", "output_format", "tool"]
NO_KEY = "ANTHROPIC_API_KEY is not set; export it or pass --model local:smollm2"
TRUNCATED = frozenset({"max_tokens", "model_context_window_exceeded"})
_FORMAT_REJECTED = re.compile(r"output_config|output.format|structured.output", re.IGNORECASE)
RETRYABLE_TYPES = frozenset(
    {"api_error", "overloaded_error", "rate_limit_error", "timeout_error", "gateway_timeout_error"}
)
"""Error types worth another try (in an error status, a 200 error object, a batch result)."""
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

    def _client(self) -> AsyncAnthropic:
        """The SDK client for the running event loop."""
        if not self._api_key:
            raise ProviderError(NO_KEY, retryable=False)
        return self._sdk.get()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._sdk.aclose()

    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """One structured call; raises ProviderError or AnswerError on failure."""
        client = self._client()
        key = (self.base_url, model)
        tool = self.uses_tool(model)
        try:
            return await self._send(client, model, request, tool=tool)
        except ProviderError as exc:
            if tool or self.structured != "auto" or not _format_rejected(exc):
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
        answer = await self._call(client.messages.with_raw_response.create(**params), model)
        body = body_text(answer.http_response)
        try:
            message = await self._call(answer.parse(), model)
        except ProviderError as exc:
            exc.raw = body  # the body as it came, not as the parser decoded it
            raise
        return _to_response(message, request, body)

    def uses_tool(self, model: str) -> bool:
        """Whether ``model`` gets a forced tool call (configured, or learned by fallback)."""
        return self.structured == "tool" or (self.base_url, model) in self._tool_models

    def batches(self) -> AnthropicBatches:
        """The Message Batches API (half price, results within 24 hours)."""
        from panel.providers.anthropic_batch import AnthropicBatches

        return AnthropicBatches(self)

    async def _call(self, call: Awaitable[T], model: str = "") -> T:
        """Await an SDK call, turning its exceptions into classified ProviderErrors."""
        try:
            return await call
        except anthropic.APIStatusError as exc:
            raise _status_error(exc, model, self.base_url) from exc
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


def message_params(
    model: str, request: ModelRequest, *, tool: bool
) -> MessageCreateParamsNonStreaming:
    """The Messages API parameters of a request (sent directly, or as a batch entry)."""
    messages: list[MessageParam] = [
        {"role": "user", "content": m.content}
        if m.role == "user"
        else {"role": "assistant", "content": m.content}
        for m in request.messages
    ]
    params: MessageCreateParamsNonStreaming = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if request.system:
        params["system"] = [
            {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
        ]
    if tool:
        params["tools"] = [
            {
                "name": request.schema_name,
                "description": f"Record the {request.schema_name}.",
                "input_schema": request.schema,
                "strict": True,
            }
        ]
        params["tool_choice"] = {
            "type": "tool",
            "name": request.schema_name,
            "disable_parallel_tool_use": True,
        }
    else:
        params["output_config"] = {"format": {"type": "json_schema", "schema": request.schema}}
    return params


def _format_rejected(exc: ProviderError) -> bool:
    """Whether a 400 says the model does not support ``output_config.format``."""
    return exc.status == 400 and bool(_FORMAT_REJECTED.search(f"{exc.raw} {exc.message}"))


def _answer_text(message: Message, schema_name: str) -> str:
    """The structured answer: the forced tool's input as JSON, else the text blocks."""
    # Checked by type too: the SDK builds a block of an unknown type as its first variant.
    for block in message.content:
        if (
            isinstance(block, ToolUseBlock)
            and block.type == "tool_use"
            and block.name == schema_name
        ):
            return json.dumps(block.input)
    texts = (b.text for b in message.content if isinstance(b, TextBlock) and b.type == "text")
    return "".join(texts)


def checked_message(message: object, body: str | None = None) -> Message:
    """``message`` if it has every field we read, with the right type; else a ProviderError.

    The SDK builds its models without validation, so a proxy's page or an error object
    sent with status 200 arrives as a str or a Message whose fields are None.
    """
    problem = _shape_problem(message)
    if problem is None and isinstance(message, Message):
        return message
    raise unexpected(message, problem or "", body, "the Anthropic API", RETRYABLE_TYPES)


_MESSAGE_FIELDS: Fields = {"content": (list,), "usage": (Usage,), "stop_reason": (str, NoneType)}
_USAGE_FIELDS: Fields = {
    "input_tokens": (int,),
    "output_tokens": (int,),
    "cache_read_input_tokens": (int, NoneType),
    "cache_creation_input_tokens": (int, NoneType),
}
_BLOCK_FIELDS: dict[str, Fields] = {
    "text": {"text": (str,)},
    "tool_use": {"name": (str,), "input": (dict,)},
}
_REFUSAL_FIELDS: Fields = {"stop_details": (RefusalStopDetails, NoneType)}


def _shape_problem(message: object) -> str | None:
    """What is wrong with an answer, as far as the fields ``_to_response`` reads go."""
    if not isinstance(message, Message):
        return not_an_object(message)
    if problem := wrong_fields(message, "", _MESSAGE_FIELDS):
        return problem
    if problem := wrong_fields(message.usage, "usage.", _USAGE_FIELDS):
        return problem
    for index, block in enumerate(message.content):
        kind = getattr(block, "type", None)
        fields = _BLOCK_FIELDS.get(kind) if isinstance(kind, str) else None
        if fields and (problem := wrong_fields(block, f"content[{index}].", fields)):
            return problem
    if message.stop_reason == "refusal":
        if problem := wrong_fields(message, "", _REFUSAL_FIELDS):
            return problem
        details = message.stop_details
        explanation: Fields = {"explanation": (str, NoneType)}
        return wrong_fields(details, "stop_details.", explanation) if details else None
    return None


def _to_response(message: object, request: ModelRequest, body: str | None = None) -> ModelResponse:
    """Read an answer (checked first; ``body`` is its text): the response, or an AnswerError."""
    message = checked_message(message, body)
    usage = message.usage
    response = ModelResponse(
        text=_answer_text(message, request.schema_name),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
        stop_reason=message.stop_reason,
        raw=message.model_dump(mode="json", warnings=False),
    )
    if message.stop_reason == "refusal":
        details = message.stop_details
        why = f": {details.explanation}" if details and details.explanation else ""
        raise AnswerError(f"the model refused to answer{why}", response)
    if message.stop_reason in TRUNCATED:
        raise AnswerError(
            f"the answer was cut off ({message.stop_reason}, max_tokens={request.max_tokens})",
            response,
        )
    return response


def _status_error(exc: anthropic.APIStatusError, model: str, base_url: str) -> ProviderError:
    """Classify an HTTP error status: retryable or not, for how long, and the fix."""
    status = exc.status_code
    detail = exc.api_message or exc.message
    if status in (401, 403):
        message = f"ANTHROPIC_API_KEY is not set or invalid (status {status}): {detail}"
    elif status == 404 and exc.type == "not_found_error":
        message = f"model {model!r} not found: check --model (status 404: {detail})"
    elif status == 404:
        message = f"no Anthropic Messages API at {base_url}: check ANTHROPIC_BASE_URL (status 404)"
    elif retryable_status(status):
        message = f"Anthropic API failed (status {status}, {exc.type or 'error'}): {detail}"
    else:
        message = f"the Anthropic API rejected the request (status {status}): {detail}"
    return ProviderError(
        message,
        retryable=retryable_status(status),
        retry_after=parse_retry_after(exc.response.headers),
        status=status,
        raw=body_text(exc.response),
    )
