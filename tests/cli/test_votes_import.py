"""`panel votes import`: rows whose slug names no panel are skipped and listed, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from panel.cli import main
from panel.paths import default_db
from panel.store import Store, open_store
from panel.votes import get_votes
from tests.pages_support import make_panel, store_panel


@pytest.fixture
def store() -> Store:
    store = open_store(default_db())
    store_panel(store, make_panel("Alpha", "yyyy"))
    return store


def test_unknown_slugs_are_skipped_not_counted(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "votes.csv"
    path.write_text("slug,ship,skip\nalpha,3,1\nnewcomer,2,0\nghost,1,1\n", encoding="utf-8")
    assert main(["votes", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == f"imported votes for 1 tool from {path}\n"
    assert err == (
        "panel: error: skipped 2 rows whose slug names no panel: newcomer, ghost "
        "(draft the panel first, or fix the slug)\n"
    )
    assert (get_votes(store, "alpha").ship, get_votes(store, "alpha").skip) == (3, 1)
    assert get_votes(store, "newcomer").total == 0 and get_votes(store, "ghost").total == 0


def test_a_file_of_unknown_slugs_imports_nothing(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "votes.json"
    path.write_text('{"gamma": {"ship": 4, "skip": 0}}', encoding="utf-8")
    assert main(["votes", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == f"imported votes for 0 tools from {path}\n"
    assert "skipped 1 row whose slug names no panel: gamma" in err and err.count("\n") == 1
    assert store.conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 0
