"""Measuring a model and persona set against panels that were already published.

A golden file is JSONL, one launch a line with its published verdict per persona::

    {"launch": {"name": ..., "description": ...}, "published": {"dx": "ship", ...}}

Each launch is drafted through ``draft_panel`` (into the normal store, like `panel draft`),
then its drafted verdicts are compared with the published ones. A persona that failed
counts as a disagreement and in the ``failed`` column of the confusion matrix.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.quality import coverage
from panel.errors import UsageError
from panel.files import read_text
from panel.launches import describe_error
from panel.records import Launch, Persona, ToolPanel, Verdict

FAILED = "failed"
"""The drafted outcome of a persona that gave no valid answer."""
OUTCOMES = ("ship", "skip", FAILED)


class GoldenCase(BaseModel):
    """One line of a golden file: a launch and its published verdicts."""

    model_config = ConfigDict(extra="forbid")

    launch: Launch
    """The launch as it was reviewed."""
    published: dict[str, Verdict] = Field(min_length=1)
    """The published verdict per persona id."""


def load_golden(path: Path, personas: list[Persona]) -> list[GoldenCase]:
    """The cases of a golden JSONL file; a bad line is an error naming it and the field."""
    known = {p.id for p in personas}
    cases: list[GoldenCase] = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            case = GoldenCase.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            raise UsageError(f"{where}: {_describe(exc)}") from None
        unknown = sorted(set(case.published) - known)
        if unknown:
            raise UsageError(
                f"{where}: published verdict for unknown persona {unknown[0]!r}; "
                f"choose from {', '.join(sorted(known))}"
            )
        cases.append(case)
    if not cases:
        raise UsageError(f"{path}: no launches (one JSON object per line)")
    slugs = [c.launch.slug for c in cases]
    repeated = sorted({s for s in slugs if slugs.count(s) > 1})
    if repeated:
        raise UsageError(f"{path}: launch {repeated[0]!r} appears more than once")
    return cases


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        return f"{first['loc'][0]}: unknown field (allowed: launch, published)"
    return describe_error(exc)


class PersonaScore(BaseModel):
    """Agreement of one persona with the published verdicts."""

    compared: int
    """Published verdicts of this persona."""
    agreed: int
    """Drafted verdicts equal to the published ones."""
    failed: int
    """Drafts where this persona gave no valid answer."""
    agreement: float | None
    """agreed / compared, or None when nothing was compared."""


class CaseResult(BaseModel):
    """One launch: published and drafted verdicts side by side."""

    slug: str
    published: dict[str, str]
    drafted: dict[str, str]
    """Per persona: ship, skip or failed."""
    beat_coverage: float | None
    """Mean beat coverage of the answered reviews."""
    diversity: float | None
    """The panel's diversity, when measured."""
    flags: list[str]
    """Review and panel flags, as 'persona: flag' or the panel flag."""


class EvalReport(BaseModel):
    """The result of `panel eval`."""

    golden: str
    """The golden file."""
    models: list[str]
    """Model ids the reviews came from."""
    launches: int
    """Launches drafted."""
    compared: int
    """Published verdicts compared."""
    agreed: int
    """Drafted verdicts equal to the published ones."""
    agreement: float | None
    """agreed / compared (a failed persona counts as a disagreement)."""
    per_persona: dict[str, PersonaScore]
    """Agreement per persona id."""
    confusion: dict[str, dict[str, int]]
    """published verdict -> drafted outcome (ship, skip, failed) -> count."""
    beat_coverage: float | None
    """Mean over answered reviews of the share of beats covered; None when none answered."""
    diversity: float | None
    """Mean diversity over panels where it was measured; None when never measured."""
    diversity_note: str | None = None
    """Why diversity was not measured, when it was not."""
    flagged_reviews: int
    """Reviews carrying at least one quality flag."""
    collapsed_panels: int
    """Panels flagged as collapsed (quotes repeating each other)."""
    cost_usd: float
    """Total cost of the reviews drafted, from the price table."""
    wall_seconds: float
    """Wall time of the whole run."""
    cases: list[CaseResult]
    """Per launch detail."""


