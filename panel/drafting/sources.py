"""The sources of a launch for a draft: read once and stored, reused by later drafts
until ``panel sources fetch`` reads them again; a source that cannot be read is noted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from panel.claims import Evidence
from panel.drafting.context import RunContext
from panel.records import Launch, SourceRef, SourceText
from panel.sources.read import read_source
from panel.store import Store
from panel.store.sources import save_source, stored_sources


async def launch_sources(
    ctx: RunContext, launch: Launch, *, refresh: bool = False
) -> list[SourceText]:
    """Each source of ``launch``, in its order: as stored, or read now (when never read
    well, or ``refresh``) unless the run may not fetch (``ctx.fetch_sources`` false)."""
    if not launch.sources:
        return []
    stored = stored_sources(ctx.store, launch.slug)

    async def one(ref: SourceRef) -> SourceText:
        old = stored.get(ref.where)
        if old is not None and old.ok and not refresh:
            return old
        if not ctx.fetch_sources:
            return old or SourceText(
                where=ref.where, label=ref.label, ok=False, reason="not read (--no-fetch)"
            )
        read = await read_source(ref, ctx.source_policy)
        return save_source(ctx.store, launch.slug, read.model_copy(update={"label": ref.label}))

    return list(await asyncio.gather(*(one(ref) for ref in launch.sources)))


def given(sources: Sequence[SourceText]) -> list[SourceText]:
    """The sources whose text the reviewers are given (those read)."""
    return [s for s in sources if s.ok and s.text]


def evidence(sources: Sequence[SourceText]) -> list[Evidence]:
    """The texts a claim may be found in, to mark it supported."""
    return [Evidence.of(s.where, s.text) for s in given(sources)]


def stored_evidence(store: Store, launch: Launch) -> list[Evidence]:
    """The stored texts of ``launch``'s sources, in its order (nothing is fetched)."""
    stored = stored_sources(store, launch.slug)
    return evidence([stored[r.where] for r in launch.sources if r.where in stored])
