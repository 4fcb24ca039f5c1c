"""The claim extractor: its annotated tables, the golden launches' drafts, and the rules of
a claim's status (in the launch, to verify, a check kept across an edit)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from benchmarks.claims import HELD_OUT, TABLE, TABLE_2, load_table, score_table
from panel.claims import Evidence, claim_spans, find_claims, launch_vocabulary, read_claims
from panel.cli import main
from panel.paths import default_db
from panel.providers.fake import FakeProvider
from panel.records import Claim, ClaimField, ClaimKind, ClaimStatus, Launch
from panel.store import open_store
from tests.conftest import EXAMPLES

GPT5 = Launch(
    name="GPT-5 Mini API",
    vendor="OpenAI",
    entry="Paid",
    description="A cost-optimised GPT-5 for production, with a 400k context window.",
)


@pytest.mark.parametrize("table", [TABLE, TABLE_2], ids=lambda p: p.stem)
def test_the_tables_meet_the_recall_targets(table: Path) -> None:
    rows = load_table(table)
    assert len(rows) >= 40
    scores = score_table(rows)
    assert scores["money+number"].expected >= 40 and scores["name"].expected >= 40
    assert scores["money"].recall >= 0.9, scores["money"].missed
    assert scores["number"].recall >= 0.9, scores["number"].missed
    assert scores["name"].recall >= 0.8, scores["name"].missed


def test_the_held_out_table_stays_above_its_floor() -> None:
    """Written apart and never tuned on: the issue's targets hold there too (the figures
    are in the README: `python -m benchmarks.claims`)."""
    scores = score_table(load_table(HELD_OUT))
    assert scores["money+number"].expected >= 40 and scores["name"].expected >= 40
    assert scores["money"].recall >= 0.9, scores["money"].missed
    assert scores["number"].recall >= 0.9, scores["number"].missed
    assert scores["name"].recall >= 0.8, scores["name"].missed
    assert len(scores["number"].false_alarms) + len(scores["money"].false_alarms) <= 5


def quote(text: str) -> dict[ClaimField, str]:
    return {"quote": text}


def kinds(text: str, **known: str) -> list[tuple[str, ClaimKind]]:
    return [(f.text, f.kind) for f in find_claims(text, known=known.values())]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "At $20 per seat it beats Copilot Business.",
            [("$20 per seat", ClaimKind.MONEY), ("Copilot Business", ClaimKind.NAME)],
        ),
        (
            "Llama 3.1 70B scores 71.2% on SWE-bench Verified.",
            [
                ("Llama 3.1 70B", ClaimKind.NAME),
                ("71.2%", ClaimKind.NUMBER),
                ("SWE-bench Verified", ClaimKind.NAME),
            ],
        ),
        ("It took ten minutes to wire up.", [("ten minutes", ClaimKind.NUMBER)]),
        (
            "Shipping in March 2026, three years early.",
            [("March 2026", ClaimKind.NUMBER), ("three years", ClaimKind.NUMBER)],
        ),
        ("Honestly, the docs are thin and the onboarding drags.", []),
        ("The Skeptic says skip: not yet.", []),
        ("MIT-licensed and on npm.", [("MIT", ClaimKind.NAME), ("npm", ClaimKind.NAME)]),
    ],
)
def test_what_counts_as_a_claim(text: str, expected: list[tuple[str, ClaimKind]]) -> None:
    assert kinds(text) == expected


def test_a_launch_word_is_a_name_even_opening_a_sentence() -> None:
    text = "Anthropic finally ships weights."
    assert kinds(text) == []
    known = launch_vocabulary(Launch(name="Claude Haiku", vendor="Anthropic", description="x"))
    assert [(f.text, f.kind) for f in find_claims(text, known=known)] == [
        ("Anthropic", ClaimKind.NAME)
    ]
    # 'Open Weights' in a launch's name does not make every 'weights' a name
    known = launch_vocabulary(Launch(name="Haiku Open Weights", description="x"))
    assert find_claims("It ships open weights.", known=known) == []


def test_claims_the_launch_states_are_marked_in_launch() -> None:
    texts = quote("GPT-5 quality with a 400k context window, yet $0.25 per million tokens.")
    claims = {c.text: c.status for c in read_claims("business", texts, GPT5)}
    assert claims == {
        "GPT-5": ClaimStatus.IN_LAUNCH,
        "400k context": ClaimStatus.IN_LAUNCH,
        "$0.25 per million tokens": ClaimStatus.TO_VERIFY,
    }


def test_a_check_survives_an_edit_that_keeps_the_claim() -> None:
    texts = quote("At $20 per seat it undercuts Copilot by half.")
    first = read_claims("business", texts, GPT5)
    assert [c.status for c in first] == [ClaimStatus.TO_VERIFY, ClaimStatus.TO_VERIFY]
    checked = [
        c.model_copy(update={"status": ClaimStatus.VERIFIED, "changed_by": "vera"}) for c in first
    ]
    edited = quote("Even Copilot costs more than $20 per seat, and that is the story.")
    again = {c.text: c for c in read_claims("business", edited, GPT5, checked)}
    assert again["$20 per seat"].status is ClaimStatus.VERIFIED
    assert again["$20 per seat"].changed_by == "vera"
    assert again["Copilot"].status is ClaimStatus.VERIFIED
    assert [c.id for c in again.values()] == [c.id for c in first][::-1]
    changed = quote("At $25 per seat it undercuts Copilot by half.")
    moved = {c.text: c.status for c in read_claims("business", changed, GPT5, checked)}
    assert moved["$25 per seat"] is ClaimStatus.TO_VERIFY  # a new figure is checked anew


def test_a_claim_a_source_states_is_supported_with_its_sentence() -> None:
    pricing = Evidence.of(
        "https://acme.example/pricing",
        "Plans and pricing.\nTeam costs $20 per seat per month. Enterprise is custom.",
    )
    texts = quote("At $20 per seat it undercuts Copilot, and ten minutes gets you going.")
    found = {c.text: c for c in read_claims("business", texts, GPT5, sources=[pricing])}
    price = found["$20 per seat"]
    assert price.status is ClaimStatus.SUPPORTED and not price.open
    assert price.source == "https://acme.example/pricing"
    assert price.evidence == "Team costs $20 per seat per month."
    assert found["Copilot"].status is ClaimStatus.TO_VERIFY
    # sources not at hand (None): the support found before is kept; given and silent: not
    kept = read_claims("business", texts, GPT5, list(found.values()))
    assert {c.text: c.status for c in kept}["$20 per seat"] is ClaimStatus.SUPPORTED
    silent = read_claims("business", texts, GPT5, list(found.values()), sources=[])
    assert {c.text: c.status for c in silent}["$20 per seat"] is ClaimStatus.TO_VERIFY


def test_claim_spans_mark_each_claim_once_without_overlap() -> None:
    text = "GPT-5 Mini beats GPT-5 on price: $2 per million output tokens."
    claims = read_claims("skeptic", quote(text), GPT5)
    spans = claim_spans(text, claims)
    marked = [text[start:end] for start, end, _ in spans]
    assert marked == ["GPT-5 Mini", "GPT-5", "$2 per million output tokens"]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize("slug", ["claude-haiku-open-weights", "gpt-5-mini-api"])
def test_the_golden_launches_drafts_carry_their_claims(
    slug: str, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every money amount and number written in a drafted quote is a claim of its review;
    the launch's own name is in the launch, a rival's is to verify."""
    assert main(["draft", str(EXAMPLES / f"{slug}.yaml"), "-m", "fake:mixed"]) == 0
    capsys.readouterr()
    panel = open_store(default_db()).get_panel(slug)
    for review in panel.reviews:
        texts = [review.quote or "", review.headline or "", review.pricing_read or ""]
        found = {c.text for c in review.claims}
        for text in texts:
            for item in find_claims(text, ignore=[review.persona_id]):
                assert item.text in found or any(item.text.lower() == f.lower() for f in found)
        by_text: dict[str, Claim] = {c.text: c for c in review.claims}
        if "Ollama" in by_text:
            assert by_text["Ollama"].status is ClaimStatus.TO_VERIFY
    every = {c.text: c.status for r in panel.reviews for c in r.claims}
    assert "$20 per seat" in every or "ten minutes" in every
    name_words = panel.launch.name.split()
    assert all(
        status is ClaimStatus.IN_LAUNCH for text, status in every.items() if text in name_words
    )
