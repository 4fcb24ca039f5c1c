"""Persona facts live in persona files, the quote length in one constant."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from panel.cli import main
from panel.drafting.generate import opening_message, review_request
from panel.drafting.personas import load_personas, parse_persona
from panel.drafting.prompts import TEMPLATES, load_prompts
from panel.drafting.quality import beat_coverage, cue_match, read_quote
from panel.errors import UsageError
from panel.launches import load_launch
from panel.lengths import QUOTE_WORDS, QUOTE_WORDS_ACCEPTED, WordRange, word_count
from panel.paths import personas_dir, prompts_dir
from panel.providers import ModelRequest
from panel.providers.fake import canned_answer, questions_of, reviewer_of
from panel.records import Persona, ReviewOutput
from tests.conftest import EXAMPLES

MINI = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
ASKED = f"{QUOTE_WORDS.low} to {QUOTE_WORDS.high} words"

AUDITOR = """---
id: auditor
name: The Auditor
role: Security reviewer
order: 5
beats:
  - "What data leaves the machine, and who can read it?"
  - "How does it fail when the network is down?"
beat_labels: [data exposure, offline failure]
beat_cues:
  "0": [data, "leaves the machine"]
  "1": [network, offline]
---
You are The Auditor. You read every launch for what it sends where, and what happens
when the connection drops.
"""


def request_for(persona: Persona) -> ModelRequest:
    """The first request of ``persona`` on GPT-5 Mini, as the drafting core builds it."""
    prompts = load_prompts()
    user = opening_message(prompts, persona, MINI)
    return review_request(prompts.system(), [user], pricing_read=persona.pricing_read)


def answer_of(persona: Persona, model: str = "mixed") -> ReviewOutput:
    return ReviewOutput.model_validate_json(canned_answer(model, request_for(persona)))


def renamed(persona: Persona, name: str) -> Persona:
    voice = persona.voice.replace(persona.name, name)
    return persona.model_copy(update={"name": name, "voice": voice})


# -- the quote length -----------------------------------------------------------------------


def test_the_prompts_ask_for_the_length_the_validator_is_built_on() -> None:
    for name in TEMPLATES:
        source = (prompts_dir() / name).read_text("utf-8")
        assert not re.search(r"\d+\s*(?:to|-|\u2013)\s*\d+ words", source), (
            f"{name} spells a length"
        )
    prompts = load_prompts()
    assert f"ONE paragraph of {ASKED} in your own voice" in prompts.system()
    assert prompts.reask("bad").endswith(f"The quote is one paragraph of {ASKED}.")
    assert f"It stays ONE paragraph of {ASKED}; be concrete." in prompts.beats(["x: y?"])
    quote = ReviewOutput.wire_schema()["properties"]["quote"]  # type: ignore[index]
    assert quote["description"] == (
        f"One paragraph of {QUOTE_WORDS.low}-{QUOTE_WORDS.high} words in the reviewer's voice."
    )


def test_the_validator_keeps_the_asked_range_with_slack_and_names_it() -> None:
    assert QUOTE_WORDS_ACCEPTED.low < QUOTE_WORDS.low < QUOTE_WORDS.high
    assert QUOTE_WORDS.high < QUOTE_WORDS_ACCEPTED.high

    def output(words: int) -> ReviewOutput:
        quote = " ".join(["word"] * words)
        return ReviewOutput(headline="h", quote=quote, verdict="ship")  # type: ignore[arg-type]

    for words in (QUOTE_WORDS_ACCEPTED.low, QUOTE_WORDS.low, QUOTE_WORDS.high):
        assert word_count(output(words).quote) == words
    assert word_count(output(QUOTE_WORDS_ACCEPTED.high).quote) == QUOTE_WORDS_ACCEPTED.high
    for words in (QUOTE_WORDS_ACCEPTED.low - 1, QUOTE_WORDS_ACCEPTED.high + 1):
        with pytest.raises(ValidationError, match=f"quote has {words} words; .* of {ASKED}"):
            output(words)


def test_the_template_hash_covers_the_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    from panel.drafting import prompts as module

    before = module._load.__wrapped__(prompts_dir().resolve())
    monkeypatch.setitem(module.GLOBALS, "quote_words", WordRange(60, 120))
    after = module._load.__wrapped__(prompts_dir().resolve())
    assert after.hash != before.hash
    assert "ONE paragraph of 60 to 120 words" in after.system()


# -- persona facts in persona files --------------------------------------------------------


def test_one_shipped_persona_carries_the_pricing_read() -> None:
    assert [p.id for p in load_personas() if p.pricing_read] == ["business"]


def test_two_pricing_reviewers_are_refused_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "personas"
    shutil.copytree(personas_dir(), folder)
    futurist = folder / "futurist.md"
    futurist.write_text(
        futurist.read_text("utf-8").replace("order: 3\n", "order: 3\npricing_read: true\n"),
        "utf-8",
    )
    with pytest.raises(UsageError, match="personas business, futurist all set pricing_read"):
        load_personas(folder)
    monkeypatch.setenv("PANEL_PERSONAS", str(folder))
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "set it on one persona file only" in err[0]


def test_the_system_prompt_does_not_count_the_other_reviewers() -> None:
    system = load_prompts().system()
    assert "Three other" not in system and "Four reviewers" not in system
    assert "Other reviewers" in system


def test_a_reviewer_naming_itself_names_no_rival() -> None:
    persona = Persona(
        id="contrarian",
        name="The Contrarian",
        role="r",
        beats=["Who are the rivals?"],
        beat_cues={"0": ["@name"]},
    )
    quote = "Speaking as the Contrarian, I see nobody else doing this."
    assert cue_match("@name", quote, MINI, persona) is None
    assert not beat_coverage(persona, quote, MINI)[0].covered
    renamed_skeptic = renamed(next(p for p in load_personas() if p.id == "skeptic"), "The Cynic")
    cynic = "I am the Cynic here, and I name no rival. It breaks at scale."
    assert read_quote(renamed_skeptic, None, cynic, MINI).missing[0] == "competitors"
    assert cue_match("@name", cynic + " It trails Gemini.", MINI, renamed_skeptic) == "Gemini"


# -- the fake provider answers from the request --------------------------------------------


def test_fake_answers_cover_each_shipped_persona_s_beats_at_the_asked_length() -> None:
    verdicts = {}
    for persona in load_personas():
        request = request_for(persona)
        assert reviewer_of(request) == persona.name and questions_of(request) == persona.beats
        output = answer_of(persona)
        assert QUOTE_WORDS.low <= word_count(output.quote) <= QUOTE_WORDS.high
        read = read_quote(persona, output.verdict, output.quote, MINI)
        assert read.flags() == [] and all(b.covered for b in read.beats), persona.id
        verdicts[persona.id] = output.verdict.value
    assert verdicts == {"dx": "ship", "skeptic": "skip", "futurist": "ship", "business": "skip"}


def test_a_renamed_persona_gets_the_same_answer_under_its_new_name() -> None:
    for persona in load_personas():
        before, after = answer_of(persona), answer_of(renamed(persona, "Ada Lovelace"))
        assert after.verdict is before.verdict
        assert after.headline == f"Ada Lovelace says {after.verdict.value} on GPT-5 Mini API"
        strip = re.compile(r"Reference \w+\.")
        assert strip.sub("", after.quote) == strip.sub("", before.quote)


def test_an_unknown_persona_gets_a_valid_answer_taking_up_its_questions() -> None:
    auditor = parse_persona(AUDITOR, "auditor.md")
    request = request_for(auditor)
    assert questions_of(request) == auditor.beats
    for model, verdict in (("mixed", "ship"), ("ship", "ship"), ("skip", "skip")):
        data = json.loads(canned_answer(model, request))
        output = ReviewOutput.model_validate(data)
        assert output.verdict.value == verdict and output.headline.startswith("The Auditor says")
        assert QUOTE_WORDS.low <= word_count(output.quote) <= QUOTE_WORDS.high
        read = read_quote(auditor, output.verdict, output.quote, MINI)
        assert read.flags() == [] and all(b.covered for b in read.beats)
