"""Slugs from names in any script; a name with nothing to spell asks for `slug:`."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panel.cli import main
from panel.records import slugify
from tests.conftest import EXAMPLES


def launch_file(tmp_path: Path, name: str, **fields: str) -> Path:
    path = tmp_path / "launch.json"
    path.write_text(json.dumps({"name": name, "description": "A tool.", **fields}), "utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Straße AI", "strasse-ai"),
        ("通义千问 Max", "tongyiqianwen-max"),
        ("Москва DB", "moskva-db"),
        ("Ærø Tools", "aero-tools"),
        ("ŁódźJS", "lodzjs"),
        ("Déjà Vu", "deja-vu"),
        ("\uff27\uff30\uff34\uff0d\uff15 Turbo", "gpt-5-turbo"),  # fullwidth GPT-5
        ("Acme™ Cloud 🚀", "acmetm-cloud"),
    ],
)
def test_names_in_any_script_get_a_slug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, slug: str
) -> None:
    assert main(["draft", str(launch_file(tmp_path, name)), "-m", "fake:ship", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["slug"] == slug


def test_a_name_with_nothing_to_spell_asks_for_a_slug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = launch_file(tmp_path, "🚀 ✨")
    assert main(["draft", str(path), "-m", "fake:ship"]) == 2
    assert capsys.readouterr().err == (
        f"panel: error: {path}: the name '🚀 ✨' spells no slug (no letter or digit to "
        "write in ASCII); set `slug:` in the launch file\n"
    )
    given_slug = launch_file(tmp_path, "🚀 ✨", slug="rocket-sparkles")
    assert main(["draft", str(given_slug), "-m", "fake:ship", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["slug"] == "rocket-sparkles"


def test_in_a_queue_the_message_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = tmp_path / "queue.jsonl"
    queue.write_text('{"name": "Fine", "description": "x"}\n{"name": "★★★", "description": "y"}\n')
    assert main(["batch", str(queue), "-m", "fake:ship"]) == 2
    err = capsys.readouterr().err
    assert f"{queue} line 2: the name '★★★' spells no slug" in err
    assert "set `slug:` in the launch file" in err and err.count("\n") == 1


def test_example_slugs_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert main(["draft", str(path), "-m", "fake:ship", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["slug"] == path.stem


@given(st.text(alphabet=string.printable, max_size=120))
def test_an_ascii_name_is_only_lower_cased_and_hyphenated(name: str) -> None:
    assert slugify(name) == re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80].strip("-")
