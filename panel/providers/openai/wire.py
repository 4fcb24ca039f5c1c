"""The OpenAI wire format: request parameters, reading answers, error statuses.

Pure functions, no client: the same parameters go out as a direct call or a batch line,
and the same readers check a direct answer or a batch result. Each answer is checked
first (the SDK builds its models without validation): one with a field we read missing
or of another type is a ProviderError with the body as raw. Then its text and usage are
read, and refusals, filtered and cut-off answers become AnswerErrors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import NoneType
from typing import NamedTuple, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessage, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    ResponseFormat,
)
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails
from openai.types.responses import (
    EasyInputMessageParam,
    Response,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseUsage,
)
from openai.types.responses.response import IncompleteDetails
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from openai.types.responses.response_usage import InputTokensDetails

from panel.providers.base import (
    AnswerError,
    ModelRequest,
    ModelResponse,
    ProviderError,
    body_text,
    parse_retry_after,
    retryable_status,
)
from panel.providers.replies import Fields, not_an_object, unexpected, wrong_fields

OPENAI_URL = "https://api.openai.com/v1"
OPENAI = "the OpenAI API"
REASONING_PREFIXES = ("gpt-5", "o1", "o3", "o4")
"""Models that accept only the default temperature."""
_UNSUPPORTED_HINTS = ("json_object", "support", "literal_error", "input should be", "unrecogni")


def _temperature(model: str, request: ModelRequest) -> float | None:
    """The temperature to send: none for reasoning models, which reject anything but 1."""
    return None if model.startswith(REASONING_PREFIXES) else request.temperature


def chat_params(
    model: str, request: ModelRequest, *, json_object: bool, compatible: bool
) -> CompletionCreateParamsNonStreaming:
    """The Chat Completions parameters of a request (sent directly, or as a batch line)."""
    messages: list[ChatCompletionMessageParam] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for m in request.messages:
        if m.role == "user":
            messages.append({"role": "user", "content": m.content})
        else:
            messages.append({"role": "assistant", "content": m.content})
    response_format: ResponseFormat
    if json_object:
        # llama.cpp's extension: json_object constrained by a schema (not in the SDK types).
        response_format = cast(ResponseFormat, {"type": "json_object", "schema": request.schema})
    else:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
        }
    params: CompletionCreateParamsNonStreaming = {
        "model": model,
        "messages": messages,
        "response_format": response_format,
    }
    # OpenAI wants max_completion_tokens; compatible servers know max_tokens.
    if compatible:
        params["max_tokens"] = request.max_tokens
    else:
        params["max_completion_tokens"] = request.max_tokens
    temperature = _temperature(model, request)
    if temperature is not None:
        params["temperature"] = temperature
    key = request.cache_key()
    if key and not compatible:
        params["prompt_cache_key"] = key  # routes the reviewers of a launch to one cache
    return params


def responses_params(model: str, request: ModelRequest) -> ResponseCreateParamsNonStreaming:
    """The Responses API parameters of a request (sent directly, or as a batch line)."""
    messages: list[EasyInputMessageParam] = [
        {"role": m.role, "content": m.content} for m in request.messages
    ]
    params: ResponseCreateParamsNonStreaming = {
        "model": model,
        "input": list(messages),
        "text": {
            "format": {
                "type": "json_schema",
                "name": request.schema_name,
                "schema": request.schema,
                "strict": True,
            }
        },
        "max_output_tokens": request.max_tokens,
        "store": False,
    }
    if request.system:
        params["instructions"] = request.system
    temperature = _temperature(model, request)
    if temperature is not None:
        params["temperature"] = temperature
    key = request.cache_key()
    if key:
        params["prompt_cache_key"] = key
    return params


RETRYABLE_ERRORS = frozenset(
    {"server_error", "rate_limit_exceeded", "requests", "tokens", "timeout"}
    | {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}
)
"""Error types (or codes) of a 200 error object worth another try: OpenAI's transient
ones, and the Anthropic-style ones that gateways pass on."""

_COUNTS: Fields = {"cached_tokens": (int, NoneType), "cache_write_tokens": (int, NoneType)}
_CHAT: Fields = {"choices": (list,), "usage": (CompletionUsage, NoneType)}
_CHOICE: Fields = {"message": (ChatCompletionMessage,), "finish_reason": (str, NoneType)}
_CHAT_MESSAGE: Fields = {"content": (str, NoneType), "refusal": (str, NoneType)}
_CHAT_USAGE: Fields = {
    "prompt_tokens": (int,),
    "completion_tokens": (int,),
    "prompt_tokens_details": (PromptTokensDetails, NoneType),
}
_RESPONSE: Fields = {
    "output": (list,),
    "status": (str, NoneType),
    "usage": (ResponseUsage, NoneType),
    "incomplete_details": (IncompleteDetails, NoneType),
}
_RESPONSE_USAGE: Fields = {
    "input_tokens": (int,),
    "output_tokens": (int,),
    "input_tokens_details": (InputTokensDetails, NoneType),
}
_PARTS: dict[str, Fields] = {"output_text": {"text": (str,)}, "refusal": {"refusal": (str,)}}


class _Usage(NamedTuple):
    """Token counts; ``input`` excludes cache reads and writes, as Anthropic counts them."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @classmethod
    def of(cls, prompt: int, completion: int, cached: int | None, written: int | None) -> _Usage:
        """From OpenAI counts, where the prompt count includes cached tokens."""
        read, write = cached or 0, written or 0
        return cls(max(0, prompt - read - write), completion, read, write)


