"""One name per reviewer: `-p` takes an id or a display name, and `--help` lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.cli import main
from panel.paths import default_db
from panel.store import open_store
from tests.conftest import EXAMPLES

LAUNCH = str(EXAMPLES / "gpt-5-mini-api.yaml")
SLUG = "gpt-5-mini-api"


def drafted(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["draft", LAUNCH, *args, "--json"]) == 0
    record: dict[str, object] = json.loads(capsys.readouterr().out)
    return record


def verdicts(record: dict[str, object]) -> dict[str, str]:
    reviews = record["reviews"]
    assert isinstance(reviews, list)
    return {r["persona_id"]: r["verdict"] for r in reviews}


@pytest.mark.parametrize(
    "name", ["operator", "The Operator", "business", "BUSINESS", "the  operator", "the-operator"]
)
def test_draft_takes_an_id_or_a_display_name(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    drafted(capsys, "-m", "fake:ship")
    again = drafted(capsys, "-m", "fake:skip", "-p", name)
    assert verdicts(again) == {
        "dx": "ship",
        "skeptic": "ship",
        "futurist": "ship",
        "business": "skip",
    }


def test_several_names_of_one_reviewer_draft_it_once(capsys: pytest.CaptureFixture[str]) -> None:
    drafted(capsys, "-m", "fake:ship")
    again = drafted(capsys, "-m", "fake:skip", "-p", "builder", "-p", "The Builder", "-p", "dx")
    assert verdicts(again)["dx"] == "skip" and again["split"] == "3/4 ship"
    assert len(open_store(default_db()).recent_calls(100)) == 5


def test_edit_and_regenerate_take_names_too(capsys: pytest.CaptureFixture[str]) -> None:
    drafted(capsys, "-m", "fake:ship")
    assert main(["edit", SLUG, "-p", "The Skeptic", "--verdict", "skip"]) == 0
    assert f"{SLUG}: revision 2, draft (skeptic edited)" in capsys.readouterr().out
    assert main(["regenerate", SLUG, "-p", "operator", "-m", "fake:skip"]) == 0
    capsys.readouterr()
    panel = open_store(default_db()).get_panel(SLUG)
    assert {r.persona_id: r.verdict.value for r in panel.reviews if r.verdict} == {
        "dx": "ship",
        "skeptic": "skip",
        "futurist": "ship",
        "business": "skip",
    }


def test_unknown_names_are_one_line_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["draft", LAUNCH, "-m", "fake:ship", "-p", "The Accountant"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "panel: error: unknown persona 'The Accountant'; choose from dx (The Builder), "
        "skeptic (The Skeptic), futurist (The Futurist), business (The Operator)\n"
    )
    drafted(capsys, "-m", "fake:ship")
    assert main(["edit", SLUG, "-p", "nobody", "--verdict", "skip"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"panel: error: panel '{SLUG}' has no reviewer 'nobody'; choose from")
    assert err.count("\n") == 1


def persona_folder(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "personas"
    folder.mkdir()
    for path in (EXAMPLES.parent / "personas").glob("*.md"):
        (folder / path.name).write_text(path.read_text())
    (folder / "extra.md").write_text(extra)
    return folder


def test_help_lists_the_reviewers_from_the_persona_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["draft"], ["batch", "run"], ["edit"], ["regenerate"]):
        assert main([*command, "--help"]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert "dx (The Builder), skeptic (The Skeptic), futurist (The Futurist), business" in (
            shown
        ), command
    legal = (
        "---\nid: legal\nname: The Counsel\nrole: Licensing\nbeats: ['Which license?']\n---\nV.\n"
    )
    monkeypatch.setenv("PANEL_PERSONAS", str(persona_folder(tmp_path, legal)))
    assert main(["draft", "--help"]) == 0
    assert "legal (The Counsel)" in " ".join(capsys.readouterr().out.split())
    assert verdicts(drafted(capsys, "-m", "fake:ship", "-p", "counsel")) == {"legal": "ship"}


def test_two_persona_files_answering_to_one_name_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    critic = "---\nid: critic\nname: The Skeptic\nrole: Critic\nbeats: ['Why not?']\n---\nV.\n"
    monkeypatch.setenv("PANEL_PERSONAS", str(persona_folder(tmp_path, critic)))
    assert main(["draft", LAUNCH, "-m", "fake:ship"]) == 2
    err = capsys.readouterr().err
    assert "personas critic and skeptic both answer to 'skeptic'" in err
    assert err.count("\n") == 1
