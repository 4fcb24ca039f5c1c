"""Loading launches: one file, or a queue (JSONL, YAML list, folder of files)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from panel.errors import UsageError
from panel.files import MAX_FILE_BYTES, load_data, parse_json
from panel.records import Launch, SourceRef

LAUNCH_SUFFIXES = {".yaml", ".yml", ".json"}


def describe_error(exc: ValidationError) -> str:
    """The first validation problem as 'field: message' (plus a count of the rest)."""
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or "launch"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        fields = SourceRef.model_fields if first["loc"][:1] == ("sources",) else Launch.model_fields
        message = "unknown field (allowed: " + ", ".join(fields) + ")"
    elif first["type"] == "missing":
        message = "required field is missing"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if not first["loc"] and first["type"] == "value_error":
        return message.removeprefix("Value error, ") + more  # about the launch as a whole
    return f"{field}: {message}{more}"


def parse_launch(data: Any, source: str, base: Path | None = None) -> Launch:
    """Validate launch data; a problem is a UsageError naming source and field. Source
    file paths are resolved against ``base`` (the launch file's folder) and must lie in it."""
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise UsageError(f"{source}: expected a mapping of launch fields, found {kind}")
    try:
        launch = Launch.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{source}: {describe_error(exc)}") from None
    if not any(s.path for s in launch.sources):
        return launch
    sources = [
        s.model_copy(update={"path": _inside(source, base, number, s.path)}) if s.path else s
        for number, s in enumerate(launch.sources)
    ]
    return launch.model_copy(update={"sources": sources})


def _inside(source: str, base: Path | None, number: int, path: str) -> str:
    """A source file's absolute path, which must lie in the launch file's folder: launch
    text is untrusted, and a launch must not make Panel read (and send to a model) any
    file the desk can read."""
    if base is None:
        raise UsageError(f"{source}: sources.{number}: a file source needs a launch file")
    folder = base.resolve()
    resolved = (folder / path).resolve()
    if not resolved.is_relative_to(folder):
        raise UsageError(
            f"{source}: sources.{number}: {path} is outside the launch file's folder "
            f"({folder}); put the file beside the launch"
        )
    return str(resolved)


def load_launch(path: Path) -> Launch:
    """Read and validate one launch file (YAML or JSON)."""
    return parse_launch(load_data(path), str(path), path.parent)


@dataclass(frozen=True)
class QueueItem:
    """One entry of a queue: where it came from, and the launch or its problem."""

    source: str
    launch: Launch | None
    error: str | None = None


def _checked(data: Any, source: str, base: Path | None = None) -> QueueItem:
    try:
        return QueueItem(source, parse_launch(data, source, base))
    except UsageError as exc:
        return QueueItem(source, None, str(exc))


def iter_queue(path: Path) -> Iterator[QueueItem]:
    """Stream a queue's launches, each validated; bad entries carry their error."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in LAUNCH_SUFFIXES)
        if not files:
            raise UsageError(f"{path}: folder holds no .yaml, .yml or .json launch files")
        for file in files:
            try:
                yield _checked(load_data(file), str(file), file.parent)
            except UsageError as exc:
                yield QueueItem(str(file), None, str(exc))
        return
    if path.suffix.lower() == ".jsonl":
        yield from _iter_jsonl(path)
        return
    data = load_data(path)
    items = data if isinstance(data, list) else [data]
    for number, entry in enumerate(items, start=1):
        yield _checked(entry, f"{path}: item {number}", path.parent)


def _iter_jsonl(path: Path) -> Iterator[QueueItem]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_FILE_BYTES + 1), b""), 1):
            source = f"{path} line {number}"
            if len(raw) > MAX_FILE_BYTES:
                while not raw.endswith(b"\n") and (raw := handle.readline(MAX_FILE_BYTES)):
                    pass
                yield QueueItem(source, None, f"{source}: longer than {MAX_FILE_BYTES:,} bytes")
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield QueueItem(source, None, f"{source}: not UTF-8 text")
                continue
            if not line.strip():
                continue
            try:
                data = parse_json(line, source)
            except UsageError as exc:
                yield QueueItem(source, None, str(exc))
                continue
            if isinstance(data, dict) and "launch" in data and "name" not in data:
                data = data["launch"]
            yield _checked(data, source, path.parent)
