"""Running a panel: personas concurrently, retries, validation and re-asks, the call log."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, stop_never

from panel.drafting import diversity, quality
from panel.drafting.context import RunContext
from panel.drafting.retry import Deadline, panel_deadline, rate_limited
from panel.providers import (
    AnswerError,
    Message,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    get_provider,
    parse_model_id,
)
from panel.records import Launch, Persona, Provenance, Review, ReviewOutput, Status, ToolPanel
from panel.store import CallRecord

INVALID = "invalid answer: "
"""The call-log note of an answer that failed validation."""
T = TypeVar("T")
log = logging.getLogger(__name__)


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
        },
        sort_keys=True,
    )


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
    policy = ctx.policy
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

    def log(attempt: int, started: float, **fields: Any) -> None:
        ctx.store.log_call(
            CallRecord(
                model=model_id,
                attempt=attempt,
                request=logged,
                latency_ms=int((time.perf_counter() - started) * 1000),
                panel_slug=slug,
                persona_id=persona_id,
                **fields,
            )
        )

    # The policy decides each retry (and its wait) once, when the attempt fails; tenacity
    # runs the loop. Rate limits are bounded by time and the deadline, not by a count.
    planned: dict[int, float] = {}  # attempt -> the wait logged for it
    deadline = policy.review_deadline(usage.started)
    failures = 0  # failed attempts that were not rate limits

    def wait(state: RetryCallState) -> float:
        return planned.pop(state.attempt_number, 0.0)

    def retry(state: RetryCallState) -> bool:
        return state.attempt_number in planned

    retrying = AsyncRetrying(stop=stop_never, wait=wait, retry=retry, reraise=True)
    last: ProviderError | None = None
    async for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            usage.attempts += 1
            started = time.perf_counter()
            try:
                response = await _generate(ctx, provider, model, request, deadline)
            except ProviderError as exc:
                last = exc
                failures += not rate_limited(exc)
                delay, why = policy.decide(
                    exc,
                    attempt=number,
                    failures=failures,
                    throttled=usage.throttled_seconds,
                    deadline=deadline,
                )
                if delay is not None:
                    planned[number] = delay
                    usage.throttled_seconds += delay if rate_limited(exc) else 0.0
                note = f" — retrying: {why}" if delay is not None else f" — not retrying: {why}"
                error = exc.message + (note if why else "")
                log(number, started, error=error, status=exc.status, response=exc.raw)
                if delay is None:
                    after = f"after {number} attempt{'s' if number > 1 else ''}"
                    raise ProviderError(
                        f"{exc.message} ({after}{'; ' + why if why else ''})",
                        retryable=False,
                        status=exc.status,
                        raw=exc.raw,
                    ) from exc
                raise
            except AnswerError as exc:
                cost = _cost(ctx, model_id, exc.response)
                usage.add(exc.response, cost)
                log(
                    number,
                    started,
                    response=exc.response.text,
                    error=exc.message,
                    **_usage_fields(exc.response, cost),
                )
                raise
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
    raise last or ProviderError("no attempt was made", retryable=False)  # pragma: no cover


def _validated(parse: Callable[[str], T], response: ModelResponse) -> tuple[str | None, T | None]:
    """(None, the parsed answer), or (the problem for a re-ask, None)."""
    try:
        return None, parse(response.text)
    except ValueError as exc:
        return str(exc), None


async def _generate(
    ctx: RunContext, provider: Provider, model: str, request: ModelRequest, deadline: Deadline
) -> ModelResponse:
    """One provider call (in a limiter slot when there is one), given the time left."""
    left = deadline.remaining()
    if left <= 0:
        raise ProviderError(deadline.note, retryable=False)
    try:
        async with asyncio.timeout(left) as scope:
            return await _limited(ctx, provider, model, request)
    except TimeoutError:
        if not scope.expired():
            raise
        raise ProviderError(deadline.note, retryable=False) from None


async def _limited(
    ctx: RunContext, provider: Provider, model: str, request: ModelRequest
) -> ModelResponse:
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


def cache_key(logged_request: str) -> str:
    """The response-cache key: a hash of everything that determines the answer."""
    return hashlib.sha256(logged_request.encode("utf-8")).hexdigest()


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


def validation_message(exc: ValidationError) -> str:
    """Validation errors as short 'field: problem' clauses for a re-ask."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "answer"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_review(text: str) -> ReviewOutput:
    """Validate a model's raw answer; raises ValueError with a message for the model."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise ValueError("the answer is not a flat JSON object (nested far too deep)") from None
    try:
        return ReviewOutput.model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


def review_request(system: str, messages: Sequence[Message]) -> ModelRequest:
    """The request of one review turn: the first, or a re-ask with the turns so far."""
    return ModelRequest(
        system=system,
        messages=tuple(messages),
        schema=ReviewOutput.wire_schema(),
        prose_field="quote",
    )


def first_review_request(ctx: RunContext, persona: Persona, launch: Launch) -> ModelRequest:
    """The first request of a persona's review, exactly as review_persona sends it."""
    user = Message("user", ctx.prompts.review(persona, launch))
    return review_request(ctx.prompts.system(persona), [user])


