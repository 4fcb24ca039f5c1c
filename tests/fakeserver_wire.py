"""Wire formats of the fake server: faults, answers, and the JSON of each API.

Pure functions; ``fakeserver.FakeServer`` holds the state and calls them.
"""

from __future__ import annotations

import email.utils
import json
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from tests.fakecache import count_tokens, openai_tokens

JSON = dict[str, Any]


@dataclass
class Reply:
    """An HTTP reply: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """A JSON reply."""
    return Reply(status, json.dumps(payload).encode(), headers=headers or {})


GENERATE_PATHS = ("/v1/messages", "/v1/chat/completions", "/v1/responses")
ANSWER_KINDS = {"ok", "not_json", "missing_field", "refusal", "max_tokens", "content_filter"}
BODY_FAULTS = {"bad_body", "html200", "empty200", "error200"}
"""Faults answering status 200 with a body that is not an answer."""
FAULT_KINDS = ANSWER_KINDS | BODY_FAULTS | {"status", "reset", "timeout", "truncated", "overlong"}
PROXY_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service temporarily unavailable</title></head>\n"
    b"<body><h1>Service temporarily unavailable</h1><p>The upstream server did not answer "
    b"in time. Please try again in a few minutes.</p><hr><address>edge-proxy</address>"
    b"</body></html>\n"
)
"""The page a proxy or gateway sends, with status 200, instead of the API's answer."""
STATUS_MESSAGES = {
    400: "Invalid request.",
    401: "Invalid API key.",
    403: "Your API key does not have permission to use the specified resource.",
    408: "Request timed out.",
    409: "Conflict.",
    422: "Unprocessable request.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    529: "Overloaded",
}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
OPENAI_ERROR_CODES = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
LLAMA_CPP_JSON_SCHEMA_ERROR = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
    "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}\n"
)
QUOTE = {
    "ship": (
        "The first real use on a real repository decided it. The primitive is "
        "small and honest: one command, one config file. Vercel, Netlify and Render own the "
        "happy path, so the bet is on the edge cases they ignore, and it breaks only past ten "
        "thousand files. The thesis depends on deploys getting cheaper, which means more "
        "previews per team; the timing is early, and it could become default infrastructure. "
        "A good engineer could rebuild the core in a weekend, but not the polish. The buyer is "
        "a platform team paying from its tools budget; the pricing is twenty dollars a seat, "
        "the moat is thin, and even a 10x price drop within a year leaves it viable. That one "
        "decision earns it, so I would ship with it today."
    ),
    "skip": (
        "The first real use on a real repository decided it. The primitive is "
        "thin: a wrapper around a CLI that Vercel, Netlify and Render give away, and the bet "
        "is a dashboard. It breaks on the second deploy, on a cache it will not let me clear. "
        "The thesis depends on teams wanting yet another console, which means more sprawl; "
        "the timing is late, and it will never become default infrastructure. A good engineer "
        "could rebuild the whole thing in a weekend. The buyer is unclear and no budget owns "
        "it; the pricing is twenty dollars a seat, there is no moat, and a 10x price drop "
        "within a year would not make it viable. No single decision rescues it, so I would "
        "skip it until the second release."
    ),
}
PRICING_READ = {
    "ship": (
        "I read the pricing as metered usage with no seat fee, which a platform team can "
        "expense from its tools budget without a procurement round."
    ),
    "skip": (
        "I read the pricing as a per-seat subscription with no usage tier, which asks for a "
        "budget line before anyone has proved the value."
    ),
}
"""The answer to a ``pricing_read`` property: one sentence, the reviewer's read."""

REVIEW_SCHEMA: JSON = {
    "type": "object",
    "properties": {
        "headline": {"type": "string"},
        "quote": {"type": "string"},
        "verdict": {"type": "string", "enum": ["ship", "skip"]},
    },
    "required": ["headline", "quote", "verdict"],
    "additionalProperties": False,
}
"""The review wire schema the tests send: all fields required, no length limits."""
Usage = tuple[int, int, int]
"""(uncached input, cache read, cache write) tokens."""


