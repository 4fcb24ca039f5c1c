"""`panel eval`: golden files, hand-computed report numbers, the test server, the local model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from panel.cli import main
from panel.drafting import diversity
from panel.drafting.personas import load_personas
from panel.eval import GoldenCase, load_golden, score
from panel.paths import default_db
from panel.providers import Message, ModelRequest, registry
from panel.providers.fake import FakeProvider, canned_answer, reviewer_of
from panel.records import ToolPanel
from panel.store import open_store
from tests.conftest import EXAMPLES
from tests.drafting.test_quality import SKEPTIC_MISSING_TWO, answer
from tests.fakeserver import FakeServer
from tests.fakeserver_wire import ASKED_CUES, request_schema

GOLDEN = EXAMPLES / "golden.jsonl"


def run_eval_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    """Run `panel eval GOLDEN --json ARGS`; the parsed report and stderr."""
    code = main(["eval", str(GOLDEN), "--json", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report: dict[str, Any] = json.loads(captured.out)
    return report, captured.err


def stored_panels() -> list[ToolPanel]:
    store = open_store(default_db())
    return [store.get_panel("claude-haiku-open-weights"), store.get_panel("gpt-5-mini-api")]


def assert_consistent(report: dict[str, Any]) -> None:
    """Invariants every report keeps, whatever the model said."""
    assert report["launches"] == 2 and report["compared"] == 8
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 8
    assert sum(p["compared"] for p in report["per_persona"].values()) == 8
    agreed = report["confusion"]["ship"]["ship"] + report["confusion"]["skip"]["skip"]
    assert report["agreed"] == agreed and report["agreement"] == agreed / 8
    assert report["wall_seconds"] > 0
    if diversity.unavailable() is None:
        panels = stored_panels()
        measured = [p.diversity for p in panels if p.diversity is not None]
        assert report["diversity"] == pytest.approx(sum(measured) / len(measured))


# -- the hand-computed case ---------------------------------------------------------------------


def scripted(request: ModelRequest) -> str:
    """fake:mixed, except on GPT-5 Mini: the skeptic ships missing two beats, the operator fails."""
    if "Name: GPT-5 Mini API" in request.messages[0].content:
        if reviewer_of(request) == "The Skeptic":
            return answer(SKEPTIC_MISSING_TWO)
        if reviewer_of(request) == "The Operator":
            return "not json"
    return canned_answer("mixed", request)


def test_report_numbers_match_a_hand_computed_case(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."fake:mixed"]\ninput = 0.0\noutput = 1.0\n')
    monkeypatch.setenv("PANEL_PRICES", str(prices))
    fake.script(*[scripted] * 11)
    report, _ = run_eval_cli(capsys, "--model", "fake:mixed")
    # Published: Haiku ship/skip/ship/skip, Mini ship x4. Drafted (fake:mixed): Haiku
    # ship/skip/ship/skip; Mini dx ship, skeptic ship (scripted), futurist ship, business
    # failed (three invalid answers).
    assert len(fake.calls) == 11  # 8 first answers + 1 beat re-ask + 2 validation re-asks
    assert report["models"] == ["fake:mixed"]
    assert (report["launches"], report["compared"], report["agreed"]) == (2, 8, 7)
    assert report["agreement"] == 7 / 8
    assert report["per_persona"] == {
        "dx": {"compared": 2, "agreed": 2, "failed": 0, "agreement": 1.0},
        "skeptic": {"compared": 2, "agreed": 2, "failed": 0, "agreement": 1.0},
        "futurist": {"compared": 2, "agreed": 2, "failed": 0, "agreement": 1.0},
        "business": {"compared": 2, "agreed": 1, "failed": 1, "agreement": 0.5},
    }
    assert report["confusion"] == {
        "ship": {"ship": 5, "skip": 0, "failed": 1},
        "skip": {"ship": 0, "skip": 2, "failed": 0},
    }
    # 7 answered reviews: six cover every beat, the Mini skeptic 2 of 4.
    assert report["beat_coverage"] == pytest.approx((6 + 2 / 4) / 7)
    assert report["flagged_reviews"] == 1
    # 11 calls x 120 output tokens x $1 per million (input is free here)
    assert report["cost_usd"] == pytest.approx(11 * 120 / 1_000_000)
    mini = report["cases"][1]
    assert mini["slug"] == "gpt-5-mini-api"
    assert mini["drafted"] == {
        "dx": "ship",
        "skeptic": "ship",
        "futurist": "ship",
        "business": "failed",
    }
    assert mini["flags"] == ["skeptic: missing beats: competitors, 12-month risk"]
    assert_consistent(report)
    if diversity.unavailable() is None:
        assert report["collapsed_panels"] == 0 and 0.3 < report["diversity"] < 0.9


def test_text_report(fake: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(GOLDEN), "--model", "fake:mixed"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 launches, 8 published verdicts, on fake:mixed — agreement 75% (6/8)" in out
    assert "skeptic │ 50% (1/2) │ 0" in out
    assert "Confusion matrix" in out and "ship │ 4 │ 2 │ 0" in out
    assert "Mean beat coverage 100%" in out and "0 collapsed panels" in out


def test_score_with_nothing_answered_reports_none() -> None:
    cases = load_golden(GOLDEN, load_personas())
    panels = [ToolPanel(slug=c.launch.slug, launch=c.launch, reviews=[]) for c in cases]
    report = score("g", cases, panels, 1.0, diversity_note="diversity not measured: x")
    assert report.agreement == 0 and report.beat_coverage is None and report.diversity is None
    assert report.confusion["ship"]["failed"] == 6 and report.confusion["skip"]["failed"] == 2
    assert report.diversity_note == "diversity not measured: x"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{", "line 1: not valid JSON"),
        ('{"launch": {"name": "X", "description": "d"}}', "line 1: published: required field"),
        (
            '{"launch": {"name": "X", "description": "d"}, "published": {"dx": "maybe"}}',
            "line 1: published.dx: Input should be 'ship' or 'skip'",
        ),
        (
            '{"launch": {"name": "X", "description": "d"}, "published": {"legal": "ship"}}',
            "line 1: published verdict for unknown persona 'legal'; choose from business, dx",
        ),
        (
            '{"launch": {"name": "X", "description": "d"}, "published": {"dx": "ship"}, "n": 1}',
            "line 1: n: unknown field (allowed: launch, published)",
        ),
        ("", "file is empty"),
    ],
)
def test_bad_golden_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, error: str
) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(line + "\n")
    assert main(["eval", str(golden), "--model", "fake:mixed"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("panel: error: ") and error in err and len(err.splitlines()) == 1


def test_golden_example_parses() -> None:
    cases = load_golden(GOLDEN, load_personas())
    assert [c.launch.slug for c in cases] == ["claude-haiku-open-weights", "gpt-5-mini-api"]
    assert all(isinstance(c, GoldenCase) and len(c.published) == 4 for c in cases)


# -- the HTTP test server -----------------------------------------------------------------------


def skip_everything(body: dict[str, Any]) -> dict[str, Any]:
    """Each persona's own (beat-covering) quote, always with a skip."""
    messages = body["messages"]
    user = messages[1]["content"]
    request = ModelRequest(
        system=messages[0]["content"],
        messages=(Message("user", user),),
        schema=request_schema(body),
        must_fill=tuple(name for name, cue in ASKED_CUES.items() if cue in user),
    )
    review: dict[str, Any] = json.loads(canned_answer("skip", request))
    return review


