"""Comparisons: the split read, the pricing read, `panel compare`, storage and its audit."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from panel.cli import main
from panel.errors import ConflictError, NotFoundError, UsageError
from panel.pages.reads import PricingRead, pricing_read_of, split_read
from panel.paths import default_db
from panel.providers.fake import FakeProvider
from panel.records import Comparison, Status
from panel.store import Store, open_store
from panel.store.comparisons import (
    comparisons_of,
    find_comparison,
    get_comparison,
    list_comparisons,
    save_comparison,
)
from panel.store.migrations import MIGRATIONS
from tests.conftest import EXAMPLES
from tests.pages_support import make_panel, store_comparison, store_panel

HAIKU = EXAMPLES / "claude-haiku-open-weights.yaml"
MINI = EXAMPLES / "gpt-5-mini-api.yaml"
HAIKU_SLUG = "claude-haiku-open-weights"
MINI_SLUG = "gpt-5-mini-api"


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


# -- split_read -------------------------------------------------------------------------------


def test_split_read_names_the_leader_and_who_skips() -> None:
    alpha = make_panel("Alpha", "ynyn")
    beta = make_panel("Beta", "yyyy")
    read = split_read(alpha, beta)
    assert read == "Beta: 4/4 ship; Alpha: 2/4 — the skeptic and the operator skip Alpha"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ynyn", "yyyy"),
        ("yyyy", "yyyy"),
        ("nnnn", "ynnn"),
        ("yxyn", "yyny"),
        ("xxxx", "ynyy"),
        ("ynyy", "yyyn"),
    ],
)
def test_split_read_does_not_depend_on_argument_order(a: str, b: str) -> None:
    first, second = make_panel("Alpha", a), make_panel("Beta", b)
    assert split_read(first, second) == split_read(second, first)


def test_split_read_ties_are_ordered_by_name_and_say_so() -> None:
    zed, abc = make_panel("Zed", "yynn"), make_panel("Abc", "nnyy")
    read = split_read(zed, abc)
    assert read.startswith("Tied at 50% — Abc: 2/4 ship; Zed: 2/4 — ")
    assert "the builder and the skeptic skip Abc" in read
    assert "the futurist and the operator skip Zed" in read


def test_split_read_when_nobody_skips_or_nobody_answered() -> None:
    assert split_read(make_panel("A", "yyyy"), make_panel("B", "yyyy")).endswith(
        "every reviewer ships both"
    )
    read = split_read(make_panel("A", "xxxx"), make_panel("B", "yxyy"))
    assert read.startswith("B: 3/3 (1 failed) ship; A: 0/0 (4 failed)")
    assert "no reviewer has a verdict on A yet" in read


def test_split_read_uses_a_singular_verb_for_one_skipper() -> None:
    read = split_read(make_panel("A", "yyyn"), make_panel("B", "yyyy"))
    assert read.endswith("the operator skips A")


# -- the pricing read -------------------------------------------------------------------------


def test_the_pricing_read_is_the_reviewers_own_answer_attributed_to_them() -> None:
    read = "I read it as metered per token, which a platform team can expense."
    # the quote talks pricing too, but the page shows the reviewer's answer, not a lifted line
    quote = "The buyer is a platform team. The pricing is $20 per seat. The moat is thin."
    panel = make_panel("A", "yyyy", quotes={"business": quote}, pricing_reads={"business": read})
    assert pricing_read_of(panel) == PricingRead(
        persona_id="business", reviewer="The Operator", text=read
    )


def test_no_pricing_read_without_one_given_or_from_a_failed_review() -> None:
    quote = "The pricing is metered per token, Paid from day one."
    assert pricing_read_of(make_panel("A", "yyyy", quotes={"business": quote})) is None
    failed = make_panel("A", "yyyx", pricing_reads={"business": "I read it as metered, fine."})
    assert failed.reviews[3].pricing_read is None and pricing_read_of(failed) is None


# -- panel compare ----------------------------------------------------------------------------


def test_compare_drafts_missing_panels_and_prints_both_scorecards(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    assert main(["compare", str(HAIKU), str(MINI), "-m", "fake:mixed"]) == 0
    out = capsys.readouterr().out
    assert "Claude Haiku Open Weights" in out and "GPT-5 Mini API" in out
    for label in ("Category", "Tagline", "Panel", "Community", "Entry"):
        assert label in out
    assert "Free" in out and "Paid" in out
    # fake:mixed: the builder and the futurist ship, the skeptic and the operator skip
    assert (
        "Claude Haiku Open Weights: 2/4 ship; GPT-5 Mini API: 2/4 — the skeptic and the "
        "operator skip Claude Haiku Open Weights; the skeptic and the operator skip GPT-5 Mini API"
    ) in " ".join(out.split())
    slug = f"{HAIKU_SLUG}-vs-{MINI_SLUG}"
    assert f"stored: {slug} (rev 1, draft)" in out
    assert len(fake.calls) == 8
    comparison = get_comparison(store, slug)
    assert (comparison.a_slug, comparison.b_slug, comparison.status) == (
        HAIKU_SLUG,
        MINI_SLUG,
        Status.DRAFT,
    )
    history = store.history("comparison", slug)
    assert [(h["revision"], h["action"], h["editor"]) for h in history] == [
        (1, "compare", "tester")
    ]


def test_compare_reuses_stored_panels_and_the_stored_comparison(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    assert main(["draft", str(MINI), "-m", "fake:ship"]) == 0
    calls = len(fake.calls)
    assert main(["compare", str(HAIKU), MINI_SLUG, "-m", "fake:mixed"]) == 0
    assert len(fake.calls) == calls + 4  # only the missing panel was drafted
    assert store.get_panel(MINI_SLUG).revision == 1
    capsys.readouterr()
    assert main(["compare", HAIKU_SLUG, str(MINI)]) == 0
    out = capsys.readouterr().out
    assert len(fake.calls) == calls + 4
    assert "already stored" in out
    assert "GPT-5 Mini API: 4/4 ship; Claude Haiku Open Weights: 2/4" in " ".join(out.split())
    assert len(list_comparisons(store)) == 1


def test_one_tool_one_panel_many_comparisons(store: Store, tmp_path: Path) -> None:
    hub = store_panel(store, make_panel("Hub", "ynyn"))
    store_comparison(store, hub, make_panel("Rival One", "yyyy"))
    store_comparison(store, make_panel("Rival Two", "nnnn"), hub)
    assert {c.slug for c in comparisons_of(store, "hub")} == {
        "hub-vs-rival-one",
        "rival-two-vs-hub",
    }
    assert comparisons_of(store, "rival-one")[0].slug == "hub-vs-rival-one"
    # the hub's panel is stored once and never redrafted for a comparison
    assert store.get_panel("hub").revision == 1
    assert store.conn.execute("SELECT COUNT(*) FROM panels WHERE slug = 'hub'").fetchone()[0] == 1


def test_compare_json_prints_the_record(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(HAIKU), str(MINI), "-m", "fake:ship", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["slug"] == f"{HAIKU_SLUG}-vs-{MINI_SLUG}"
    assert data["status"] == "draft" and data["revision"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["no-such-tool", "other-tool"], 4, "no panel 'no-such-tool'"),
        (["missing.yaml", "other"], 2, "missing.yaml: no such launch file"),
        (["Not A Slug", "other"], 2, "neither a launch file nor a panel slug"),
        ([str(MINI), str(MINI)], 2, "are the same tool"),
    ],
)
def test_compare_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    assert main(["compare", *args, "-m", "fake:ship"]) == code
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_compare_a_launch_file_in_the_current_folder(
    fake: FakeProvider,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shutil.copy(HAIKU, tmp_path / "haiku.yaml")
    shutil.copy(MINI, tmp_path / "mini.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "haiku.yaml", "mini.yaml", "-m", "fake:skip"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Claude Haiku Open Weights: 0/4 ship; GPT-5 Mini API: 0/4" in out
    assert f"stored: {HAIKU_SLUG}-vs-{MINI_SLUG}" in out


# -- storage -------------------------------------------------------------------------------------


def test_migration_adds_comparisons_and_votes(store: Store) -> None:
    assert store.schema_version() == len(MIGRATIONS)
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"comparisons", "votes"} <= tables


def test_save_comparison_refuses_stale_revisions(store: Store) -> None:
    saved = store_comparison(store, make_panel("A", "yyyy"), make_panel("B", "nnnn"))
    assert saved.revision == 1
    moved = save_comparison(
        store,
        saved.model_copy(update={"status": Status.APPROVED}),
        expected_revision=1,
        editor="ed",
        action="approve",
    )
    assert moved.revision == 2 and moved.created_at == saved.created_at
    with pytest.raises(ConflictError, match="changed since revision 1: revision 2 by ed"):
        save_comparison(store, saved, expected_revision=1, editor="other", action="edit")
    with pytest.raises(ConflictError, match="already exists"):
        save_comparison(
            store, Comparison.of("a", "b"), expected_revision=None, editor="x", action="y"
        )
    stored = find_comparison(store, "a-vs-b")
    assert stored is not None and stored.status is Status.APPROVED
    assert [h["action"] for h in store.history("comparison", "a-vs-b")] == ["compare", "approve"]
    snapshot = store.revision_record("comparison", "a-vs-b", 1)
    assert snapshot is not None and json.loads(snapshot)["status"] == "draft"
    assert list_comparisons(store, Status.APPROVED) == [moved]
    assert list_comparisons(store, Status.DRAFT) == []


def test_a_comparison_needs_two_stored_different_panels(store: Store) -> None:
    with pytest.raises(ValidationError, match="two different tools"):
        Comparison.of("a", "a")
    store_panel(store, make_panel("A", "yyyy"))
    with pytest.raises(NotFoundError, match="no panel 'ghost'"):
        save_comparison(
            store, Comparison.of("a", "ghost"), expected_revision=None, editor="x", action="y"
        )
    assert find_comparison(store, "a-vs-ghost") is None
    with pytest.raises(NotFoundError, match="panel compare"):
        get_comparison(store, "a-vs-ghost")


def test_a_comparison_slug_cannot_be_taken_by_another_pair(store: Store) -> None:
    # "a" + "b-vs-c" and "a-vs-b" + "c" both slug to "a-vs-b-vs-c"
    store_comparison(store, make_panel("A", "yyyy"), make_panel("B vs C", "yyyy"))
    for panel in (make_panel("A vs B", "yyyy"), make_panel("C", "yyyy")):
        store_panel(store, panel)
    with pytest.raises(UsageError, match="already pairs 'a' with 'b-vs-c'"):
        save_comparison(
            store,
            Comparison.of("a-vs-b", "c"),
            expected_revision=None,
            editor="x",
            action="compare",
        )


# -- order bias: the read never depends on which tool is listed first ---------------------------


def test_split_read_is_the_same_in_both_orders_for_every_split() -> None:
    letters = ["".join(v) for v in itertools.product("ynx", repeat=4)]
    panels = [make_panel("Alpha", v) for v in letters] + [make_panel("Beta", v) for v in letters]
    for a in panels[: len(letters)]:
        for b in panels[len(letters) :]:
            assert split_read(a, b) == split_read(b, a), (a.split, b.split)


def test_split_read_same_names_are_ordered_by_slug_in_both_orders() -> None:
    first = make_panel("Same", "ynyn", slug="same-one")
    second = make_panel("same", "nyny", slug="same-two")
    read = split_read(first, second)
    assert read == split_read(second, first)
    assert read.startswith("Tied at 50% — Same: 2/4 ship; same: 2/4")


def test_compare_prints_the_same_read_in_both_orders(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    reads = []
    for a, b in ((HAIKU, MINI), (MINI, HAIKU)):
        assert main(["compare", str(a), str(b), "-m", "fake:mixed"]) == 0
        lines = capsys.readouterr().out.splitlines()
        reads.append(next(line for line in lines if line.startswith(("Tied", "Claude", "GPT"))))
    assert reads[0] == reads[1]
    assert reads[0].startswith("Tied at 50% — Claude Haiku Open Weights: 2/4 ship; GPT-5 Mini")
