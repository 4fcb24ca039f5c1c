"""Community votes: `panel vote`, `panel votes import`, and the share they make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.cli import main
from panel.errors import UsageError
from panel.paths import default_db
from panel.records import Verdict, Votes, percent
from panel.store import Store, open_store
from panel.votes import add_vote, get_votes, import_votes, parse_votes_file
from tests.pages_support import make_panel, store_panel


@pytest.fixture
def store() -> Store:
    store = open_store(default_db())
    store_panel(store, make_panel("Alpha", "yyyy"))
    store_panel(store, make_panel("Beta", "nnnn"))
    return store


def test_no_votes_is_a_dash() -> None:
    votes = Votes(slug="alpha")
    assert votes.total == 0 and votes.share is None
    assert percent(votes.share) == "—"
    assert json.loads(votes.model_dump_json())["share"] is None


def test_vote_adds_and_reports_the_share(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert get_votes(store, "alpha").updated_at is None
    assert main(["vote", "alpha", "ship", "--count", "3"]) == 0
    assert main(["vote", "alpha", "skip"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "alpha: community 100% ship (3 ship, 0 skip)",
        "alpha: community 75% ship (3 ship, 1 skip)",
    ]
    votes = get_votes(store, "alpha")
    assert (votes.ship, votes.skip, votes.share) == (3, 1, 0.75)
    assert votes.updated_at is not None


def test_vote_refuses_unknown_tools_and_bad_counts(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vote", "gamma", "ship"]) == 4
    assert "no panel 'gamma'" in capsys.readouterr().err
    assert main(["vote", "alpha", "maybe"]) == 2
    assert main(["vote", "alpha", "ship", "--count", "0"]) == 2
    assert get_votes(store, "alpha").total == 0
    with pytest.raises(UsageError, match="--count"):
        add_vote(store, "alpha", Verdict.SHIP, -2)


def test_import_csv_sets_counts_and_is_idempotent(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_vote(store, "alpha", Verdict.SHIP, 100)
    path = tmp_path / "votes.csv"
    path.write_text("Slug, Ship ,skip\nalpha,12,4\nbeta,0,9\n", encoding="utf-8")
    for _ in range(2):
        assert main(["votes", "import", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"imported votes for 2 tools from {path}" in captured.out
    assert captured.err == ""
    assert (get_votes(store, "alpha").ship, get_votes(store, "alpha").skip) == (12, 4)
    assert get_votes(store, "beta").share == 0.0
    assert percent(get_votes(store, "beta").share) == "0%"


def test_import_json_list_or_mapping(store: Store, tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"slug": "alpha", "ship": 5, "skip": 5}]), encoding="utf-8")
    mapped = tmp_path / "map.json"
    mapped.write_text(json.dumps({"beta": {"ship": 1, "skip": 3}}), encoding="utf-8")
    assert [v.share for v in import_votes(store, listed).rows] == [0.5]
    assert [v.slug for v in import_votes(store, mapped).rows] == ["beta"]
    assert get_votes(store, "beta").share == 0.25


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("v.csv", "slug,ship,skip\nalpha,-1,2\n", "line 2: ship: expected a whole number"),
        ("v.csv", "slug,ship,skip\nalpha,1.5,2\n", "line 2: ship: expected a whole number"),
        ("v.csv", "slug,ship,skip,extra\nalpha,1,2,3\n", "unknown field 'extra'"),
        ("v.csv", "slug,ship,skip\nalpha,1,2,3\n", "line 2: more cells than the header"),
        ("v.csv", "tool,ship,skip\nalpha,1,2\n", "needs a header row"),
        ("v.csv", "slug,ship,skip\nNot A Slug,1,2\n", "is not a slug"),
        ("v.csv", "slug,ship,skip\nalpha,1,2\nalpha,3,4\n", "appears more than once"),
        ("v.csv", "slug,ship,skip\n", "no vote rows"),
        ("v.json", '[{"slug": "alpha", "ship": true}]', "item 1: ship: expected a whole number"),
        ("v.json", '{"slug": "alpha"}', "expected an object with slug, ship, skip"),
        ("v.json", '"alpha"', "expected a list"),
        ("v.json", "[1,", "invalid JSON"),
        ("v.txt", "alpha 1 2", "expected a .csv or .json file"),
        ("v.csv", "slug,ship,skip\nalpha,9999999999999,0\n", "is more than"),
    ],
)
def test_bad_vote_files_name_the_problem_and_change_nothing(
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    message: str,
) -> None:
    add_vote(store, "alpha", Verdict.SHIP, 7)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as excinfo:
        parse_votes_file(path)
    assert message in str(excinfo.value) and str(path) in str(excinfo.value)
    assert main(["votes", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (get_votes(store, "alpha").ship, get_votes(store, "alpha").skip) == (7, 0)


def test_import_of_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["votes", "import", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
