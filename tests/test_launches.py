"""Launch files: strict validation, one clear line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from panel.cli import main
from panel.launches import iter_queue, load_launch
from panel.paths import default_db
from tests.conftest import EXAMPLES

GOOD = "name: Tracewell\ndescription: Tracing for agents.\n"


def test_example_launches_load() -> None:
    launch = load_launch(EXAMPLES / "gpt-5-mini-api.yaml")
    assert launch.slug == "gpt-5-mini-api"
    assert launch.entry == "Paid"
    assert launch.description.startswith("GPT-5 Mini is a cost-optimised")


def test_json_launch_and_explicit_slug(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    path.write_text('{"name": "Tracewell", "slug": "trace-well", "description": "x"}')
    assert load_launch(path).slug == "trace-well"


BAD_CASES = [
    ("missing.yaml", "description: no name\n", "name: required field is missing"),
    ("wrongtype.yaml", "name: [1, 2]\ndescription: x\n", "name: Input should be a valid string"),
    ("unknown.yaml", GOOD + "price: 3\n", "price: unknown field"),
    ("broken.yaml", "name: x\ndescription: [unclosed\n", "invalid YAML"),
    ("empty.yaml", "   \n", "file is empty"),
    ("list.yaml", "- a\n- b\n", "expected a mapping of launch fields, found list"),
    ("huge.yaml", "name: x\ndescription: " + "a" * 9000 + "\n", "description: String should"),
    ("badurl.yaml", GOOD + "url: javascript:alert(1)\n", "url: Value error, must start with"),
    ("badjson.json", '{"name": "x",', "invalid JSON"),
    ("tag.yaml", GOOD + "vendor: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
]


@pytest.mark.parametrize(("filename", "content", "expected"), BAD_CASES)
def test_bad_launch_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str, content: str, expected: str
) -> None:
    path = tmp_path / filename
    path.write_text(content)
    code = main(["draft", str(path), "--model", "fake:ship"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(path) in err
    assert expected in err
    assert "Traceback" not in err
    assert not default_db().exists(), "a bad launch must write nothing"


def test_non_utf8_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Café\ndescription: x\n".encode("latin-1"))
    assert main(["draft", str(path), "--model", "fake:ship"]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


def test_alias_bomb_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nname: x\ndescription: y\n")
    assert main(["draft", str(path), "--model", "fake:ship"]) == 2
    assert "aliases (*name) are not allowed" in capsys.readouterr().err


def test_oversized_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "# " + "x" * 1_100_000 + "\n")
    assert main(["draft", str(path), "--model", "fake:ship"]) == 2
    assert "larger than" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_queue_formats(tmp_path: Path) -> None:
    items = list(iter_queue(EXAMPLES / "queue.jsonl"))
    assert len(items) == 5 and all(i.launch for i in items)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"name": "A", "description": "x"}\nnot json\n{"name": "B"}\n')
    results = list(iter_queue(bad))
    assert results[0].launch is not None
    assert results[1].error is not None and "q.jsonl line 2: invalid JSON" in results[1].error
    assert results[2].error is not None and "description: required" in results[2].error
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a.yaml").write_text(GOOD)
    (folder / "b.json").write_text('{"name": "B", "description": "y"}')
    assert [i.launch.slug for i in iter_queue(folder) if i.launch] == ["tracewell", "b"]
    listed = tmp_path / "list.yaml"
    listed.write_text("- name: A\n  description: x\n- name: B\n  description: y\n")
    assert len([i for i in iter_queue(listed) if i.launch]) == 2
