"""Batch runs over a queue of launches: validated first, bounded, resumable, on a budget.

Nothing holds the whole queue: it is read twice as a stream (validate, then draft), and
only counters are kept. Each finished panel is recorded in ``batch_items``; a run of the
same queue (same content) after a crash skips what was finished, and the response cache
answers any call that had completed before the crash. A launch whose panel is approved or
published is kept as it is (no model call, no budget) unless the run was asked to redraft;
kept launches are looked at again by every run of the queue, so a later ``--redraft``
drafts them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from panel.drafting import diversity
from panel.drafting.caching import estimate_tokens
from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel, first_review_request
from panel.drafting.protect import is_protected
from panel.drafting.spend import SpendMeter, worst_case
from panel.errors import PanelError, UsageError, outcome_code
from panel.launches import iter_queue
from panel.providers import ModelRequest
from panel.records import Launch, Persona, ToolPanel
from panel.status import open_flags
from panel.store import batches

MAX_LISTED_ERRORS = 5
KEPT_NAMES_SHOWN = 10
log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Live counters of a batch run (read by the progress bar)."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    """Launches an earlier run of the queue had already drafted ("already done")."""
    flagged: int = 0
    """Panels drafted with flags an editor must look at (of ``done`` and ``failed``)."""
    running: list[str] = field(default_factory=list)
    """Slugs of the panels in flight, oldest first."""
    interrupted: list[str] = field(default_factory=list)
    """The panels that were in flight when the run was interrupted."""
    tokens: int = 0
    cost_usd: float = 0.0
    """What the finished panels cost (with a spend meter: the call log's figure)."""
    started: float = field(default_factory=time.monotonic)
    crashed: int = 0
    """Panels that could not be drafted at all (no new revision): their errors are listed."""
    stopped_for_budget: str | None = None
    errors: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Slugs of approved or published panels left as they are (no --redraft), in order."""

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def in_flight(self) -> int:
        """Panels being drafted now."""
        return len(self.running)

    @property
    def finished(self) -> int:
        """Panels no longer waiting (drafted, failed, not drafted, kept, or already done)."""
        return self.done + self.failed + self.crashed + self.skipped + len(self.kept)

    def summary_note(self) -> str:
        """What did not succeed, for the run's record ('' when everything did)."""
        parts = [f"{self.failed} with failed reviews"] if self.failed else []
        parts += [f"{self.crashed} not drafted"] if self.crashed else []
        return ", ".join(parts)

    def not_drafted_note(self) -> str:
        """'; N not drafted' when some panels could not be drafted ('' otherwise)."""
        return f"; {self.crashed} not drafted" if self.crashed else ""

    def kept_note(self) -> str:
        """The sentence naming the kept panels (the first few of them); '' when none."""
        if not self.kept:
            return ""
        count = len(self.kept)
        names = ", ".join(self.kept[:KEPT_NAMES_SHOWN])
        if count > KEPT_NAMES_SHOWN:
            names += f" and {count - KEPT_NAMES_SHOWN} more"
        panels, them = ("panel", "it") if count == 1 else ("panels", "them")
        return (
            f"Kept {count} approved or published {panels} unchanged: {names} "
            f"(pass --redraft to draft {them} again)"
        )

    @property
    def exit_code(self) -> int:
        """The command's exit code for this outcome (see panel.errors)."""
        ok = self.done + self.skipped + len(self.kept)
        return outcome_code(ok=ok, bad=self.failed + self.crashed)


@dataclass(frozen=True)
class QueueCheck:
    """The result of validating a queue."""

    valid: int
    invalid: int
    errors: list[str]
    digest: str


def queue_digest(path: Path) -> str:
    """A hash of the queue's content, so a rerun of the same queue resumes its run."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda h=handle: h.read(1 << 20), b""):  # type: ignore[misc]
                digest.update(chunk)
    return digest.hexdigest()


def check_queue(path: Path) -> QueueCheck:
    """Validate every entry (streaming); keep the first few errors and the counts."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    valid = invalid = 0
    errors: list[str] = []
    seen: set[str] = set()
    for item in iter_queue(path):
        if item.launch is None:
            invalid += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append(item.error or item.source)
        elif item.launch.slug in seen:
            invalid += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append(f"{item.source}: slug {item.launch.slug!r} appears twice")
        else:
            seen.add(item.launch.slug)
            valid += 1
    return QueueCheck(valid, invalid, errors, queue_digest(path))


def checked_queue(path: Path, *, skip_invalid: bool, check: QueueCheck | None = None) -> QueueCheck:
    """Validate a queue (unless already checked); invalid entries stop the run unless
    ``skip_invalid``."""
    check = check or check_queue(path)
    if check.invalid and not skip_invalid:
        more = check.invalid - 1
        suffix = f" (and {more} more invalid)" if more else ""
        raise UsageError(f"{check.errors[0]}{suffix}; fix the queue or pass --skip-invalid")
    if not check.valid:
        raise UsageError(f"{path}: no valid launches in the queue")
    return check


def valid_launches(path: Path) -> Iterator[Launch]:
    """The valid, first-seen launches of a queue, streamed."""
    seen: set[str] = set()
    for item in iter_queue(path):
        if item.launch is not None and item.launch.slug not in seen:
            seen.add(item.launch.slug)
            yield item.launch


def panel_cost(panel: ToolPanel) -> float:
    """What a panel's reviews cost."""
    return sum(r.provenance.cost_usd for r in panel.reviews if r.provenance)


def drafting_cost(ctx: RunContext, slug: str, panel: ToolPanel | None) -> float:
    """What drafting ``slug`` cost: with a spend meter, its figure (the call log's, every
    call of the run for the panel); else what the panel's reviews record."""
    if ctx.spend is not None:
        return ctx.spend.by_panel.get(slug, 0.0)
    return panel_cost(panel) if panel is not None else 0.0


def panel_tokens(panel: ToolPanel) -> int:
    """Tokens a panel's reviews used."""
    return sum(
        r.provenance.input_tokens + r.provenance.output_tokens
        for r in panel.reviews
        if r.provenance
    )


@dataclass
class Budget:
    """Whether one more panel fits ``max_cost``: the run's spend so far (its meter), what
    the panels in flight may still cost, and what the new one may cost. A panel's share is
    the dearest finished panel of the run (its re-asks included; before any has finished,
    the estimate from its prompts), plus room for one of its calls at the worst case the
    meter holds for it, so that its last call fits the meter's cap too."""

    max_cost: float
    meter: SpendMeter
    shares: dict[str, float] = field(default_factory=dict)
    """The share each panel in flight was admitted with."""
    dearest: float = 0.0
    """The most a finished panel of the run cost."""

    def share(self, ctx: RunContext, firsts: list[tuple[str, ModelRequest]]) -> float:
        """What drafting a launch whose reviewers' first calls are ``firsts`` (model id,
        request) may cost (see the class)."""
        worst = max(worst_case(ctx.prices, model_id, request) for model_id, request in firsts)
        return (self.dearest or estimated_cost(ctx, firsts)) + worst

    def projected(self, share: float) -> float:
        """Spent, plus what the panels in flight may still cost, plus ``share``."""
        spent = self.meter.by_panel
        ahead = sum(max(held - spent.get(slug, 0.0), 0.0) for slug, held in self.shares.items())
        return self.meter.spent + ahead + share

    def finish(self, slug: str) -> None:
        """A panel in flight has finished (or stopped)."""
        self.shares.pop(slug, None)
        self.dearest = max(self.dearest, self.meter.by_panel.get(slug, 0.0))


def first_calls(
    ctx: RunContext, personas: list[Persona], launch: Launch
) -> list[tuple[str, ModelRequest]]:
    """The model id and first request of each reviewer of ``launch``."""
    return [(ctx.models.for_persona(p), first_review_request(ctx, p, launch)) for p in personas]


def estimate_panel_cost(ctx: RunContext, personas: list[Persona], launch: Launch) -> float:
    """A first guess at a panel's cost before any has finished (prompt size, 300 out)."""
    return estimated_cost(ctx, first_calls(ctx, personas, launch))


def estimated_cost(ctx: RunContext, firsts: list[tuple[str, ModelRequest]]) -> float:
    """``estimate_panel_cost`` of the reviewers' first calls ``firsts`` (model id, request)."""
    total = 0.0
    for model_id, request in firsts:
        prompt = request.system + request.messages[0].content
        total += ctx.prices.cost(model_id, input_tokens=estimate_tokens(prompt), output_tokens=300)
    return total


def keep_protected(
    ctx: RunContext, run_id: int, slug: str, progress: Progress, *, redraft: bool
) -> bool:
    """Count and record ``slug`` as kept when its panel is approved or published and no
    redraft was asked; True when it is kept (it must not be drafted)."""
    if redraft or not is_protected(ctx.store.find_panel(slug)):
        return False
    progress.kept.append(slug)
    batches.record_item(ctx.store, run_id, slug, batches.KEPT, 0.0)
    return True


async def draft_item(
    ctx: RunContext,
    run_id: int,
    launch: Launch,
    personas: list[Persona],
    progress: Progress,
    *,
    redraft: bool = False,
) -> None:
    """Draft one launch of a run, counting and recording its outcome; never raises for a
    panel that could not be drafted (the next run of the queue tries it again). An
    approved or published panel is kept, unless ``redraft``."""
    if keep_protected(ctx, run_id, launch.slug, progress, redraft=redraft):
        return
    try:
        panel = await draft_panel(ctx, launch, personas, redraft=redraft)
    except Exception as exc:
        if keep_protected(ctx, run_id, launch.slug, progress, redraft=redraft):
            return  # approved or published while it was drafted: the save was refused
        # An editor changed the panel meanwhile, or a bug: counted and recorded, so the
        # summary, the exit code and the next run all see it.
        message = str(exc) if isinstance(exc, PanelError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, PanelError):
            log.error("drafting %s failed", launch.slug, exc_info=exc)
        progress.crashed += 1
        progress.errors.append(f"{launch.slug}: {message}")
        cost = drafting_cost(ctx, launch.slug, None)
        progress.cost_usd += cost
        batches.record_item(ctx.store, run_id, launch.slug, "error", cost, message)
        return
    cost = drafting_cost(ctx, launch.slug, panel)
    progress.cost_usd += cost
    progress.tokens += panel_tokens(panel)
    progress.flagged += bool(open_flags(panel))
    failed = any(r.failed for r in panel.reviews)
    if failed:
        progress.failed += 1
        names = ", ".join(r.persona_id for r in panel.reviews if r.failed)
        progress.errors.append(f"{launch.slug}: failed reviews: {names}")
    else:
        progress.done += 1
    batches.record_item(ctx.store, run_id, launch.slug, "failed" if failed else "done", cost)


async def run_batch(
    ctx: RunContext,
    path: Path,
    personas: list[Persona],
    *,
    concurrency: int = 4,
    max_cost: float | None = None,
    skip_invalid: bool = False,
    fresh: bool = False,
    redraft: bool = False,
    check: QueueCheck | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    progress: Progress | None = None,
) -> Progress:
    """Draft every valid launch of a queue; returns the final counters (``progress``, when
    given, so a caller can read them after an interruption too).

    The run's spend is metered (``ctx.spend``, made when absent), and with ``max_cost``
    never passes it: a panel starts only when the budget holds it beside the panels in
    flight (else the run waits for those, and stops when none is left), and a call that
    could still pass it is not made. Approved and published panels are kept as they are
    unless ``redraft``.
    """
    check = check or checked_queue(path, skip_invalid=skip_invalid)
    run_id, done = batches.start_run(ctx.store, str(path), check.digest, fresh=fresh)
    progress = progress or Progress()
    progress.total = check.valid
    meter = ctx.spend = ctx.spend or SpendMeter()
    meter.cap = max_cost
    budget = Budget(max_cost, meter) if max_cost is not None else None
    slots = asyncio.Semaphore(max(1, concurrency))  # panels whose reviews are drafted
    # ... and those whose reviews are in, waiting for their diversity read (in batches)
    waiting = asyncio.Semaphore(max(1, concurrency) + diversity.BATCH_PANELS)
    tasks: set[asyncio.Task[None]] = set()
    notify = on_progress or (lambda _p: None)

    async def one(launch: Launch) -> None:
        drafting = True

        def reviews_done() -> None:
            nonlocal drafting
            if drafting:
                drafting = False
                slots.release()  # the next panel's calls start while this one is embedded

        # With a budget, a panel keeps its slot until its cost is counted.
        own = replace(ctx, reviews_done=reviews_done) if max_cost is None else ctx
        try:
            await draft_item(own, run_id, launch, personas, progress, redraft=redraft)
        finally:
            progress.running.remove(launch.slug)
            if budget is not None:
                budget.finish(launch.slug)
            reviews_done()
            waiting.release()
            notify(progress)

    async def admitted(launch: Launch) -> bool:
        """Whether the budget holds ``launch`` beside the panels in flight, waiting for
        those to finish while it does not; False (and why) when it still does not with
        none left."""
        if budget is None:
            return True
        firsts = first_calls(ctx, personas, launch)  # rendered once, however long it waits
        while True:
            share = budget.share(ctx, firsts)
            if budget.projected(share) <= budget.max_cost:
                budget.shares[launch.slug] = share
                return True
            if not tasks:
                left = budget.max_cost - meter.spent
                progress.stopped_for_budget = (
                    f"stopped before {launch.slug}: it could cost up to ${share:.4f}, and "
                    f"${left:.4f} of the ${budget.max_cost:.2f} budget is left"
                )
                return False
            await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)

    status = "finished"
    try:
        for launch in valid_launches(path):
            if launch.slug in done:
                progress.skipped += 1
                notify(progress)
                continue
            if keep_protected(ctx, run_id, launch.slug, progress, redraft=redraft):
                notify(progress)  # before a slot and the budget: it costs nothing
                continue
            await waiting.acquire()
            await slots.acquire()
            if not await admitted(launch):
                slots.release()
                waiting.release()
                status = "stopped"
                break
            progress.running.append(launch.slug)
            notify(progress)
            task = asyncio.create_task(one(launch))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=False)
    except BaseException:
        progress.interrupted = list(progress.running)
        for task in tasks:
            task.cancel()
        batches.finish_run(
            ctx.store, run_id, "interrupted", f"{progress.finished} of {progress.total} finished"
        )
        raise
    if status == "finished" and (progress.failed or progress.crashed):
        status = "incomplete"  # the next run of the queue drafts these again
    batches.finish_run(
        ctx.store, run_id, status, progress.stopped_for_budget or progress.summary_note()
    )
    notify(progress)
    return progress
