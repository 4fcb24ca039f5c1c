"""Published work is protected: `panel draft` and `panel batch` (direct and through the
provider batch API) never redraft an approved or published panel unless --redraft."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.cli import main
from panel.paths import default_db, outputs_dir
from panel.providers.fake import FakeProvider
from panel.records import Status
from panel.store import open_store
from tests.batch.test_batch_api import MODELS, configure, user_turns
from tests.conftest import EXAMPLES
from tests.fakeserver import FakeServer

MINI = "gpt-5-mini-api"
HAIKU = "claude-haiku-open-weights"
QUEUE = EXAMPLES / "queue.jsonl"
pytestmark = pytest.mark.usefixtures("claims_not_required")


def published(slug: str, launch: Path, capsys: pytest.CaptureFixture[str]) -> bytes:
    """Draft, approve and publish ``slug``; the bytes of its live tool page."""
    assert main(["draft", str(launch), "-m", "fake:mixed"]) == 0
    assert main(["approve", slug, "--accept-flags"]) == 0, capsys.readouterr().err
    assert main(["publish", slug]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return live_page(slug)


def live_page(slug: str) -> bytes:
    return (outputs_dir() / "site" / "tools" / f"{slug}.html").read_bytes()


def state(slug: str) -> tuple[int, Status]:
    panel = open_store(default_db()).get_panel(slug)
    return panel.revision, panel.status


def test_batch_keeps_a_published_panel_and_names_it(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    page = published(MINI, EXAMPLES / f"{MINI}.yaml", capsys)
    before = state(MINI)
    fake.calls.clear()

    assert main(["batch", str(QUEUE), "-m", "fake:mixed", "--no-diversity"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    total = len(QUEUE.read_text().splitlines())
    assert f"Batch: {total - 1} drafted, 0 with failures, 0 already done, 1 kept, of {total}" in out
    assert (
        f"Kept 1 approved or published panel unchanged: {MINI} "
        "(pass --redraft to draft it again)" in out
    )
    assert state(MINI) == before == (3, Status.PUBLISHED)
    assert live_page(MINI) == page
    asked = {request.messages[0].content for _, request in fake.calls}
    assert not any("GPT-5 Mini API" in text for text in asked), "no call for the kept panel"
    store = open_store(default_db())
    assert len(store.list_panels()) == total
    assert [h["action"] for h in store.history("panel", MINI)] == ["draft", "approve", "publish"]

    # The same queue again: the kept launch is looked at again, still kept, still named.
    assert main(["batch", str(QUEUE), "-m", "fake:mixed", "--no-diversity"]) == 0
    assert f"Kept 1 approved or published panel unchanged: {MINI}" in capsys.readouterr().out

    # --redraft: a new draft revision; the live page stays as it was until the next publish.
    assert main(["batch", str(QUEUE), "-m", "fake:mixed", "--no-diversity", "--redraft"]) == 0
    assert "Kept" not in capsys.readouterr().out
    assert state(MINI) == (4, Status.DRAFT)
    assert live_page(MINI) == page


def test_batch_keeps_an_approved_panel_and_lists_several_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    published(MINI, EXAMPLES / f"{MINI}.yaml", capsys)
    assert main(["draft", str(EXAMPLES / f"{HAIKU}.yaml"), "-m", "fake:mixed"]) == 0
    assert main(["approve", HAIKU, "--accept-flags"]) == 0
    capsys.readouterr()
    assert main(["batch", str(QUEUE), "-m", "fake:ship", "--no-diversity"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"Kept 2 approved or published panels unchanged: {HAIKU}, {MINI}" in out
    assert "(pass --redraft to draft them again)" in out
    assert state(HAIKU) == (2, Status.APPROVED)


def test_draft_refuses_a_protected_panel_unless_redraft(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    launch = EXAMPLES / f"{MINI}.yaml"
    page = published(MINI, launch, capsys)
    fake.calls.clear()
    assert main(["draft", str(launch), "-m", "fake:ship"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"panel: error: panel '{MINI}' is published (revision 3); pass --redraft to draft it "
        "again; the live page would stay as it is until the next publish"
    )
    assert captured.out == "" and fake.calls == []
    assert state(MINI) == (3, Status.PUBLISHED)

    assert main(["draft", str(launch), "-m", "fake:ship", "--redraft"]) == 0
    assert state(MINI) == (4, Status.DRAFT)
    assert live_page(MINI) == page
    assert open_store(default_db()).get_panel(MINI).review("dx").verdict == "ship"  # type: ignore[union-attr]


def write_queue(path: Path) -> Path:
    rows = [{"name": f"Tool {i}", "description": f"Tool number {i}."} for i in (1, 2)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_batch_api_submits_nothing_for_a_protected_panel(
    fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = write_queue(tmp_path / "q.jsonl")
    one = tmp_path / "tool-1.yaml"
    one.write_text("name: Tool 1\ndescription: Tool number 1.\n")
    published("tool-1", one, capsys)
    configure("openai", fake_server)
    args = ["batch", str(queue), "--batch-api", "-m", MODELS["openai"], "--wait"]
    assert main(args) == 0
    out = capsys.readouterr().out
    [batch] = fake_server.batch.batches.values()
    ids = [custom_id for custom_id, _, _ in batch.requests]
    assert ids and all(i.startswith("tool-2--") for i in ids), ids
    assert "Kept 1 approved or published panel unchanged: tool-1" in out
    assert state("tool-1") == (3, Status.PUBLISHED)
    assert state("tool-2") == (1, Status.DRAFT)
    assert user_turns(fake_server, "openai") == []
