"""Shared fixtures: an isolated database and outputs folder, the fake provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panel.drafting.context import RunContext
from panel.drafting.models import ModelChoice
from panel.drafting.prompts import load_prompts
from panel.providers import registry
from panel.providers.fake import FakeProvider
from panel.store import Store
from tests.browser_support import browser  # noqa: F401 - Debian's Chromium fixture
from tests.fakeserver import fake_server  # noqa: F401 - the HTTP test server fixture

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own database and outputs folder, and no API keys."""
    monkeypatch.setenv("PANEL_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("PANEL_DB", str(tmp_path / "outputs" / "panel.db"))
    monkeypatch.setenv("PANEL_EDITOR", "tester")
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    registry.reset()
    yield
    registry.reset()


def context_for(
    store: Store, model: str = "fake:mixed", *, editor: str = "tester", **fields: Any
) -> RunContext:
    """The tests' one way to build a RunContext: the test's store, the project's prompts, one
    model for every persona; ``fields`` set the rest (policy, limiter, measure_diversity...)."""
    return RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(explicit=model),
        editor=editor,
        **fields,
    )


@pytest.fixture
def fake() -> FakeProvider:
    """The process-wide fake provider instance (``fake:ship``, ``fake:mixed``...)."""
    provider = registry.get_provider("fake")
    assert isinstance(provider, FakeProvider)
    return provider


@pytest.fixture
def launch_file() -> Path:
    """The GPT-5 Mini example launch."""
    return EXAMPLES / "gpt-5-mini-api.yaml"


@pytest.fixture
def claims_not_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project panel.toml with ``require_verified_claims = false`` ($PANEL_CONFIG): for
    tests of the status machine and of pages, where the fake drafts' claims are beside
    the point (tests/store/test_approval.py tests the claims gate itself)."""
    config = tmp_path / "panel.toml"
    config.write_text("require_verified_claims = false\n", "utf-8")
    monkeypatch.setenv("PANEL_CONFIG", str(config))
    return config
