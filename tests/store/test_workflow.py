"""The editorial workflow: transitions, edits with diffs, conflicts, crashes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panel.cli import main
from panel.errors import ConflictError, UsageError
from panel.paths import default_db
from panel.providers.fake import FakeProvider
from panel.records import Status, Verdict
from panel.status import TRANSITIONS, Gate, change_status, next_status
from panel.store import Store, open_store
from panel.workflow import Edit, edit_review, quote_diff, regenerate_review
from tests.conftest import EXAMPLES, context_for

SLUG = "gpt-5-mini-api"
NO_CLAIMS = Gate(require_verified_claims=False)
"""The status machine apart from the claims gate (tests/store/test_approval.py has that)."""


@pytest.fixture
def store(capsys: pytest.CaptureFixture[str], claims_not_required: Path) -> Store:
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed"]) == 0
    capsys.readouterr()
    return open_store(default_db())


def status_of(store: Store) -> Status:
    return store.get_panel(SLUG).status


def test_every_legal_transition(store: Store) -> None:
    assert status_of(store) is Status.DRAFT
    assert (
        change_status(
            store, "panel", SLUG, "approve", expected_revision=1, editor="a", gate=NO_CLAIMS
        ).status
        is Status.APPROVED
    )
    published = change_status(store, "panel", SLUG, "publish", expected_revision=2, editor="a")
    assert published.status is Status.PUBLISHED and published.revision == 3
    # editing a published record makes a new draft revision
    edited = edit_review(
        store, SLUG, Edit("dx", verdict=Verdict.SKIP), expected_revision=3, editor="b"
    )
    assert edited.status is Status.DRAFT and edited.revision == 4
    rejected = change_status(
        store, "panel", SLUG, "reject", expected_revision=4, editor="c", reason="too thin"
    )
    assert rejected.status is Status.REJECTED and rejected.reason == "too thin"
    # editing a rejected record reopens it as a draft
    reopened = edit_review(
        store, SLUG, Edit("dx", verdict=Verdict.SHIP), expected_revision=5, editor="b"
    )
    assert reopened.status is Status.DRAFT and reopened.reason is None
    approved = change_status(
        store, "panel", SLUG, "approve", expected_revision=6, editor="a", gate=NO_CLAIMS
    )
    # editing an approved record returns it to draft too
    back = edit_review(
        store,
        SLUG,
        Edit("futurist", quote="New words here."),
        expected_revision=approved.revision,
        editor="b",
    )
    assert back.status is Status.DRAFT
    actions = [h["action"] for h in store.history("panel", SLUG)]
    assert actions == ["draft", "approve", "publish", "edit", "reject", "edit", "approve", "edit"]


ILLEGAL = [
    (status, action)
    for action, (allowed, _) in TRANSITIONS.items()
    for status in Status
    if status not in allowed
]


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused(status: Status, action: str) -> None:
    with pytest.raises(UsageError, match=f"cannot {action} panel 'x': it is {status.value}"):
        next_status("panel", "x", status, action)


def test_illegal_moves_through_the_cli(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reject", SLUG, "--reason", " "]) == 2
    assert "needs a reason" in capsys.readouterr().err
    assert main(["approve", SLUG]) == 0
    capsys.readouterr()
    assert main(["approve", SLUG]) == 2
    assert capsys.readouterr().err.strip() == (
        f"panel: error: cannot approve panel '{SLUG}': it is approved; it is already approved"
    )
    assert main(["reject", SLUG, "--reason", "no"]) == 2
    assert "edit it to reopen it as a draft first" in capsys.readouterr().err
    assert status_of(store) is Status.APPROVED


def test_failed_personas_block_approval(store: Store, fake: FakeProvider) -> None:
    panel = store.get_panel(SLUG)
    failed = panel.reviews[1].model_copy(update={"failed": True, "verdict": None, "error": "x"})
    reviews = [failed if r.persona_id == "skeptic" else r for r in panel.reviews]
    store.save_panel(
        panel.model_copy(update={"reviews": reviews}),
        expected_revision=1,
        editor="t",
        action="test",
    )
    with pytest.raises(UsageError, match="skeptic failed; regenerate or edit"):
        change_status(store, "panel", SLUG, "approve", expected_revision=None, editor="a")
    # --force skips approval, never failed reviews: the machine refuses to publish them
    with pytest.raises(UsageError, match=r"cannot publish panel .*: skeptic failed"):
        change_status(
            store, "panel", SLUG, "publish", expected_revision=None, editor="a", force=True
        )
    assert store.get_panel(SLUG).status is Status.DRAFT


def test_stale_revision_conflict_names_who(store: Store) -> None:
    edit_review(store, SLUG, Edit("dx", quote="First change."), expected_revision=1, editor="ann")
    with pytest.raises(ConflictError, match="changed since revision 1: revision 2 by ann"):
        edit_review(
            store, SLUG, Edit("dx", quote="Second change."), expected_revision=1, editor="bob"
        )
    assert store.get_panel(SLUG).review("dx").quote == "First change."  # type: ignore[union-attr]


def test_history_of_three_edits_has_correct_diffs(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    original = store.get_panel(SLUG).review("skeptic").quote  # type: ignore[union-attr]
    texts = [
        "It breaks at scale. I skip it.",
        "It breaks at scale. I would wait.",
        "It holds at scale. I would wait.",
    ]
    for text in texts:
        assert main(["--editor-name", "ed", "edit", SLUG, "-p", "skeptic", "--quote", text]) == 0
    capsys.readouterr()
    entries = [h for h in store.history("panel", SLUG) if h["action"] == "edit"]
    assert len(entries) == 3
    assert entries[0]["detail"] == "skeptic quote\n" + quote_diff(original, texts[0])
    assert "-It breaks at scale.\n+It holds at scale." in entries[2]["detail"]
    assert "-I skip it.\n+I would wait." in entries[1]["detail"]
    panel = store.get_panel(SLUG)
    review = panel.review("skeptic")
    assert review is not None and review.human_edited and review.quote == texts[2]
    assert main(["history", SLUG]) == 0
    out = capsys.readouterr().out
    assert out.count(" edit ") == 3 and "+It holds at scale." in out
    assert main(["show", SLUG, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reviews"][1]["human_edited"] is True


def test_edit_with_editor(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = tmp_path / "ed.sh"
    script.write_text('#!/bin/sh\necho "Rewritten in an editor." > "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    assert main(["edit", SLUG, "-p", "dx", "--editor"]) == 0
    assert store.get_panel(SLUG).review("dx").quote == "Rewritten in an editor."  # type: ignore[union-attr]


async def test_regenerate_one_persona_keeps_the_others(store: Store, fake: FakeProvider) -> None:
    before = store.get_panel(SLUG)
    ctx = context_for(store, "fake:ship", editor="ed")
    after = await regenerate_review(ctx, SLUG, "skeptic", expected_revision=1)
    assert after.review("skeptic").verdict is Verdict.SHIP  # type: ignore[union-attr]
    assert [r for r in after.reviews if r.persona_id != "skeptic"] == [
        r for r in before.reviews if r.persona_id != "skeptic"
    ]
    assert [model for model, _ in fake.calls[-1:]] == ["ship"] and len(fake.calls) == 5
    assert store.history("panel", SLUG)[-1]["detail"] == "skeptic on fake:ship: ship"


def _racer(
    db: str,
    text: str,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[str],
) -> None:
    store = open_store(Path(db))
    barrier.wait()
    try:
        edit_review(store, SLUG, Edit("dx", quote=text), expected_revision=1, editor=text[:5])
        results.put("ok")
    except ConflictError as exc:
        results.put(f"conflict: {exc}")


def test_two_processes_edit_at_once(store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results: multiprocessing.queues.Queue[str] = ctx.Queue()
    texts = ["Alpha wrote this quote.", "Bravo wrote this quote."]
    procs = [
        ctx.Process(target=_racer, args=(str(default_db()), t, barrier, results)) for t in texts
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes[1] == "ok"
    assert outcomes[0].startswith("conflict: panel 'gpt-5-mini-api' changed since revision 1")
    panel = store.get_panel(SLUG)
    assert panel.revision == 2
    assert panel.review("dx").quote in texts  # type: ignore[union-attr]
    winner = panel.review("dx").quote  # type: ignore[union-attr]
    assert store.history("panel", SLUG)[-1]["editor"] == winner[:5]


WRITER = """
import sys
from pathlib import Path
from panel.store import open_store
from panel.workflow import Edit, edit_review
store = open_store(Path(sys.argv[1]))
i = 0
print("ready", flush=True)
while True:
    i += 1
    rev = store.get_panel("gpt-5-mini-api").revision
    edit_review(store, "gpt-5-mini-api", Edit("dx", quote=f"Edit number {i}. " * 40),
                expected_revision=rev, editor="writer")
"""


def test_sigkill_mid_write_leaves_a_consistent_database(store: Store) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(default_db())], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    watcher = sqlite3.connect(default_db(), timeout=30)
    deadline = time.monotonic() + 60
    while watcher.execute("SELECT COUNT(*) FROM revisions").fetchone()[0] < 10:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    watcher.close()
    time.sleep(0.05)  # kill it in the middle of whatever write comes next
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    check = sqlite3.connect(default_db())
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    fresh = open_store(default_db())
    panel = fresh.get_panel(SLUG)
    history = fresh.history("panel", SLUG)
    assert panel.revision == len(history) > 5
    assert len(panel.reviews) == 4
    number = panel.review("dx").quote.split()[2]  # type: ignore[union-attr]
    assert f"+Edit number {number}" in history[-1]["detail"]
    snapshot = fresh.revision_record("panel", SLUG, panel.revision)
    assert (
        snapshot is not None
        and json.loads(snapshot)["reviews"] == json.loads(panel.model_dump_json())["reviews"]
    )
    # the store still takes writes
    edit_review(
        fresh,
        SLUG,
        Edit("dx", quote="After the crash."),
        expected_revision=panel.revision,
        editor="ed",
    )
