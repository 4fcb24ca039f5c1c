"""Reading user files safely: size caps, UTF-8, YAML without aliases or tags."""

from __future__ import annotations

import hashlib
import json
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


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (no alias bombs)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely; an error names the source and line."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        raise UsageError(f"{source}:{where} invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: invalid YAML: {exc}") from None


def parse_json(text: str, source: str) -> Any:
    """Parse JSON; an error names the source, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: line {exc.lineno} invalid JSON: {exc.msg}") from None


def load_data(path: Path) -> Any:
    """A YAML or JSON file's data (by extension; YAML otherwise)."""
    text = read_text(path)
    if path.suffix.lower() == ".json":
        return parse_json(text, str(path))
    return parse_yaml(text, str(path))


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
