"""Reading OpenAI answers (Chat Completions and Responses), direct or from a batch.

Each answer is checked first (the SDK builds its models without validation): one with
a field we read missing or of another type is a ProviderError with the body as raw.
Then its text and usage are read, and refusals, filtered and cut-off answers become
AnswerErrors.
"""

from __future__ import annotations

from types import NoneType
from typing import NamedTuple

from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails
from openai.types.responses import (
    Response,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseUsage,
)
from openai.types.responses.response import IncompleteDetails
from openai.types.responses.response_usage import InputTokensDetails

from panel.providers.base import AnswerError, ModelRequest, ModelResponse
from panel.providers.replies import Fields, not_an_object, unexpected, wrong_fields

OPENAI = "the OpenAI API"
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
