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
from panel.errors import PanelError, UsageError, outcome_code
from panel.launches import iter_queue
from panel.records import Launch, Persona, ToolPanel
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
    in_flight: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
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


def panel_tokens(panel: ToolPanel) -> int:
    """Tokens a panel's reviews used."""
    return sum(
        r.provenance.input_tokens + r.provenance.output_tokens
        for r in panel.reviews
        if r.provenance
    )


@dataclass
class Budget:
    """Stops new work when the projected spend would pass ``max_cost``."""

    max_cost: float | None
    estimate_per_panel: float

    def allows(self, progress: Progress) -> bool:
        """True when one more panel still fits, counting those in flight."""
        if self.max_cost is None:
            return True
        drafted = progress.done + progress.failed
        per_panel = progress.cost_usd / drafted if drafted else self.estimate_per_panel
        projected = progress.cost_usd + per_panel * (progress.in_flight + 1)
        return projected <= self.max_cost


def estimate_panel_cost(ctx: RunContext, personas: list[Persona], launch: Launch) -> float:
    """A first guess at a panel's cost before any has finished (prompt size, 300 out)."""
    total = 0.0
    for persona in personas:
        request = first_review_request(ctx, persona, launch)
        prompt = request.system + request.messages[0].content
        total += ctx.prices.cost(
            ctx.models.for_persona(persona),
            input_tokens=estimate_tokens(prompt),
            output_tokens=300,
        )
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
        batches.record_item(ctx.store, run_id, launch.slug, "error", 0.0, message)
        return
    cost = panel_cost(panel)
    progress.cost_usd += cost
    progress.tokens += panel_tokens(panel)
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
) -> Progress:
    """Draft every valid launch of a queue; returns the final counters.

    Approved and published panels are kept as they are unless ``redraft``.
    """
    check = check or checked_queue(path, skip_invalid=skip_invalid)
    run_id, done = batches.start_run(ctx.store, str(path), check.digest, fresh=fresh)
    progress = Progress(total=check.valid)
    budget: Budget | None = None
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
            progress.in_flight -= 1
            reviews_done()
            waiting.release()
            notify(progress)

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
            if budget is None:
                budget = Budget(max_cost, estimate_panel_cost(ctx, personas, launch))
            if not budget.allows(progress):
                slots.release()
                waiting.release()
                progress.stopped_for_budget = (
                    f"stopped before {launch.slug}: projected spend would pass "
                    f"${max_cost:.2f} (spent ${progress.cost_usd:.4f})"
                )
                status = "stopped"
                break
            progress.in_flight += 1
            notify(progress)
            task = asyncio.create_task(one(launch))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=False)
    except BaseException:
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
