"""`panel list`: panels and comparisons, filtered by kind and status, as tables or JSON."""

from __future__ import annotations

import json

import pytest

from panel.cli import main
from panel.paths import default_db
from panel.records import Status
from panel.store import Store, open_store
from tests.pages_support import make_panel, store_comparison, store_panel

ESC = "\x1b"


@pytest.fixture
def store() -> Store:
    store = open_store(default_db())
    alpha = store_panel(store, make_panel("Alpha", "yyyn"))
    beta = store_panel(store, make_panel("Beta", "ynnn"))
    store_panel(store, make_panel("Gamma", "yyyy"))
    store_comparison(store, alpha, beta)
    store.save_panel(
        store.get_panel("gamma").model_copy(update={"status": Status.APPROVED}),
        expected_revision=1,
        editor="tester",
        action="approve",
    )
    return store


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["list", *args]) == 0
    return capsys.readouterr().out


def test_list_shows_panels_then_comparisons(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    out = listed(capsys)
    assert out.index("Panels") < out.index("Comparisons")
    tables = out.split("Comparisons")
    assert all(slug in tables[0] for slug in ("alpha", "beta", "gamma"))
    assert "alpha-vs-beta" in tables[1]
    assert "Alpha vs Beta" in tables[1] and "75% vs 25%" in tables[1]


def test_kind_and_status_filter(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    panels = listed(capsys, "--kind", "panel")
    assert "Comparisons" not in panels and "alpha-vs-beta" not in panels
    comparisons = listed(capsys, "--kind", "comparison")
    assert "Panels" not in comparisons and "alpha-vs-beta" in comparisons
    approved = listed(capsys, "--status", "approved")
    assert "gamma" in approved and "alpha" not in approved and "Comparisons" not in approved
    assert listed(capsys, "--kind", "comparison", "--status", "published") == (
        "No published comparisons.\n"
    )


def test_json_rows_carry_their_kind(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(listed(capsys, "--json"))
    assert [(r["kind"], r["slug"], r["status"]) for r in rows] == [
        ("panel", "alpha", "draft"),
        ("panel", "beta", "draft"),
        ("panel", "gamma", "approved"),
        ("comparison", "alpha-vs-beta", "draft"),
    ]
    assert rows[0]["ship_share"] == 0.75 and rows[0]["split"] == "3/4 ship"
    assert rows[3]["tools"] == [
        {"slug": "alpha", "name": "Alpha", "ship_share": 0.75},
        {"slug": "beta", "name": "Beta", "ship_share": 0.25},
    ]
    drafts = json.loads(listed(capsys, "--json", "--kind", "comparison", "--status", "draft"))
    assert [r["slug"] for r in drafts] == ["alpha-vs-beta"]
    assert json.loads(listed(capsys, "--json", "--status", "rejected")) == []


def test_empty_store_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        listed(capsys) == "Nothing yet: run `panel draft LAUNCH_FILE`, then `panel compare A B`.\n"
    )
    assert main(["list", "--status", "maybe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'maybe' is not one of" in err
    assert main(["list", "--kind", "tool"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_comparison_rows_print_launch_text_inert(capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(default_db())
    loud = store_panel(store, make_panel("Loud", "yyyy", slug="loud", tagline="x"))
    hostile = make_panel(f"[bold red]Evil{ESC}[2J Tool", "nnnn", slug="evil")
    store_comparison(store, loud, store_panel(store, hostile))
    out = listed(capsys, "--kind", "comparison")
    assert ESC not in out and "[bold red]Evil" in out
    rows = json.loads(listed(capsys, "--json", "--kind", "comparison"))
    assert rows[0]["tools"][1]["name"] == f"[bold red]Evil{ESC}[2J Tool"