async def review_persona(
    ctx: RunContext, persona: Persona, launch: Launch, model_id: str | None = None
) -> Review:
    """One persona's review: validated, re-asked on bad output, failed (never raised)."""
    model_id = model_id or ctx.models.for_persona(persona)
    started = time.perf_counter()
    usage = Usage()
    first = first_review_request(ctx, persona, launch)
    system, messages = first.system, list(first.messages)
    error = ""
    raw: str | None = None
    best: tuple[ReviewOutput, quality.QuoteRead] | None = None
    beats_asked = False
    reasks = 0
    while True:
        request = review_request(system, messages)
        try:
            response, output = await call_model(
                ctx,
                model_id,
                request,
                usage,
                parse_review,
                slug=launch.slug,
                persona_id=persona.id,
            )
        except ProviderError as exc:
            error, raw = exc.message, exc.raw
            break
        except AnswerError as exc:
            error, raw = exc.message, exc.response.text
        except Exception as exc:
            # A bug must not lose the other reviewers' work: this review fails, with why.
            log.error("review by %s of %s failed", persona.id, launch.slug, exc_info=exc)
            error = f"internal error ({type(exc).__name__}: {exc}); see the log, please report"
            break
        else:
            raw = response.text
            # Quality: a quote missing beats is asked again once, naming them; the
            # better of the two answers is kept (validation re-asks are counted apart).
            read = quality.read_quote(persona, output.verdict, output.quote, launch)
            if best is None or read.covered > best[1].covered:
                best = (output, read)
            if not read.missing or beats_asked:
                break
            beats_asked = True
            missing = quality.missing_questions(persona, read.missing)
            messages += [Message("assistant", raw), Message("user", ctx.prompts.beats(missing))]
            continue
        if reasks >= ctx.max_reasks:
            break
        reasks += 1
        messages += [Message("assistant", raw or ""), Message("user", ctx.prompts.reask(error))]
    if best is not None:
        output, read = best
        return Review(
            persona_id=persona.id,
            persona_name=persona.name,
            verdict=output.verdict,
            headline=output.headline,
            quote=output.quote,
            beats=read.beats,
            flags=read.flags(),
            provenance=_provenance(ctx, model_id, persona, usage, started),
        )
    return Review(
        persona_id=persona.id,
        persona_name=persona.name,
        failed=True,
        error=error,
        raw=raw,
        provenance=_provenance(ctx, model_id, persona, usage, started),
    )


def _provenance(
    ctx: RunContext, model_id: str, persona: Persona, usage: Usage, started: float
) -> Provenance:
    return Provenance(
        model=model_id,
        persona_hash=persona.file_hash,
        template_hash=ctx.prompts.hash,
        attempts=usage.attempts,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd,
        latency_ms=int((time.perf_counter() - started) * 1000),
    )


async def run_reviews(ctx: RunContext, personas: list[Persona], launch: Launch) -> list[Review]:
    """All personas of a launch, concurrently, in persona order, within the panel deadline."""
    with panel_deadline(ctx.policy.panel_deadline_seconds):
        return list(await asyncio.gather(*(review_persona(ctx, p, launch) for p in personas)))


def merge_reviews(personas: list[Persona], old: list[Review], new: list[Review]) -> list[Review]:
    """Old reviews with ``new`` ones replacing theirs, in persona order."""
    by_id = {r.persona_id: r for r in old} | {r.persona_id: r for r in new}
    order = [p.id for p in personas] + [r.persona_id for r in old]
    return [by_id[i] for i in dict.fromkeys(order) if i in by_id]


async def draft_panel(
    ctx: RunContext,
    launch: Launch,
    personas: list[Persona],
    *,
    all_personas: list[Persona] | None = None,
) -> ToolPanel:
    """Draft (or redraft) the panel of a launch and store it as a new revision.

    With a subset of personas on an existing panel, only their reviews are replaced.
    """
    existing = ctx.store.find_panel(launch.slug)
    reviews = await run_reviews(ctx, personas, launch)
    order = all_personas or personas
    if existing is not None:
        reviews = merge_reviews(order, existing.reviews, reviews)
    # The embedding model runs in a thread so other panels of a batch keep going.
    read = await diversity.assess_async(reviews) if ctx.measure_diversity else None
    panel = ToolPanel(
        slug=launch.slug,
        launch=launch,
        reviews=reviews,
        status=Status.DRAFT,
        **diversity.panel_fields(read),
    )
    if existing is not None:
        panel.created_at = existing.created_at
    failed = [r.persona_id for r in reviews if r.failed]
    detail = f"{panel.split}" + (f"; failed: {', '.join(failed)}" if failed else "")
    return ctx.store.save_panel(
        panel,
        expected_revision=existing.revision if existing else None,
        editor=ctx.editor,
        action="redraft" if existing else "draft",
        detail=detail,
    )
