"""The pricing read on the wire: asked of one reviewer only, through the real SDKs and HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from panel.drafting.personas import load_personas
from panel.records import PRICING_READ_ASK
from tests.fakeserver import FakeServer
from tests.fakeserver_wire import PRICING_READ, request_schema
from tests.providers.test_faults import PROVIDERS, aimed, run_panel

PATHS = {
    "anthropic": "/v1/messages",
    "openai": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
}
REVIEW_FIELDS = ["headline", "quote", "verdict"]


def persona_of(body: Any) -> str:
    """The persona id whose system prompt a request body carries."""
    text = json.dumps(body, ensure_ascii=False)
    [persona] = [p.id for p in load_personas() if f"You are {p.name}," in text]
    return persona


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_only_the_pricing_reviewer_is_asked_for_a_pricing_read(
    provider: str, fake_server: FakeServer
) -> None:
    panel, _ = await run_panel(provider, fake_server)
    bodies = {persona_of(b): b for b in fake_server.bodies(PATHS[provider])}
    assert sorted(bodies) == ["business", "dx", "futurist", "skeptic"]
    # one schema for all four (their shared prefix caches), the pricing read nullable
    schemas = [request_schema(b) for b in bodies.values()]
    assert all(schema == schemas[0] for schema in schemas)
    assert list(schemas[0]["properties"]) == [*REVIEW_FIELDS, "pricing_read"]
    assert schemas[0]["properties"]["pricing_read"] == {
        "type": ["string", "null"],
        "description": PRICING_READ_ASK,
    }
    assert schemas[0]["required"] == [*REVIEW_FIELDS, "pricing_read"]
    assert schemas[0]["additionalProperties"] is False
    # only the operator's own instructions ask for it; the others are told to leave it null
    for persona, body in bodies.items():
        text = json.dumps(body, ensure_ascii=False)
        assert ("Give your pricing read too" in text) is (persona == "business"), persona
        assert ("Leave pricing_read null" in text) is (persona != "business"), persona
    # the server's answer to the pricing_read property is stored as that reviewer's read
    operator = panel.review("business")
    assert operator is not None and operator.verdict is not None
    assert operator.pricing_read == PRICING_READ[operator.verdict.value]
    assert [r.persona_id for r in panel.reviews if r.pricing_read] == ["business"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_answer_without_the_pricing_read_is_asked_again_naming_it(
    provider: str, fake_server: FakeServer
) -> None:
    # the answer loses its last field, which for the operator is the pricing read
    fake_server.script([aimed("missing_field", "The Operator")])
    panel, store = await run_panel(provider, fake_server)
    operator = panel.review("business")
    assert operator is not None and not operator.failed and operator.pricing_read
    assert operator.provenance is not None and operator.provenance.attempts == 2
    first, again = [b for b in fake_server.bodies(PATHS[provider]) if persona_of(b) == "business"]
    assert "Field required" not in json.dumps(first)
    reask = json.dumps(again, ensure_ascii=False)
    assert "pricing_read: Field required - add one sentence giving your read" in reask
    calls = [c for c in store.recent_calls(20) if c["persona_id"] == "business"]
    assert [c["error"] is None for c in reversed(calls)] == [False, True]