def _chat_problem(completion: object) -> str | None:
    """What is wrong with a chat completion, as far as the fields we read go."""
    if not isinstance(completion, ChatCompletion):
        return not_an_object(completion)
    if problem := wrong_fields(completion, "", _CHAT):
        return problem
    if not completion.choices:
        return "the answer has no choices"
    choice = completion.choices[0]
    if problem := wrong_fields(choice, "choices[0].", _CHOICE):
        return problem
    if problem := wrong_fields(choice.message, "choices[0].message.", _CHAT_MESSAGE):
        return problem
    usage = completion.usage
    if usage is None:
        return None
    if problem := wrong_fields(usage, "usage.", _CHAT_USAGE):
        return problem
    details = usage.prompt_tokens_details
    return wrong_fields(details, "usage.prompt_tokens_details.", _COUNTS) if details else None


def _responses_problem(result: object) -> str | None:
    """What is wrong with a Responses answer, as far as the fields we read go."""
    if not isinstance(result, Response):
        return not_an_object(result)
    if problem := wrong_fields(result, "", _RESPONSE):
        return problem
    if result.error is not None:
        return "the answer is an error"
    details = result.incomplete_details
    reason: Fields = {"reason": (str, NoneType)}
    if details and (problem := wrong_fields(details, "incomplete_details.", reason)):
        return problem
    for index, item in enumerate(result.output):
        where = f"output[{index}]."
        if problem := wrong_fields(item, where, {"type": (str,)}):
            return problem
        if getattr(item, "type", None) == "message":
            if problem := wrong_fields(item, where, {"content": (list,)}):
                return problem
            for number, part in enumerate(getattr(item, "content", [])):
                at = f"{where}content[{number}]."
                if problem := wrong_fields(part, at, {"type": (str,)}):
                    return problem
                fields = _PARTS.get(getattr(part, "type", ""))
                if fields and (problem := wrong_fields(part, at, fields)):
                    return problem
    usage = result.usage
    if usage is None:
        return None
    if problem := wrong_fields(usage, "usage.", _RESPONSE_USAGE):
        return problem
    counts = usage.input_tokens_details
    return wrong_fields(counts, "usage.input_tokens_details.", _COUNTS) if counts else None


def checked_completion(
    completion: object, body: str | None = None, source: str = OPENAI
) -> ChatCompletion:
    """``completion`` if it has every field we read, with the right type; else a ProviderError."""
    problem = _chat_problem(completion)
    if problem is None and isinstance(completion, ChatCompletion):
        return completion
    raise unexpected(completion, problem or "", body, source, RETRYABLE_ERRORS)


def checked_result(result: object, body: str | None = None, source: str = OPENAI) -> Response:
    """``result`` if it has every field we read and no error; else a ProviderError."""
    problem = _responses_problem(result)
    if problem is None and isinstance(result, Response):
        return result
    raise unexpected(result, problem or "", body, source, RETRYABLE_ERRORS)


def read_chat(
    completion: object, request: ModelRequest, body: str | None = None, source: str = OPENAI
) -> ModelResponse:
    """Read a chat completion (checked first; ``body`` is its text): the response."""
    completion = checked_completion(completion, body, source)
    choice = completion.choices[0]
    message = choice.message
    usage, details = completion.usage, _Usage()
    if usage is not None:
        counts = usage.prompt_tokens_details
        cached = counts.cached_tokens if counts else 0
        written = counts.cache_write_tokens if counts else 0
        details = _Usage.of(usage.prompt_tokens, usage.completion_tokens, cached, written)
    response = ModelResponse(
        text=message.content or "",
        input_tokens=details.input,
        output_tokens=details.output,
        cache_read_tokens=details.cache_read,
        cache_write_tokens=details.cache_write,
        stop_reason=choice.finish_reason,
        raw=completion.model_dump(mode="json", warnings=False),
    )
    if message.refusal:
        raise AnswerError(f"the model refused to answer: {message.refusal}", response)
    if choice.finish_reason == "content_filter":
        raise AnswerError("the answer was withheld by the content filter", response)
    if choice.finish_reason == "length":
        limit = request.max_tokens
        raise AnswerError(f"the answer was cut off (length, max_tokens={limit})", response)
    return response


