"""The draft's progress on stderr: a line a review when piped, a live row a reviewer on a
terminal, and the estimate line when a provider gives one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from panel.cli import main
from panel.cli.progress import DraftProgress
from panel.drafting.personas import load_personas
from panel.drafting.progress import Planned
from panel.records import Provenance, Review, Verdict
from tests.conftest import EXAMPLES

PERSONAS = load_personas()[:2]
PLANNED = [Planned(p, "local:smollm2") for p in PERSONAS]


def done(index: int, *, failed: bool = False, attempts: int = 1) -> Review:
    persona = PERSONAS[index]
    provenance = Provenance(
        model="local:smollm2", persona_hash="", template_hash="", attempts=attempts
    )
    provenance.latency_ms = 4200
    if failed:
        return Review(
            persona_id=persona.id,
            persona_name=persona.name,
            failed=True,
            error="x",
            provenance=provenance,
        )
    return Review(
        persona_id=persona.id,
        persona_name=persona.name,
        verdict=Verdict.SHIP,
        headline="h",
        quote="q",
        provenance=provenance,
    )


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100, markup=False), out


def test_piped_progress_is_a_line_a_review() -> None:
    shown, out = console(terminal=False)
    with DraftProgress(shown) as progress:
        progress.planned(PLANNED, 14.4)
        progress.finished(done(1, attempts=3))
        progress.finished(done(0, failed=True))
    assert out.getvalue().splitlines() == [
        "panel: drafting 2 reviews on local:smollm2: about 14 s",
        "panel: skeptic (The Skeptic): ship, 4.2 s, 3 calls",
        "panel: dx (The Builder): failed after 4.2 s",
    ]


def test_no_estimate_no_line() -> None:
    shown, out = console(terminal=False)
    with DraftProgress(shown) as progress:
        progress.planned(PLANNED, None)
    assert out.getvalue() == ""


def test_terminal_progress_is_a_row_a_reviewer() -> None:
    shown, out = console(terminal=True)
    with DraftProgress(shown) as progress:
        progress.planned(PLANNED, None)
        progress.finished(done(0))
    text = out.getvalue()
    assert "✓ The Builder: ship" in text and "4.2" not in text  # the row's clock is the time
    assert "The Skeptic: drafting" in text


def test_draft_prints_a_line_a_reviewer_and_the_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    progress = [line for line in lines if line.startswith("panel: ")]
    reviewers = sorted(line.split(":")[1].strip() for line in progress[:-1])
    assert reviewers == [  # no estimate line: the fake provider cannot give one
        "business (The Operator)",
        "dx (The Builder)",
        "futurist (The Futurist)",
        "skeptic (The Skeptic)",
    ]
    assert progress[-1].startswith("panel: 4 of 4 reviews valid in ")
