"""Launch files: strict validation, one clear line, exit 2, nothing written."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.batch.run import check_queue
from panel.cli import main
from panel.errors import UsageError
from panel.files import MAX_DEPTH, MAX_FILE_BYTES, parse_json, parse_yaml
from panel.launches import iter_queue, load_launch
from panel.paths import default_db
from panel.records import Launch
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


DEEP_CASES = [
    ("deep.yaml", "name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n"),
    ("block.yaml", "".join(" " * i + "k:\n" for i in range(1200)) + " " * 1200 + "v\n"),
    ("dash.yaml", "- " * 5000 + "x\n"),
    ("deep.json", "[" * 100_000 + "]" * 100_000),
    ("mixed.json", '{"a": ' * 50_000 + "1" + "}" * 50_000),
]


@pytest.mark.parametrize(("filename", "content"), DEEP_CASES)
def test_deep_nesting_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str, content: str
) -> None:
    path = tmp_path / filename
    path.write_text(content)
    assert main(["draft", str(path), "--model", "fake:ship"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"panel: error: {path}: nested deeper than {MAX_DEPTH} levels"
    )


def test_nesting_up_to_the_limit_parses(tmp_path: Path) -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None
    assert parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None
    # Brackets inside strings are text, not nesting.
    assert parse_json('{"a": "' + "[{" * 5000 + '\\"]"}', "x")["a"].startswith("[{[{")
    with pytest.raises(UsageError, match="nested deeper"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "x")
    with pytest.raises(UsageError, match="nested deeper"):
        parse_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "x")


TAG_CASES = [
    (GOOD + "vendor: !!binary aGVsbG8=\n", 3, "key 'vendor': tags (!!binary) are not allowed"),
    (GOOD + "vendor: !!str Acme\n", 3, "key 'vendor': tags (!!str) are not allowed"),
    (GOOD + "vendor: !custom Acme\n", 3, "key 'vendor': tags (!custom) are not allowed"),
    (GOOD + "vendor: ! Acme\n", 3, "key 'vendor': tags (!) are not allowed"),
    (GOOD + "!!str vendor: Acme\n", 3, "key 'vendor': tags (!!str) are not allowed"),
    (GOOD + "vendor: !!python/name:os.system\n", 3, "tags (!!python/name:os.system) are not"),
    (GOOD + "vendor:\n  - a\n  - !!set {b}\n", 5, "key 'vendor[2]': tags (!!set) are not"),
    ("%TAG !e! tag:e.com,2024:\n---\n" + GOOD + "vendor: !e!x y\n", 5, "tags (tag:e.com,2024:x)"),
    (GOOD + "name: Tracewell\n", 3, "key 'name': duplicate key (first on line 1)"),
    (GOOD + "'name': Tracewell\n", 3, "key 'name': duplicate key (first on line 1)"),
    (GOOD + "vendor: {a: 1, a: 2}\n", 3, "key 'vendor.a': duplicate key (first on line 3)"),
    (GOOD + "tagline: 2024-02-30\n", 3, "day is out of range for month"),
    (GOOD + "tagline: " + "9" * 5000 + "\n", 3, "Exceeds the limit (4300 digits)"),
    (GOOD + "tagline: ok\u0000\n", 3, "special characters are not allowed (#x0000)"),
]


@pytest.mark.parametrize(("content", "line", "expected"), TAG_CASES)
def test_tags_duplicates_and_bad_scalars_name_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, line: int, expected: str
) -> None:
    path = tmp_path / "launch.yaml"
    path.write_text(content)
    assert main(["draft", str(path), "--model", "fake:ship"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"panel: error: {path}: line {line} invalid YAML: ")
    assert expected in err and len(err.splitlines()) == 1


def test_queue_skips_a_deep_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queue = tmp_path / "q.jsonl"
    deep = '{"name": "Deep", "description": ' + "[" * 100_000 + "]" * 100_000 + "}"
    huge = '{"name": "Huge", "description": "' + "x" * 1_100_000 + '"}'
    lines = ['{"name": "A", "description": "x"}', deep, huge, '{"name": "B", "description": "y"}']
    queue.write_text("\n".join(lines) + "\n")
    items = list(iter_queue(queue))
    assert [i.launch.slug if i.launch else i.error for i in items] == [
        "a",
        f"{queue} line 2: nested deeper than {MAX_DEPTH} levels",
        f"{queue} line 3: longer than {MAX_FILE_BYTES:,} bytes",
        "b",
    ]
    check = check_queue(queue)
    assert (check.valid, check.invalid) == (2, 2)
    assert main(["batch", str(queue), "-m", "fake:ship", "--skip-invalid", "--no-diversity"]) == 0
    captured = capsys.readouterr()
    assert f"invalid: {queue} line 2: nested deeper than {MAX_DEPTH} levels" in captured.err
    assert "Batch: 2 drafted" in captured.out


# ---- property tests: whatever the text, a Launch or one UsageError -------------------

_YAML_BITS = [
    "name: ", "description: ", "vendor: ", "- ", "? ", ": ", "\n", "  ", "'", '"', "[", "]",
    "{", "}", ",", "#", "&a ", "*a", "!!binary ", "!x ", "<<: ", "---\n", "...\n", "%YAML 1.1\n",
    "2024-02-30", "9" * 4400, "0x", "1e999", "~", "null", "yes", "|\n", ">-\n", "\\", "\t",
    "\x00", "\x1b", "\ufeff", "é", "\U0001f600", "[" * 300, "{a: " * 200, "- " * 200,
]  # fmt: skip
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_LAUNCHISH = st.dictionaries(st.sampled_from([*Launch.model_fields, "launch", "x"]), _JSON_VALUES)
_TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(_YAML_BITS), max_size=30).map("".join),
    _LAUNCHISH.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    _LAUNCHISH.map(json.dumps),
    st.builds(
        lambda opener, n, tail: opener * n + tail,
        st.sampled_from(["[", "{", '{"a": ', "[{", "- ", "a:\n "]),
        st.integers(0, 3000),
        st.text(max_size=10),
    ),
)
_PROPERTY = settings(max_examples=150, deadline=None, derandomize=True)


@_PROPERTY
@given(text=_TEXTS, suffix=st.sampled_from([".yaml", ".json"]))
def test_any_launch_file_gives_a_launch_or_one_usage_error(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"launch{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            assert isinstance(load_launch(path), Launch)
        except UsageError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)


@_PROPERTY
@given(lines=st.lists(_TEXTS.map(lambda t: t.replace("\n", " ")), min_size=1, max_size=4))
def test_any_jsonl_line_gives_a_launch_or_its_error(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "queue.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        for item in iter_queue(path):
            assert (item.launch is None) != (item.error is None)
            assert item.error is None or item.error.startswith(f"{path} line ")
        try:
            check_queue(path)
        except UsageError as exc:  # only an empty queue: no line holds anything
            assert "no such file" not in str(exc)