@dataclass
class Fault:
    """One scripted outcome for the next matching request."""

    kind: str = "ok"
    """ok, status, reset, timeout, truncated (half the body, content-length 100 bytes
    longer), overlong (the whole body, content-length 100 bytes longer), and the 200s that
    are no answer: bad_body (cut JSON), html200 (a proxy's HTML page), empty200 (``{}``),
    error200 (the API's error object for ``status``, default 529); then the answers that
    are unusable: not_json, missing_field, refusal, max_tokens, content_filter."""
    status: int = 0
    retry_after: str | None = None
    retry_after_ms: str | None = None
    retry_after_date: float | None = None
    """Seconds from the moment of answering, sent as an HTTP date in ``retry-after``."""
    message: str | None = None
    seconds: float = 30.0
    """How long a ``timeout`` fault holds the request before closing it."""
    path: str | None = None
    """Path prefix the fault applies to; None means the three generation endpoints."""
    body: str | None = None
    """Text the request body must contain for the fault to apply (e.g. a persona's name)."""

    @classmethod
    def parse(cls, spec: str | Fault) -> Fault:
        """Parse ``KIND[:key=value,...]``, e.g. ``429:retry-after=2`` or ``timeout:seconds=5``."""
        if isinstance(spec, Fault):
            return spec
        head, _, options = spec.partition(":")
        fault = cls(kind="status", status=int(head)) if head.isdigit() else cls(kind=head)
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {spec!r}; kinds: {sorted(FAULT_KINDS)} or a status")
        for option in filter(None, options.split(",")):
            key, _, value = option.partition("=")
            if key == "retry-after":
                fault.retry_after = value
            elif key == "retry-after-ms":
                fault.retry_after_ms = value
            elif key == "retry-after-date":
                fault.retry_after_date = float(value)
            elif key in ("message", "path", "body"):
                setattr(fault, key, value)
            elif key == "seconds":
                fault.seconds = float(value)
            elif key == "status":
                fault.status = int(value)
            else:
                raise ValueError(f"unknown option {key!r} in fault {spec!r}")
        return fault

    def matches(self, path: str, body: bytes = b"") -> bool:
        """Whether this fault applies to a request for ``path`` with ``body``."""
        if self.body is not None and self.body.encode() not in body:
            return False
        if self.path is None:
            return path in GENERATE_PATHS
        return path.startswith(self.path)

    def headers(self) -> dict[str, str]:
        """The retry headers this fault sends."""
        out: dict[str, str] = {}
        if self.retry_after is not None:
            out["retry-after"] = self.retry_after
        if self.retry_after_ms is not None:
            out["retry-after-ms"] = self.retry_after_ms
        if self.retry_after_date is not None:
            out["retry-after"] = email.utils.formatdate(
                time.time() + self.retry_after_date, usegmt=True
            )
        return out


ASKED_CUES = {"pricing_read": "Give your pricing read too"}
"""A nullable field the simulated model fills only when the prompt asks for it, as a model
following its instructions does: the field and the words that ask (prompts/review.j2)."""


def _synth(schema: Any, name: str, verdict: str, asked: frozenset[str] = frozenset()) -> Any:
    """A value for ``schema`` (the request's own wire schema), review-shaped where named so;
    a nullable field is null unless its name is in ``asked``."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return verdict if verdict in schema["enum"] else schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        if name not in asked:
            return None
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object":
        props = schema.get("properties") or {}
        return {key: _synth(sub, key, verdict, asked) for key, sub in props.items()}
    if kind == "array":
        return [_synth(schema.get("items"), name, verdict, asked)]
    if kind in ("number", "integer"):
        return 0.8 if kind == "number" else 3
    if kind == "boolean":
        return verdict == "ship"
    if name == "quote":
        return QUOTE[verdict]
    if name == "headline":
        return "Ships in minutes" if verdict == "ship" else "A thin wrapper with a bill attached"
    if name == "pricing_read":
        return PRICING_READ[verdict]
    return f"{name} for a {verdict} verdict"


def request_schema(body: JSON) -> Any:
    """The JSON schema a request asks the model to follow, in any of the supported shapes."""
    fmt = (body.get("output_config") or {}).get("format") or (body.get("text") or {}).get("format")
    if fmt:
        return fmt.get("schema")
    for tool in body.get("tools") or []:
        return tool.get("input_schema")
    response_format = body.get("response_format") or {}
    return (response_format.get("json_schema") or {}).get("schema") or response_format.get("schema")


def default_answer(body: JSON) -> JSON | str:
    """A valid review for the request: headline, a ~100-word quote, and a verdict."""
    seed = zlib.crc32(json.dumps(body.get("messages") or body.get("input") or "").encode())
    verdict = "ship" if seed % 2 == 0 else "skip"
    schema = request_schema(body)
    if isinstance(schema, dict) and schema.get("type") == "object":
        text = json.dumps(body.get("messages") or body.get("input") or "", ensure_ascii=False)
        asked = frozenset(name for name, cue in ASKED_CUES.items() if cue in text)
        answer: JSON = _synth(schema, "", verdict, asked)
        return answer
    return {
        "headline": _synth({}, "headline", verdict),
        "quote": QUOTE[verdict],
        "verdict": verdict,
    }


def _answer_text(answer: JSON | str, fault: Fault) -> str:
    if fault.kind == "not_json":
        return "Sure! Here is my review: I think it is great. Verdict: ship."
    if isinstance(answer, dict) and fault.kind == "missing_field" and answer:
        # the last field with a value goes (a null one would be no loss)
        filled = [key for key, value in answer.items() if value is not None]
        answer = {key: value for key, value in answer.items() if key != filled[-1:][0]}
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return text[: len(text) // 2] if fault.kind == "max_tokens" else text


def error_reply(
    path: str, status: int, message: str | None, headers: dict[str, str], body: Any
) -> Reply:
    """An error reply in the real JSON shape of the API that ``path`` belongs to."""
    model = body.get("model") if isinstance(body, dict) else None
    if path.startswith("/v1/messages"):
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        text = message or (f"model: {model}" if status == 404 else STATUS_MESSAGES.get(status))
        payload: JSON = {"type": "error", "error": {"type": kind, "message": text}}
        payload["request_id"] = f"req_{uuid.uuid4().hex[:24]}"
        headers = {"request-id": payload["request_id"], **headers}
    else:
        kind, code = OPENAI_ERROR_CODES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        if status == 404 and model is not None:
            message = message or f"The model `{model}` does not exist or you do not have access."
        message = message or STATUS_MESSAGES.get(status, f"Error {status}")
        error = {"message": message, "type": kind, "param": None}
        payload = {"error": {**error, "code": code}}
    return json_reply(payload, status, headers)


def body_fault(path: str, fault: Fault, body: Any) -> Reply:
    """A status-200 reply that is no answer: cut JSON, a proxy's page, ``{}``, an error."""
    if fault.kind == "html200":
        return Reply(200, PROXY_PAGE, "text/html; charset=utf-8")
    if fault.kind == "empty200":
        return json_reply({})
    if fault.kind == "error200":
        error = error_reply(path, fault.status or 529, fault.message, {}, body)
        return Reply(200, error.body, headers=error.headers)
    return Reply(200, b'{"id": "msg_01", "content": [{"type": "te<html>502</html>')


