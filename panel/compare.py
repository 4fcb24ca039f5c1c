"""Comparing two tools: resolve each side, draft missing panels, read the split."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.personas import load_personas
from panel.errors import NotFoundError, UsageError
from panel.launches import LAUNCH_SUFFIXES, load_launch
from panel.pages.reads import split_read
from panel.records import (
    SLUG_PATTERN,
    Comparison,
    Launch,
    ToolPanel,
)
from panel.store import Store
from panel.store.comparisons import find_comparison, save_comparison


def launch_path(ref: str) -> Path | None:
    """``ref`` as a launch file path when it names one, else None (it is a slug)."""
    path = Path(ref)
    if path.is_file():
        return path
    if path.suffix.lower() in LAUNCH_SUFFIXES or "/" in ref or "\\" in ref:
        raise UsageError(f"{ref}: no such launch file")
    if not re.match(SLUG_PATTERN, ref):
        raise UsageError(f"{ref!r} is neither a launch file nor a panel slug")
    return None


@dataclass
class Side:
    """One side of a comparison as resolved: its stored panel, or a launch to draft."""

    ref: str
    panel: ToolPanel | None
    launch: Launch | None


def resolve(store: Store, ref: str) -> Side:
    """Resolve ``ref`` (a panel slug or a launch file) against the store."""
    path = launch_path(ref)
    if path is None:
        panel = store.find_panel(ref)
        if panel is None:
            raise NotFoundError(
                f"no panel {ref!r}; pass a launch file instead, or run `panel draft LAUNCH`"
            )
        return Side(ref, panel, None)
    launch = load_launch(path)
    return Side(ref, store.find_panel(launch.slug), launch)


@dataclass
class ComparisonResult:
    """What `panel compare` made: the stored comparison, both panels, what was drafted."""

    comparison: Comparison
    a: ToolPanel
    b: ToolPanel
    drafted: list[str]
    created: bool


async def _draft_missing(ctx: RunContext, sides: list[Side]) -> list[ToolPanel]:
    personas = load_personas()
    missing = [s.launch for s in sides if s.panel is None and s.launch is not None]
    drafted = await asyncio.gather(*(draft_panel(ctx, launch, personas) for launch in missing))
    return list(drafted)


def compare_tools(
    store: Store, a_ref: str, b_ref: str, make_context: Callable[[], RunContext], editor: str
) -> ComparisonResult:
    """Resolve both sides, draft the panels that are missing, store the comparison.

    ``make_context`` is called only when a panel has to be drafted. An existing
    comparison of the same two tools in the same order is reused as it is.
    """
    sides = [resolve(store, a_ref), resolve(store, b_ref)]
    slugs = [s.panel.slug if s.panel else s.launch.slug if s.launch else s.ref for s in sides]
    if slugs[0] == slugs[1]:
        raise UsageError(f"{a_ref} and {b_ref} are the same tool ({slugs[0]}); compare two tools")
    drafted: list[ToolPanel] = []
    if any(s.panel is None for s in sides):
        drafted = asyncio.run(_draft_missing(make_context(), sides))
    by_slug = {p.slug: p for p in drafted} | {s.panel.slug: s.panel for s in sides if s.panel}
    a, b = by_slug[slugs[0]], by_slug[slugs[1]]
    wanted = Comparison.of(a.slug, b.slug)
    existing = find_comparison(store, wanted.slug)
    if existing is not None and (existing.a_slug, existing.b_slug) == (a.slug, b.slug):
        return ComparisonResult(existing, a, b, [p.slug for p in drafted], created=False)
    saved = save_comparison(
        store,
        wanted,
        expected_revision=None,
        editor=editor,
        action="compare",
        detail=split_read(a, b),
    )
    return ComparisonResult(saved, a, b, [p.slug for p in drafted], created=True)
