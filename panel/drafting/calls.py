"""One model call: the cache, the one retry loop, the limiter, the call log, the cost."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from panel.drafting.context import RunContext
from panel.drafting.retry import Failure, rate_limited, retry_call
from panel.drafting.spend import worst_case
from panel.providers import (
    AnswerError,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    get_provider,
    parse_model_id,
)
from panel.store import CallRecord

INVALID = "invalid answer: "
"""The call-log note of an answer that failed validation."""
T = TypeVar("T")


@dataclass
class Usage:
    """Tokens, cost and attempts summed over the calls of one review, and its clock."""

    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    """When the review started: its deadline counts from here."""
    throttled_seconds: float = 0.0
    """Seconds the review has waited out rate limits (against the policy's budget)."""

    def add(self, response: ModelResponse, cost: float) -> None:
        """Count one answered call."""
        self.input_tokens += response.input_tokens + response.cache_read_tokens
        self.input_tokens += response.cache_write_tokens
        self.output_tokens += response.output_tokens
        self.cost_usd += cost


def request_json(model_id: str, request: ModelRequest) -> str:
    """The logged form of a request (everything that determines the answer)."""
    return json.dumps(
        {
            "model": model_id,
            "system": request.system,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "schema": request.schema,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "prose_field": request.prose_field,
            "must_fill": list(request.must_fill),
        },
        sort_keys=True,
    )


def cache_key(logged_request: str) -> str:
    """The response-cache key: a hash of everything that determines the answer."""
    return hashlib.sha256(logged_request.encode("utf-8")).hexdigest()


async def call_model(
    ctx: RunContext,
    model_id: str,
    request: ModelRequest,
    usage: Usage,
    parse: Callable[[str], T],
    *,
    slug: str | None = None,
    persona_id: str | None = None,
) -> tuple[ModelResponse, T]:
    """One request with the retry policy; every attempt goes to the call log.

    ``parse`` validates the answer (raising ValueError with a message for the model). Only
    an answer that validated is cached; an invalid one raises AnswerError, for a re-ask.
    """
    provider_name, model = parse_model_id(model_id)
    provider = get_provider(provider_name)
    logged = request_json(model_id, request)
    key = cache_key(logged)
    if ctx.use_cache:
        stored = ctx.store.cached_response(key)
        if stored is not None:
            hit = ModelResponse(**dataclasses.asdict(stored))
            # A cached answer is checked again: the rules may have changed since.
            problem, parsed = _validated(parse, hit)
            hit.call_id = ctx.store.log_call(
                CallRecord(
                    model=model_id,
                    attempt=0,
                    request=logged,
                    response=hit.text,
                    error=problem and f"{INVALID}{problem}",
                    panel_slug=slug,
                    persona_id=persona_id,
                    cache_key=key,
                    cached=True,
                ),
                evict=problem is not None,
            )
            usage.add(hit, 0.0)
            if problem is not None:
                raise AnswerError(problem, hit)
            return hit, cast(T, parsed)

    def log(attempt: int, seconds: float, **fields: Any) -> None:
        ctx.store.log_call(
            CallRecord(
                model=model_id,
                attempt=attempt,
                request=logged,
                latency_ms=int(seconds * 1000),
                panel_slug=slug,
                persona_id=persona_id,
                **fields,
            )
        )

    def failed(failure: Failure) -> None:
        exc = failure.error
        log(
            failure.attempt,
            failure.seconds,
            error=exc.message + failure.note,
            status=exc.status,
            response=exc.raw,
        )
        if failure.wait is None:
            raise failure.exhausted() from exc

    async def attempt(number: int) -> tuple[int, float, ModelResponse]:
        started = time.perf_counter()
        try:
            return number, started, await _metered(ctx, provider, model_id, model, request, slug)
        except AnswerError as exc:
            cost = _cost(ctx, model_id, exc.response)
            usage.add(exc.response, cost)
            elapsed = time.perf_counter() - started
            log(
                number,
                elapsed,
                response=exc.response.text,
                error=exc.message,
                **_usage_fields(exc.response, cost),
            )
            raise

    number, started, response = await retry_call(
        ctx.policy,
        attempt,
        deadline=ctx.policy.review_deadline(usage.started),
        tally=usage,
        on_failure=failed,
    )
    cost = _cost(ctx, model_id, response)
    usage.add(response, cost)
    problem, parsed = _validated(parse, response)
    # The call log row and the cache entry of a valid answer in one transaction.
    response.call_id = ctx.store.log_call(
        CallRecord(
            model=model_id,
            attempt=number,
            request=logged,
            response=response.text,
            error=problem and f"{INVALID}{problem}",
            latency_ms=int((time.perf_counter() - started) * 1000),
            panel_slug=slug,
            persona_id=persona_id,
            cache_key=key,
            **_usage_fields(response, cost),
        ),
        cache=response if problem is None else None,
    )
    if problem is not None:
        raise AnswerError(problem, response)
    return response, cast(T, parsed)


def _validated(parse: Callable[[str], T], response: ModelResponse) -> tuple[str | None, T | None]:
    """(None, the parsed answer), or (the problem for a re-ask, None)."""
    try:
        return None, parse(response.text)
    except ValueError as exc:
        return str(exc), None


async def _metered(
    ctx: RunContext,
    provider: Provider,
    model_id: str,
    model: str,
    request: ModelRequest,
    slug: str | None,
) -> ModelResponse:
    """One provider call under the run's spend meter, when it has one: refused when its
    worst case does not fit the budget, and counted at the cost the call log records."""
    meter = ctx.spend
    if meter is None:
        return await _limited(ctx, provider, model, request)
    worst = worst_case(ctx.prices, model_id, request)
    await meter.hold(worst)
    cost = 0.0
    try:
        response = await _limited(ctx, provider, model, request)
    except AnswerError as exc:
        cost = _cost(ctx, model_id, exc.response)
        raise
    else:
        cost = _cost(ctx, model_id, response)
        return response
    finally:
        meter.settle(worst, cost, slug)


async def _limited(
    ctx: RunContext, provider: Provider, model: str, request: ModelRequest
) -> ModelResponse:
    """One provider call, in a limiter slot when there is one (a rate limit cuts it)."""
    if ctx.limiter is None:
        return await provider.generate(model, request)
    async with ctx.limiter.slot():
        try:
            response = await provider.generate(model, request)
        except ProviderError as exc:
            if rate_limited(exc):
                after = exc.retry_after
                cap = ctx.policy.retry_after_cap_seconds
                ctx.limiter.throttled(None if after is None else min(after, cap))
            raise
        ctx.limiter.success()
        return response


def _cost(ctx: RunContext, model_id: str, response: ModelResponse) -> float:
    return ctx.prices.cost(
        model_id,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cache_read_tokens=response.cache_read_tokens,
        cache_write_tokens=response.cache_write_tokens,
    )


def _usage_fields(response: ModelResponse, cost: float) -> dict[str, Any]:
    return {
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "cache_read_tokens": response.cache_read_tokens,
        "cache_write_tokens": response.cache_write_tokens,
        "cost_usd": cost,
    }
