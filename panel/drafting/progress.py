"""What a panel run tells whoever watches it (the CLI's progress display): the reviews it
is about to draft, with an estimate when a provider can give one, then each review as it
ends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from panel.providers import ModelRequest, get_provider, parse_model_id
from panel.records import Persona, Review


@dataclass(frozen=True)
class Planned:
    """One review a run is about to draft."""

    persona: Persona
    model_id: str


class Watcher(Protocol):
    """Hears a run's progress; the calls come from the run's event loop."""

    def planned(self, reviews: Sequence[Planned], seconds: float | None) -> None:
        """The run is about to draft ``reviews``; ``seconds`` estimates how long it takes."""

    def finished(self, review: Review) -> None:
        """One review has ended, valid or failed."""


def estimate(firsts: Sequence[tuple[str, ModelRequest]]) -> float | None:
    """Seconds the first calls given as (model id, request) should take, from the providers
    that can tell (one model's calls go one after the other); None when none can."""
    by_model: dict[str, list[ModelRequest]] = {}
    for model_id, request in firsts:
        by_model.setdefault(model_id, []).append(request)
    known = []
    for model_id, requests in by_model.items():
        provider, model = parse_model_id(model_id)
        seconds = get_provider(provider).estimate_seconds(model, requests)
        if seconds is not None:
            known.append(seconds)
    return max(known) if known else None