def anthropic_message(body: JSON, answer: JSON | str, fault: Fault, usage: Usage) -> JSON:
    """A Messages API response: a text block, or a tool_use block when a tool is forced."""
    fresh, read, write = usage
    text = _answer_text(answer, fault)
    forced = (body.get("tool_choice") or {}).get("name")
    content: list[JSON]
    stop = "end_turn"
    if fault.kind == "refusal":
        content, stop = [{"type": "text", "text": "I can't help with that."}], "refusal"
    elif forced and fault.kind != "not_json" and isinstance(answer, dict):
        tool_input = dict(answer) if fault.kind != "missing_field" else json.loads(text)
        if fault.kind == "max_tokens":
            tool_input = dict(list(answer.items())[:1])
        block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": forced}
        content, stop = [{**block, "input": tool_input}], "tool_use"
    else:
        content = [{"type": "text", "text": text}]
    stop = "max_tokens" if fault.kind == "max_tokens" else stop
    counts = {"input_tokens": fresh, "output_tokens": count_tokens(json.dumps(content))}
    counts.update(cache_read_input_tokens=read, cache_creation_input_tokens=write)
    refusal = {"type": "refusal", "category": None, "explanation": "fake refusal"}
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": stop,
        "stop_details": refusal if stop == "refusal" else None,
        "stop_sequence": None,
        "usage": counts,
    }


def chat_completion(
    body: JSON, answer: JSON | str, fault: Fault, cached: int, prompt: int | None = None
) -> JSON:
    """A Chat Completions response; ``prompt`` tokens include the ``cached`` ones."""
    prompt = len(openai_tokens(body)) if prompt is None else prompt
    text: str | None = _answer_text(answer, fault)
    refusal, finish = None, "stop"
    if fault.kind == "refusal":
        text, refusal = None, "I'm sorry, I can't help with that."
    elif fault.kind == "content_filter":
        text, finish = None, "content_filter"
    elif fault.kind == "max_tokens":
        finish = "length"
    completion = count_tokens(text or refusal or "")
    message = {"role": "assistant", "content": text, "refusal": refusal}
    details = {"cached_tokens": cached, "audio_tokens": 0}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": details,
        },
    }


def response_object(
    body: JSON, answer: JSON | str, fault: Fault, cached: int, prompt: int | None = None
) -> JSON:
    """A Responses API response; ``prompt`` tokens include the ``cached`` ones."""
    prompt = len(openai_tokens(body)) if prompt is None else prompt
    text = _answer_text(answer, fault)
    part: JSON = {"type": "output_text", "text": text, "annotations": []}
    status, incomplete = "completed", None
    if fault.kind == "refusal":
        part = {"type": "refusal", "refusal": "I'm sorry, I can't help with that."}
    elif fault.kind in ("max_tokens", "content_filter"):
        status = "incomplete"
        reason = "max_output_tokens" if fault.kind == "max_tokens" else "content_filter"
        incomplete = {"reason": reason}
    completion = count_tokens(json.dumps(part))
    item: JSON = {"type": "message", "id": f"msg_{uuid.uuid4().hex[:24]}", "role": "assistant"}
    item.update(status=status, content=[part])
    return {
        "id": f"resp_{uuid.uuid4().hex[:24]}",
        "object": "response",
        "created_at": time.time(),
        "model": body.get("model"),
        "status": status,
        "incomplete_details": incomplete,
        "error": None,
        "output": [item],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        },
    }