def _outcome(panel: ToolPanel, persona_id: str) -> str:
    review = panel.review(persona_id)
    if review is None or review.verdict is None:
        return FAILED
    return review.verdict.value


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score(
    golden: str,
    cases: list[GoldenCase],
    panels: list[ToolPanel],
    wall_seconds: float,
    diversity_note: str | None = None,
) -> EvalReport:
    """The report of drafted ``panels`` against the published verdicts of ``cases``."""
    persona_ids = list(dict.fromkeys(pid for case in cases for pid in case.published))
    confusion = {v.value: dict.fromkeys(OUTCOMES, 0) for v in Verdict}
    tallies = {pid: [0, 0, 0] for pid in persona_ids}  # compared, agreed, failed
    results: list[CaseResult] = []
    coverages: list[float] = []
    diversities: list[float] = []
    models: set[str] = set()
    cost = 0.0
    flagged = collapsed = 0
    for case, panel in zip(cases, panels, strict=True):
        drafted = {pid: _outcome(panel, pid) for pid in case.published}
        for pid, published in case.published.items():
            outcome = drafted[pid]
            confusion[published.value][outcome] += 1
            tally = tallies[pid]
            tally[0] += 1
            tally[1] += outcome == published.value
            tally[2] += outcome == FAILED
        case_coverages = []
        for review in panel.reviews:
            if review.provenance is not None:
                models.add(review.provenance.model)
                cost += review.provenance.cost_usd
            share = coverage(review.beats)
            if not review.failed and share is not None:
                case_coverages.append(share)
            flagged += bool(review.flags)
        coverages += case_coverages
        if panel.diversity is not None:
            diversities.append(panel.diversity)
        collapsed += any(flag.startswith("collapsed panel") for flag in panel.flags)
        flags = [f"{r.persona_id}: {flag}" for r in panel.reviews for flag in r.flags]
        results.append(
            CaseResult(
                slug=panel.slug,
                published={pid: v.value for pid, v in case.published.items()},
                drafted=drafted,
                beat_coverage=_mean(case_coverages),
                diversity=panel.diversity,
                flags=flags + panel.flags,
            )
        )
    compared = sum(t[0] for t in tallies.values())
    agreed = sum(t[1] for t in tallies.values())
    return EvalReport(
        golden=golden,
        models=sorted(models),
        launches=len(cases),
        compared=compared,
        agreed=agreed,
        agreement=agreed / compared if compared else None,
        per_persona={
            pid: PersonaScore(compared=c, agreed=a, failed=f, agreement=a / c if c else None)
            for pid, (c, a, f) in tallies.items()
        },
        confusion=confusion,
        beat_coverage=_mean(coverages),
        diversity=_mean(diversities),
        diversity_note=diversity_note if not diversities else None,
        flagged_reviews=flagged,
        collapsed_panels=collapsed,
        cost_usd=round(cost, 10),
        wall_seconds=round(wall_seconds, 3),
        cases=results,
    )


async def run_eval(
    ctx: RunContext,
    golden: Path,
    personas: list[Persona],
    *,
    concurrency: int = 4,
    diversity_note: str | None = None,
    redraft: bool = False,
) -> EvalReport:
    """Draft every launch of ``golden`` and score the drafts against the published verdicts
    (an approved or published panel is refused unless ``redraft``)."""
    cases = load_golden(golden, personas)
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(case: GoldenCase) -> ToolPanel:
        async with slots:
            return await draft_panel(ctx, case.launch, personas, redraft=redraft)

    started = time.perf_counter()
    panels = await asyncio.gather(*(one(case) for case in cases))
    wall = time.perf_counter() - started
    return score(str(golden), cases, list(panels), wall, diversity_note)