def read_responses(
    result: object, request: ModelRequest, body: str | None = None, source: str = OPENAI
) -> ModelResponse:
    """Read a Responses answer (checked first; ``body`` is its text): the response."""
    result = checked_result(result, body, source)
    usage, details = result.usage, _Usage()
    if usage is not None:
        counts = usage.input_tokens_details
        cached = counts.cached_tokens if counts else 0
        written = counts.cache_write_tokens if counts else 0
        details = _Usage.of(usage.input_tokens, usage.output_tokens, cached, written)
    reason = result.incomplete_details.reason if result.incomplete_details else None
    response = ModelResponse(
        text=result.output_text,
        input_tokens=details.input,
        output_tokens=details.output,
        cache_read_tokens=details.cache_read,
        cache_write_tokens=details.cache_write,
        stop_reason=reason or result.status,
        raw=result.model_dump(mode="json", warnings=False),
    )
    # Checked by type too: the SDK builds an item of an unknown type as its first variant.
    for item in result.output:
        if isinstance(item, ResponseOutputMessage) and item.type == "message":
            for part in item.content:
                if isinstance(part, ResponseOutputRefusal) and part.type == "refusal":
                    raise AnswerError(f"the model refused to answer: {part.refusal}", response)
    if reason == "content_filter":
        raise AnswerError("the answer was withheld by the content filter", response)
    if result.status == "incomplete":
        limit = request.max_tokens
        raise AnswerError(f"the answer was cut off ({reason}, max_tokens={limit})", response)
    return response


def rejects_json_schema(exc: ProviderError) -> bool:
    """Whether an error says the server does not know ``response_format: json_schema``."""
    text = f"{exc.raw or ''} {exc.message}".lower()
    mentions = "response_format" in text or "json_schema" in text
    return (
        exc.status in (400, 422, 500, 501)
        and mentions
        and any(hint in text for hint in _UNSUPPORTED_HINTS)
    )


def endpoint_missing(exc: ProviderError) -> bool:
    """Whether a 404 is about the URL (no such endpoint) rather than about the model."""
    return exc.status == 404 and _not_an_api_error(exc.raw)


def _not_an_api_error(raw: str | None) -> bool:
    """Whether an error body lacks the OpenAI ``{"error": {...}}`` shape (e.g. a bare 404)."""
    try:
        body = json.loads(raw or "")
    except ValueError:
        return True
    return not (isinstance(body, dict) and isinstance(body.get("error"), dict))


def status_error(exc: openai.APIStatusError, model: str, base_url: str, path: str) -> ProviderError:
    """Classify an HTTP error status: retryable or not, for how long, and the fix."""
    status = exc.status_code
    body = exc.body
    detail = body.get("message") if isinstance(body, Mapping) else None
    detail = str(detail or exc.message)
    where = "" if base_url == OPENAI_URL else f" at {base_url}"
    raw = body_text(exc.response)
    if status in (401, 403):
        message = f"OPENAI_API_KEY is not set or invalid{where} (status {status}): {detail}"
    elif status == 404 and _not_an_api_error(raw):
        message = f"no {path} endpoint at {base_url}: check OPENAI_BASE_URL (status 404)"
    elif status == 404:
        message = f"model {model!r} not found{where}: check --model (status 404: {detail})"
    elif exc.code == "insufficient_quota":
        # A 429 that no wait cures: the account's quota or credit is used up.
        message = (
            f"the OpenAI account{where} is out of quota (status {status}, insufficient_quota): "
            f"add credit or use another OPENAI_API_KEY ({detail})"
        )
    elif retryable_status(status):
        kind = body.get("type") if isinstance(body, Mapping) else None
        message = f"OpenAI API{where} failed (status {status}, {kind or 'error'}): {detail}"
    else:
        message = f"the OpenAI API{where} rejected the request (status {status}): {detail}"
    return ProviderError(
        message,
        retryable=retryable_status(status) and exc.code != "insufficient_quota",
        retry_after=parse_retry_after(exc.response.headers),
        status=status,
        raw=raw,
    )
