"""The panel command: draft, show, list, logs; one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from panel.cli import main
from tests.conftest import EXAMPLES


def test_draft_prints_scorecard_and_share(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed"]) == 0
    out = capsys.readouterr().out
    for name in ("The Builder", "The Skeptic", "The Futurist", "The Operator"):
        assert name in out
    assert "Panel: 50% ship (2/4 ship)" in out
    assert "GPT-5 Mini API" in out


def test_draft_json_show_list_logs(capsys: pytest.CaptureFixture[str]) -> None:
    launch = str(EXAMPLES / "claude-haiku-open-weights.yaml")
    assert main(["draft", launch, "-m", "fake:ship", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["slug"] == "claude-haiku-open-weights"
    assert record["ship_share"] == 1.0 and record["revision"] == 1
    assert record["reviews"][0]["provenance"]["model"] == "fake:ship"
    assert main(["draft", launch, "-m", "fake:skip", "-p", "business", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["revision"] == 2 and again["split"] == "3/4 ship"
    assert main(["show", "claude-haiku-open-weights", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == again
    assert main(["show", "claude-haiku-open-weights"]) == 0
    shown = capsys.readouterr().out
    assert "redraft" in shown and "3/4 ship" in shown
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("claude-haiku-open-weights") == 1 and "75%" in listed
    assert main(["logs", "-n", "3"]) == 0
    assert "fake:skip" in capsys.readouterr().out


def test_draft_no_diversity_skips_the_read(capsys: pytest.CaptureFixture[str]) -> None:
    launch = str(EXAMPLES / "gpt-5-mini-api.yaml")
    assert main(["draft", launch, "-m", "fake:mixed", "--no-diversity", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["diversity"] is None
    assert "notice" not in captured.err, "not measured on purpose: no install hint"


def test_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "nope"]) == 4
    assert capsys.readouterr().err.strip() == (
        "panel: error: no panel or comparison 'nope'; run `panel review` or `panel list`"
    )
    launch = str(EXAMPLES / "gpt-5-mini-api.yaml")
    assert main(["draft", launch, "-m", "nonsense"]) == 2
    assert "must look like provider:model" in capsys.readouterr().err
    assert main(["draft", launch, "-m", "fake:ship", "-p", "nobody"]) == 2
    assert "unknown persona 'nobody'; choose from dx (The Builder), skeptic (The Skeptic)" in (
        capsys.readouterr().err
    )


def test_db_option_and_bad_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "other.db"
    assert (
        main(["--db", str(db), "draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship"])
        == 0
    )
    assert db.exists()
    capsys.readouterr()
    assert main(["--db", str(tmp_path), "list"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is a directory" in err
    assert main(["draft"]) == 2
    assert capsys.readouterr().err.strip() == (
        "panel: error: Missing argument 'LAUNCH_FILE'. (see 'panel draft --help')"
    )


def test_fifth_persona_file_adds_a_reviewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "personas"
    folder.mkdir()
    for path in (EXAMPLES.parent / "personas").glob("*.md"):
        (folder / path.name).write_text(path.read_text())
    (folder / "legal.md").write_text(
        "---\nid: legal\nname: The Counsel\nrole: Licensing reviewer\norder: 5\n"
        "beats: ['What does the license allow?']\n---\nYou read licenses closely.\n"
    )
    monkeypatch.setenv("PANEL_PERSONAS", str(folder))
    assert main(["draft", str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:ship", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [r["persona_id"] for r in record["reviews"]][-1] == "legal"
    assert record["split"] == "5/5 ship"


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = subprocess.run(
        [sys.executable, "-m", "panel", "draft", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"panel: error: {bad}: description: required field is missing"
