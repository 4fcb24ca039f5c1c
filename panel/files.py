"""Reading user files safely: size caps, UTF-8, nesting depth, YAML without aliases,
tags or duplicate keys."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from panel.errors import UsageError

MAX_FILE_BYTES = 1_000_000


def read_text(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``; any problem is a UsageError naming the file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise UsageError(f"{path}: file is larger than {max_bytes:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise UsageError(f"{path}: file is empty")
    return text


MAX_DEPTH = 32
"""How deeply lists and mappings may nest in a user file (a launch needs 2 levels)."""

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"


def too_deep(source: str) -> UsageError:
    """The one error for data nested deeper than MAX_DEPTH."""
    return UsageError(f"{source}: nested deeper than {MAX_DEPTH} levels")


class _TooDeep(yaml.YAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, explicit tags, duplicate keys and deep nesting.

    PyYAML's composer recurses once per level, so the depth check here is what keeps a
    deeply nested file from ending in a RecursionError.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._path: list[str] = []
        self._keys: dict[int, dict[tuple[str, str], int]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            mark: Any = event.start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        self._path.append(_label(parent, index, event))
        if isinstance(index, yaml.ScalarNode):
            self._refuse_duplicate(parent, index)
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = "!!" + tag[len(_YAML_TAG_PREFIX) :] if tag.startswith(_YAML_TAG_PREFIX) else tag
            raise yaml.composer.ComposerError(
                None,
                None,
                f"{self._where()}: tags ({shown}) are not allowed; write the value as plain text",
                event.start_mark,
            )
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        self._depth += nested
        if self._depth > MAX_DEPTH:
            raise _TooDeep()
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= nested
            self._path.pop()

    def _refuse_duplicate(self, mapping: Any, key: yaml.ScalarNode) -> None:
        seen = self._keys.setdefault(id(mapping), {})
        identity = (key.tag, key.value)
        if identity in seen:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"{self._where()}: duplicate key (first on line {seen[identity]})",
                key.start_mark,
            )
        seen[identity] = key.start_mark.line + 1

    def _where(self) -> str:
        path = "".join(self._path).lstrip(".")
        return f"key {path!r}" if path else "the document"

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. a date 2024-02-30, a 5,000-digit int
            problem = str(exc).split(";")[0]  # not Python's advice on raising its limit
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def _label(parent: Any, index: Any, event: Any) -> str:
    if isinstance(index, int):
        return f"[{index + 1}]"
    if isinstance(index, yaml.ScalarNode):
        name = str(index.value)
    elif isinstance(parent, yaml.MappingNode):  # the node is itself a key
        name = str(event.value) if isinstance(event, yaml.ScalarEvent) else "(a key)"
    else:
        return ""
    return "." + (name if len(name) <= 40 else name[:40] + "…")


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely; an error names the source, line and key."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except _TooDeep:
        raise too_deep(source) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        problem = f"{exc.reason} (#x{exc.character:04x})"
        raise UsageError(f"{source}: line {line} invalid YAML: {problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        raise UsageError(f"{source}:{where} invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: invalid YAML: {exc}") from None


# A JSON string (to step over; the closing quote is optional so that an unterminated
# string cannot make the scan quadratic) or one bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.DOTALL)


def _check_json_depth(text: str, source: str) -> None:
    # json.loads recurses once per level, so the depth is counted before it runs.
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise too_deep(source)
        elif token in ("]", "}"):
            depth -= 1


def parse_json(text: str, source: str) -> Any:
    """Parse JSON; an error names the source and the place."""
    _check_json_depth(text, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        place = (
            f"line {exc.lineno} column {exc.colno}"
            if "\n" in text.strip()
            else (f"column {exc.colno}")
        )
        raise UsageError(f"{source}: invalid JSON ({exc.msg}, {place})") from None
    except ValueError as exc:  # e.g. a number longer than Python converts
        raise UsageError(f"{source}: invalid JSON ({str(exc).split(';')[0]})") from None


def load_data(path: Path) -> Any:
    """A YAML or JSON file's data (by extension; YAML otherwise)."""
    text = read_text(path)
    if path.suffix.lower() == ".json":
        return parse_json(text, str(path))
    return parse_yaml(text, str(path))


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
