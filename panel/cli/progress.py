"""Progress of a draft on stderr: one row a reviewer, live on a terminal; otherwise one
line as each review ends. Stdout stays the command's output."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from panel.drafting.progress import Planned
from panel.records import Review
from panel.safe_text import inert


def estimate_line(reviews: Sequence[Planned], seconds: float) -> str:
    """The one line printed before drafting when a provider can estimate its time."""
    models = ", ".join(dict.fromkeys(r.model_id for r in reviews))
    count = len(reviews)
    noun = "review" if count == 1 else "reviews"
    return f"panel: drafting {count} {noun} on {models}: about {seconds:.0f} s"


def outcome(review: Review, *, timed: bool = True) -> str:
    """How one review ended, in a few words (``timed``: with its seconds)."""
    seconds = review.provenance.latency_ms / 1000 if review.provenance else 0.0
    tries = review.provenance.attempts if review.provenance else 0
    again = f", {tries} calls" if tries > 1 else ""
    if review.failed:
        head = "failed" + (f" after {seconds:.1f} s" if timed else "")
    else:
        head = (review.verdict.value if review.verdict else "?") + (
            f", {seconds:.1f} s" if timed else ""
        )
    return head + again


class DraftProgress:
    """A draft's watcher (panel.drafting.progress.Watcher) that shows it on ``console``."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live: Progress | None = None
        self._tasks: dict[str, tuple[TaskID, str]] = {}

    def planned(self, reviews: Sequence[Planned], seconds: float | None) -> None:
        """Print the estimate; on a terminal, show a row a reviewer."""
        if seconds is not None:
            self._console.print(estimate_line(reviews, seconds))
        if not self._console.is_terminal:
            return
        self._live = Progress(
            SpinnerColumn(finished_text=" "),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=self._console,
        )
        for review in reviews:
            name = inert(review.persona.name)
            task = self._live.add_task(f"{name}: drafting", total=1)
            self._tasks[review.persona.id] = (task, name)
        self._live.start()

    def finished(self, review: Review) -> None:
        """Mark the reviewer's row done, or print a line for it."""
        if self._live is None or review.persona_id not in self._tasks:
            who = inert(f"{review.persona_id} ({review.persona_name})")
            self._console.print(f"panel: {who}: {outcome(review)}")
            return
        task, name = self._tasks[review.persona_id]
        mark = "✗" if review.failed else "✓"
        said = outcome(review, timed=False)  # the row's clock shows the time
        self._live.update(task, description=f"{mark} {name}: {said}", completed=1)

    def __enter__(self) -> DraftProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
