"""Quality checks: beat coverage and its re-ask, verdict consistency, flags on show and review."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from panel.cli import main
from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.personas import load_personas
from panel.drafting.quality import (
    beat_coverage,
    contradiction,
    cue_match,
    missing_beats,
    read_quote,
    verdict_statement,
)
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import ModelRequest, registry
from panel.providers.fake import FakeProvider, canned_answer, reviewer_of
from panel.records import Launch, Persona, Review, ToolPanel, Verdict
from panel.store import Store, open_store
from panel.workflow import Edit, edit_review
from tests.conftest import EXAMPLES, context_for
from tests.pages_support import HAIKU_QUOTES, MINI_QUOTES

HAIKU = load_launch(EXAMPLES / "claude-haiku-open-weights.yaml")
MINI = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
PERSONAS = {p.id: p for p in load_personas()}

# The skeptic on GPT-5 Mini, covering its breaking scenario and verdict but naming no
# competitor and no 12-month risk.
SKEPTIC_MISSING_TWO = (
    "I went looking for the failure mode first, because cheaper tiers always have one. It "
    "breaks where a team swaps it in for the flagship on a long-tail task, say contract "
    "extraction, and quality drops quietly with no error to catch it, so every route needs "
    "its own evaluation before it moves. The benchmark numbers are credible and the "
    "migration is one string in a config file, which keeps the downside small for anyone "
    "who measures before they switch. Despite the risk of silent drift, I ship it."
)
SKEPTIC_COMPLETE = MINI_QUOTES["skeptic"]


def answer(quote: str, verdict: str = "ship", headline: str = "A headline") -> str:
    """A valid review JSON."""
    return json.dumps({"headline": headline, "quote": quote, "verdict": verdict})


def ctx_for(store: Store, model: str = "fake:ship") -> RunContext:
    return context_for(store, model)


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


# -- beat coverage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("launch", "persona_id", "quote", "verdict"),
    [
        (HAIKU, "dx", HAIKU_QUOTES["dx"], Verdict.SHIP),
        (HAIKU, "skeptic", HAIKU_QUOTES["skeptic"], Verdict.SKIP),
        (HAIKU, "futurist", HAIKU_QUOTES["futurist"], Verdict.SHIP),
        (HAIKU, "business", HAIKU_QUOTES["business"], Verdict.SKIP),
        (MINI, "dx", MINI_QUOTES["dx"], Verdict.SHIP),
        (MINI, "skeptic", MINI_QUOTES["skeptic"], Verdict.SHIP),
        (MINI, "futurist", MINI_QUOTES["futurist"], Verdict.SKIP),
        (MINI, "business", MINI_QUOTES["business"], Verdict.SHIP),
    ],
)
def test_hand_written_quotes_cover_every_beat_and_agree_with_their_verdict(
    launch: Launch, persona_id: str, quote: str, verdict: Verdict
) -> None:
    read = read_quote(PERSONAS[persona_id], verdict, quote, launch)
    assert [r.beat for r in read.beats] == PERSONAS[persona_id].beat_labels
    assert read.missing == [] and read.contradiction is None and read.flags() == []
    assert all(r.cue for r in read.beats)


def test_each_beat_reads_its_own_cue() -> None:
    reads = beat_coverage(PERSONAS["skeptic"], SKEPTIC_MISSING_TWO, MINI)
    assert {r.beat: r.covered for r in reads} == {
        "competitors": False,
        "breaking scenario": True,
        "12-month risk": False,
        "verdict despite": True,
    }
    assert missing_beats(reads) == ["competitors", "12-month risk"]
    assert reads[1].cue == "breaks"


@pytest.mark.parametrize(
    ("cue", "text", "found"),
    [
        ("late", "It is late to open weights.", "late"),
        ("late", "The latency is fine.", None),
        ("moat*", "The moats are thin.", "moats"),
        ("10x", "a 10x price drop", "10x"),
        ("$", "at $20 a seat", "$"),
        ("@money", "at $20 a seat", "$20 a seat"),
        ("@money", "twenty dollars", None),
        ("@money", "20 dollars a month", "20 dollars"),
        ("@number", "it took a few seconds", None),
        ("@number", "it took twelve seconds", "twelve seconds"),
        ("@duration", "within eighteen months", "eighteen months"),
        ("@duration", "by Q3 a rival ships", "by Q3"),
        ("@duration", "for the moment", None),
        ("@name", "The rivals are Llama and Mistral.", "Llama"),
        ("@name", "It runs on a GPU with an API and I like it on Monday.", None),
        ("@name", "Zephyrix is first in a sentence; nothing else is named.", None),
        ("@name", "Ollama is first, but a known brand.", "Ollama"),
        ("@name", "It beats what vLLM does.", "vLLM"),
        ("@verdict", "All told, I'd pass.", "I'd pass"),
    ],
)
def test_cue_syntax(cue: str, text: str, found: str | None) -> None:
    assert cue_match(cue, text) == found


def test_named_competitor_is_not_the_launch_itself() -> None:
    quote = "I compared GPT-5 Mini API with what OpenAI sold last year, and Mini wins."
    assert cue_match("@name", quote, MINI) is None
    assert cue_match("@name", quote + " It trails Gemini Flash.", MINI) == "Gemini Flash"


def test_persona_beats_must_line_up() -> None:
    with pytest.raises(ValidationError, match="beat_labels has 1 entries for 2 beats"):
        Persona(id="x", name="X", role="r", beats=["a?", "b?"], beat_labels=["a"])
    with pytest.raises(ValidationError, match="beat_cues key '2' must be a beat index"):
        Persona(id="x", name="X", role="r", beats=["a?", "b?"], beat_cues={"2": ["c"]})
    persona = Persona(id="x", name="X", role="r", beats=["a?", "b?"], beat_cues={"1": ["b"]})
    # unlabelled beats get a number; a beat without cues is not checked
    assert [(r.beat, r.covered) for r in beat_coverage(persona, "b")] == [("beat 2", True)]


def test_old_records_without_quality_fields_still_load() -> None:
    review = Review.model_validate({"persona_id": "dx", "persona_name": "The Builder"})
    assert review.beats == [] and review.flags == []
    panel = ToolPanel.model_validate(
        {"slug": "x", "launch": {"name": "X", "description": "d"}, "reviews": []}
    )
    assert panel.diversity is None and panel.max_similarity is None and panel.flags == []


# -- verdict consistency ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "says"),
    [
        ("All things considered, I'm calling it a skip.", "skip"),
        ("I would not ship it yet.", "skip"),
        ("I wouldn\u2019t ship it yet.", "skip"),
        ("There is no reason to skip it.", "ship"),
        ("I wouldn't hesitate to ship it.", "ship"),
        ("Don't skip this one.", "ship"),
        ("It's not a ship for me.", "skip"),
        ("I'd pass on this.", "skip"),
        ("Teams should hold off until the second release.", "skip"),
        ("Verdict: ship.", "ship"),
        ("Skip.", "skip"),
        ("Skeptics will say skip, but I'd ship.", "ship"),
        ("I'd ship it today, unless you need HIPAA, in which case skip it.", "ship"),
        ("It is not ready to ship.", "skip"),
        ("On balance I call it a ship.", "ship"),
        ("The vendor will ship a CLI next month and teams ship faster.", None),
        ("I skip the docs and go straight to the examples.", None),
        ("Compare pass rates before you move a route.", None),
    ],
)
def test_verdict_statements_with_negation(sentence: str, says: str | None) -> None:
    stance = verdict_statement(f"Some context comes first. {sentence}")
    assert (stance.verdict.value if stance else None) == says


def test_the_last_verdict_statement_wins() -> None:
    quote = "At first I thought I'd skip it. Then I ran the evals, and I ship it."
    stance = verdict_statement(quote)
    assert stance is not None and stance.verdict is Verdict.SHIP


def test_contradiction_names_both_sides() -> None:
    quote = SKEPTIC_COMPLETE.replace("so I ship it", "so I'm calling it a skip")
    assert contradiction(Verdict.SHIP, quote) == (
        'quote says skip ("so I\'m calling it a skip") but verdict is ship'
    )
    assert contradiction(Verdict.SKIP, quote) is None
    assert contradiction(Verdict.SHIP, "No verdict words at all here.") is None
    assert contradiction(None, quote) is None


# -- the re-ask and the flags, end to end -------------------------------------------------------


async def test_quote_missing_two_beats_is_reasked_then_flagged(
    store: Store, fake: FakeProvider
) -> None:
    fake.script(answer(SKEPTIC_MISSING_TWO), answer(SKEPTIC_MISSING_TWO + " Really."))
    panel = await draft_panel(ctx_for(store), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert len(fake.calls) == 2
    reask = fake.calls[1][1]
    assert [m.role for m in reask.messages] == ["user", "assistant", "user"]
    assert reask.messages[1].content == answer(SKEPTIC_MISSING_TWO)
    assert "competitors: Who are the direct competitors, by name?" in reask.messages[2].content
    assert "12-month risk: What kills it within 12 months?" in reask.messages[2].content
    assert "breaking scenario" not in reask.messages[2].content
    assert not review.failed and review.verdict is Verdict.SHIP
    assert review.flags == ["missing beats: competitors, 12-month risk"]
    assert [r.beat for r in review.beats if not r.covered] == ["competitors", "12-month risk"]
    assert review.provenance is not None and review.provenance.attempts == 2
    assert store.get_panel(panel.slug).reviews[0].flags == review.flags


async def test_a_model_that_cannot_use_feedback_is_not_reasked_for_beats(store: Store) -> None:
    class NoFeedback(FakeProvider):
        uses_feedback = False

    provider = NoFeedback()
    registry.register("tiny", lambda: provider)
    provider.script(answer(SKEPTIC_MISSING_TWO))
    panel = await draft_panel(ctx_for(store, "tiny:ship"), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert len(provider.calls) == 1 and review.provenance is not None
    assert review.provenance.attempts == 1
    assert review.flags == ["missing beats: competitors, 12-month risk"]


async def test_reask_that_covers_the_beats_clears_the_flag(
    store: Store, fake: FakeProvider
) -> None:
    fake.script(answer(SKEPTIC_MISSING_TWO), answer(SKEPTIC_COMPLETE))
    panel = await draft_panel(ctx_for(store), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert review.quote == SKEPTIC_COMPLETE and review.flags == []
    assert all(r.covered for r in review.beats) and len(fake.calls) == 2


async def test_the_better_answer_is_kept(store: Store, fake: FakeProvider) -> None:
    worse = "I read the launch notes twice and found nothing to hold on to. " * 5 + "I ship it."
    fake.script(answer(SKEPTIC_MISSING_TWO), answer(worse))
    panel = await draft_panel(ctx_for(store), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert review.quote == SKEPTIC_MISSING_TWO
    assert review.flags == ["missing beats: competitors, 12-month risk"]


async def test_beat_reask_does_not_spend_the_validation_budget(
    store: Store, fake: FakeProvider
) -> None:
    # one beat re-ask, then two invalid answers (the two validation re-asks), then a good one
    fake.script(
        answer(SKEPTIC_MISSING_TWO), "not json", answer("too short"), answer(SKEPTIC_COMPLETE)
    )
    panel = await draft_panel(ctx_for(store), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert len(fake.calls) == 4 and review.quote == SKEPTIC_COMPLETE and review.flags == []


async def test_valid_answer_survives_later_invalid_ones(store: Store, fake: FakeProvider) -> None:
    fake.script(answer(SKEPTIC_MISSING_TWO), *["not json"] * 3)
    panel = await draft_panel(ctx_for(store), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert len(fake.calls) == 4  # the first answer, the beat re-ask, two validation re-asks
    assert not review.failed and review.quote == SKEPTIC_MISSING_TWO
    assert review.flags == ["missing beats: competitors, 12-month risk"]


async def test_contradicting_quote_is_flagged(store: Store, fake: FakeProvider) -> None:
    contradicting = SKEPTIC_COMPLETE.replace("so I ship it", "so I'm calling it a skip")
    fake.script(answer(contradicting, verdict="ship"))
    panel = await draft_panel(ctx_for(store), MINI, [PERSONAS["skeptic"]])
    review = panel.reviews[0]
    assert len(fake.calls) == 1  # all beats covered: no re-ask
    assert review.verdict is Verdict.SHIP
    assert review.flags == ['quote says skip ("so I\'m calling it a skip") but verdict is ship']


async def test_canned_fake_answers_cover_their_beats(store: Store, fake: FakeProvider) -> None:
    panel = await draft_panel(ctx_for(store, "fake:mixed"), MINI, list(PERSONAS.values()))
    assert len(fake.calls) == 4
    assert all(r.flags == [] and r.beats and all(b.covered for b in r.beats) for r in panel.reviews)


def test_show_and_review_print_the_flags(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    def skeptic_misses(request: ModelRequest) -> str:
        if reviewer_of(request) == "The Skeptic":
            return answer(SKEPTIC_MISSING_TWO)
        return canned_answer("ship", request)

    fake.script(*[skeptic_misses] * 5)
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship"]) == 0
    capsys.readouterr()
    assert main(["show", "gpt-5-mini-api"]) == 0
    shown = capsys.readouterr().out
    assert "⚑ missing beats: competitors, 12-month risk" in shown
    assert main(["review"]) == 0
    queue = " ".join(capsys.readouterr().out.split())
    assert "skeptic: missing beats: competitors, 12-month" in queue


def test_an_edit_reads_the_quote_again(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed"]) == 0
    store = open_store(default_db())
    edited = edit_review(
        store,
        "gpt-5-mini-api",
        Edit("skeptic", quote=SKEPTIC_MISSING_TWO),
        expected_revision=None,
        editor="ed",
    )
    review = edited.review("skeptic")
    assert review is not None and review.human_edited
    assert review.flags[0] == "missing beats: competitors, 12-month risk"
    assert review.flags[1].startswith('quote says ship ("I ship") but verdict is skip')
    fixed = edit_review(
        store,
        "gpt-5-mini-api",
        Edit("skeptic", verdict=Verdict.SHIP, quote=SKEPTIC_COMPLETE),
        expected_revision=None,
        editor="ed",
    )
    again = fixed.review("skeptic")
    assert again is not None and all(b.covered for b in again.beats)
    # the verdict moved, the drafted headline did not: flagged, not rewritten
    assert again.flags == ['headline says skip ("The Skeptic says skip") but verdict is ship']
    headline = "The Skeptic says ship: cheap enough to try"
    last = edit_review(
        store,
        "gpt-5-mini-api",
        Edit("skeptic", headline=headline),
        expected_revision=None,
        editor="ed",
    ).review("skeptic")
    assert last is not None and last.headline == headline and last.flags == []
