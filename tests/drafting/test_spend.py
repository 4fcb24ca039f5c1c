"""The spend meter: each call holds its worst case; a call that does not fit waits for the
calls in flight, and is refused when none is left; spent is what the calls cost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from panel.drafting.generate import draft_panel
from panel.drafting.personas import load_personas
from panel.drafting.prices import Price, PriceTable
from panel.drafting.spend import BUDGET_REACHED, SpendMeter, worst_case
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import Message, ModelRequest, ProviderError
from panel.store import open_store
from tests.conftest import EXAMPLES, context_for


async def test_a_call_that_does_not_fit_waits_then_is_refused_when_none_is_left() -> None:
    meter = SpendMeter(cap=1.0)
    await meter.hold(0.6)
    waiting = asyncio.create_task(meter.hold(0.6))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "0.6 held + 0.6 would pass the cap: it waits"
    meter.settle(0.6, 0.2, "a")
    await asyncio.wait_for(waiting, 1)  # 0.2 spent + 0.6 fits
    meter.settle(0.6, 0.5, "a")
    assert meter.spent == pytest.approx(0.7) and meter.by_panel == {"a": meter.spent}
    assert meter.calls == 0
    with pytest.raises(ProviderError, match=f"^{BUDGET_REACHED}: .*0.3000 left of the"):
        await meter.hold(0.5)  # nothing in flight can make room
    assert not meter.calls


async def test_without_a_cap_nothing_waits() -> None:
    meter = SpendMeter()
    for _ in range(3):
        await meter.hold(10.0)
    assert meter.calls == 3


def test_worst_case_is_the_prompt_with_its_margin_and_all_of_max_tokens() -> None:
    prices = PriceTable({"x:m": Price(input=1.0, output=10.0, cache_write=1.25)})
    request = ModelRequest("s" * 400, (Message("user", "u" * 3600),), {}, max_tokens=1000)
    # (4,000 characters + "{}") / 4 = 1,001 tokens, x 1.5, at the cache-write price
    assert worst_case(prices, "x:m", request) == pytest.approx((1502 * 1.25 + 1000 * 10) / 1e6)
    assert worst_case(prices, "unpriced:m", request) == 0.0


async def test_a_panel_under_a_tight_cap_never_passes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."fake:*"]\ninput = 0.0\noutput = 1000.0\n')  # $0.12 a call
    monkeypatch.setenv("PANEL_PRICES", str(prices))
    store = open_store(default_db())
    meter = SpendMeter(cap=2.5)  # room for two calls at their worst case ($1.024) at a time
    ctx = context_for(store, "fake:ship", measure_diversity=False, spend=meter)
    launch = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
    panel = await draft_panel(ctx, launch, load_personas())
    assert [r.failed for r in panel.reviews] == [False] * 4, "calls waited for room, in turn"
    logged = store.conn.execute("SELECT SUM(cost_usd) FROM calls").fetchone()[0]
    assert meter.spent == pytest.approx(logged) == pytest.approx(0.48)
    # $1.20: a call at its worst case fits, then another ($1.08 left), then none ($0.96)
    tight = SpendMeter(cap=1.2)
    ctx = context_for(store, "fake:ship", measure_diversity=False, spend=tight, use_cache=False)
    launch = load_launch(EXAMPLES / "claude-haiku-open-weights.yaml")
    again = await draft_panel(ctx, launch, load_personas())
    failed = [r for r in again.reviews if r.failed]
    assert len(failed) == 2 and all(r.error and r.error.startswith(BUDGET_REACHED) for r in failed)
    assert tight.spent == pytest.approx(0.24) and tight.spent <= 1.2