def test_eval_against_the_http_test_server(
    fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.configure("openai", {"api_key": "sk-test", "base_url": fake_server.openai_url})
    fake_server.answer = skip_everything
    report, _ = run_eval_cli(capsys, "--model", "openai:gpt-5-mini")
    assert fake_server.counts["/v1/chat/completions"] == 8  # every quote covered its beats
    assert report["models"] == ["openai:gpt-5-mini"]
    # Everything skipped: only Haiku's skeptic and business agree with the published panel.
    assert (report["agreed"], report["agreement"]) == (2, 0.25)
    assert report["confusion"] == {
        "ship": {"ship": 0, "skip": 6, "failed": 0},
        "skip": {"ship": 0, "skip": 2, "failed": 0},
    }
    assert {k: v["agreed"] for k, v in report["per_persona"].items()} == {
        "dx": 0,
        "skeptic": 1,
        "futurist": 0,
        "business": 1,
    }
    assert report["beat_coverage"] == 1.0 and report["flagged_reviews"] == 0
    logged = open_store(default_db()).conn.execute("select sum(cost_usd) from calls").fetchone()[0]
    assert report["cost_usd"] == pytest.approx(logged) and report["cost_usd"] > 0
    assert_consistent(report)


# -- the bundled local model --------------------------------------------------------------------


def test_eval_on_the_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    report, _ = run_eval_cli(capsys, "--model", "local:smollm2")
    assert report["models"] == ["local:smollm2"]
    assert report["cost_usd"] == 0
    assert_consistent(report)
    answered = [r for p in stored_panels() for r in p.reviews if not r.failed and r.provenance]
    assert answered, "the local model answered no persona at all"
    assert report["beat_coverage"] is not None and 0 <= report["beat_coverage"] <= 1
    for review in answered:
        assert review.beats, "every answered review carries its beat read"
        assert review.provenance is not None and review.provenance.model == "local:smollm2"
