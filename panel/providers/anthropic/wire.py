"""The Anthropic Messages wire format: request parameters, reading answers, error statuses.

Pure functions, no client: the same parameters go out as a direct call or a batch entry,
and the same reader checks a direct answer or a batch result.
"""

from __future__ import annotations

import json
import re
from types import NoneType

import anthropic
from anthropic.types import (
    CacheControlEphemeralParam,
    Message,
    MessageParam,
    RefusalStopDetails,
    TextBlock,
    TextBlockParam,
    ToolUseBlock,
    Usage,
)
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from panel.providers.base import (
    AnswerError,
    ModelRequest,
    ModelResponse,
    ProviderError,
    body_text,
    parse_retry_after,
    retryable_status,
)
from panel.providers.base import Message as PanelMessage
from panel.providers.replies import Fields, not_an_object, unexpected, wrong_fields

TRUNCATED = frozenset({"max_tokens", "model_context_window_exceeded"})
_FORMAT_REJECTED = re.compile(r"output_config|output.format|structured.output", re.IGNORECASE)
RETRYABLE_TYPES = frozenset(
    {"api_error", "overloaded_error", "rate_limit_error", "timeout_error", "gateway_timeout_error"}
)
"""Error types worth another try (in an error status, a 200 error object, a batch result)."""


MAX_BREAKPOINTS = 4
"""Blocks marked ``cache_control`` the Messages API accepts in one request."""
_CACHED: CacheControlEphemeralParam = {"type": "ephemeral"}


def _blocks(message: PanelMessage, marks: int) -> tuple[str | list[TextBlockParam], int]:
    """A user turn's content: plain text, or text blocks where each shared part ends with
    a cache breakpoint (the last ones, when there are more than ``marks`` left)."""
    parts = message.parts()
    if len(parts) == 1 and not parts[0][1]:
        return message.content, marks
    shared = sum(1 for _, ends in parts if ends)
    skip = max(0, shared - marks)
    blocks: list[TextBlockParam] = []
    for text, ends in parts:
        block: TextBlockParam = {"type": "text", "text": text}
        if ends and skip:
            skip -= 1
        elif ends:
            block["cache_control"] = _CACHED
        blocks.append(block)
    return blocks, max(0, marks - shared)


def message_params(
    model: str, request: ModelRequest, *, tool: bool
) -> MessageCreateParamsNonStreaming:
    """The Messages API parameters of a request (sent directly, or as a batch entry)."""
    marks = MAX_BREAKPOINTS - (1 if request.system else 0)
    messages: list[MessageParam] = []
    for m in request.messages:
        if m.role == "user":
            blocks, marks = _blocks(m, marks)
            messages.append({"role": "user", "content": blocks})
        else:
            messages.append({"role": "assistant", "content": m.content})
    params: MessageCreateParamsNonStreaming = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if request.system:
        params["system"] = [{"type": "text", "text": request.system, "cache_control": _CACHED}]
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


def format_rejected(exc: ProviderError) -> bool:
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
    """What is wrong with an answer, as far as the fields ``read_message`` reads go."""
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


def read_message(message: object, request: ModelRequest, body: str | None = None) -> ModelResponse:
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


def status_error(exc: anthropic.APIStatusError, model: str, base_url: str) -> ProviderError:
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
