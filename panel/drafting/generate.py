"""Running a panel: personas concurrently, validation and re-asks (each call: calls.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from functools import partial

from pydantic import ValidationError

from panel import claims
from panel.drafting import diversity, progress, quality
from panel.drafting.caching import Gate, plan_calls
from panel.drafting.calls import Usage, call_model
from panel.drafting.context import RunContext
from panel.drafting.prompts import Prompts
from panel.drafting.protect import check_redraft
from panel.drafting.retry import panel_deadline
from panel.drafting.sources import evidence, given, launch_sources
from panel.providers import (
    AnswerError,
    Message,
    ModelRequest,
    ProviderError,
    get_provider,
    parse_model_id,
)
from panel.records import (
    PRICING_READ,
    Launch,
    Persona,
    Provenance,
    Review,
    ReviewOutput,
    SourceText,
    Status,
    ToolPanel,
)

log = logging.getLogger(__name__)


def validation_message(exc: ValidationError) -> str:
    """Validation errors as short 'field: problem' clauses for a re-ask."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "answer"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


PRICING_READ_MISSING = (
    f"{PRICING_READ}: Field required - add one sentence giving your read of the pricing, "
    "in your voice"
)
"""The re-ask clause when the reviewer who gives the pricing read left it out."""


def parse_review(text: str, *, pricing_read: bool = False) -> ReviewOutput:
    """Validate a model's raw answer; raises ValueError with a message for the model.

    With ``pricing_read`` (the persona gives the pricing read) the answer must have one;
    without it, a pricing read the model added anyway is dropped, never stored.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise ValueError("the answer is not a flat JSON object (nested far too deep)") from None
    problems: list[str] = []
    if isinstance(data, dict):
        if not pricing_read:
            data.pop(PRICING_READ, None)
        elif data.get(PRICING_READ) is None:
            problems.append(PRICING_READ_MISSING)
    try:
        output = ReviewOutput.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join([validation_message(exc), *problems])) from None
    if problems:
        raise ValueError("; ".join(problems))
    return output


def asks_pricing_read(request: ModelRequest) -> bool:
    """Whether ``request`` asks for the pricing read (so its answer must have one)."""
    if PRICING_READ in request.must_fill:
        return True
    # A request stored by an older Panel (a batch submitted before an upgrade) asked for
    # it with a schema of its own, where the pricing read was a plain string.
    properties = request.schema.get("properties")
    field = properties.get(PRICING_READ) if isinstance(properties, dict) else None
    return isinstance(field, dict) and field.get("type") == "string"


def review_request(
    system: str, messages: Sequence[Message], *, pricing_read: bool = False
) -> ModelRequest:
    """The request of one review turn: the first, or a re-ask with the turns so far.

    Every reviewer gets the same schema (so their shared prefix caches); ``pricing_read``
    (the persona file's flag) makes the pricing read one the answer must fill.
    """
    return ModelRequest(
        system=system,
        messages=tuple(messages),
        schema=ReviewOutput.wire_schema(),
        prose_field="quote",
        must_fill=(PRICING_READ,) if pricing_read else (),
    )


def opening_message(
    prompts: Prompts,
    persona: Persona,
    launch: Launch,
    sources: Sequence[SourceText] = (),
    shared: Sequence[str] | None = None,
) -> Message:
    """The first user turn: the launch block every reviewer shares (cut where a prompt
    cache can keep it), then the persona's own instructions. ``shared`` is the launch
    block when the caller has rendered it already (once for the four reviewers)."""
    parts = prompts.launch(launch, given(list(sources))) if shared is None else shared
    content = ""
    breaks: list[int] = []
    for part in parts:
        content += part + "\n\n"
        breaks.append(len(content))
    return Message("user", content + prompts.review(persona), tuple(breaks))


def first_review_request(
    ctx: RunContext,
    persona: Persona,
    launch: Launch,
    sources: Sequence[SourceText] = (),
    shared: Sequence[str] | None = None,
) -> ModelRequest:
    """The first request of a persona's review, exactly as review_persona sends it."""
    user = opening_message(ctx.prompts, persona, launch, sources, shared)
    return review_request(ctx.prompts.system(), [user], pricing_read=persona.pricing_read)


async def review_persona(
    ctx: RunContext,
    persona: Persona,
    launch: Launch,
    model_id: str | None = None,
    sources: Sequence[SourceText] = (),
    gate: Gate | None = None,
    first: ModelRequest | None = None,
) -> Review:
    """One persona's review: validated, re-asked on bad output, failed (never raised).

    ``gate`` holds the first call back until another review's first call has returned
    (so it reads the prompt prefix that call cached), or says when this one's has;
    ``first`` is its first request when the caller has built it already.
    """
    model_id = model_id or ctx.models.for_persona(persona)
    gate = gate or Gate()
    started = time.perf_counter()
    usage = Usage()
    first = first or first_review_request(ctx, persona, launch, sources)
    system, messages = first.system, list(first.messages)
    error = ""
    raw: str | None = None
    best: tuple[ReviewOutput, quality.QuoteRead] | None = None
    beats_asked = False
    reasks = 0
    pricing = persona.pricing_read
    while True:
        request = review_request(system, messages, pricing_read=pricing)
        try:
            await gate.wait()
            response, output = await call_model(
                ctx,
                model_id,
                request,
                usage,
                partial(parse_review, pricing_read=pricing),
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
            # Quality: a quote missing beats is asked again once, naming them, of a model
            # that can use it; the better of the two answers is kept (validation re-asks
            # are counted apart).
            read = quality.read_quote(persona, output.verdict, output.quote, launch)
            if best is None or read.covered > best[1].covered:
                best = (output, read)
            if not read.missing or beats_asked or not _uses_feedback(model_id):
                break
            beats_asked = True
            missing = quality.missing_questions(persona, read.missing)
            beats = ctx.prompts.beats(missing, pricing_read=pricing)
            messages += [Message("assistant", raw), Message("user", beats)]
            continue
        finally:
            gate.done()  # the first call has returned: the reviews waiting for it may go
        if reasks >= ctx.max_reasks:
            break
        reasks += 1
        reask = ctx.prompts.reask(error, pricing_read=pricing)
        messages += [Message("assistant", raw or ""), Message("user", reask)]
    if best is not None:
        output, read = best
        # The one place a drafted review is built from a valid answer.
        review = Review(
            persona_id=persona.id,
            persona_name=persona.name,
            pricing_read=output.pricing_read,
            verdict=output.verdict,
            headline=output.headline,
            quote=output.quote,
            beats=read.beats,
            provenance=_provenance(ctx, model_id, persona, usage, started),
        )
        headline = quality.headline_contradiction(output.verdict, output.headline)
        flags = read.flags() + ([headline] if headline else [])
        found = claims.review_claims(review, launch, evidence(sources))
        return review.model_copy(update={"flags": flags, "claims": found})
    return Review(
        persona_id=persona.id,
        persona_name=persona.name,
        failed=True,
        error=error,
        raw=raw,
        provenance=_provenance(ctx, model_id, persona, usage, started),
    )


def _uses_feedback(model_id: str) -> bool:
    return get_provider(parse_model_id(model_id)[0]).uses_feedback


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


async def run_reviews(
    ctx: RunContext,
    personas: list[Persona],
    launch: Launch,
    sources: Sequence[SourceText] = (),
) -> list[Review]:
    """All personas of a launch, concurrently, in persona order, within the panel deadline.

    When their shared prompt prefix is long enough to cache, the first reviewer of each
    model goes first and the others once it has answered (panel.drafting.caching).
    """
    shared = ctx.prompts.launch(launch, given(list(sources)))
    firsts = [
        (p.id, ctx.models.for_persona(p), first_review_request(ctx, p, launch, sources, shared))
        for p in personas
    ]
    plan = plan_calls(ctx.prices, firsts)
    watcher = ctx.watcher
    if watcher is not None:
        seconds = progress.estimate([(model_id, request) for _, model_id, request in firsts])
        planned = [progress.Planned(p, m) for p, (_, m, _) in zip(personas, firsts, strict=True)]
        watcher.planned(planned, seconds)

    async def review(persona: Persona, model_id: str, request: ModelRequest) -> Review:
        done = await review_persona(
            ctx, persona, launch, model_id, sources, plan.gate(persona.id), request
        )
        if watcher is not None:
            watcher.finished(done)
        return done

    with panel_deadline(ctx.policy.panel_deadline_seconds):
        calls = (
            review(p, model_id, request)
            for p, (_, model_id, request) in zip(personas, firsts, strict=True)
        )
        return list(await asyncio.gather(*calls))


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
    redraft: bool = False,
) -> ToolPanel:
    """Draft (or redraft) the panel of a launch and store it as a new revision.

    With a subset of personas on an existing panel, only their reviews are replaced. An
    approved or published panel is refused (a UsageError, before any call) unless
    ``redraft``; one approved while it was drafted makes the save a conflict.
    """
    existing = ctx.store.find_panel(launch.slug)
    check_redraft(existing, redraft=redraft)
    if ctx.measure_diversity:
        diversity.preload()  # loads while the first model calls run
    sources = await launch_sources(ctx, launch)
    reviews = await run_reviews(ctx, personas, launch, sources)
    if ctx.reviews_done is not None:
        ctx.reviews_done()
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
        sources=[s.note() for s in sources],
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
