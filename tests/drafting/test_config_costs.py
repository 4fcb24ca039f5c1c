"""panel.toml model selection, the price table, and `panel costs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.cli import main
from panel.drafting.config import load_config
from panel.drafting.models import ModelChoice, default_model
from panel.drafting.personas import load_personas
from panel.drafting.prices import parse_prices, price_table
from panel.errors import UsageError
from tests.conftest import EXAMPLES


def test_model_precedence() -> None:
    personas = {p.id: p for p in load_personas()}
    skeptic = personas["skeptic"].model_copy(update={"model": "fake:skip"})
    choice = ModelChoice(per_persona={"dx": "fake:ship"}, configured_default="fake:mixed")
    assert choice.for_persona(personas["dx"]) == "fake:ship"
    assert choice.for_persona(skeptic) == "fake:skip"
    assert choice.for_persona(personas["futurist"]) == "fake:mixed"
    assert ModelChoice(explicit="local:smollm2").for_persona(skeptic) == "local:smollm2"
    with pytest.raises(UsageError, match="unknown provider 'nope'"):
        ModelChoice(per_persona={"dx": "nope:x"})


def test_default_model_from_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    model, notice = default_model()
    assert model == "local:smollm2" and notice and "no ANTHROPIC_API_KEY" in notice
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert default_model() == ("openai:gpt-5-mini", None)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    assert default_model() == ("anthropic:claude-haiku-4-5", None)


def test_mixed_panel_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "panel.toml"
    config.write_text('model = "fake:ship"\n[personas]\nskeptic = "fake:skip"\n')
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    models = [r["provenance"]["model"] for r in record["reviews"]]
    assert models == ["fake:ship", "fake:skip", "fake:ship", "fake:ship"]
    assert record["split"] == "3/4 ship"
    assert "notice" not in captured.err


def test_bad_config_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "panel.toml"
    config.write_text('modle = "fake:ship"\n')
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"panel: error: {config}: unknown key 'modle' "
        "(allowed: model, personas, providers, require_verified_claims, retry, site, sources)"
    )
    # A typo in a provider option or a persona id is an error naming the keys allowed.
    config.write_text("[providers.openai]\nbase_urll = 'http://x'\n")
    with pytest.raises(UsageError) as caught:
        load_config(config)
    message = str(caught.value)
    assert message.startswith(f"{config}: unknown key 'base_urll' in [providers.openai] (allowed: ")
    assert "base_url" in message and "api_key" in message and "\n" not in message
    config.write_text("[personas]\nskeptc = 'fake:ship'\n")
    with pytest.raises(UsageError, match=r"unknown key 'skeptc' in \[personas\] \(allowed: "):
        load_config(config)
    config.write_text("[providers.opneai]\nbase_url = 'http://x'\n")
    with pytest.raises(UsageError, match=r"unknown provider \[providers.opneai\] \(known: "):
        load_config(config)
    config.write_text("[providers.openai]\nbase_url = 'http://x'\n")
    assert load_config(config).providers == {"openai": {"base_url": "http://x"}}


def test_price_table() -> None:
    table = price_table()
    cost = table.cost(
        "anthropic:claude-haiku-4-5",
        input_tokens=1_000_000,
        output_tokens=200_000,
        cache_read_tokens=1_000_000,
    )
    assert cost == pytest.approx(1.0 + 1.0 + 0.1)
    assert table.cost("local:smollm2", input_tokens=10**6) == 0.0
    assert table.cost("openai:gpt-5-mini", output_tokens=10**6, batch=True) == pytest.approx(1.0)
    assert table.cost("unknown:model", input_tokens=10**6) == 0.0


def test_bad_price_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[models."x:y"]\ninput = "cheap"\n')
    with pytest.raises(UsageError, match=r"models.x:y: could not convert"):
        parse_prices(path)


def test_costs_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."fake:*"]\ninput = 1000.0\noutput = 1000.0\n')
    monkeypatch.setenv("PANEL_PRICES", str(prices))
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    expected = sum(r["provenance"]["cost_usd"] for r in record["reviews"])
    assert expected > 0
    assert main(["costs", "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "fake:ship" in out and f"${expected:.4f}" in out
    assert main(["costs", "--by", "panel"]) == 0
    assert "gpt-5-mini-api" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[sources]\nallow_host = ['x']\n", "unknown key 'allow_host' in [sources]"),
        ("[sources]\nallow_hosts = 'intranet'\n", "allow_hosts is a list of host names"),
        ("[sources]\nmax_bytes = -1\n", "[sources] max_bytes must be a positive number"),
        ("[sources]\ntotal_seconds = true\n", "total_seconds must be a positive number"),
        ("sources = 3\n", "[sources] must be a table"),
    ],
)
def test_bad_sources_table_is_one_line(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "panel.toml"
    config.write_text(table)
    with pytest.raises(UsageError) as caught:
        load_config(config)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_sources_table_sets_the_fetch_policy(tmp_path: Path) -> None:
    config = tmp_path / "panel.toml"
    config.write_text("[sources]\nallow_hosts = ['Wiki.Intranet', '10.0.0.7']\nmax_bytes = 1000\n")
    policy = load_config(config).source_policy
    assert policy.allow_hosts == frozenset({"wiki.intranet", "10.0.0.7"})
    assert policy.max_bytes == 1000
